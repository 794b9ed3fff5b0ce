#!/usr/bin/env bash
# Run one kars-actions command from an action step:
#
#   run.sh [command]      command: release | test | validate | tag | release-status | deploy | health | watch |
#                         rollback | notify | config | preview (the root action names none: its `command` input, or
#                         release)
#
# The action's inputs arrive as KARS_INPUT_* environment variables, never as text spliced into a script, and are
# read — validated, deprecated names warned about, secrets masked and moved into the variables the CLI reads, the
# raw inputs removed — by kars_actions.cli.inputs, which then runs the command in the same process. Its module
# docstring is the input contract. KARS_PYTHON is the interpreter of the private virtualenv made by setup.sh;
# -I keeps a kars_actions or yaml.py in the caller's repository from shadowing the package.
set -euo pipefail

python="${KARS_PYTHON:-}"
if [[ -z "$python" ]]; then
  printf '::error title=kars-actions::%s\n' "KARS_PYTHON is not set: scripts/setup.sh must run first"
  exit 2
fi
exec "$python" -I -X utf8 -m kars_actions.cli.inputs "$@"
