#!/usr/bin/env bash
# Run one kars-actions command from an action step: KARS_INPUT_* environment -> argv, never through eval.
#
#   run.sh <command>      command: release | test | validate | tag | release-status | deploy | health | watch |
#                         rollback | notify | config | preview
#
# Every action input arrives as an environment variable (KARS_INPUT_<NAME>), never as text spliced into the
# script, so a value containing quotes, $(...), backticks or newlines is only ever data. A flag is passed only when
# its input is non-empty, so the CLI's own defaults and kars.yml apply otherwise. Lists are one item per line
# (service lists may also be separated by commas or spaces). Secrets travel as environment variables the CLI
# reads (RAILWAY_TOKEN, GITHUB_TOKEN, KARS_SLACK_WEBHOOK, ...), never as arguments, and every KARS_INPUT_*
# variable is removed before the CLI starts so nothing it runs (a test command, say) inherits them.
#
# KARS_PYTHON is the interpreter of the private virtualenv made by setup.sh.
set -euo pipefail

fail() { # fail MESSAGE: one ::error line; %, CR and LF escaped as the toolkit does, so an input's newline
  # cannot start a workflow command of its own
  local message="$1"
  message="${message//'%'/%25}"
  message="${message//$'\r'/%0D}"
  message="${message//$'\n'/%0A}"
  printf '::error title=kars-actions::%s\n' "$message"
  exit 2
}

if ((BASH_VERSINFO[0] < 4)); then
  fail "bash 4 or newer is needed (found $BASH_VERSION)"
fi

command="${1:-${KARS_INPUT_COMMAND:-release}}"
python="${KARS_PYTHON:-}"
[[ -n "$python" ]] || fail "KARS_PYTHON is not set: scripts/setup.sh must run first"

args=()
subcommand=() # config: plan | apply, which goes before the options
value=""

trim() { # trim TEXT -> TEXT without surrounding whitespace (and without a Windows \r)
  local text="${1//$'\r'/}"
  text="${text#"${text%%[![:space:]]*}"}"
  text="${text%"${text##*[![:space:]]}"}"
  printf '%s' "$text"
}

opt() { # opt --flag VALUE: pass "--flag VALUE" when VALUE is not blank
  local value
  value="$(trim "${2:-}")"
  if [[ -n "$value" ]]; then
    args+=("$1" "$value")
  fi
}

lines() { # lines --flag TEXT: one "--flag ITEM" per non-blank line
  local line item
  local -a items=()
  [[ -n "${2:-}" ]] || return 0
  mapfile -t items <<<"$2"
  for line in "${items[@]}"; do
    item="$(trim "$line")"
    if [[ -n "$item" ]]; then
      args+=("$1" "$item")
    fi
  done
}

words() { # words --flag TEXT: one "--flag ITEM" per item separated by newlines, commas or spaces
  local item
  local -a items=()
  [[ -n "${2:-}" ]] || return 0
  mapfile -t items < <(printf '%s\n' "$2" | tr ', \t\r' '\n\n\n\n')
  for item in "${items[@]}"; do
    if [[ -n "$item" ]]; then
      args+=("$1" "$item")
    fi
  done
}

positional() { # positional TEXT: each non-blank line becomes one argument, after a "--"
  local line item
  local -a items=() found=()
  [[ -n "${1:-}" ]] || return 0
  mapfile -t items <<<"$1"
  for line in "${items[@]}"; do
    item="$(trim "$line")"
    if [[ -n "$item" ]]; then
      found+=("$item")
    fi
  done
  if ((${#found[@]})); then
    args+=("--" "${found[@]}")
  fi
}

switch() { # switch NAME --on [--off] VALUE: "true" -> --on, "false" -> --off (when given), "" -> nothing
  local name="$1" on="$2" off="$3" value
  value="$(trim "${4:-}")"
  case "${value,,}" in
    "") ;;
    true | yes | 1) args+=("$on") ;;
    false | no | 0) if [[ -n "$off" ]]; then args+=("$off"); fi ;;
    *) fail "input $name must be true or false, not '$value'" ;;
  esac
}

renamed() { # renamed NEW_VALUE OLD_VALUE new-name old-name: $value is the new input, else the old name's (warned)
  value="${1:-}"
  if [[ -z "$(trim "$value")" && -n "$(trim "${2:-}")" ]]; then
    value="$2"
    printf '::warning title=kars-actions::input "%s" is deprecated and will be removed: name it "%s"\n' "$4" "$3"
  fi
}

secret_env() { # secret_env NAME VALUE: export NAME=VALUE for the CLI when VALUE is not blank
  if [[ -n "$(trim "${2:-}")" ]]; then
    export "$1=$2"
  fi
}

# Inputs shared by several commands (the root action and the step actions use the same variable names).
common_config() { opt --config "${KARS_INPUT_CONFIG:-}"; }
railway_tokens() {
  secret_env RAILWAY_TOKEN "${KARS_INPUT_RAILWAY_TOKEN:-}"
  secret_env RAILWAY_API_TOKEN "${KARS_INPUT_RAILWAY_API_TOKEN:-}"
}
github_token() { secret_env GITHUB_TOKEN "${KARS_INPUT_GITHUB_TOKEN:-}"; }
webhooks() {
  secret_env KARS_SLACK_WEBHOOK "${KARS_INPUT_SLACK_WEBHOOK:-}"
  secret_env KARS_DISCORD_WEBHOOK "${KARS_INPUT_DISCORD_WEBHOOK:-}"
  secret_env KARS_WEBHOOK_URL "${KARS_INPUT_WEBHOOK_URL:-}"
  secret_env KARS_WEBHOOK_SECRET "${KARS_INPUT_WEBHOOK_SECRET:-}"
}

build_release() {
  common_config
  github_token
  railway_tokens
  webhooks
  opt --environment "${KARS_INPUT_ENVIRONMENT:-}"
  words --service "${KARS_INPUT_SERVICES:-}"
  opt --bump "${KARS_INPUT_BUMP:-}"
  opt --prerelease "${KARS_INPUT_PRERELEASE:-}"
  opt --deploy-timeout "${KARS_INPUT_DEPLOY_TIMEOUT:-}"
  opt --health-deadline "${KARS_INPUT_HEALTH_DEADLINE:-}"
  opt --watch-duration "${KARS_INPUT_WATCH_DURATION:-}"
  opt --settle "${KARS_INPUT_SETTLE:-}"
  opt --timeout "${KARS_INPUT_TOTAL_TIMEOUT:-}"
  lines --health-url "${KARS_INPUT_HEALTH_URLS:-}"
  lines --service-url "${KARS_INPUT_SERVICE_URLS:-}"
  lines --expect-json "${KARS_INPUT_EXPECT_JSON:-}"
  words --expect-status "${KARS_INPUT_EXPECT_STATUS:-}"
  opt --railway-config "${KARS_INPUT_RAILWAY_CONFIG:-}"
  opt --version-check "${KARS_INPUT_VERSION_CHECK:-}"
  opt --requires "${KARS_INPUT_REQUIRES:-}"
  switch move-major --move-major --no-move-major "${KARS_INPUT_MOVE_MAJOR:-}"
  switch dry-run --dry-run "" "${KARS_INPUT_DRY_RUN:-}"
}

build_test() {
  common_config
  lines --dir "${KARS_INPUT_DIRS:-}"
  opt --jobs "${KARS_INPUT_JOBS:-}"
}

build_validate() {
  common_config
  switch strict --strict --lenient "${KARS_INPUT_STRICT:-}"
  opt --schema "${KARS_INPUT_SCHEMA:-}"
  switch deprecation-notice "" --no-deprecation-notice "${KARS_INPUT_DEPRECATION_NOTICE:-}"
  positional "${KARS_INPUT_PATHS:-}"
}

build_tag() {
  common_config
  github_token
  opt --bump "${KARS_INPUT_BUMP:-}"
  opt --version "${KARS_INPUT_VERSION:-}"
  opt --prerelease "${KARS_INPUT_PRERELEASE:-}"
  opt --environment "${KARS_INPUT_ENVIRONMENT:-}"
  opt --tag-prefix "${KARS_INPUT_TAG_PREFIX:-}"
  opt --target "${KARS_INPUT_TARGET:-}"
  switch draft --draft --no-draft "${KARS_INPUT_DRAFT:-}"
  switch force --force "" "${KARS_INPUT_FORCE:-}"
  switch dry-run --dry-run "" "${KARS_INPUT_DRY_RUN:-}"
}

build_release_status() {
  common_config
  github_token
  opt --tag "${KARS_INPUT_TAG:-}"
  local status
  status="$(trim "${KARS_INPUT_STATUS:-}")"
  case "${status,,}" in
    success) args+=(--success) ;;
    failure) args+=(--failure) ;;
    "") fail "input status is required for release-status: success or failure" ;;
    *) fail "input status must be success or failure, not '$status'" ;;
  esac
  opt --reason "${KARS_INPUT_REASON:-}"
  switch move-major --move-major --no-move-major "${KARS_INPUT_MOVE_MAJOR:-}"
  switch dry-run --dry-run "" "${KARS_INPUT_DRY_RUN:-}"
}

build_deploy() {
  common_config
  railway_tokens
  words --service "${KARS_INPUT_SERVICES:-}"
  opt --environment "${KARS_INPUT_ENVIRONMENT:-}"
  opt --project "${KARS_INPUT_PROJECT:-}"
  opt --commit "${KARS_INPUT_COMMIT:-}"
  renamed "${KARS_INPUT_DEPLOY_TIMEOUT:-}" "${KARS_INPUT_TIMEOUT:-}" deploy-timeout timeout
  opt --timeout "$value"
  opt --settle "${KARS_INPUT_SETTLE:-}"
  switch dry-run --dry-run "" "${KARS_INPUT_DRY_RUN:-}"
}

build_health() {
  common_config
  # Headers carry credentials: they reach the CLI through KARS_HEALTH_HEADERS (one "Name: value" per line).
  secret_env KARS_HEALTH_HEADERS "${KARS_INPUT_HEADERS:-}"
  words --service "${KARS_INPUT_SERVICES:-}"
  words --expect-status "${KARS_INPUT_EXPECT_STATUS:-}"
  lines --expect-json "${KARS_INPUT_EXPECT_JSON:-}"
  opt --expect-version "${KARS_INPUT_EXPECT_VERSION:-}"
  opt --timeout "${KARS_INPUT_TIMEOUT:-}"
  renamed "${KARS_INPUT_HEALTH_DEADLINE:-}" "${KARS_INPUT_DEADLINE:-}" health-deadline deadline
  opt --deadline "$value"
  opt --interval "${KARS_INPUT_INTERVAL:-}"
  opt --stable "${KARS_INPUT_STABLE:-}"
  lines --service-url "${KARS_INPUT_SERVICE_URLS:-}"
  opt --version-check "${KARS_INPUT_VERSION_CHECK:-}"
  renamed "${KARS_INPUT_HEALTH_URLS:-}" "${KARS_INPUT_URLS:-}" health-urls urls
  positional "$value"
}

build_rollback() {
  common_config
  railway_tokens
  # One service per rollback: the root action's "services" input is accepted when it names exactly one.
  opt --service "${KARS_INPUT_SERVICE:-${KARS_INPUT_SERVICES:-}}"
  renamed "${KARS_INPUT_ROLLBACK_TO:-}" "${KARS_INPUT_TO:-}" rollback-to to
  opt --to "$value"
  opt --environment "${KARS_INPUT_ENVIRONMENT:-}"
  opt --project "${KARS_INPUT_PROJECT:-}"
  renamed "${KARS_INPUT_DEPLOY_TIMEOUT:-}" "${KARS_INPUT_TIMEOUT:-}" deploy-timeout timeout
  opt --timeout "$value"
  switch dry-run --dry-run "" "${KARS_INPUT_DRY_RUN:-}"
}

build_watch() {
  common_config
  railway_tokens
  words --service "${KARS_INPUT_SERVICES:-}"
  opt --duration "${KARS_INPUT_DURATION:-${KARS_INPUT_WATCH_DURATION:-}}"
  opt --interval "${KARS_INPUT_INTERVAL:-}"
  opt --environment "${KARS_INPUT_ENVIRONMENT:-}"
  opt --project "${KARS_INPUT_PROJECT:-}"
  lines --service-url "${KARS_INPUT_SERVICE_URLS:-}"
  switch health --health --no-health "${KARS_INPUT_HEALTH:-}"
  switch rollback --rollback "" "${KARS_INPUT_ROLLBACK:-}"
  opt --after-release "${KARS_INPUT_AFTER_RELEASE:-}"
  opt --memory-limit-ratio "${KARS_INPUT_MEMORY_LIMIT_RATIO:-}"
  github_token
  webhooks
}

build_notify() {
  common_config
  webhooks
  opt --event "${KARS_INPUT_EVENT:-}"
  opt --environment "${KARS_INPUT_ENVIRONMENT:-}"
  opt --version "${KARS_INPUT_VERSION:-}"
  words --service "${KARS_INPUT_SERVICES:-}"
  opt --summary "${KARS_INPUT_REASON:-}"
  opt --failure "${KARS_INPUT_FAILURE:-}"
  opt --release-url "${KARS_INPUT_RELEASE_URL:-}"
  opt --deployment-url "${KARS_INPUT_DEPLOYMENT_URL:-}"
  opt --run-url "${KARS_INPUT_RUN_URL:-}"
  switch strict --strict "" "${KARS_INPUT_STRICT:-}"
  switch dry-run --dry-run "" "${KARS_INPUT_DRY_RUN:-}"
}

build_preview() {
  common_config
  github_token
  # Previews reach a new environment per pull request: only a workspace or account token can.
  secret_env RAILWAY_API_TOKEN "${KARS_INPUT_RAILWAY_API_TOKEN:-}"
  opt --pr "${KARS_INPUT_PR:-}"
  switch close --close "" "${KARS_INPUT_CLOSE:-}"
  words --service "${KARS_INPUT_SERVICES:-}"
  opt --project "${KARS_INPUT_PROJECT:-}"
  lines --service-url "${KARS_INPUT_SERVICE_URLS:-}"
  words --expect-status "${KARS_INPUT_EXPECT_STATUS:-}"
  lines --expect-json "${KARS_INPUT_EXPECT_JSON:-}"
  opt --version-check "${KARS_INPUT_VERSION_CHECK:-}"
  opt --deploy-timeout "${KARS_INPUT_DEPLOY_TIMEOUT:-}"
  opt --health-deadline "${KARS_INPUT_HEALTH_DEADLINE:-}"
  opt --timeout "${KARS_INPUT_TOTAL_TIMEOUT:-}"
}

build_config() {
  common_config
  railway_tokens
  local which
  which="$(trim "${KARS_INPUT_CONFIG_COMMAND:-plan}")"
  case "$which" in
    plan)
      subcommand=(plan)
      switch check --check "" "${KARS_INPUT_CHECK:-}"
      ;;
    apply)
      subcommand=(apply)
      switch dry-run --dry-run "" "${KARS_INPUT_DRY_RUN:-}"
      switch prune --prune "" "${KARS_INPUT_PRUNE:-}"
      switch clear-config-file --clear-config-file "" "${KARS_INPUT_CLEAR_CONFIG_FILE:-}"
      ;;
    *) fail "input command must be plan or apply, not '$which'" ;;
  esac
  words --service "${KARS_INPUT_SERVICES:-}"
  lines --environment "${KARS_INPUT_ENVIRONMENTS:-}"
  opt --project "${KARS_INPUT_PROJECT:-}"
}

case "$command" in
  release | test | validate | tag | deploy | health | watch | rollback | notify | config | preview) "build_$command" ;;
  release-status) build_release_status ;;
  "") fail "no command given: run.sh <release|test|validate|tag|release-status|deploy|health|watch|rollback|notify|config|preview>" ;;
  *)
    fail "unknown command '$command': use release, test, validate, tag, release-status, deploy, health, watch, rollback, notify, config or preview"
    ;;
esac

workdir="$(trim "${KARS_INPUT_WORKING_DIRECTORY:-}")"
if [[ -n "$workdir" ]]; then
  cd -- "$workdir" 2>/dev/null || fail "working-directory '$workdir' does not exist in $PWD"
fi

# Nothing the CLI starts should inherit the raw inputs; what it needs is now in args or in named variables.
while IFS= read -r name; do
  unset "$name"
done < <(compgen -e | grep '^KARS_INPUT_' || true)

export KARS_FORMAT=github
exec "$python" -I -X utf8 -m kars_actions "$command" ${subcommand[@]+"${subcommand[@]}"} --format github "${args[@]}"
