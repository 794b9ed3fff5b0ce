"""Railway API requests spent by `kars-actions config plan` and `config apply` for 2 services x 2 environments.

The real CLI runs as a process against the Railway simulator (loopback), with an account token so one call covers
both environments. Counted: every request the simulator receives. The alternative, Railway's own `railway config
plan / apply` (Infrastructure as Code), cannot run here; its requests are counted from its source
(src/iac/engine.rs): per environment, one call each, IacEnvironmentConfig, IacProjectName, IacProjectServices,
IacProjectVolumes, IacProjectBuckets, plus environmentPreviewChangeSet when something changes; apply adds
environmentApplyChangeSet and at least one environmentChangeSetApply status poll. It plans one linked environment
per call.

    python benchmarks/bench_config_requests.py [--write benchmarks/results/config.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.railway_sim import RailwaySim, SimClock  # noqa: E402 - after the path insert

KARS_YML = "project: kars-app\nservices:\n  api: {directory: api}\n  web: {directory: web}\n"
FILE = {
    "build": {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"},
    "deploy": {"startCommand": "node dist/main.js", "healthcheckPath": "/health", "restartPolicyType": "ON_FAILURE"},
    "environments": {"staging": {"deploy": {"numReplicas": 1}}},
}
RAILWAY_CLI_PLAN_PER_ENV = 6  # 5 reads + environmentPreviewChangeSet (there are changes)
RAILWAY_CLI_APPLY_PER_ENV = 8  # the plan's 6 + environmentApplyChangeSet + at least 1 status poll


def run(args: list[str], root: Path, sim: RailwaySim, token: str) -> tuple[int, int]:
    before = len(sim.requests)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RAILWAY_API_TOKEN": token,
        "RAILWAY_GRAPHQL_ENDPOINT": sim.url,
        "KARS_TEST_VIRTUAL_CLOCK": "1",
    }
    env.pop("RAILWAY_TOKEN", None)
    proc = subprocess.run(
        [sys.executable, "-m", "kars_actions", "config", *args, "--format", "json"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"kars-actions config {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return len(sim.requests) - before, proc.returncode


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the Markdown table here too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "kars.yml").write_text(KARS_YML)
        for name in ("api", "web"):
            (root / name).mkdir()
            (root / name / "railway.json").write_text(json.dumps(FILE))
        sim = RailwaySim(SimClock())
        project = sim.add_project("kars-app")
        for env in ("production", "staging"):
            env_id = sim.add_environment(project, env)
            for service in ("api", "web"):
                sim.set_settings(
                    sim.add_service(project, service) if env == "production" else _id(sim, service), env_id, {}
                )
        token = sim.add_account_token()
        sim.start()
        try:
            plan, plan_code = run(["plan", "--check"], root, sim, token)
            apply, _ = run(["apply"], root, sim, token)
            clean_apply, _ = run(["apply"], root, sim, token)
            clean_plan, clean_code = run(["plan", "--check"], root, sim, token)
        finally:
            sim.stop()
    assert plan_code == 1 and clean_code == 0, "the plan must see the drift, and none after the apply"
    envs = 2
    rows = [
        ("`config plan` (drift in both environments)", plan, RAILWAY_CLI_PLAN_PER_ENV * envs),
        ("`config apply` (writes both environments)", apply, RAILWAY_CLI_APPLY_PER_ENV * envs),
        ("`config apply` again (nothing to change)", clean_apply, (RAILWAY_CLI_PLAN_PER_ENV - 1) * envs),
        ("`config plan --check` after the apply", clean_plan, (RAILWAY_CLI_PLAN_PER_ENV - 1) * envs),
    ]
    lines = [
        "| 2 services x 2 environments | kars-actions (measured) | `railway config` (from its source) | ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {ours} | {theirs} | {ours / theirs:.2f}× |" for name, ours, theirs in rows]
    table = "\n".join(lines)
    print(table)
    if args.write:
        args.write.write_text(
            "# Requests per `config plan` / `config apply`\n\n"
            "`python benchmarks/bench_config_requests.py --write benchmarks/results/config.md`\n\n"
            + table
            + "\n\nkars-actions: every request the simulator received from the CLI process, account token, "
            "both environments in one call. A plan is 2 requests to find the project (Projects, Project) and 1 per "
            "environment (its EnvironmentConfig, configEtag and recent patches in one document); an apply adds, "
            "per environment it writes, a configEtag re-read, the environmentPatchCommit and a read-back.\n\n"
            "`railway config`: counted from Railway's CLI source, not run (it plans one linked environment per "
            "call and needs a Railway login): 5 reads per environment, environmentPreviewChangeSet when there are "
            "changes, and for apply environmentApplyChangeSet plus at least one status poll.\n"
        )


def _id(sim: RailwaySim, name: str) -> str:
    return next(sid for sid, service in sim.services.items() if service["name"] == name)


if __name__ == "__main__":
    main()
