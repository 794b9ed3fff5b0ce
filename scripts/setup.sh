#!/usr/bin/env bash
# Install kars-actions into a private virtualenv under $RUNNER_TEMP, from the hash-locked requirements, with uv.
#
# Every action in this repository runs this before its command. It never touches the caller's Python, PATH,
# site-packages or caches: the interpreter comes from actions/setup-python with update-environment: false
# (passed in as KARS_SETUP_PYTHON), the virtualenv, uv and every cache live in $RUNNER_TEMP, and the dependencies
# are installed with --require-hashes --no-deps --only-binary=:all:, so nothing unlisted, unhashed or built from
# source gets in.
#
# The installer is uv: it makes and fills the virtualenv in about half a second, where venv and pip take 3-10 s.
# uv itself is the wheel locked with hashes in requirements/uv.txt. scripts/setup_tools.py downloads that wheel,
# checks its sha256 against the lock before opening it, and takes out the one uv binary (why that is as safe as
# pip installing the wheel is written at the top of that file); pip installing the wheel took 2 s of a 3 s
# set-up. If that fails (an index that needs credentials, a platform it does not know), pip installs the wheel
# with the same hash-locked flags, as before. uv never downloads an interpreter (UV_PYTHON_DOWNLOADS=never,
# --python pinned to setup-python's), reads no uv.toml of the caller's (--no-config), verifies TLS against the
# system certificate store (UV_SYSTEM_CERTS, so it works behind a proxy whose CA is only there, as pip does) and
# uses PIP_INDEX_URL when no uv index is set. If uv cannot be had or fails, the interpreter's pip installs the
# same lock into a virtualenv made without pip of its own: slower, never weaker. When pip fails too, one ::error
# annotation names the cause (certificate, network, index, hash) and the fix; exit 3 (1 if the cause is unclear).
# KARS_SETUP_INSTALLER=pip skips uv altogether (where policy allows no downloaded binary).
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
helper="$root/scripts/setup_tools.py"
[[ -f "$requirements" && -f "$uv_requirements" && -f "$helper" ]] || die "missing $requirements: the action checkout is incomplete"

base_python="${KARS_SETUP_PYTHON:-}"
[[ -n "$base_python" ]] || die "KARS_SETUP_PYTHON is not set: the setup-python step must run first"
[[ -x "$base_python" || -f "$base_python" ]] || die "the Python from setup-python ($base_python) does not exist"

temp="${RUNNER_TEMP:-}"
[[ -n "$temp" ]] || die "RUNNER_TEMP is not set: this script runs inside GitHub Actions"
venv="$temp/kars-actions-venv"
tools="$temp/kars-actions-uv"
pip_cache="$temp/kars-actions-pip-cache"
log="$temp/kars-actions-setup.log"

installer="${KARS_SETUP_INSTALLER:-uv}"
[[ "$installer" == uv || "$installer" == pip ]] || die "KARS_SETUP_INSTALLER must be uv or pip, not '$installer'"

if [[ "${RUNNER_OS:-}" == "Windows" ]]; then
  venv_python="$venv/Scripts/python.exe"
  uv="$tools/bin/uv.exe"
else
  venv_python="$venv/bin/python"
  uv="$tools/bin/uv"
fi

marker="$venv/kars-actions-requirements.sha256"

# activate MODE: one start of the virtualenv's interpreter. It works out the fingerprint of what decides the
# virtualenv's contents (the lock files, the interpreter's build and path); "reuse" exits 10 when the marker does
# not match it, "stamp" writes it. Then it puts this checkout on the virtualenv's path (a .pth file: Python
# resolves and writes the path, so Windows paths come out right) and checks that kars_actions imports. A second
# kars step in the job pays only this.
activate() {
  "$venv_python" -I - "$1" "$root" "$marker" "$base_python" "$requirements" "$uv_requirements" <<'PY'
import hashlib, os, sys, sysconfig
mode, root, marker, base, *locks = sys.argv[1:]
digest = hashlib.sha256()
for path in locks:
    with open(path, "rb") as handle:
        digest.update(handle.read())
digest.update(sys.version.encode())
digest.update(base.encode())
fingerprint = digest.hexdigest()
if mode == "reuse":
    try:
        with open(marker, encoding="utf-8") as handle:
            if handle.read() != fingerprint:
                sys.exit(10)
    except OSError:
        sys.exit(10)
source = os.path.realpath(root)
with open(os.path.join(sysconfig.get_paths()["purelib"], "kars-actions-source.pth"), "w", encoding="utf-8") as pth:
    pth.write(source + "\n")
sys.path.insert(0, source)
import kars_actions
if mode == "stamp":
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write(fingerprint)
print(kars_actions.__version__)
PY
}

logged() { # logged COMMAND...: run it; its stderr is shown and kept in $log, for the diagnosis if all fails
  local status=0
  "$@" 2>"$log.last" || status=$?
  cat -- "$log.last" >&2
  cat -- "$log.last" >>"$log"
  rm -f -- "$log.last"
  return "$status"
}

install_with_uv() {
  if [[ ! -x "$uv" ]]; then
    rm -rf -- "$tools"
    if ! logged "$base_python" -I "$helper" fetch-uv "$uv_requirements" "$uv"; then
      rm -rf -- "$tools"
      logged "$base_python" -I -m pip install --disable-pip-version-check --no-input --quiet --no-compile \
        --cache-dir "$pip_cache" \
        --target "$tools" --require-hashes --no-deps --only-binary=:all: -r "$uv_requirements" || return 1
    fi
  fi
  export UV_CACHE_DIR="$temp/kars-actions-uv-cache" UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
  export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-true}"
  if [[ -z "${UV_DEFAULT_INDEX:-}${UV_INDEX_URL:-}" && -n "${PIP_INDEX_URL:-}" ]]; then
    export UV_DEFAULT_INDEX="$PIP_INDEX_URL"
  fi
  logged "$uv" venv --no-config --quiet --python "$base_python" -- "$venv" || return 1
  logged "$uv" pip install --no-config --quiet --python "$venv_python" \
    --require-hashes --no-deps --only-binary=:all: -r "$requirements" || return 1
}

install_with_pip() { # the interpreter's own pip fills a virtualenv made without one (pip >= 22.3: --python)
  logged "$base_python" -I -m venv --without-pip -- "$venv" || return 1
  logged "$base_python" -I -m pip --python "$venv_python" install --disable-pip-version-check --no-input --quiet \
    --cache-dir "$pip_cache" --require-hashes --no-deps --only-binary=:all: -r "$requirements" || return 1
}

version=""
if [[ -f "$marker" && -x "$venv_python" ]] && version="$(activate reuse 2>/dev/null)"; then
  echo "kars-actions: reusing the virtualenv in $venv"
else
  rm -rf -- "$venv"
  : >"$log"
  echo "::group::kars-actions: installing hash-locked dependencies into $venv"
  installed=""
  if [[ "$installer" == uv ]]; then
    if install_with_uv; then
      installed=uv
    else
      cause="$("$base_python" -I "$helper" cause "$log" 2>/dev/null)" || cause="uv failed"
      printf '::warning title=kars-actions setup::%s\n' "uv could not install the dependencies ($cause); installing with pip instead"
      rm -rf -- "$venv"
    fi
  fi
  if [[ -z "$installed" ]] && ! install_with_pip; then
    echo "::endgroup::"
    rm -rf -- "$venv"
    status=0
    tried="pip"
    if [[ "$installer" == uv ]]; then tried="uv+pip"; fi
    error="$("$base_python" -I "$helper" explain "$tried" "$log")" || status=$?
    if [[ "$error" != "::error "* ]]; then
      error="::error title=kars-actions setup::could not install kars-actions' hash-locked dependencies (see the log above)"
      status=1
    fi
    printf '%s\n' "$error"
    exit "$((status == 0 ? 1 : status))"
  fi
  echo "::endgroup::"
  rm -f -- "$log"
  version="$(activate stamp)" || die "kars_actions does not import from $root"
fi

echo "kars-actions $version ready ($venv_python)"

if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'python=%s\n' "$venv_python" >>"$GITHUB_OUTPUT"
fi
