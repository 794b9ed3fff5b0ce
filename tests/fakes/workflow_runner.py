"""A workflow run the way GitHub Actions does it, far enough to prove a workflow's wiring against the simulators.

For a push to a branch (or a pull request): the jobs whose ``if:`` holds, in ``needs`` order; each step's
``with:`` checked against the action's declared inputs (an input the action does not declare fails the run, where
GitHub only warns), defaults filled, ``${{ }}`` expressions evaluated (secrets, github, inputs, steps' outputs; a
missing secret is empty, as on GitHub), and a composite action's own ``run:`` lines executed by bash with
GITHUB_ACTION_PATH, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY. ``kars/deploy-action[/step]@<pin>`` is this checkout's
action (act's --local-repository); actions/checkout and actions/setup-node do nothing (the workspace is checked
out, node is on PATH) and actions/setup-python hands over the test's interpreter. scripts/setup.sh runs for real
with an installer standing in for uv: it makes the virtualenv and puts the test's own site-packages (click, httpx,
…) where the hash-locked wheels would go, so nothing reaches a registry.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.actions_files import read_outputs

ACTION = "kars/deploy-action"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)
NOTHING = ("actions/checkout@", "actions/setup-node@")

# Stands in for uv: `venv` makes a virtualenv without pip; `pip install` (of the locked wheels) makes the test's own
# packages importable in it instead.
FAKE_UV = """#!/usr/bin/env bash
set -euo pipefail
if [[ "$1" == venv ]]; then
  exec "$KARS_TEST_PYTHON" -m venv --without-pip "${@: -1}"
fi
if [[ "$1 $2" == "pip install" ]]; then
  python=""
  while (($#)); do
    if [[ "$1" == --python ]]; then python="$2"; fi
    shift
  done
  site="$("$python" -I -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  printf '%s\\n' "$KARS_TEST_SITE_PACKAGES" >"$site/kars-test-locked-wheels.pth"
  exit 0
fi
echo "unexpected uv call: $*" >&2
exit 2
"""


@dataclass
class StepRun:
    name: str
    uses: str | None
    inputs: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    code: int = 0
    log: str = ""
    summary: str = ""


@dataclass
class JobRun:
    job: str
    steps: list[StepRun]
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(step.code == 0 for step in self.steps)

    def step(self, uses_prefix: str) -> StepRun:
        return next(s for s in self.steps if (s.uses or "").startswith(uses_prefix))


class WorkflowError(AssertionError):
    """The workflow asks for something GitHub would refuse (or this runner cannot do)."""


class Runner:
    """Runs a workflow's jobs for a push, in ``workspace``, with ``env`` as the runner's environment."""

    def __init__(
        self,
        workspace: Path,
        action_root: Path,
        temp: Path,
        *,
        pin: str,
        secrets: dict[str, str],
        github: dict[str, str],
        env: dict[str, str],
    ) -> None:
        self.workspace = workspace
        self.action_root = action_root
        self.temp = temp
        self.pin = pin
        self.secrets = secrets
        self.github = github
        self.env = env

    # --- the workflow ---------------------------------------------------------------------------------------

    def run(self, workflow: Path, event: str = "push") -> list[JobRun]:
        """The jobs ``workflow`` runs for ``event`` (a push to github.ref's branch, or a pull request)."""
        data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
        on = data.get(True) or data.get("on") or {}
        if event not in on:
            raise WorkflowError(f"{workflow.name} does not run on {event}")
        if event == "push":
            branches = (on.get("push") or {}).get("branches") or []
            branch = self.github["ref"].removeprefix("refs/heads/")
            if branch not in branches:
                raise WorkflowError(f"{workflow.name} does not run on a push to {branch} (branches: {branches})")
        done: dict[str, JobRun | None] = {}
        for job_id in self._job_order(data["jobs"]):
            job = data["jobs"][job_id]
            needs = job.get("needs") or []
            needs = [needs] if isinstance(needs, str) else needs
            if any(done.get(n) is None or not done[n].ok for n in needs):  # type: ignore[union-attr]
                done[job_id] = None
                continue
            needs_context = {n: {"outputs": done[n].outputs} for n in needs if done.get(n) is not None}  # type: ignore[union-attr]
            if "if" in job and not self._truth(str(job["if"]), {"needs": needs_context}):
                done[job_id] = None
                continue
            done[job_id] = self.run_job(job_id, job, needs_context)
        return [run for run in done.values() if run is not None]

    @staticmethod
    def _job_order(jobs: dict[str, Any]) -> list[str]:
        order: list[str] = []
        while len(order) < len(jobs):
            for job_id, job in jobs.items():
                needs = job.get("needs") or []
                needs = [needs] if isinstance(needs, str) else needs
                if job_id not in order and all(n in order for n in needs):
                    order.append(job_id)
        return order

    def run_job(self, job_id: str, job: dict[str, Any], needs: dict[str, Any] | None = None) -> JobRun:
        steps_context: dict[str, Any] = {}
        context: dict[str, Any] = {"steps": steps_context, "needs": needs or {}}
        runs: list[StepRun] = []
        for step in job["steps"]:
            if runs and runs[-1].code != 0:
                break
            if "run" in step:
                raise WorkflowError(f"job {job_id}: a run: step in a written workflow ({step.get('name')})")
            uses = str(step["uses"])
            inputs = {k: self._eval(str(v), context) for k, v in (step.get("with") or {}).items()}
            run = StepRun(str(step.get("name") or uses), uses, inputs)
            runs.append(run)
            if uses.startswith(NOTHING):
                continue
            if not uses.startswith(f"{ACTION}@") and not uses.startswith(f"{ACTION}/"):
                raise WorkflowError(f"job {job_id}: cannot run {uses}")
            ref, _, pin = uses.partition("@")
            if pin != self.pin:
                raise WorkflowError(f"{uses}: pinned to {pin}, not to the release commit {self.pin}")
            folder = self.action_root / ref.removeprefix(ACTION).lstrip("/")
            self._composite(folder, run)
            if step.get("id"):
                steps_context[str(step["id"])] = {"outputs": run.outputs}
        outputs = {name: self._eval(str(value), context) for name, value in (job.get("outputs") or {}).items()}
        return JobRun(job_id, runs, outputs)

    # --- a composite action ---------------------------------------------------------------------------------

    def _composite(self, folder: Path, run: StepRun) -> None:
        action = yaml.safe_load((folder / "action.yml").read_text(encoding="utf-8"))
        declared = action.get("inputs") or {}
        unknown = sorted(set(run.inputs) - set(declared))
        if unknown:
            raise WorkflowError(f"{run.uses}: the action has no input {', '.join(unknown)}")
        inputs = {
            name: run.inputs[name] if name in run.inputs else self._eval(str(spec.get("default", "")), {})
            for name, spec in declared.items()
        }
        steps: dict[str, Any] = {}
        logs = []
        for step in action["runs"]["steps"]:
            context = {"inputs": inputs, "steps": steps}
            if "uses" in step:
                if not str(step["uses"]).startswith("actions/setup-python@"):
                    raise WorkflowError(f"{folder.name}: cannot run {step['uses']}")
                steps[str(step.get("id"))] = {"outputs": {"python-path": sys.executable}}
                continue
            env = {k: self._eval(str(v), context) for k, v in (step.get("env") or {}).items()}
            outputs_file = self.temp / f"output-{len(logs)}-{os.getpid()}"
            outputs_file.write_text("")
            summary = self.temp / "summary.md"
            completed = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", self._eval(str(step["run"]), context)],
                cwd=self.workspace,
                env={
                    **self.env,
                    **env,
                    "GITHUB_ACTION_PATH": str(folder),
                    "GITHUB_OUTPUT": str(outputs_file),
                    "GITHUB_STEP_SUMMARY": str(summary),
                    "RUNNER_TEMP": str(self.temp),
                    "KARS_TEST_PYTHON": sys.executable,
                    "KARS_TEST_SITE_PACKAGES": sysconfig.get_paths()["purelib"],
                },
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            logs.append(completed.stdout + completed.stderr)
            if step.get("id"):
                steps[str(step["id"])] = {"outputs": read_outputs(outputs_file)}
            run.summary = summary.read_text() if summary.exists() else ""
            if completed.returncode != 0:
                run.code = completed.returncode
                break
        run.log = "\n".join(logs)
        context = {"inputs": inputs, "steps": steps}
        declared_outputs = action.get("outputs") or {}
        run.outputs = {name: self._eval(str(spec["value"]), context) for name, spec in declared_outputs.items()}

    # --- expressions ------------------------------------------------------------------------------------------

    def _eval(self, text: str, context: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            return str(self._value(match.group(1), context))

        return EXPRESSION.sub(one, text)

    def _truth(self, expression: str, context: dict[str, Any]) -> bool:
        inner = EXPRESSION.fullmatch(expression.strip())
        return bool(self._value(inner.group(1) if inner else expression, context))

    def _value(self, expression: str, context: dict[str, Any]) -> Any:
        expression = expression.strip()
        if "==" in expression:
            left, right = expression.split("==", 1)
            return self._value(left, context) == self._value(right, context)
        if expression.startswith("'") and expression.endswith("'"):
            return expression[1:-1].replace("''", "'")
        head, *path = expression.split(".")
        if head == "secrets":
            return self.secrets.get(path[0], "")  # an unset secret is empty, never an error
        if head == "github":
            return self.github[path[0]]
        if head in ("inputs", "steps", "needs") and head in context:
            value: Any = context[head]
            for key in path:
                value = value.get(key, "") if isinstance(value, dict) else ""
            return value
        raise WorkflowError(f"this runner cannot evaluate ${{{{ {expression} }}}}")


def install_fake_uv(temp: Path) -> None:
    """Put the uv stand-in where scripts/setup.sh looks for an installed uv."""
    tools = temp / "kars-actions-uv" / "bin"
    tools.mkdir(parents=True, exist_ok=True)
    uv = tools / "uv"
    uv.write_text(FAKE_UV)
    uv.chmod(0o755)
