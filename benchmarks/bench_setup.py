"""The action's set-up, measured the way the runner runs it: `bash scripts/setup.sh` as a process, a fresh
RUNNER_TEMP for every cold run, KARS_SETUP_PYTHON set, nothing of this machine's pip configuration.

Variants, run round-robin so that a busy moment on the machine falls on each of them alike:

- uv path (this checkout): uv's locked wheel fetched and hash-checked by scripts/setup_tools.py, then uv.
- pip path (this checkout, KARS_SETUP_INSTALLER=pip): venv + pip install of the same lock, what a user of a
  pip-based action gets and what set-up falls back to.
- before (scripts/setup.sh as on the given git ref, default main): pip installs the uv wheel, then uv; with
  SSL_CERT_FILE pointing at the system bundle, since that uv reads no system store.
- before, CA in the system store only: the same without SSL_CERT_FILE, where that uv refuses this network's
  proxy certificate (UnknownIssuer) and every step falls back to pip.

Cold runs download from the real index (PyPI through this machine's network, proxy included), so network time is
part of every cold figure; the script also times one plain download of the uv wheel to show that share. Warm runs
are a second step in the same job (the virtualenv is reused). Each figure: median, min–max, and the ratio to the
pip path's median.

    python benchmarks/bench_setup.py [--trials 7] [--ref main] [--write benchmarks/results/setup.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a self-hosted runner's step behind this network's TLS-inspecting proxy sees: the proxy's CA in the system
# store, PIP_CERT for pip (whose own bundle lacks it), proxies; no pip.conf (PIP_CONFIG_FILE) and no SSL_CERT_FILE.
KEEP = ("PATH", "PIP_CERT", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def base_python() -> str:
    """The interpreter setup-python would hand over: the real one, not this virtualenv's."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(Path(sys.base_prefix) / "bin" / name)


def checkout_at(ref: str, into: Path) -> Path:
    """scripts/ and requirements/ as they were at ``ref``, beside this checkout's package."""
    for folder in ("scripts", "requirements"):
        (into / folder).mkdir(parents=True)
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", ref, "scripts", "requirements"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{name}"], capture_output=True, check=True)
        (into / name).write_bytes(blob.stdout)
    (into / "kars_actions").symlink_to(ROOT / "kars_actions")
    return into


CPU: dict[Path, float] = {}  # RUNNER_TEMP -> CPU seconds (user + system) its last set-up used, all processes


def run_setup(checkout: Path, runner_temp: Path, python: str, fallback: bool = False, **extra: str) -> float:
    env = {k: os.environ[k] for k in KEEP if k in os.environ}
    env.update(
        HOME=str(runner_temp / "home"),
        RUNNER_TEMP=str(runner_temp),
        KARS_SETUP_PYTHON=python,
        PIP_CONFIG_FILE=os.devnull,
        GITHUB_OUTPUT=os.devnull,
        **extra,
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[runner_temp] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if completed.returncode != 0 or ("::warning" in completed.stdout) != fallback:
        raise SystemExit(f"setup.sh failed, or fell back or not ({checkout}):\n{completed.stdout}\n{completed.stderr}")
    return elapsed


def uv_wheel_download() -> tuple[float, int]:
    """Seconds and bytes for one GET of the locked uv wheel for this machine (the network part of a cold run)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import setup_tools

    version, hashes = setup_tools.locked((ROOT / "requirements" / "uv.txt").read_text())
    body, content_type, final = setup_tools._open(urllib.parse.urljoin(setup_tools._PYPI, "uv/"), setup_tools._ACCEPT)
    files = setup_tools.listing(body, content_type, final, f"uv-{version}-")
    url = max((setup_tools.wheel_rank(n, "uv", version), u) for n, u, d in files if d in hashes and
              setup_tools.wheel_rank(n, "uv", version) is not None)[1]  # fmt: skip
    started = time.perf_counter()
    size = len(setup_tools._open(url)[0])
    return time.perf_counter() - started, size


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--warm", type=int, default=5, help="second-step runs after each variant's first cold run")
    parser.add_argument("--ref", default="main", help="git ref of the set-up to compare with (before)")
    parser.add_argument("--python", default=base_python())
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kars-bench-setup-") as scratch:
        before = checkout_at(args.ref, Path(scratch) / "before")
        # name -> (checkout, extra environment, whether a cold run falls back to pip)
        variants: dict[str, tuple[Path, dict[str, str], bool]] = {
            "uv path": (ROOT, {}, False),
            "pip path": (ROOT, {"KARS_SETUP_INSTALLER": "pip"}, False),
            f"before ({args.ref})": (before, {"SSL_CERT_FILE": SYSTEM_BUNDLE}, False),
            f"before ({args.ref}), CA in the system store only": (before, {}, True),
        }
        cold: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        warm: dict[str, list[float]] = {name: [] for name in variants}
        loads = [os.getloadavg()[0]]
        for trial in range(args.trials):
            for name, (checkout, extra, fallback) in variants.items():
                with tempfile.TemporaryDirectory(dir=scratch) as temp:
                    cold[name].append(run_setup(checkout, Path(temp), args.python, fallback, **extra))
                    cpu[name].append(CPU[Path(temp)])
                    if trial == 0:
                        warm[name] = [run_setup(checkout, Path(temp), args.python, **extra) for _ in range(args.warm)]
            loads.append(os.getloadavg()[0])
            print(f"trial {trial + 1}: " + ", ".join(f"{n} {v[-1]:.2f} s" for n, v in cold.items()), flush=True)
    download, size = uv_wheel_download()

    pip = statistics.median(cold["pip path"])
    pip_warm = statistics.median(warm["pip path"])
    lines = [
        "# Action set-up: scripts/setup.sh as the runner runs it",
        "",
        f"Command: `python benchmarks/bench_setup.py --trials {args.trials} --warm {args.warm} --ref {args.ref}"
        + (f" --write {args.write}`" if args.write else "`"),
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({args.python}), load average {min(loads):.1f}–{max(loads):.1f} during the run"
        + (
            f" ({os.cpu_count()} cores shared with other work: every wall time is inflated, the alternatives' as much "
            "as ours)."
            if max(loads) > (os.cpu_count() or 1)
            else " (a quiet machine)."
        ),
        "",
        f"Cold: a fresh RUNNER_TEMP, empty caches, {args.trials} runs each, round-robin. Network time is included: "
        "every cold run downloads from PyPI through this machine's network (a TLS-inspecting proxy whose CA is in "
        "the system store; the uv path is given no CA variable, pip PIP_CERT). For scale, one plain GET of the "
        f"{size / 1e6:.1f} MB uv wheel took {download:.2f} s "
        "here. Warm: the second kars step in the same job, "
        f"{args.warm} runs.",
        "",
        "| set-up | cold, median (min–max) | vs pip path | cold CPU (user + system), median | warm, median (min–max) "
        "| vs pip path |",
        "|---|---|---:|---:|---|---:|",
    ]
    for name in variants:
        cold_median = statistics.median(cold[name])
        warm_median = statistics.median(warm[name])
        lines.append(
            f"| {name} | {summary(cold[name])} | {cold_median / pip:.2f}× | {statistics.median(cpu[name]):.2f} s | "
            f"{summary(warm[name])} | "
            f"{warm_median / pip_warm:.2f}× |"
        )
    uv_cold, uv_warm = statistics.median(cold["uv path"]), statistics.median(warm["uv path"])
    lines += [
        "",
        f"Aims: cold ≤ 2 s (median) — {'met' if uv_cold <= 2 else '**not met**'} ({uv_cold:.2f} s); "
        f"warm ≤ 0.15 s — {'met' if uv_warm <= 0.15 else '**not met**'} ({uv_warm:.2f} s).",
        "",
        "Cold CPU is what all of the set-up's processes used (user + system): it changes far less with the load "
        "than the wall time does.",
        "",
        "All cold runs, in order:",
        "",
        *(f"- {name}: " + ", ".join(f"{v:.2f}" for v in values) for name, values in cold.items()),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)


if __name__ == "__main__":
    main()
