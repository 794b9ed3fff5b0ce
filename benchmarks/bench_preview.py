"""Requests per pull-request preview of 2 services: Railway and GitHub, through `kars-actions preview` as a process.

The real CLI runs against the Railway simulator (on a virtual clock the simulator follows, so a 5-minute build
plays out in milliseconds) and the GitHub fake, both on loopback, with one app server per service answering with
the commit live in the preview. Counted: every request each simulator receives from the CLI process, and the
Railway status subscriptions (one per deployment followed).

The alternative a user would write instead: a loop that polls each service's deployment every 5 s until it is
live (Railway's CLI waits the same way) and posts one comment per push — 60 status reads per service for a
5-minute build, one new comment per push, and no health check, no GitHub deployment, no following of a newer push.

    python benchmarks/bench_preview.py [--write benchmarks/results/preview.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.github_fake import GitHubFake  # noqa: E402 - after the path insert
from tests.fakes.railway_sim import RailwaySim, Script, SimClock  # noqa: E402
from tests.fakes.railway_stream import stream_control  # noqa: E402
from tests.preview.conftest import KARS_YML, PreviewApp  # noqa: E402

PR = 7
HEAD = "a" * 40
BUILD, DEPLOY = 240.0, 60.0  # a 5-minute build and deploy
POLL_EVERY = 5.0
SERVICES = 2


def preview(
    root: Path, sim: RailwaySim, github: GitHubFake, apps: dict[str, PreviewApp], *extra: str
) -> dict[str, Any]:
    railway_before, github_before = len(sim.requests), len(github.requests)
    subscribed_before = len(stream_control(sim).subscribed)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RAILWAY_"))},
        "PYTHONPATH": str(REPO),
        "RAILWAY_API_TOKEN": "acct-bench",
        "RAILWAY_GRAPHQL_ENDPOINT": sim.url,
        "KARS_TEST_VIRTUAL_CLOCK": "1",
        "GITHUB_TOKEN": "ghs_fake_token",
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": "kars/app",
    }
    urls = [f"--service-url={name}={app.url}" for name, app in apps.items()]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kars_actions",
            "preview",
            "--pr",
            str(PR),
            "--config",
            str(root / "kars.yml"),
            "--format",
            "json",
            *urls,
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"kars-actions preview failed ({proc.returncode}): {proc.stderr}")
    railway = sim.requests[railway_before:]
    gh = github.requests[github_before:]
    return {
        "outcome": report["outcome"],
        "railway": len(railway),
        "railway_by_operation": Counter(r.operation for r in railway),
        "subscriptions": len(stream_control(sim).subscribed) - subscribed_before,
        "github": len(gh),
        "github_writes": sum(1 for r in gh if r.is_write),
    }


def world(root: Path, *, pr_environments: bool) -> tuple[RailwaySim, GitHubFake, dict[str, PreviewApp], str]:
    sim = RailwaySim(SimClock(), follow_client_clock=True)
    project = sim.add_project("kars-app")
    staging = sim.add_environment(project, "staging")
    sim.add_environment(project, "production")
    ids = {n: sim.add_service(project, n, domain=f"{n}.up.railway.app") for n in ("backend", "frontend")}
    for service in ids.values():
        sim.add_deployment(service, staging, "0" * 40)
    sim.default_script = Script.success(build=BUILD, deploy=DEPLOY)
    sim.set_pr_environments(project, pr_environments, base=staging if pr_environments else None)
    sim.add_account_token("acct-bench")
    sim.start()
    github = GitHubFake("kars/app", token="ghs_fake_token").start()
    github.add_pull(PR, HEAD)
    apps = {name: PreviewApp(sim, ids[name]) for name in ids}
    return sim, github, apps, project


# (kars.yml addition, Railway's PR environments on, the runs: (what, extra flags)) for each shape of preview
SHAPES = (
    (
        "",
        True,
        (
            ("Railway's PR environment, opened: a 5-minute build followed to healthy", ()),
            ("same head again (a rerun): already live", ()),
            ("closed: deployments inactive, comment updated", ("--close",)),
        ),
    ),
    (
        "previews: {mode: create, base: staging}\n",
        False,
        (
            ("created by kars (PR environments off): created, deployed, healthy", ()),
            ("closed: environment deleted too", ("--close",)),
        ),
    ),
)


def measure() -> list[tuple[str, dict[str, Any]]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for addition, pr_environments, runs in SHAPES:
            (root / "kars.yml").write_text(KARS_YML + addition)
            sim, github, apps, project = world(root, pr_environments=pr_environments)
            try:
                if pr_environments:
                    sim.open_pull_request(project, PR, HEAD)
                for what, flags in runs:
                    if "--close" in flags:
                        github.close_pull(PR)
                    rows.append((what, preview(root, sim, github, apps, *flags)))
            finally:
                for app in apps.values():
                    app.stop()
                github.stop()
                sim.stop()
    return rows


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    polling = int((BUILD + DEPLOY) / POLL_EVERY) * SERVICES
    lines = [
        "# Requests per preview of 2 services",
        "",
        "`python benchmarks/bench_preview.py --write benchmarks/results/preview.md`",
        "",
        "| run | outcome | Railway requests | Railway subscriptions | GitHub requests (writes) |",
        "|---|---|---:|---:|---:|",
    ]
    for name, r in rows:
        github = f"{r['github']} ({r['github_writes']})"
        lines.append(f"| {name} | {r['outcome']} | {r['railway']} | {r['subscriptions']} | {github} |")
    first = rows[0][1]
    lines += [
        "",
        f"A loop polling each service every {POLL_EVERY:g} s through the same {BUILD + DEPLOY:g}-s build: {polling} "
        f"Railway status reads for 2 services, against {first['railway']} Railway requests in all for the preview "
        f"({first['railway'] / polling:.2f}×), which also finds the environment and the head's deployments, and checks "
        "health at the preview's URLs.",
        "",
        "Railway requests of the first run, by operation: "
        + ", ".join(f"{op} {n}" for op, n in sorted(first["railway_by_operation"].items())),
        "",
        "GitHub: the pull request read once, then once every 30 s of waiting (a newer push moves the preview to it); "
        "the comment looked up before each edit; one deployment with an in_progress and a final status.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    text = table(measure())
    print(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
