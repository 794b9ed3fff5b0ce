"""A workflow run the way GitHub Actions does it, far enough to prove a workflow's wiring against the simulators.

For a push to a branch (or a pull request): the jobs whose ``if:`` holds, in ``needs`` order (with GitHub's implicit
``success()``, which looks at every job upstream, so a job after one that ran past a skipped job is skipped unless
its condition names a status function); each step's
``with:`` checked against the action's declared inputs (an input the action does not declare fails the run, where
GitHub only warns), defaults filled, ``${{ }}`` expressions evaluated (secrets, github, inputs, steps' outputs; a
missing secret is empty, as on GitHub), and a composite action's own ``run:`` lines executed by bash with
GITHUB_ACTION_PATH, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY and the calling step's ``env:`` (evaluated the same
way). ``kars/deploy-action[/step]@<pin>`` is this checkout's
action (act's --local-repository); actions/checkout and actions/setup-node do nothing (the workspace is checked
out, node is on PATH) and actions/setup-python hands over the test's interpreter. scripts/setup.sh runs for real
with an installer standing in for uv: it makes the virtualenv and puts the test's own site-packages (click, httpx,
…) where the hash-locked wheels would go, so nothing reaches a registry.
"""

from __future__ import annotations

import json
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
from tests.fakes.cli_fork import warm_python_source

ACTION = "kars/deploy-action"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)
NOTHING = ("actions/checkout@", "actions/setup-node@")

# Stands in for uv: `venv` makes a virtualenv without pip; `pip install` (of the locked wheels) makes the test's own
# packages importable in it instead. The virtualenv's bin/python becomes the stand-in beside this script
# (tests/fakes/cli_fork.py's warm_python: scripts/run.sh's start forked from a warm interpreter, any other start the
# real one, which stays bin/python3) when its path can be written on a #! line.
FAKE_UV = """#!/usr/bin/env bash
set -euo pipefail
if [[ "$1" == venv ]]; then
  venv="${@: -1}"
  "$KARS_TEST_PYTHON" -m venv --without-pip "$venv"
  standin="$(dirname -- "$0")/warm-python"
  shebang="#!$venv/bin/python3 -IS"
  if [[ -f "$standin" && "$venv" == /* && "$venv" != *[[:space:]]* && ${#shebang} -lt 256 ]]; then
    rm -f -- "$venv/bin/python"
    { printf '%s\\n' "$shebang"; cat -- "$standin"; } >"$venv/bin/python"
    chmod 755 "$venv/bin/python"
  fi
  exit 0
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
    env: dict[str, str] = field(default_factory=dict)  # the step's env:, which the action's own steps inherit
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

    def run(self, workflow: Path, event: str = "push", *, assume: dict[str, str] | None = None) -> list[JobRun]:
        """The jobs ``workflow`` runs for ``event`` (a push to github.ref's branch, or a pull request). With
        ``assume``, no step runs: every job that would run succeeds with these outputs (which jobs run, and when)."""
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
        results: dict[str, str] = {}  # job -> success | failure | skipped, as the needs context says it
        for job_id in self._job_order(data["jobs"]):
            job = data["jobs"][job_id]
            needs = job.get("needs") or []
            needs = [needs] if isinstance(needs, str) else needs
            needs_context = {
                n: {"result": results[n], "outputs": done[n].outputs if done.get(n) is not None else {}}  # type: ignore[union-attr]
                for n in needs
            }
            condition = str(job.get("if", "success()"))
            if not STATUS_FUNCTION.search(condition):  # GitHub's implicit success() before any other condition
                condition = f"success() && ({EXPRESSION.sub(lambda m: m.group(1), condition)})"
            # success() and failure() look at every job upstream, not only the direct needs: a job after one that
            # ran past a skipped job is skipped too unless its condition names a status function (GitHub does this).
            context = {"needs": needs_context, "_needed": [results[n] for n in self._upstream(data["jobs"], job_id)]}
            if not self._truth(condition, context):
                done[job_id], results[job_id] = None, "skipped"
                continue
            run = JobRun(job_id, [], dict(assume)) if assume is not None else self.run_job(job_id, job, needs_context)
            done[job_id], results[job_id] = run, "success" if run.ok else "failure"
        return [run for run in done.values() if run is not None]

    @staticmethod
    def _upstream(jobs: dict[str, Any], job_id: str) -> list[str]:
        seen: list[str] = []
        queue = [job_id]
        while queue:
            needs = jobs[queue.pop()].get("needs") or []
            for need in [needs] if isinstance(needs, str) else needs:
                if need not in seen:
                    seen.append(need)
                    queue.append(need)
        return seen

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
            env = {str(k): self._eval(str(v), context) for k, v in (step.get("env") or {}).items()}
            run = StepRun(str(step.get("name") or uses), uses, inputs, env)
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
                    **run.env,  # the calling step's env:, under the action step's own (as on GitHub)
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
            value = self._value(match.group(1), context)
            if isinstance(value, bool) or value is None:
                return {True: "true", False: "false", None: ""}[value]
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            return str(value)

        return EXPRESSION.sub(one, text)

    def _truth(self, expression: str, context: dict[str, Any]) -> bool:
        inner = EXPRESSION.fullmatch(expression.strip())
        return truthy(self._value(inner.group(1) if inner else expression, context))

    def _value(self, expression: str, context: dict[str, Any]) -> Any:
        return _Expression(expression, lambda path: self._lookup(path, context), context.get("_needed", [])).parse()

    def _lookup(self, path: list[str], context: dict[str, Any]) -> Any:
        head, *rest = path
        if head == "secrets":
            return self.secrets.get(rest[0], "")  # an unset secret is empty, never an error
        if head == "vars":
            return ""  # no repository variable is set: the optional parts stay off
        if head == "github":
            return self.github[rest[0]]
        if head in ("inputs", "steps", "needs") and head in context:
            value: Any = context[head]
            for key in rest:
                value = value.get(key, "") if isinstance(value, dict) else ""
            return value
        raise WorkflowError(f"this runner cannot evaluate {'.'.join(path)}")


STATUS_FUNCTION = re.compile(r"\b(?:success|failure|cancelled|always)\(\)")
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>&&|\|\||==|!=|[!(),\[\]])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_*][A-Za-z0-9_-]*)*))"
)


def truthy(value: Any) -> bool:
    """GitHub's falsy values: false, 0, -0, "", null."""
    return value not in (False, 0, "", None)


class _Expression:
    """GitHub's expression language, the part workflows use: literals, context paths, ! == != && || and
    parentheses (&& and || give an operand, as in JavaScript), and contains, fromJSON, startsWith, endsWith and the
    status functions."""

    def __init__(self, text: str, lookup: Any, needed: list[str]) -> None:
        self.tokens = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if match is None:
                raise WorkflowError(f"this runner cannot read ${{{{ {text} }}}} at {text[position:]!r}")
            self.tokens.append((match.lastgroup, match.group(match.lastgroup or "")))
            position = match.end()
        self.at, self.text, self.lookup, self.needed = 0, text, lookup, needed

    def parse(self) -> Any:
        value = self._or()
        if self.at != len(self.tokens):
            raise WorkflowError(f"this runner cannot read ${{{{ {self.text} }}}}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str | None, str]:
        kind, value = self.tokens[self.at]
        if expected is not None and value != expected:
            raise WorkflowError(f"this runner cannot read ${{{{ {self.text} }}}}: expected {expected}")
        self.at += 1
        return kind, value

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            value = right if truthy(value) else value
        return value

    def _compare(self) -> Any:
        value = self._unary()
        while self._peek() in ("==", "!="):
            _, op = self._take()
            right = self._unary()
            same = str(value).lower() == str(right).lower() if isinstance(value, str) and isinstance(right, str) else (
                value == right
            )
            value = same if op == "==" else not same
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, value = self._take()
        if value == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value)
        if value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value]
        if self._peek() == "(":
            self._take("(")
            args = []
            while self._peek() != ")":
                args.append(self._or())
                if self._peek() == ",":
                    self._take()
            self._take(")")
            return self._call(value, args)
        return self.lookup(value.split("."))

    def _call(self, name: str, args: list[Any]) -> Any:
        if name == "success":
            return all(r == "success" for r in self.needed)
        if name == "failure":
            return any(r == "failure" for r in self.needed)
        if name == "cancelled":
            return False
        if name == "always":
            return True
        if name == "fromJSON":
            return json.loads(args[0])
        if name == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(str(item).lower() == str(needle).lower() for item in haystack)
            return str(needle).lower() in str(haystack).lower()
        if name == "startsWith":
            return str(args[0]).lower().startswith(str(args[1]).lower())
        if name == "endsWith":
            return str(args[0]).lower().endswith(str(args[1]).lower())
        raise WorkflowError(f"this runner cannot call {name}()")


def action_venv(temp: Path) -> Path:
    """The virtualenv scripts/setup.sh would make in ``temp`` (its RUNNER_TEMP) with the fake uv, this checkout on
    its path as setup.sh puts it, without running setup.sh: for tests and benchmarks of the interpreter alone."""
    install_fake_uv(temp)
    uv = temp / "kars-actions-uv" / "bin" / "uv"
    venv = temp / "kars-actions-venv"
    env = {
        "PATH": os.environ["PATH"],
        "KARS_TEST_PYTHON": sys.executable,
        "KARS_TEST_SITE_PACKAGES": sysconfig.get_paths()["purelib"],
    }
    subprocess.run(["bash", str(uv), "venv", "--python", sys.executable, "--", str(venv)], env=env, check=True)
    subprocess.run(["bash", str(uv), "pip", "install", "--python", str(venv / "bin" / "python")], env=env, check=True)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    (site / "kars-actions-source.pth").write_text(f"{Path(__file__).resolve().parents[2]}\n")
    return venv


def install_fake_uv(temp: Path) -> None:
    """Put the uv stand-in where scripts/setup.sh looks for an installed uv, and beside it the interpreter stand-in
    it puts in the virtualenvs it makes."""
    tools = temp / "kars-actions-uv" / "bin"
    tools.mkdir(parents=True, exist_ok=True)
    uv = tools / "uv"
    uv.write_text(FAKE_UV)
    uv.chmod(0o755)
    (tools / "warm-python").write_text(warm_python_source(), encoding="utf-8")
