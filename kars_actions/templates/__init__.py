"""Workflow templates: list, fill from kars.yml, pin kars/deploy-action, write into .github/workflows/."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kars_actions import __version__
from kars_actions.core.config import Config
from kars_actions.core.errors import ExternalError, UsageError

ACTION_REPOSITORY = "kars/deploy-action"
ACTION_REPOSITORY_URL = f"https://github.com/{ACTION_REPOSITORY}.git"
# The shipped templates pin our own action to this commit: a 40-hex value keeps every linter's pinning rule
# satisfied, and it is obviously not a real commit. `render` replaces it with the release's commit.
PLACEHOLDER_SHA = "0" * 40
WORKFLOWS_DIR = Path(".github") / "workflows"

_PIN = re.compile(rf"(?P<action>{re.escape(ACTION_REPOSITORY)}(?:/[a-z]+)?)@(?P<sha>[0-9a-f]{{40}}) # v\S+")
_HAND_COPY_NOTE = re.compile(
    r"^# The kars/deploy-action pins are written by `kars-actions init`.*\n"
    r"^# Copying this file by hand\?.*\n"
    r"^#   git ls-remote .*\n",
    re.MULTILINE,
)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SAFE_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_SAFE_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class TemplateInfo:
    """One shipped workflow template, described by its ``.properties.json``."""

    name: str
    title: str
    description: str
    categories: list[str]

    @property
    def file_name(self) -> str:
        return f"{self.name}.yml"


@dataclass(frozen=True)
class ActionPin:
    """The commit ``uses: kars/deploy-action...`` is pinned to, and the release it belongs to."""

    sha: str
    version: str

    def __post_init__(self) -> None:
        if not _SHA.fullmatch(self.sha):
            raise UsageError(
                f"{self.sha!r} is not a full commit SHA (40 lower-case hex digits)",
                hint=f"git ls-remote {ACTION_REPOSITORY_URL} 'refs/tags/v{self.version}^{{}}' prints it",
            )


# The action inputs an alert channel goes through, and the secret the shipped templates read each from.
DEFAULT_ALERTS = (("slack-webhook", "SLACK_WEBHOOK_URL"), ("discord-webhook", "DISCORD_WEBHOOK_URL"))
# Shown in a draft where the services could not be found: the release refuses it, naming the project's services.
SERVICES_PLACEHOLDER = "REPLACE-WITH-SERVICE-NAMES"


@dataclass(frozen=True)
class ReleaseJob:
    """An environment released by release.yml on a push to its branch."""

    environment: str
    branch: str


@dataclass(frozen=True)
class TemplateValues:
    """What a template is filled with; the defaults are the values the shipped templates are written with."""

    production_environment: str = "production"
    production_branch: str = "main"
    staging_environment: str = "staging"
    staging_branch: str = "develop"
    staging_prerelease: str | None = "rc"
    services: list[str] = field(default_factory=lambda: ["backend", "frontend"])
    environments: list[str] = field(default_factory=lambda: ["production", "staging"])
    # (action input, secret) for each alert channel: kars.yml's alerts.*_env, else the shipped Slack and Discord.
    alerts: tuple[tuple[str, str], ...] = DEFAULT_ALERTS
    has_staging: bool = True
    # The release jobs' services input: the services when kars.yml does not list them (it is read in CI otherwise).
    services_input: tuple[str, ...] = ()
    # More environments release.yml releases, each on a push to its branch (besides the production one).
    extra_jobs: tuple[ReleaseJob, ...] = ()
    # The release jobs' timeout-minutes and the release's own budget in seconds (total-timeout); None: as shipped.
    timeout_minutes: int | None = None
    total_timeout: int | None = None
    # The variables kars.yml's health-check headers read (``${NAME}``): each passed, from the secret of the same
    # name, to every step that checks health (the release, the watch after it, the preview).
    health_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class WrittenTemplate:
    name: str
    path: Path
    replaced: bool


# --- reading the shipped templates ---------------------------------------------------------------------------


def _templates_dir() -> Any:
    return resources.files("kars_actions").joinpath("templates")


def list_templates() -> list[TemplateInfo]:
    """Every shipped template, in a stable order (by name)."""
    infos: list[TemplateInfo] = []
    for entry in sorted(_templates_dir().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".properties.json"):
            continue
        name = entry.name.removesuffix(".properties.json")
        data = json.loads(entry.read_text(encoding="utf-8"))
        infos.append(
            TemplateInfo(
                name=name,
                title=str(data["name"]),
                description=str(data["description"]),
                categories=[str(c) for c in data.get("categories", [])],
            )
        )
    return infos


def template_names() -> list[str]:
    return [info.name for info in list_templates()]


def template_text(name: str) -> str:
    """The shipped text of one template, exactly as in ``workflows-templates/``."""
    known = template_names()
    if name.removesuffix(".yml") not in known:
        raise UsageError(f"unknown template {name!r}", hint=f"pick one of: {', '.join(known)} (see --list)")
    text: str = _templates_dir().joinpath(f"{name.removesuffix('.yml')}.yml").read_text(encoding="utf-8")
    return text


# --- values from kars.yml ------------------------------------------------------------------------------------


def values_from_config(config: Config) -> TemplateValues:
    """Pick the production and staging environments, services and alert secrets out of kars.yml."""
    defaults = TemplateValues()
    envs = config.environments
    production = envs.get("production") or next((e for e in envs.values() if not e.prerelease), None)
    staging = envs.get("staging") or next((e for e in envs.values() if e.prerelease and e is not production), None)
    if staging is production:
        staging = None
    values = TemplateValues(
        production_environment=production.name if production else defaults.production_environment,
        production_branch=(production.branch if production and production.branch else defaults.production_branch),
        staging_environment=staging.name if staging else defaults.staging_environment,
        staging_branch=staging.branch if staging and staging.branch else defaults.staging_branch,
        staging_prerelease=staging.prerelease if staging else defaults.staging_prerelease,
        services=list(config.services) if config.services else [],
        # Without kars.yml, production is the one environment known to exist (Railway's first); a staging
        # workflow is written only when asked for.
        environments=list(envs) if envs else [defaults.production_environment],
        alerts=alert_inputs(config) or DEFAULT_ALERTS,
        has_staging=staging is not None,
    )
    check_values(values, config)
    return values


def alert_inputs(config: Config) -> tuple[tuple[str, str], ...]:
    """The channels kars.yml configures, as (action input, secret): the secret is named like the variable kars.yml
    reads, and the input carries it to the CLI in CI."""
    alerts = config.alerts
    pairs = (
        ("slack-webhook", alerts.slack_webhook_env),
        ("discord-webhook", alerts.discord_webhook_env),
        ("webhook-url", alerts.webhook_url_env),
        ("webhook-secret", alerts.webhook_secret_env if alerts.webhook_url_env else None),
    )
    return tuple((name, secret) for name, secret in pairs if secret)


def check_values(values: TemplateValues, config: Config) -> None:
    """Only plain names go into a workflow: nothing that YAML or GitHub's expression syntax would read as code."""
    where = str(config.path) if config.path else "kars.yml"
    checks: list[tuple[str, str, re.Pattern[str]]] = [
        ("environment", values.production_environment, _SAFE_NAME),
        ("environment", values.staging_environment, _SAFE_NAME),
        ("branch", values.production_branch, _SAFE_BRANCH),
        ("branch", values.staging_branch, _SAFE_BRANCH),
        *(("alerts secret name", secret, _SAFE_ENV_VAR) for _, secret in values.alerts),
        *(("service", s, _SAFE_NAME) for s in (*values.services, *values.services_input)),
        *(("environment", e, _SAFE_NAME) for e in values.environments),
        *(("environment", job.environment, _SAFE_NAME) for job in values.extra_jobs),
        *(("branch", job.branch, _SAFE_BRANCH) for job in values.extra_jobs),
        *(("health-check header variable", name, _SAFE_ENV_VAR) for name in values.health_env),
    ]
    if values.staging_prerelease:
        checks.append(("prerelease channel", values.staging_prerelease, _SAFE_NAME))
    for kind, value, pattern in checks:
        if not pattern.fullmatch(value):
            raise UsageError(
                f"{where}: the {kind} {value!r} cannot be written into a workflow",
                hint="use letters, digits, '.', '_' and '-' (and '/' in branch names)",
            )


# --- rendering -----------------------------------------------------------------------------------------------


def _yaml_list_items(items: Sequence[str], indent: int) -> str:
    return "".join(f"{' ' * indent}- {item}\n" for item in items)


def _fill(name: str, text: str, values: TemplateValues) -> str:
    if name == "release":
        text = text.replace(
            "# Every push to main: tests, then a release to production",
            f"# Every push to {values.production_branch}: tests, then a release to {values.production_environment}",
            1,
        )
        text = text.replace("branches: [main]", f"branches: [{values.production_branch}]")
        text = re.sub(r"\bproduction$", values.production_environment, text, flags=re.MULTILINE)
        # The optional staging-first job and the production job's promotion gate name the staging environment.
        text = re.sub(r"(?m)^(\s+(?:name|environment): )staging$", rf"\g<1>{values.staging_environment}", text)
        text = text.replace("group: deploy-staging", f"group: deploy-{values.staging_environment}")
        text = text.replace("&& 'staging' ||", f"&& '{values.staging_environment}' ||")
        text = _fill_prerelease(text, values)
    elif name == "staging":
        text = text.replace(
            "# Every push to develop: tests, then a release candidate",
            f"# Every push to {values.staging_branch}: tests, then a release candidate",
            1,
        )
        text = text.replace("branches: [develop]", f"branches: [{values.staging_branch}]")
        text = re.sub(r"\bstaging$", values.staging_environment, text, flags=re.MULTILINE)
        text = _fill_prerelease(text, values)
    elif name == "rollback":
        text = _fill_choice(text, "service", values.services, default=None)
        text = _fill_choice(text, "environment", values.environments, default=values.production_environment)
    elif name in ("ci", "validate-railway"):
        text = text.replace("branches: [main]", f"branches: [{values.production_branch}]")
    text = _fill_tokens(name, text, values)
    text = _fill_alerts(text, values.alerts)
    if name in ("release", "staging"):
        text = _fill_release_step(text, values)
    if name == "release" and values.extra_jobs:
        text = _add_release_jobs(text, values)
    return _fill_health_env(text, values.health_env)


# The steps that check health with kars.yml's checks: the release (the root action), the watch, the preview.
_HEALTH_STEP = re.compile(r"(?m)^(?P<indent>[ ]+)uses: kars/deploy-action(?:/watch|/preview)?@\S+.*\n")


def _fill_health_env(text: str, names: Sequence[str]) -> str:
    """Each step that checks health gets the variables kars.yml's health-check headers read, each from the secret of
    the same name (the action hands its environment to the command, which reads ``${NAME}`` from it)."""
    if not names:
        return text

    def add(match: re.Match[str]) -> str:
        indent = match.group("indent")
        block = f"{indent}env: # read by kars.yml's health-check headers (${{NAME}}), each from its secret\n"
        block += "".join(f"{indent}  {name}: ${{{{ secrets.{name} }}}}\n" for name in names)
        return match.group(0) + block

    return _HEALTH_STEP.sub(add, text)


_ALERT_LINES = re.compile(
    r"(?m)^(?P<indent>[ ]+)(?:slack-webhook|discord-webhook|webhook-url|webhook-secret): \$\{\{ secrets\.\w+ \}\}\n"
    r"(?:(?P=indent)(?:slack-webhook|discord-webhook|webhook-url|webhook-secret): \$\{\{ secrets\.\w+ \}\}\n)*"
)


def _fill_alerts(text: str, alerts: Sequence[tuple[str, str]]) -> str:
    """Each step's alert inputs become exactly the channels given, each from its secret."""
    return _ALERT_LINES.sub(
        lambda m: "".join(f"{m.group('indent')}{name}: ${{{{ secrets.{secret} }}}}\n" for name, secret in alerts), text
    )


_JOB = re.compile(r"(?m)^  ([A-Za-z0-9_-]+):\n")
_RELEASE_STEP = re.compile(
    r"(?m)^      - .*\n(?:        .*\n)*?        uses: kars/deploy-action@\S+.*\n(?:        .*\n)*"
)


def _jobs(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first job, and each job's id and block (blank lines after it included), in order."""
    start = text.index("\njobs:\n") + len("\njobs:\n")
    found = list(_JOB.finditer(text, start))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return text[: found[0].start()], [(m.group(1), text[m.start() : end]) for m, end in zip(found, ends, strict=True)]


def _releasing(block: str) -> bool:
    return "uses: kars/deploy-action@" in block  # the root action: a release (the watch and test steps differ)


def _fill_release_step(text: str, values: TemplateValues) -> str:
    """Each release step's services input (when kars.yml does not list them) and the release's time budget, with the
    job timeout that leaves it room to roll back and report; the watch after a release names the services too."""
    head, jobs = _jobs(text)
    out = []
    for job_id, block in jobs:
        if values.services_input:
            # Every kars/deploy-action step that names its environment: a release, and the watch after it.
            block = re.sub(
                r"(?m)^(?P<indent>[ ]{10})(?P<line>environment: [A-Za-z0-9._-]+\n)",
                lambda m: m.group("indent") + m.group("line") + f"{m.group('indent')}services: "
                + " ".join(values.services_input) + "\n",
                block,
            )
        if _releasing(block) and values.total_timeout:
            block = _RELEASE_STEP.sub(lambda m: _with_total_timeout(m.group(0), values.total_timeout or 0), block)
        if _releasing(block) and values.timeout_minutes:
            block = re.sub(r"(?m)^(    timeout-minutes: )\d+$", rf"\g<1>{values.timeout_minutes}", block, count=1)
        out.append((job_id, block))
    return head + "".join(block for _, block in out)


def _with_total_timeout(step: str, seconds: int) -> str:
    return re.sub(
        r"(?m)^(?P<indent>[ ]{10})(?P<line>railway-token: .*\n)",
        lambda m: m.group("indent") + m.group("line") + f"{m.group('indent')}total-timeout: "
        + f'"{seconds}" # seconds: deploy, health, settle, watch, and a rollback after them\n',
        step,
        count=1,
    )


def _only_for_branch(block: str, branch: str) -> str:
    """A job that runs only for a push to ``branch``, on top of whatever condition it had."""
    ref = f"github.ref == 'refs/heads/{branch}'"
    existing = re.search(r"(?m)^    if: (.*)$", block)
    if existing is None:
        return re.sub(r"(?m)^(    needs: .*\n)", rf"\g<1>    if: {ref}\n", block, count=1)
    condition = existing.group(1).strip()
    inner = condition[3:-2].strip() if condition.startswith("${{") and condition.endswith("}}") else condition
    return block[: existing.start(1)] + f"${{{{ {ref} && ({inner}) }}}}" + block[existing.end(1) :]


def _add_release_jobs(text: str, values: TemplateValues) -> str:
    """One release job per environment released on a push, run only for its own branch, with the jobs that follow
    it (the watch after the release) copied for that environment. The production path — its optional staging-first
    job included — runs only for the production branch."""
    head, jobs = _jobs(text)
    ids = [job_id for job_id, _ in jobs]
    after = ids[ids.index("release") :]  # the release job and the jobs after it
    production = values.production_environment
    out = []
    for job_id, block in jobs:
        if job_id != "test" and job_id in ids[: ids.index("release") + 1]:
            block = _only_for_branch(block, values.production_branch)
        out.append(block)
    if not out[-1].endswith("\n\n"):
        out[-1] = out[-1].rstrip("\n") + "\n\n"
    for extra in values.extra_jobs:
        env = extra.environment
        for job_id, block in jobs:
            if job_id not in after:
                continue
            own = re.sub(rf"\b{re.escape(production)}$", env, block, flags=re.MULTILINE)
            own = re.sub(rf"(?m)^(    name: .*)\b{re.escape(production)}\b", rf"\g<1>{env}", own)
            own = own.replace(token_secret(production), token_secret(env))
            own = own.replace(f"a project token of {production}", f"a project token of {env}")
            for other in after:
                own = re.sub(rf"(?m)^  {re.escape(other)}:$", f"  {other}-{env}:", own)
                own = own.replace(f"needs: {other}\n", f"needs: {other}-{env}\n")
                own = own.replace(f"needs.{other}.", f"needs.{other}-{env}.")
            if job_id == "release":
                # Its own branch, after the tests alone: the staging-first path and its promotion gate are
                # production's.
                own = re.sub(r"(?m)^    needs: .*\n", "    needs: test\n", own, count=1)
                own = re.sub(r"(?m)^(    # .*\n)*    if: .*\n", "", own, count=1)
                own = re.sub(r"(?m)^(          # .*\n)*          requires: .*\n", "", own)
                condition = f"    if: github.ref == 'refs/heads/{extra.branch}'\n"
                own = own.replace("    needs: test\n", "    needs: test\n" + condition, 1)
            out.append(own.rstrip("\n") + "\n\n")
    out[-1] = out[-1].rstrip("\n") + "\n"
    branches = ", ".join(dict.fromkeys([values.production_branch, *(j.branch for j in values.extra_jobs)]))
    head = head.replace(f"branches: [{values.production_branch}]", f"branches: [{branches}]", 1)
    head = head.replace(
        f"# Every push to {values.production_branch}: tests, then a release to {values.production_environment}",
        f"# Every push to {branches}: tests, then a release to that branch's environment",
        1,
    )
    return head + "".join(out)


def _fill_prerelease(text: str, values: TemplateValues) -> str:
    if values.staging_prerelease:
        return re.sub(r"(?m)^(\s+prerelease: )rc$", rf"\g<1>{values.staging_prerelease}", text)
    return re.sub(r"(?m)^\s+prerelease: rc\n", "", text)


def token_secret(environment: str) -> str:
    """The secret holding an environment's Railway project token: a project token reaches one environment only."""
    return "RAILWAY_TOKEN_" + (re.sub(r"[^A-Za-z0-9]+", "_", environment).strip("_").upper() or "DEFAULT")


def _fill_tokens(name: str, text: str, values: TemplateValues) -> str:
    if name == "release":
        text = text.replace("RAILWAY_TOKEN_STAGING", token_secret(values.staging_environment))
        return text.replace("RAILWAY_TOKEN_PRODUCTION", token_secret(values.production_environment))
    if name == "staging":
        return text.replace("RAILWAY_TOKEN_STAGING", token_secret(values.staging_environment))
    if name == "rollback" and values.environments:
        choices = " || ".join(
            f"(inputs.environment == '{env}' && secrets.{token_secret(env)})" for env in values.environments
        )
        return re.sub(r"(?m)^(\s+railway-token: \$\{\{ ).*( \}\})$", rf"\g<1>{choices} || ''\g<2>", text, count=1)
    return text


def _fill_choice(text: str, input_name: str, options: Sequence[str], default: str | None) -> str:
    """Rewrite a workflow_dispatch choice input's options; with no options known, make it a free text input."""
    block = re.compile(
        rf"(?m)^(?P<head>      {re.escape(input_name)}:\n        description: [^\n]*\n)"
        r"        type: choice\n        required: true\n(?:        default: [^\n]*\n)?        options:\n"
        r"(?:          - [^\n]*\n)+"
    )
    if options:
        body = "        type: choice\n        required: true\n"
        if default is not None and default in options:
            body += f"        default: {default}\n"
        body += "        options:\n" + _yaml_list_items(options, 10)
    else:
        body = "        type: string\n        required: true\n"
    return block.sub(lambda m: m.group("head") + body, text, count=1)


def _pin(text: str, pin: ActionPin | None) -> str:
    if pin is None:
        return text
    text = _PIN.sub(lambda m: f"{m.group('action')}@{pin.sha} # v{pin.version}", text)
    note = f"# kars/deploy-action is pinned to v{pin.version} (commit {pin.sha}) by `kars-actions init`.\n"
    return _HAND_COPY_NOTE.sub(lambda _m: note, text, count=1)


def render(name: str, values: TemplateValues | None = None, pin: ActionPin | None = None) -> str:
    """A template filled with ``values`` and, when ``pin`` is given, with kars/deploy-action pinned to it."""
    name = name.removesuffix(".yml")
    return _pin(_fill(name, template_text(name), values or TemplateValues()), pin)


def default_selection(values: TemplateValues) -> list[str]:
    """What ``init`` writes when no template is named: CI, the production release, rollback, and staging if any."""
    names = ["ci", "release", "rollback"]
    if values.has_staging:
        names.insert(2, "staging")
    return names


# --- pinning -------------------------------------------------------------------------------------------------

GitRunner = Callable[[list[str]], str]


def _run_git(argv: list[str]) -> str:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise ExternalError("git is not installed", service="git", hint="install git, or pass --action-sha") from None
    except subprocess.TimeoutExpired:
        raise ExternalError("ls-remote took longer than 30 s", service="git", hint="pass --action-sha") from None
    if completed.returncode != 0:
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExternalError(f"ls-remote failed: {detail}", service="git", hint="pass --action-sha, or --no-pin")
    return completed.stdout


def resolve_pin(
    version: str = __version__,
    repository_url: str | None = None,
    git: GitRunner = _run_git,
) -> ActionPin:
    """The commit of release tag ``v<version>`` (peeled, for annotated tags), read with ``git ls-remote``."""
    url = repository_url or os.environ.get("KARS_ACTION_REPOSITORY_URL") or ACTION_REPOSITORY_URL
    ref = f"refs/tags/v{version}"
    listing = git(["git", "ls-remote", "--tags", url, ref, f"{ref}^{{}}"])
    refs: dict[str, str] = {}
    for line in listing.splitlines():
        commit, _, name = line.partition("\t")
        refs[name.strip()] = commit.strip()
    sha = refs.get(f"{ref}^{{}}") or refs.get(ref)
    if not sha:
        raise ExternalError(
            f"{url} has no tag v{version}",
            service="git",
            hint="pass --action-sha with the commit to pin, or --no-pin to keep the placeholder and fill it in later",
        )
    return ActionPin(sha=sha, version=version)


# --- writing -------------------------------------------------------------------------------------------------


def write_templates(
    names: Sequence[str],
    root: Path,
    values: TemplateValues,
    pin: ActionPin | None,
    *,
    force: bool = False,
) -> list[WrittenTemplate]:
    """Write each template into ``root/.github/workflows/``; refuse (write nothing) if one exists, unless forced."""
    chosen = list(dict.fromkeys(n.removesuffix(".yml") for n in names))
    rendered = {name: render(name, values, pin) for name in chosen}  # unknown names fail before any write
    directory = root / WORKFLOWS_DIR
    targets = {name: directory / f"{name}.yml" for name in chosen}
    existing = [path for path in targets.values() if path.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing)
        raise UsageError(f"{shown} already exists; nothing was written", hint="pass --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[WrittenTemplate] = []
    for name in chosen:
        path = targets[name]
        replaced = path.exists()
        path.write_text(rendered[name], encoding="utf-8")
        written.append(WrittenTemplate(name=name, path=path, replaced=replaced))
    return written
