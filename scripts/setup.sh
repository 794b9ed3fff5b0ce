#!/usr/bin/env bash
# Install kars-actions into a private virtualenv under $RUNNER_TEMP, from the hash-locked requirements.
#
# Every action in this repository runs this before its command. It never touches the caller's Python, PATH or
# site-packages: the interpreter comes from actions/setup-python with update-environment: false (passed in as
# KARS_SETUP_PYTHON), the virtualenv lives in $RUNNER_TEMP, and the dependencies are installed with
# --require-hashes --no-deps --only-binary=:all:, so nothing unlisted, unhashed or built from source gets in.
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
[[ -f "$requirements" ]] || die "missing $requirements: the action checkout is incomplete"

base_python="${KARS_SETUP_PYTHON:-}"
[[ -n "$base_python" ]] || die "KARS_SETUP_PYTHON is not set: the setup-python step must run first"
[[ -x "$base_python" || -f "$base_python" ]] || die "the Python from setup-python ($base_python) does not exist"

temp="${RUNNER_TEMP:-}"
[[ -n "$temp" ]] || die "RUNNER_TEMP is not set: this script runs inside GitHub Actions"
venv="$temp/kars-actions-venv"

if [[ "${RUNNER_OS:-}" == "Windows" ]]; then
  venv_python="$venv/Scripts/python.exe"
else
  venv_python="$venv/bin/python"
fi

# The fingerprint covers what decides the virtualenv's contents: the lock file and the interpreter.
fingerprint="$("$base_python" -I - "$requirements" <<'PY'
import hashlib, sys
digest = hashlib.sha256(open(sys.argv[1], "rb").read())
digest.update(sys.version.encode())
digest.update(sys.executable.encode())
print(digest.hexdigest())
PY
)"
marker="$venv/kars-actions-requirements.sha256"

if [[ -f "$marker" && -x "$venv_python" && "$(cat "$marker")" == "$fingerprint" ]]; then
  echo "kars-actions: reusing the virtualenv in $venv"
else
  rm -rf -- "$venv"
  echo "::group::kars-actions: installing hash-locked dependencies into $venv"
  "$base_python" -I -m venv -- "$venv"
  "$venv_python" -I -m pip install --disable-pip-version-check --no-input --quiet \
    --require-hashes --no-deps --only-binary=:all: -r "$requirements"
  echo "::endgroup::"
  printf '%s' "$fingerprint" >"$marker"
fi

# Point the virtualenv at this checkout. Python resolves and writes the path, so Windows paths come out right.
"$venv_python" -I - "$root" <<'PY'
import os, sys, sysconfig
source = os.path.realpath(sys.argv[1])
site = sysconfig.get_paths()["purelib"]
with open(os.path.join(site, "kars-actions-source.pth"), "w", encoding="utf-8") as handle:
    handle.write(source + "\n")
PY

version="$("$venv_python" -I -c 'import kars_actions; print(kars_actions.__version__)')" ||
  die "kars_actions does not import from $root"
echo "kars-actions $version ready ($venv_python)"

if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'python=%s\n' "$venv_python" >>"$GITHUB_OUTPUT"
fi
