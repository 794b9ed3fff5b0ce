"""What ``kars-actions init`` can know for a workflow that works on its first push, and what it cannot.

The services (kars.yml, else the folders holding a railway config, else Railway when a token can read it — the one
resolver every command uses), the environments released on a push (one job each, a concurrency group each), the
alert channels kars.yml configures (their secrets wired to the action's matching inputs), the tests the test job
will find, and a time budget covering deploy, health, settle, watch and a rollback after them. What it cannot know
is a ``Missing`` with the exact commands that settle it; the templates module only renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kars_actions.core.config import Config
from kars_actions.core.errors import ConfigError, KarsError, Location
from kars_actions.release.budget import TimeBudget, time_budget
from kars_actions.release.services import LISTED_KARS, FoundServices, RailwayScope, resolve_any, with_folders
from kars_actions.templates import (
    ACTION_REPOSITORY_URL,
    DEFAULT_ALERTS,
    SERVICES_PLACEHOLDER,
    ReleaseJob,
    TemplateValues,
    alert_inputs,
    check_values,
    token_secret,
    values_from_config,
)

RELEASING = ("release", "staging")  # the templates whose jobs release
CHECKING = ("release", "staging", "preview")  # the templates whose steps check health with kars.yml's checks
TESTING = ("ci", "release", "staging")  # the templates whose first job runs the tests


@dataclass(frozen=True)
class Missing:
    """Something the workflow needs that init could not find out, and the commands that settle it."""

    what: str
    why: str
    commands: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "why": self.why, "commands": list(self.commands)}


@dataclass
class WorkflowPlan:
    """What init will write, from what it found, and what it could not find."""

    values: TemplateValues
    templates: list[str]
    found: FoundServices | None
    budget: TimeBudget
    notes: list[str] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    secrets: list[tuple[str, str]] = field(default_factory=list)  # (secret, what it holds), for gh secret set
    alerts_from_kars: bool = False

    def facts(self) -> list[str]:
        """What the written workflows rest on, one line each, as init prints it."""
        lines = []
        if self.found is not None:
            lines.append(f"services: {', '.join(self.found.names)} ({self.found.listed})")
            lines += [f"  {line}" for line in self.found.lines()]
        values = self.values
        if any(name in RELEASING for name in self.templates):
            jobs = [(values.production_environment, values.production_branch)]
            jobs += [(job.environment, job.branch) for job in values.extra_jobs]
            if "staging" in self.templates:
                jobs.append((values.staging_environment, values.staging_branch))
            shown = ", ".join(f"{env} on a push to {branch}" for env, branch in jobs)
            lines.append(f"releases: {shown} (one job and one concurrency group deploy-<environment> each)")
            lines.append(f"time: {self.budget.describe()}")
        if self.alerts_from_kars and any(name in (*RELEASING, "rollback") for name in self.templates):
            alerts = ", ".join(f"{name} ← secret {secret}" for name, secret in values.alerts)
            lines.append(f"alerts: {alerts} (kars.yml alerts)")
        return lines + self.notes

    def to_json(self) -> dict[str, Any]:
        return {
            "templates": self.templates,
            "services": self.found.to_json() if self.found else [],
            "services_listed_by": self.found.listed if self.found else None,
            "facts": self.facts(),
            "timeout_minutes": self.budget.job_minutes,
            "total_timeout": self.budget.seconds,
            "secrets": [{"name": name, "holds": holds} for name, holds in self.secrets],
            "missing": [m.to_json() for m in self.missing],
        }


def plan_workflows(
    config: Config,
    templates: Sequence[str],
    *,
    services: Sequence[str] = (),
    railway: RailwayScope | None = None,
    rerun: str = "kars-actions init --force",
) -> WorkflowPlan:
    """Everything init writes into ``templates`` (empty: the default set), from kars.yml, the repository and — with
    ``railway`` — Railway. ``rerun``: the init command to run again once something missing is settled."""
    from kars_actions.templates import default_selection

    values = values_from_config(config)
    names = [n.removesuffix(".yml") for n in templates] or default_selection(values)
    budget = time_budget(config)
    found = resolve_any(config, services, railway)
    plan = WorkflowPlan(values, names, found, budget)
    releasing = any(n in RELEASING for n in names)
    if found is not None:
        values = replace(values, services=found.names)
        if found.listed != LISTED_KARS:
            values = replace(values, services_input=tuple(found.names))
    elif releasing or "rollback" in names:
        values = replace(values, services=[])
        if releasing:
            values = replace(values, services_input=(SERVICES_PLACEHOLDER,))
            plan.missing.append(_missing_services(config, railway is not None, rerun))
    values = replace(
        values,
        extra_jobs=_extra_jobs(config, values, names),
        timeout_minutes=budget.job_minutes,
        total_timeout=budget.seconds,
    )
    if any(n in CHECKING for n in names):
        values, health_fact = _health_variables(config, values, found)
        plan.notes += health_fact
    plan.notes += _environment_notes(config, values, names)
    plan.alerts_from_kars = bool(alert_inputs(config))
    if not plan.alerts_from_kars and (releasing or "rollback" in names):
        shown = " or ".join(secret for _, secret in DEFAULT_ALERTS)
        plan.notes.append(
            f"alerts: kars.yml names no channel, so the workflows read the secrets {shown} (set one to be alerted, "
            "or name your channel in kars.yml alerts.slack_webhook_env / discord_webhook_env / webhook_url_env)"
        )
    if any(n in TESTING for n in names):
        plan.missing += _missing_tests(with_folders(config))
    if found is None and not releasing and "rollback" not in names:
        plan.notes.append("services: none found; these templates do not need them")
    check_values(values, config)
    plan.values = values
    plan.secrets = _secrets(values, names)
    return plan


def _health_variables(
    config: Config, values: TemplateValues, found: FoundServices | None
) -> tuple[TemplateValues, list[str]]:
    """The variables kars.yml's health-check headers read (``${NAME}``, never their values): each is passed to the
    steps that check health from the secret of the same name."""
    read = config.health_variables(found.names if found is not None else None)
    if not read:
        return values, []
    reserved = [name for name in read if name.upper().startswith("GITHUB_") and name != "GITHUB_TOKEN"]
    if reserved:
        raise ConfigError(
            f"kars.yml's health-check headers read ${{{reserved[0]}}}, and GitHub keeps secret names starting with "
            "GITHUB_ for itself: no secret can hold it",
            location=Location(str(config.path)) if config.path else None,
            hint="rename the variable in kars.yml (health headers), e.g. to HEALTH_TOKEN",
        )
    shown = ", ".join(f"{name} ← secret {name} ({', '.join(services)})" for name, services in read.items())
    fact = f"health-check headers: {shown}, passed as env: to the steps that check health"
    return replace(values, health_env=tuple(read)), [fact]


def _missing_services(config: Config, railway_read: bool, rerun: str) -> Missing:
    where = "kars.yml lists none" if config.path else "there is no kars.yml"
    railway = "Railway lists no service deployed from GitHub" if railway_read else "no Railway token was given"
    return Missing(
        "services",
        f"{where}, no folder of the repository holds a railway.json or railway.toml, and {railway}",
        (
            f"{rerun} --service NAME   # once per Railway service to release",
            f"RAILWAY_TOKEN=<a project token> {rerun}   # reads the services from Railway",
        ),
    )


def _missing_tests(config: Config) -> list[Missing]:
    """The test job fails a first push that has no tests to run: say so before writing it."""
    from kars_actions.testrun.runner import plan_test_runs

    try:
        plan_test_runs(config)
    except KarsError as error:
        return [
            Missing(
                "tests",
                f"the test job would fail: {error.message}",
                (
                    'add a "test" script to package.json, a pytest configuration, or a Makefile test target',
                    'or say how to run them in kars.yml: services: {NAME: {test: "npm test"}}',
                ),
            )
        ]
    return []


def _extra_jobs(config: Config, values: TemplateValues, names: Sequence[str]) -> tuple[ReleaseJob, ...]:
    """Every kars.yml environment released on a push gets a job of release.yml, but for the staging one when
    staging.yml is written too (one release per push, never two)."""
    if "release" not in names:
        return ()
    jobs = []
    for env in config.environments.values():
        if env.name == values.production_environment or not env.branch:
            continue
        if env.name == values.staging_environment and "staging" in names:
            continue
        if env.branch == values.production_branch:
            raise ConfigError(
                f"environments {values.production_environment} and {env.name} are both released from branch "
                f"{env.branch}: one push would release twice",
                location=None,
                hint="give each environment its own branch in kars.yml",
            )
        jobs.append(ReleaseJob(env.name, env.branch))
    return tuple(jobs)


def _environment_notes(config: Config, values: TemplateValues, names: Sequence[str]) -> list[str]:
    notes = []
    if "release" in names or "staging" in names:
        manual = [env.name for env in config.environments.values() if not env.branch]
        if manual:
            notes.append(
                f"environments {', '.join(manual)}: no branch in kars.yml, so no push releases them "
                "(kars-actions release --environment NAME does; the rollback workflow can pick them)"
            )
    if "staging" in names and values.staging_environment not in config.environments and config.environments:
        notes.append(
            f"staging.yml releases {values.staging_environment}, which kars.yml does not define: the release "
            "takes the Railway environment of that name"
        )
    return notes


def _secrets(values: TemplateValues, names: Sequence[str]) -> list[tuple[str, str]]:
    environments: list[str] = []
    if "release" in names:
        environments += [values.production_environment, *(job.environment for job in values.extra_jobs)]
    if "staging" in names:
        environments.append(values.staging_environment)
    if "rollback" in names:
        environments += values.environments
    found = [(token_secret(env), f"a Railway project token of {env}") for env in dict.fromkeys(environments)]
    if any(n in (*RELEASING, "rollback") for n in names):
        found += [(secret, f"the {name} alert address") for name, secret in values.alerts]
    if any(n in CHECKING for n in names):
        found += [
            (name, f"read by kars.yml's health-check headers as ${{{name}}}")
            for name in values.health_env
            if name != "GITHUB_TOKEN"  # GitHub gives every run this one
        ]
    return list(dict.fromkeys(found))


def ls_remote(version: str) -> str:
    """The command printing the commit of release tag ``v<version>``; ``^{}`` peels the annotated tag to it."""
    return f"git ls-remote {ACTION_REPOSITORY_URL} 'refs/tags/v{version}^{{}}' | cut -f1"


def missing_pin(version: str, rerun: str, reason: str) -> Missing:
    return Missing(
        "pin",
        f"the commit of kars/deploy-action v{version} could not be looked up ({reason})",
        (f'{rerun} --action-sha "$({ls_remote(version)})"',),
    )
