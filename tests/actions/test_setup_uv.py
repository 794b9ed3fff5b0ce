"""scripts/setup.sh installs with uv: hash-locked, binary-only, no deps, pinned interpreter, all under RUNNER_TEMP,
and a second step in the job reuses the virtualenv. uv is replaced by a recorder and the package index by a
loopback one (tests never reach a registry)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.actions.package_index import package_index, self_signed_certificate

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"

FAKE_UV = """#!/usr/bin/env bash
# Records each call with the uv settings it saw; 'venv' makes a bare virtualenv, 'pip install' does nothing.
calls="$(dirname "$0")/calls"
printf '%s|UV_PYTHON_DOWNLOADS=%s|UV_CACHE_DIR=%s|UV_SYSTEM_CERTS=%s\\n' "$*" "$UV_PYTHON_DOWNLOADS" "$UV_CACHE_DIR" \\
  "$UV_SYSTEM_CERTS" >>"$calls"
if [[ "$1" == venv ]]; then
  exec "$KARS_TEST_PYTHON" -m venv --without-pip "${@: -1}"
fi
"""


def setup(runner_temp: Path, outputs: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "RUNNER_TEMP": str(runner_temp),
        "KARS_SETUP_PYTHON": sys.executable,
        "KARS_TEST_PYTHON": sys.executable,
        "GITHUB_OUTPUT": str(outputs),
    }
    return subprocess.run(["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_setup_installs_with_uv_under_runner_temp_and_reuses_it_in_the_next_step(tmp_path: Path) -> None:
    tools = tmp_path / "kars-actions-uv" / "bin"
    tools.mkdir(parents=True)
    uv = tools / "uv"
    uv.write_text(FAKE_UV)
    uv.chmod(0o755)
    outputs = tmp_path / "outputs"

    first = setup(tmp_path, outputs)
    assert first.returncode == 0, first.stdout + first.stderr
    calls = (tools / "calls").read_text().splitlines()
    assert len(calls) == 2
    venv_call, pip_call = calls
    assert venv_call.startswith(f"venv --no-config --quiet --python {sys.executable} -- {tmp_path}/kars-actions-venv|")
    assert pip_call.startswith(f"pip install --no-config --quiet --python {tmp_path}/kars-actions-venv/bin/python ")
    assert "--require-hashes --no-deps --only-binary=:all: -r " + str(ROOT / "requirements" / "action.txt") in pip_call
    for call in calls:
        assert "UV_PYTHON_DOWNLOADS=never" in call, "uv must never fetch an interpreter of its own"
        assert f"UV_CACHE_DIR={tmp_path}/kars-actions-uv-cache" in call, "uv's cache stays under RUNNER_TEMP"
        assert "UV_SYSTEM_CERTS=true" in call, "uv trusts the system store, as pip does (proxies' CAs live there)"
    python = tmp_path / "kars-actions-venv" / "bin" / "python"
    assert outputs.read_text() == f"python={python}\n"
    imported = subprocess.run([str(python), "-I", "-c", "import kars_actions"], capture_output=True, check=False)
    assert imported.returncode == 0, "the virtualenv runs this checkout"

    second = setup(tmp_path, outputs)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "reusing the virtualenv" in second.stdout
    assert len((tools / "calls").read_text().splitlines()) == 2, "the second step in a job installs nothing"


def test_uv_itself_comes_from_a_hash_locked_wheel() -> None:
    script = SETUP.read_text(encoding="utf-8")
    assert '--target "$tools" --require-hashes --no-deps --only-binary=:all: -r "$uv_requirements"' in script
    locked = (ROOT / "requirements" / "uv.txt").read_text(encoding="utf-8")
    assert locked.count("--hash=sha256:") >= 10  # every platform's wheel, each by its hash
    assert "uv==" in locked


# --- uv's wheel, fetched and checked without pip ---------------------------------------------------------------

UV_VERSION = "0.13.9"


def _tools() -> Any:
    """scripts/setup_tools.py, loaded as setup.sh runs it (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("setup_tools", ROOT / "scripts" / "setup_tools.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["setup_tools"] = module
    spec.loader.exec_module(module)
    return module


tools = _tools()


def _here_tag() -> str:
    """A wheel platform tag this machine runs (the one uv's Linux wheels carry)."""
    tag = f"manylinux_2_17_{platform.machine().lower()}"
    if tools.platform_rank(tag) is None:
        pytest.skip("the loopback wheel is tagged for glibc Linux")
    return tag


def fake_uv_wheel(binary: str = FAKE_UV, *, tag: str | None = None) -> tuple[str, bytes]:
    """(filename, bytes) of a wheel laid out as uv's: the package, its dist-info, and the binary under .data."""
    name = f"uv-{UV_VERSION}-py3-none-{tag or _here_tag()}.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("uv/__init__.py", "")
        archive.writestr(f"uv-{UV_VERSION}.data/scripts/uv", binary)
        archive.writestr(f"uv-{UV_VERSION}.dist-info/RECORD", "")
    return name, buffer.getvalue()


def lock_for(*wheels: bytes) -> str:
    hashes = " \\\n".join(f"    --hash=sha256:{hashlib.sha256(w).hexdigest()}" for w in wheels)
    return f"uv=={UV_VERSION} \\\n{hashes}\n    # via -r requirements/uv.in\n"


def test_the_lock_gives_the_version_and_every_hash() -> None:
    version, hashes = tools.locked((ROOT / "requirements" / "uv.txt").read_text(encoding="utf-8"))
    assert version == UV_VERSION
    assert len(hashes) == (ROOT / "requirements" / "uv.txt").read_text().count("--hash=sha256:")
    with pytest.raises(tools.Refused, match="pins no uv==VERSION with hashes"):
        tools.locked("uv==0.13.9\n")


@pytest.mark.parametrize("json_pages", [False, True], ids=["pep503-html", "pep691-json"])
def test_fetch_uv_takes_the_binary_out_of_the_locked_wheel(tmp_path: Path, json_pages: bool) -> None:
    name, wheel = fake_uv_wheel()
    other_name, other = fake_uv_wheel(tag="win_amd64")  # another platform's wheel, also locked: not chosen
    lock = tmp_path / "uv.txt"
    lock.write_text(lock_for(wheel, other))
    dest = tmp_path / "tools" / "bin" / "uv"
    with package_index({name: wheel, other_name: other}, json_pages=json_pages) as index:
        tools.fetch_uv(lock, dest, {"UV_DEFAULT_INDEX": index})
    assert dest.read_text() == FAKE_UV
    assert os.access(dest, os.X_OK)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["uv"], "only the binary, no partial file left"


def test_fetch_uv_refuses_bytes_the_lock_does_not_list_and_writes_nothing(tmp_path: Path) -> None:
    name, wheel = fake_uv_wheel()
    _, locked_wheel = fake_uv_wheel("#!/bin/sh\necho the reviewed one\n")
    lock = tmp_path / "uv.txt"
    lock.write_text(lock_for(locked_wheel))
    dest = tmp_path / "tools" / "bin" / "uv"
    # The listing claims the locked hash, the file served is another: the download is hashed, not the claim.
    listed = {name: hashlib.sha256(locked_wheel).hexdigest()}
    refused = r"has sha256 [0-9a-f]{64}, which uv.txt does not list: refused"
    with package_index({name: wheel}, listed_hashes=listed) as index, pytest.raises(tools.Refused, match=refused):
        tools.fetch_uv(lock, dest, {"UV_DEFAULT_INDEX": index})
    assert not dest.exists()


def test_fetch_uv_skips_a_listed_file_whose_stated_hash_is_not_locked(tmp_path: Path) -> None:
    name, wheel = fake_uv_wheel()
    lock = tmp_path / "uv.txt"
    lock.write_text(lock_for(wheel))
    refused = f"lists no locked uv {UV_VERSION} wheel"
    with package_index({name: wheel}, listed_hashes={name: "0" * 64}) as index, pytest.raises(
        tools.Refused, match=refused
    ):
        tools.fetch_uv(lock, tmp_path / "uv", {"PIP_INDEX_URL": index})


def test_fetch_uv_leaves_an_index_with_credentials_to_pip(tmp_path: Path) -> None:
    lock = tmp_path / "uv.txt"
    lock.write_text(lock_for(b"x"))
    with pytest.raises(tools.Refused, match="the index URL carries credentials: pip handles those"):
        tools.fetch_uv(lock, tmp_path / "uv", {"PIP_INDEX_URL": "https://user:pw@127.0.0.1:9/simple"})


def test_fetch_uv_refuses_a_wheel_without_the_binary(tmp_path: Path) -> None:
    name = f"uv-{UV_VERSION}-py3-none-{_here_tag()}.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../bin/uv", FAKE_UV)  # a path that would escape: never read, never written
    wheel = buffer.getvalue()
    lock = tmp_path / "uv.txt"
    lock.write_text(lock_for(wheel))
    refused = rf"has no uv-{UV_VERSION}\.data/scripts/uv"
    with package_index({name: wheel}) as index, pytest.raises(tools.Refused, match=refused):
        tools.fetch_uv(lock, tmp_path / "out" / "uv", {"UV_DEFAULT_INDEX": index})
    assert not (tmp_path / "bin").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "https://pypi.org/simple/"),
        ({"PIP_INDEX_URL": "https://mirror/pypi/simple"}, "https://mirror/pypi/simple/"),
        ({"PIP_INDEX_URL": "https://pip/", "UV_INDEX_URL": "https://uv-old/"}, "https://uv-old/"),
        ({"UV_INDEX_URL": "https://uv-old/", "UV_DEFAULT_INDEX": "https://uv/"}, "https://uv/"),
    ],
)
def test_the_index_is_the_one_uv_will_use(environ: dict[str, str], expected: str) -> None:
    assert tools.index_url(environ) == expected


def test_platform_tags_follow_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools.sys, "platform", "linux")
    monkeypatch.setattr(tools.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(tools.os, "confstr", lambda name: "glibc 2.31")
    assert tools.platform_rank("manylinux_2_17_x86_64") == (2, 17)
    assert tools.platform_rank("manylinux2014_x86_64") == (2, 17)
    assert tools.platform_rank("manylinux_2_35_x86_64") is None, "needs a newer glibc than 2.31"
    assert tools.platform_rank("manylinux_2_17_aarch64") is None
    assert tools.platform_rank("musllinux_1_1_x86_64") is None
    name = f"uv-{UV_VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert tools.wheel_rank(name, "uv", UV_VERSION) == (2, 17)
    assert tools.wheel_rank(name, "uv", "0.13.8") is None
    monkeypatch.setattr(tools.os, "confstr", lambda name: None)  # musl: pip chooses
    assert tools.platform_rank("manylinux_2_17_x86_64") is None
    monkeypatch.setattr(tools.sys, "platform", "darwin")
    monkeypatch.setattr(tools.platform, "machine", lambda: "arm64")
    monkeypatch.setattr(tools.platform, "mac_ver", lambda: ("14.5", ("", "", ""), "arm64"))
    assert tools.platform_rank("macosx_11_0_arm64") == (11, 0)
    assert tools.platform_rank("macosx_10_12_x86_64") is None
    monkeypatch.setattr(tools.sys, "platform", "win32")
    monkeypatch.setattr(tools.platform, "machine", lambda: "AMD64")
    assert tools.platform_rank("win_amd64") == (1,) and tools.platform_rank("win_arm64") is None


# --- when uv and pip both fail ----------------------------------------------------------------------------------

UV_CERT_ERROR = """error: Request failed after 3 retries
  Caused by: Failed to fetch: `https://pypi.org/simple/anyio/`
  Caused by: error sending request for url (https://pypi.org/simple/anyio/)
  Caused by: client error (Connect)
  Caused by: invalid peer certificate: UnknownIssuer
"""


@pytest.mark.parametrize(
    ("log", "cause", "words"),
    [
        (UV_CERT_ERROR + "ERROR: No matching distribution found for anyio==4.16.0", "certificate", "UnknownIssuer"),
        ("WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: [Errno 111] Connection "
         "refused\nERROR: No matching distribution found for anyio==4.16.0", "network", "Connection refused"),
        ("ERROR: Could not find a version that satisfies the requirement anyio==4.16.0 (from versions: none)",
         "index", "from versions: none"),
        ("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.", "hash", "DO NOT MATCH"),
        ("ERROR: Fatal Python error: the disk is full", "unknown", "disk is full"),
    ],
)  # fmt: skip
def test_the_diagnosis_names_the_cause_from_the_installers_own_words(log: str, cause: str, words: str) -> None:
    found, evidence = tools.diagnose([log])
    assert found == cause and words in evidence


def test_the_diagnosis_never_repeats_index_credentials() -> None:
    log = "ERROR: Could not fetch URL https://ci:hunter2@mirror.example/simple/anyio/: 404 Client Error"
    message, code = tools.explain([log], ["uv", "pip"], {"PIP_INDEX_URL": "https://mirror.example/simple"})
    assert "hunter2" not in message and "https://***@mirror.example" in message
    assert code == 3 and "mirror.example does not serve the locked versions" in message


def test_the_error_names_the_index_each_installer_that_ran_was_asked() -> None:
    environ = {"UV_DEFAULT_INDEX": "https://uv-mirror/simple", "PIP_INDEX_URL": "https://pip-mirror/simple"}
    log = "ERROR: No matching distribution found for anyio==4.16.0"
    assert "with uv or pip: uv-mirror and pip-mirror do not serve" in tools.explain([log], ["uv", "pip"], environ)[0]
    assert "with pip: pip-mirror does not serve" in tools.explain([log], ["pip"], environ)[0]
    assert "with pip: pypi.org does not serve" in tools.explain([log], ["pip"], {"UV_DEFAULT_INDEX": "https://x/"})[0]


FAILING_UV = """#!/usr/bin/env bash
# uv as it fails behind a TLS-inspecting proxy it does not trust.
printf '%s' "$UV_CERT_ERROR" >&2
exit 2
"""


def _checkout(tmp_path: Path, uv_lock: str | None = None) -> Path:
    """A copy of the action's checkout for setup.sh: its scripts, its locks (uv's may be replaced), the package."""
    checkout = tmp_path / "action"
    (checkout / "requirements").mkdir(parents=True)
    shutil.copytree(ROOT / "scripts", checkout / "scripts")
    for name in ("action.txt", "uv.txt"):
        shutil.copy(ROOT / "requirements" / name, checkout / "requirements" / name)
    if uv_lock is not None:
        (checkout / "requirements" / "uv.txt").write_text(uv_lock)
    (checkout / "kars_actions").symlink_to(ROOT / "kars_actions")
    return checkout


def _isolated_env(runner_temp: Path, **extra: str) -> dict[str, str]:
    """What a runner gives the step, and nothing of this machine's pip configuration."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(runner_temp / "home"),
        "RUNNER_TEMP": str(runner_temp),
        "KARS_SETUP_PYTHON": sys.executable,
        "KARS_TEST_PYTHON": sys.executable,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "10",
        "PIP_NO_INPUT": "1",
        **extra,
    }


def _run_setup(checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh")], env=env, capture_output=True, text=True, timeout=240
    )


def test_setup_fetches_uv_from_the_index_and_never_runs_pip(tmp_path: Path) -> None:
    name, wheel = fake_uv_wheel()
    checkout = _checkout(tmp_path, lock_for(wheel))
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    with package_index({name: wheel}) as index:
        completed = _run_setup(checkout, _isolated_env(runner_temp, UV_DEFAULT_INDEX=index, GITHUB_OUTPUT=os.devnull))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    uv = runner_temp / "kars-actions-uv" / "bin" / "uv"
    assert uv.read_text() == FAKE_UV, "the binary from the locked wheel is the one that ran"
    calls = (uv.parent / "calls").read_text().splitlines()
    assert [c.split(" ", 1)[0] for c in calls] == ["venv", "pip"]
    assert "::warning" not in completed.stdout and "::error" not in completed.stdout
    assert not (runner_temp / "home").exists(), "nothing written outside RUNNER_TEMP"


@pytest.mark.parametrize("uv_present", [True, False], ids=["uv-refused", "uv-wheel-refused"])
def test_a_refused_certificate_fails_uv_and_pip_with_one_error_naming_it(tmp_path: Path, uv_present: bool) -> None:
    certificate = self_signed_certificate(tmp_path)
    if certificate is None:
        pytest.skip("needs the openssl command to make a certificate")
    runner_temp = tmp_path / "runner"
    if uv_present:  # uv already here (an earlier step), failing as the real one does behind such a proxy
        bin_dir = runner_temp / "kars-actions-uv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "uv").write_text(FAILING_UV)
        (bin_dir / "uv").chmod(0o755)
    runner_temp.mkdir(exist_ok=True)
    name, wheel = fake_uv_wheel()
    with package_index({name: wheel}, tls=certificate) as index:
        env = _isolated_env(runner_temp, PIP_INDEX_URL=index, UV_DEFAULT_INDEX=index, UV_CERT_ERROR=UV_CERT_ERROR)
        completed = _run_setup(_checkout(tmp_path), env)
    assert completed.returncode == 3, completed.stdout + completed.stderr
    errors = [line for line in completed.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, completed.stdout
    error = errors[0]
    assert error.startswith(
        "::error title=kars-actions setup::could not install kars-actions' hash-locked dependencies with uv or pip: "
        "the TLS certificate of 127.0.0.1 was refused ("
    )
    for fix in ("system certificate store", "SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "UV_SYSTEM_CERTS"):
        assert fix in error
    warnings = [line for line in completed.stdout.splitlines() if line.startswith("::warning")]
    assert warnings == [
        "::warning title=kars-actions setup::uv could not install the dependencies (the package index's TLS "
        "certificate was refused); installing with pip instead"
    ]
    assert not (runner_temp / "kars-actions-venv").exists(), "no half-made virtualenv is left for the next step"


def test_an_index_that_does_not_serve_the_lock_is_named_with_its_fix(tmp_path: Path) -> None:
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    with package_index({}) as index:
        env = _isolated_env(runner_temp, PIP_INDEX_URL=index, KARS_SETUP_INSTALLER="pip")
        completed = _run_setup(_checkout(tmp_path), env)
    assert completed.returncode == 3
    errors = [line for line in completed.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "dependencies with pip: 127.0.0.1 does not serve the locked versions" in errors[0]
    assert "PIP_INDEX_URL / UV_DEFAULT_INDEX" in errors[0]
    assert "::warning" not in completed.stdout, "pip was asked for: no uv to fall back from"


def test_an_unknown_installer_is_a_usage_error(tmp_path: Path) -> None:
    env = _isolated_env(tmp_path, KARS_SETUP_INSTALLER="poetry")
    completed = _run_setup(_checkout(tmp_path), env)
    assert completed.returncode == 2
    assert completed.stdout == (
        "::error title=kars-actions setup::KARS_SETUP_INSTALLER must be uv or pip, not 'poetry'\n"
    )
