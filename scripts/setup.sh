#!/usr/bin/env bash
# Install kars-actions into a private virtualenv under $RUNNER_TEMP, from the hash-locked requirements, with uv.
#
# Every action in this repository runs this before its command. It never touches the caller's Python, PATH or
# site-packages: the interpreter comes from actions/setup-python with update-environment: false (passed in as
# KARS_SETUP_PYTHON), the virtualenv lives in $RUNNER_TEMP, and the dependencies are installed with
# --require-hashes --no-deps --only-binary=:all:, so nothing unlisted, unhashed or built from source gets in.
#
# The installer is uv (pip took 7-10 s a job: creating the venv with pip in it, then pip's own start-up and
# resolution; uv does both in well under a second). uv itself comes from its wheel, locked with hashes in
# requirements/uv.txt and installed with the same flags by the interpreter's pip into $RUNNER_TEMP — not on PATH,
# not in any cache of the caller's. uv never downloads an interpreter (UV_PYTHON_DOWNLOADS=never, --python
# pinned to setup-python's), reads no uv.toml of the caller's (--no-config), and caches under $RUNNER_TEMP. If
# uv cannot be had, the virtualenv is made with venv and pip, as before: slower, never weaker.
#
# The package itself is not built or installed: a .pth file puts this action's own checkout (pinned by the
# caller's commit SHA) on the virtualenv's import path. That needs no build backend in the lock file, and the
# code that runs is byte for byte the code at the pinned commit.
#
# A second kars action in the same job reuses the virtualenv when it was made from the same requirements and
# interpreter; the .pth file is rewritten every time so each action runs its own code.
#
# Writes the virtualenv's interpreter to the step output "python".
set -euo pipefail

die() {
  printf '::error title=kars-actions setup::%s\n' "$1"
  exit 2
}

root="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/requirements/action.txt"
uv_requirements="$root/requirements/uv.txt"
[[ -f "$requirements" && -f "$uv_requirements" ]] || die "missing $requirements: the action checkout is incomplete"

base_python="${KARS_SETUP_PYTHON:-}"
[[ -n "$base_python" ]] || die "KARS_SETUP_PYTHON is not set: the setup-python step must run first"
[[ -x "$base_python" || -f "$base_python" ]] || die "the Python from setup-python ($base_python) does not exist"

temp="${RUNNER_TEMP:-}"
[[ -n "$temp" ]] || die "RUNNER_TEMP is not set: this script runs inside GitHub Actions"
venv="$temp/kars-actions-venv"
tools="$temp/kars-actions-uv"

if [[ "${RUNNER_OS:-}" == "Windows" ]]; then
  venv_python="$venv/Scripts/python.exe"
  uv="$tools/bin/uv.exe"
else
  venv_python="$venv/bin/python"
  uv="$tools/bin/uv"
fi

# The fingerprint covers what decides the virtualenv's contents: the lock files and the interpreter.
fingerprint="$("$base_python" -I - "$requirements" "$uv_requirements" <<'PY'
import hashlib, sys
digest = hashlib.sha256()
for path in sys.argv[1:]:
    digest.update(open(path, "rb").read())
digest.update(sys.version.encode())
digest.update(sys.executable.encode())
print(digest.hexdigest())
PY
)"
marker="$venv/kars-actions-requirements.sha256"

install_with_uv() {
  if [[ ! -x "$uv" ]]; then
    rm -rf -- "$tools"
    "$base_python" -I -m pip install --disable-pip-version-check --no-input --quiet --no-compile \
      --target "$tools" --require-hashes --no-deps --only-binary=:all: -r "$uv_requirements" || return 1
  fi
  export UV_CACHE_DIR="$temp/kars-actions-uv-cache" UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
  "$uv" venv --no-config --quiet --python "$base_python" -- "$venv" || return 1
  "$uv" pip install --no-config --quiet --python "$venv_python" \
    --require-hashes --no-deps --only-binary=:all: -r "$requirements" || return 1
}

install_with_pip() {
  "$base_python" -I -m venv -- "$venv"
  "$venv_python" -I -m pip install --disable-pip-version-check --no-input --quiet \
    --require-hashes --no-deps --only-binary=:all: -r "$requirements"
}

if [[ -f "$marker" && -x "$venv_python" && "$(cat "$marker")" == "$fingerprint" ]]; then
  echo "kars-actions: reusing the virtualenv in $venv"
else
  rm -rf -- "$venv"
  echo "::group::kars-actions: installing hash-locked dependencies into $venv"
  if ! install_with_uv; then
    printf '::warning title=kars-actions setup::%s\n' "uv could not be installed or run; installing with pip instead"
    rm -rf -- "$venv"
    install_with_pip
  fi
  echo "::endgroup::"
  printf '%s' "$fingerprint" >"$marker"
fi

# Point the virtualenv at this checkout and check that it imports, in one interpreter start (a second action in
# the job pays only this and the fingerprint). Python resolves and writes the path, so Windows paths come out right.
version="$("$venv_python" -I - "$root" <<'PY'
import os, sys, sysconfig
source = os.path.realpath(sys.argv[1])
site = sysconfig.get_paths()["purelib"]
with open(os.path.join(site, "kars-actions-source.pth"), "w", encoding="utf-8") as handle:
    handle.write(source + "\n")
sys.path.insert(0, source)
import kars_actions
print(kars_actions.__version__)
PY
)" || die "kars_actions does not import from $root"
echo "kars-actions $version ready ($venv_python)"

if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'python=%s\n' "$venv_python" >>"$GITHUB_OUTPUT"
fi
