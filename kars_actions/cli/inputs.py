"""The actions' input contract: the KARS_INPUT_* variables read once into typed inputs, then the command they run.

Every action.yml hands its inputs to ``scripts/run.sh`` as environment variables (``KARS_INPUT_<NAME>``, never
as text spliced into a script), and run.sh runs ``python -m kars_actions.cli.inputs <command>`` in the action's
private virtualenv. Here each command's inputs are read into a frozen dataclass — blank means "not given", so
kars.yml and the CLI's defaults apply; lists are one item per line (service lists may also be separated by
commas or spaces); booleans are true/false (yes/no, 1/0); old input names still work with a warning — and that
object is turned into the ``kars-actions`` argv. Secrets never become arguments: they travel to the CLI as the
environment variables it reads (RAILWAY_TOKEN, GITHUB_TOKEN, KARS_SLACK_WEBHOOK, ...), every KARS_INPUT_*
variable is removed before the command starts (so a test command it runs inherits none), and everything the
process knows to be secret is masked before the first line is printed.
"""

from __future__ import annotations

import os
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypedDict

from kars_actions.core.errors import ConfigError

PREFIX = "KARS_INPUT_"
TITLE = "kars-actions"
_BLANK = " \t\n\v\f\r"  # what bash's [:space:] trimmed, and no more (a no-break space stays part of a value)
_WORD_SEPARATORS = re.compile(r"[\n\r\t, ]+")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


class InputError(ConfigError):
    """An action input with a value the action cannot use (exit 2, one ``::error`` line)."""

    title = TITLE


def variable(name: str) -> str:
    """The environment variable an input arrives in: ``rollback-to`` -> ``KARS_INPUT_ROLLBACK_TO``."""
    return PREFIX + name.upper().replace("-", "_")


def _trim(text: str) -> str:
    return text.replace("\r", "").strip(_BLANK)


@dataclass(frozen=True)
class Renamed:
    """An input given under its old name: still honoured, with a warning, until the old name is removed."""

    old: str
    new: str

    def message(self) -> str:
        return f'input "{self.old}" is deprecated and will be removed: name it "{self.new}"'


class Reader:
    """Reads KARS_INPUT_* values the one way every input is read, and notes the old names it had to use."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.renamed: list[Renamed] = []
        self.asked: set[str] = set()  # every input name looked at: the contract each action.yml must declare

    def raw(self, name: str) -> str:
        self.asked.add(name)
        return self._environ.get(variable(name), "")

    def text(self, name: str) -> str | None:
        """One value, without surrounding whitespace; None when blank."""
        return _trim(self.raw(name)) or None

    def lines(self, name: str) -> tuple[str, ...]:
        """One item per non-blank line, each trimmed (spaces inside an item stay)."""
        return tuple(item for item in (_trim(line) for line in self.raw(name).split("\n")) if item)

    def words(self, name: str) -> tuple[str, ...]:
        """Items separated by newlines, commas, spaces or tabs: the service lists."""
        return tuple(item for item in _WORD_SEPARATORS.split(self.raw(name)) if item)

    def switch(self, name: str) -> bool | None:
        """true/yes/1 or false/no/0 in any case; None when blank; anything else is refused."""
        value = _trim(self.raw(name))
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        if value:
            raise InputError(f"input {name} must be true or false, not '{value}'")
        return None

    def renamed_text(self, new: str, old: str) -> str | None:
        """The input under its current name, else under its old one (noted, so a warning says to rename it)."""
        current = self.text(new)
        if current is not None:
            return current
        previous = self.text(old)
        if previous is not None:
            self.renamed.append(Renamed(old, new))
        return previous

    def renamed_lines(self, new: str, old: str) -> tuple[str, ...]:
        current = self.lines(new)
        if current:
            return current
        previous = self.lines(old)
        if previous:
            self.renamed.append(Renamed(old, new))
        return previous

    def secret(self, name: str) -> str | None:
        """A secret exactly as given (not trimmed: it is the credential); None when blank."""
        value = self.raw(name)
        return value if _trim(value) else None


# --- the typed inputs, one class per command --------------------------------------------------------------------


def _opt(flag: str, value: str | None) -> list[str]:
    return [flag, value] if value is not None else []


def _each(flag: str, values: Sequence[str]) -> list[str]:
    return [part for value in values for part in (flag, value)]


def _switch(value: bool | None, on: str | None, off: str | None = None) -> list[str]:
    chosen = on if value is True else off if value is False else None
    return [chosen] if chosen else []


def _railway_secrets(read: Reader) -> dict[str, str]:
    return _secrets(read, {"railway-token": "RAILWAY_TOKEN", "railway-api-token": "RAILWAY_API_TOKEN"})


def _github_secrets(read: Reader) -> dict[str, str]:
    return _secrets(read, {"github-token": "GITHUB_TOKEN"})


def _webhook_secrets(read: Reader) -> dict[str, str]:
    return _secrets(
        read,
        {
            "slack-webhook": "KARS_SLACK_WEBHOOK",
            "discord-webhook": "KARS_DISCORD_WEBHOOK",
            "webhook-url": "KARS_WEBHOOK_URL",
            "webhook-secret": "KARS_WEBHOOK_SECRET",
        },
    )


def _secrets(read: Reader, names: Mapping[str, str]) -> dict[str, str]:
    """input name -> the variable the CLI reads it from, for the inputs that were given."""
    found = {}
    for name, target in names.items():
        value = read.secret(name)
        if value is not None:
            found[target] = value
    return found


class _Common(TypedDict):
    config: str | None
    working_directory: str | None


@dataclass(frozen=True, kw_only=True)
class CommandInputs(ABC):
    """What every action takes: kars.yml's path, the folder to run in, and the secrets for the CLI's environment.

    ``secrets`` maps the variable the CLI reads (RAILWAY_TOKEN, ...) to its value; it is left out of ``repr``."""

    command: ClassVar[str]
    config: str | None = None
    working_directory: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @staticmethod
    def common(read: Reader) -> _Common:
        return {"config": read.text("config"), "working_directory": read.text("working-directory")}

    def subcommand(self) -> list[str]:
        return []

    @abstractmethod
    def options(self) -> list[str]:
        """The command's options, in a fixed order, each only when its input was given."""

    def argv(self) -> list[str]:
        """The ``kars-actions`` arguments: the command, its subcommand, ``--format github``, then the options."""
        return [self.command, *self.subcommand(), "--format", "github", *self.options()]


@dataclass(frozen=True, kw_only=True)
class ReleaseInputs(CommandInputs):
    command: ClassVar[str] = "release"
    environment: str | None = None
    services: tuple[str, ...] = ()
    bump: str | None = None
    prerelease: str | None = None
    deploy_timeout: str | None = None
    health_deadline: str | None = None
    watch_duration: str | None = None
    settle: str | None = None
    total_timeout: str | None = None
    health_urls: tuple[str, ...] = ()
    service_urls: tuple[str, ...] = ()
    expect_json: tuple[str, ...] = ()
    expect_status: tuple[str, ...] = ()
    railway_config: str | None = None
    version_check: str | None = None
    requires: str | None = None
    move_major: bool | None = None
    skip_used_up: bool | None = None
    dry_run: bool | None = None

    @classmethod
    def read(cls, read: Reader) -> ReleaseInputs:
        return cls(
            **cls.common(read),
            secrets={**_github_secrets(read), **_railway_secrets(read), **_webhook_secrets(read)},
            environment=read.text("environment"),
            services=read.words("services"),
            bump=read.text("bump"),
            prerelease=read.text("prerelease"),
            deploy_timeout=read.text("deploy-timeout"),
            health_deadline=read.text("health-deadline"),
            watch_duration=read.text("watch-duration"),
            settle=read.text("settle"),
            total_timeout=read.text("total-timeout"),
            health_urls=read.lines("health-urls"),
            service_urls=read.lines("service-urls"),
            expect_json=read.lines("expect-json"),
            expect_status=read.words("expect-status"),
            railway_config=read.text("railway-config"),
            version_check=read.text("version-check"),
            requires=read.text("requires"),
            move_major=read.switch("move-major"),
            skip_used_up=read.switch("skip-used-up"),
            dry_run=read.switch("dry-run"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_opt("--environment", self.environment),
            *_each("--service", self.services),
            *_opt("--bump", self.bump),
            *_opt("--prerelease", self.prerelease),
            *_opt("--deploy-timeout", self.deploy_timeout),
            *_opt("--health-deadline", self.health_deadline),
            *_opt("--watch-duration", self.watch_duration),
            *_opt("--settle", self.settle),
            *_opt("--timeout", self.total_timeout),
            *_each("--health-url", self.health_urls),
            *_each("--service-url", self.service_urls),
            *_each("--expect-json", self.expect_json),
            *_each("--expect-status", self.expect_status),
            *_opt("--railway-config", self.railway_config),
            *_opt("--version-check", self.version_check),
            *_opt("--requires", self.requires),
            *_switch(self.move_major, "--move-major", "--no-move-major"),
            *_switch(self.skip_used_up, "--skip-used-up", "--no-skip-used-up"),
            *_switch(self.dry_run, "--dry-run"),
        ]


@dataclass(frozen=True, kw_only=True)
class TestInputs(CommandInputs):
    __test__: ClassVar[bool] = False  # a dataclass named Test*, not a test class
    command: ClassVar[str] = "test"
    dirs: tuple[str, ...] = ()
    jobs: str | None = None

    @classmethod
    def read(cls, read: Reader) -> TestInputs:
        return cls(**cls.common(read), dirs=read.lines("dirs"), jobs=read.text("jobs"))

    def options(self) -> list[str]:
        return [*_opt("--config", self.config), *_each("--dir", self.dirs), *_opt("--jobs", self.jobs)]


@dataclass(frozen=True, kw_only=True)
class ValidateInputs(CommandInputs):
    command: ClassVar[str] = "validate"
    strict: bool | None = None
    schema: str | None = None
    deprecation_notice: bool | None = None
    paths: tuple[str, ...] = ()

    @classmethod
    def read(cls, read: Reader) -> ValidateInputs:
        return cls(
            **cls.common(read),
            # Without paths, a Railway token lets validate find each service's file where Railway builds it from.
            secrets=_railway_secrets(read),
            strict=read.switch("strict"),
            schema=read.text("schema"),
            deprecation_notice=read.switch("deprecation-notice"),
            paths=read.lines("paths"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_switch(self.strict, "--strict", "--lenient"),
            *_opt("--schema", self.schema),
            *_switch(self.deprecation_notice, None, "--no-deprecation-notice"),
            # Paths go after "--": a path such as "--schema=x" is only ever a path.
            *(["--", *self.paths] if self.paths else []),
        ]


@dataclass(frozen=True, kw_only=True)
class TagInputs(CommandInputs):
    command: ClassVar[str] = "tag"
    bump: str | None = None
    version: str | None = None
    prerelease: str | None = None
    environment: str | None = None
    tag_prefix: str | None = None
    target: str | None = None
    draft: bool | None = None
    force: bool | None = None
    skip_used_up: bool | None = None
    dry_run: bool | None = None

    @classmethod
    def read(cls, read: Reader) -> TagInputs:
        return cls(
            **cls.common(read),
            secrets=_github_secrets(read),
            bump=read.text("bump"),
            version=read.text("version"),
            prerelease=read.text("prerelease"),
            environment=read.text("environment"),
            tag_prefix=read.text("tag-prefix"),
            target=read.text("target"),
            draft=read.switch("draft"),
            force=read.switch("force"),
            skip_used_up=read.switch("skip-used-up"),
            dry_run=read.switch("dry-run"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_opt("--bump", self.bump),
            *_opt("--version", self.version),
            *_opt("--prerelease", self.prerelease),
            *_opt("--environment", self.environment),
            *_opt("--tag-prefix", self.tag_prefix),
            *_opt("--target", self.target),
            *_switch(self.draft, "--draft", "--no-draft"),
            *_switch(self.force, "--force"),
            *_switch(self.skip_used_up, "--skip-used-up", "--no-skip-used-up"),
            *_switch(self.dry_run, "--dry-run"),
        ]


@dataclass(frozen=True, kw_only=True)
class ReleaseStatusInputs(CommandInputs):
    command: ClassVar[str] = "release-status"
    status: Literal["success", "failure"]
    tag: str | None = None
    reason: str | None = None
    move_major: bool | None = None
    publish_failed: bool | None = None
    dry_run: bool | None = None

    @classmethod
    def read(cls, read: Reader) -> ReleaseStatusInputs:
        common = cls.common(read)
        secrets = _github_secrets(read)
        tag = read.text("tag")
        status = read.text("status") or ""
        if status.lower() not in ("success", "failure"):
            if not status:
                raise InputError("input status is required for release-status: success or failure")
            raise InputError(f"input status must be success or failure, not '{status}'")
        return cls(
            **common,
            secrets=secrets,
            tag=tag,
            status="success" if status.lower() == "success" else "failure",
            reason=read.text("reason"),
            move_major=read.switch("move-major"),
            publish_failed=read.switch("publish-failed"),
            dry_run=read.switch("dry-run"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_opt("--tag", self.tag),
            f"--{self.status}",
            *_opt("--reason", self.reason),
            *_switch(self.move_major, "--move-major", "--no-move-major"),
            *_switch(self.publish_failed, "--publish-failed"),
            *_switch(self.dry_run, "--dry-run"),
        ]


@dataclass(frozen=True, kw_only=True)
class DeployInputs(CommandInputs):
    command: ClassVar[str] = "deploy"
    services: tuple[str, ...] = ()
    environment: str | None = None
    project: str | None = None
    commit: str | None = None
    deploy_timeout: str | None = None
    settle: str | None = None
    dry_run: bool | None = None

    @classmethod
    def read(cls, read: Reader) -> DeployInputs:
        return cls(
            **cls.common(read),
            secrets=_railway_secrets(read),
            services=read.words("services"),
            environment=read.text("environment"),
            project=read.text("project"),
            commit=read.text("commit"),
            deploy_timeout=read.renamed_text("deploy-timeout", "timeout"),
            settle=read.text("settle"),
            dry_run=read.switch("dry-run"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_each("--service", self.services),
            *_opt("--environment", self.environment),
            *_opt("--project", self.project),
            *_opt("--commit", self.commit),
            *_opt("--timeout", self.deploy_timeout),
            *_opt("--settle", self.settle),
            *_switch(self.dry_run, "--dry-run"),
        ]


@dataclass(frozen=True, kw_only=True)
class HealthInputs(CommandInputs):
    command: ClassVar[str] = "health"
    services: tuple[str, ...] = ()
    expect_status: tuple[str, ...] = ()
    expect_json: tuple[str, ...] = ()
    expect_version: str | None = None
    timeout: str | None = None
    health_deadline: str | None = None
    interval: str | None = None
    stable: str | None = None
    service_urls: tuple[str, ...] = ()
    version_check: str | None = None
    health_urls: tuple[str, ...] = ()

    @classmethod
    def read(cls, read: Reader) -> HealthInputs:
        # Headers carry credentials: they reach the CLI as KARS_HEALTH_HEADERS (one "Name: value" per line).
        return cls(
            **cls.common(read),
            secrets=_secrets(read, {"headers": "KARS_HEALTH_HEADERS"}),
            services=read.words("services"),
            expect_status=read.words("expect-status"),
            expect_json=read.lines("expect-json"),
            expect_version=read.text("expect-version"),
            timeout=read.text("timeout"),
            health_deadline=read.renamed_text("health-deadline", "deadline"),
            interval=read.text("interval"),
            stable=read.text("stable"),
            service_urls=read.lines("service-urls"),
            version_check=read.text("version-check"),
            health_urls=read.renamed_lines("health-urls", "urls"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_each("--service", self.services),
            *_each("--expect-status", self.expect_status),
            *_each("--expect-json", self.expect_json),
            *_opt("--expect-version", self.expect_version),
            *_opt("--timeout", self.timeout),
            *_opt("--deadline", self.health_deadline),
            *_opt("--interval", self.interval),
            *_opt("--stable", self.stable),
            *_each("--service-url", self.service_urls),
            *_opt("--version-check", self.version_check),
            *(["--", *self.health_urls] if self.health_urls else []),
        ]


@dataclass(frozen=True, kw_only=True)
class RollbackInputs(CommandInputs):
    command: ClassVar[str] = "rollback"
    service: str | None = None
    rollback_to: str | None = None
    environment: str | None = None
    project: str | None = None
    deploy_timeout: str | None = None
    allow_failed_version: bool | None = None
    dry_run: bool | None = None

    @classmethod
    def read(cls, read: Reader) -> RollbackInputs:
        return cls(
            **cls.common(read),
            secrets=_railway_secrets(read),
            # One service per rollback: the root action's "services" input is taken when it names exactly one.
            service=read.text("service") or read.text("services"),
            rollback_to=read.renamed_text("rollback-to", "to"),
            environment=read.text("environment"),
            project=read.text("project"),
            deploy_timeout=read.renamed_text("deploy-timeout", "timeout"),
            allow_failed_version=read.switch("allow-failed-version"),
            dry_run=read.switch("dry-run"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_opt("--service", self.service),
            *_opt("--to", self.rollback_to),
            *_opt("--environment", self.environment),
            *_opt("--project", self.project),
            *_opt("--timeout", self.deploy_timeout),
            *_switch(self.allow_failed_version, "--allow-failed-version"),
            *_switch(self.dry_run, "--dry-run"),
        ]


@dataclass(frozen=True, kw_only=True)
class WatchInputs(CommandInputs):
    command: ClassVar[str] = "watch"
    services: tuple[str, ...] = ()
    duration: str | None = None
    interval: str | None = None
    environment: str | None = None
    project: str | None = None
    service_urls: tuple[str, ...] = ()
    health: bool | None = None
    rollback: bool | None = None
    after_release: str | None = None
    memory_limit_ratio: str | None = None

    @classmethod
    def read(cls, read: Reader) -> WatchInputs:
        # The GitHub token and the webhooks serve the long watch after a release (marking it failed, alerting).
        return cls(
            **cls.common(read),
            secrets={**_railway_secrets(read), **_github_secrets(read), **_webhook_secrets(read)},
            services=read.words("services"),
            # The watch action's "duration" is the root action's "watch-duration": both names are current.
            duration=read.text("duration") or read.text("watch-duration"),
            interval=read.text("interval"),
            environment=read.text("environment"),
            project=read.text("project"),
            service_urls=read.lines("service-urls"),
            health=read.switch("health"),
            rollback=read.switch("rollback"),
            after_release=read.text("after-release"),
            memory_limit_ratio=read.text("memory-limit-ratio"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_each("--service", self.services),
            *_opt("--duration", self.duration),
            *_opt("--interval", self.interval),
            *_opt("--environment", self.environment),
            *_opt("--project", self.project),
            *_each("--service-url", self.service_urls),
            *_switch(self.health, "--health", "--no-health"),
            *_switch(self.rollback, "--rollback"),
            *_opt("--after-release", self.after_release),
            *_opt("--memory-limit-ratio", self.memory_limit_ratio),
        ]


@dataclass(frozen=True, kw_only=True)
class NotifyInputs(CommandInputs):
    command: ClassVar[str] = "notify"
    event: str | None = None
    environment: str | None = None
    version: str | None = None
    services: tuple[str, ...] = ()
    reason: str | None = None
    failure: str | None = None
    release_url: str | None = None
    deployment_url: str | None = None
    run_url: str | None = None
    strict: bool | None = None
    dry_run: bool | None = None

    @classmethod
    def read(cls, read: Reader) -> NotifyInputs:
        return cls(
            **cls.common(read),
            secrets=_webhook_secrets(read),
            event=read.text("event"),
            environment=read.text("environment"),
            version=read.text("version"),
            services=read.words("services"),
            reason=read.text("reason"),
            failure=read.text("failure"),
            release_url=read.text("release-url"),
            deployment_url=read.text("deployment-url"),
            run_url=read.text("run-url"),
            strict=read.switch("strict"),
            dry_run=read.switch("dry-run"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_opt("--event", self.event),
            *_opt("--environment", self.environment),
            *_opt("--version", self.version),
            *_each("--service", self.services),
            *_opt("--summary", self.reason),
            *_opt("--failure", self.failure),
            *_opt("--release-url", self.release_url),
            *_opt("--deployment-url", self.deployment_url),
            *_opt("--run-url", self.run_url),
            *_switch(self.strict, "--strict"),
            *_switch(self.dry_run, "--dry-run"),
        ]


@dataclass(frozen=True, kw_only=True)
class ConfigInputs(CommandInputs):
    command: ClassVar[str] = "config"
    action: Literal["plan", "apply"] = "plan"
    check: bool | None = None  # plan only
    dry_run: bool | None = None  # apply only
    prune: bool | None = None  # apply only
    clear_config_file: bool | None = None  # apply only
    services: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    project: str | None = None

    @classmethod
    def read(cls, read: Reader) -> ConfigInputs:
        common = cls.common(read)
        secrets = _railway_secrets(read)
        # The config action's own "command" input arrives as KARS_INPUT_CONFIG_COMMAND.
        which = read.text("config-command") or "plan"
        if which not in ("plan", "apply"):
            raise InputError(f"input command must be plan or apply, not '{which}'")
        plan = which == "plan"
        # Each switch is read (and so checked) only by the subcommand that has it.
        return cls(
            **common,
            secrets=secrets,
            action="plan" if plan else "apply",
            check=read.switch("check") if plan else None,
            dry_run=None if plan else read.switch("dry-run"),
            prune=None if plan else read.switch("prune"),
            clear_config_file=None if plan else read.switch("clear-config-file"),
            services=read.words("services"),
            environments=read.lines("environments"),
            project=read.text("project"),
        )

    def subcommand(self) -> list[str]:
        return [self.action]

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_switch(self.check, "--check"),
            *_switch(self.dry_run, "--dry-run"),
            *_switch(self.prune, "--prune"),
            *_switch(self.clear_config_file, "--clear-config-file"),
            *_each("--service", self.services),
            *_each("--environment", self.environments),
            *_opt("--project", self.project),
        ]


@dataclass(frozen=True, kw_only=True)
class PreviewInputs(CommandInputs):
    command: ClassVar[str] = "preview"
    pr: str | None = None
    close: bool | None = None
    services: tuple[str, ...] = ()
    project: str | None = None
    service_urls: tuple[str, ...] = ()
    expect_status: tuple[str, ...] = ()
    expect_json: tuple[str, ...] = ()
    version_check: str | None = None
    deploy_timeout: str | None = None
    health_deadline: str | None = None
    total_timeout: str | None = None

    @classmethod
    def read(cls, read: Reader) -> PreviewInputs:
        # Previews reach a new environment per pull request: only a workspace or account token can.
        return cls(
            **cls.common(read),
            secrets={**_github_secrets(read), **_secrets(read, {"railway-api-token": "RAILWAY_API_TOKEN"})},
            pr=read.text("pr"),
            close=read.switch("close"),
            services=read.words("services"),
            project=read.text("project"),
            service_urls=read.lines("service-urls"),
            expect_status=read.words("expect-status"),
            expect_json=read.lines("expect-json"),
            version_check=read.text("version-check"),
            deploy_timeout=read.text("deploy-timeout"),
            health_deadline=read.text("health-deadline"),
            total_timeout=read.text("total-timeout"),
        )

    def options(self) -> list[str]:
        return [
            *_opt("--config", self.config),
            *_opt("--pr", self.pr),
            *_switch(self.close, "--close"),
            *_each("--service", self.services),
            *_opt("--project", self.project),
            *_each("--service-url", self.service_urls),
            *_each("--expect-status", self.expect_status),
            *_each("--expect-json", self.expect_json),
            *_opt("--version-check", self.version_check),
            *_opt("--deploy-timeout", self.deploy_timeout),
            *_opt("--health-deadline", self.health_deadline),
            *_opt("--timeout", self.total_timeout),
        ]


Inputs = (
    ReleaseInputs
    | TestInputs
    | ValidateInputs
    | TagInputs
    | ReleaseStatusInputs
    | DeployInputs
    | HealthInputs
    | RollbackInputs
    | WatchInputs
    | NotifyInputs
    | ConfigInputs
    | PreviewInputs
)
_READERS: dict[str, Callable[[Reader], Inputs]] = {
    "release": ReleaseInputs.read,
    "test": TestInputs.read,
    "validate": ValidateInputs.read,
    "tag": TagInputs.read,
    "release-status": ReleaseStatusInputs.read,
    "deploy": DeployInputs.read,
    "health": HealthInputs.read,
    "watch": WatchInputs.read,
    "rollback": RollbackInputs.read,
    "notify": NotifyInputs.read,
    "config": ConfigInputs.read,
    "preview": PreviewInputs.read,
}
# What run.sh (and so every action) can run; the root action's `command` input picks one, release by default.
COMMANDS = tuple(_READERS)


@dataclass(frozen=True)
class Loaded:
    """A command's inputs, and the old input names they were given under (each one is a warning)."""

    inputs: Inputs
    renamed: tuple[Renamed, ...] = ()


def choose_command(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """The step actions name their command to run.sh; the root action's `command` input names it, or release."""
    command = (argv[0] if argv and argv[0] else None) or _trim(environ.get(variable("command"), "")) or "release"
    if command not in COMMANDS:
        raise InputError(f"unknown command '{command}': use {', '.join(COMMANDS[:-1])} or {COMMANDS[-1]}")
    return command


def load(command: str, environ: Mapping[str, str], reader: Reader | None = None) -> Loaded:
    """Read ``command``'s inputs from ``environ``, refusing a value it cannot use with InputError (the old
    names read before that are in ``reader.renamed`` even then)."""
    if command not in _READERS:
        raise InputError(f"unknown command '{command}': use {', '.join(COMMANDS[:-1])} or {COMMANDS[-1]}")
    reader = reader or Reader(environ)
    inputs = _READERS[command](reader)
    return Loaded(inputs, tuple(reader.renamed))


# --- the process ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, run: Callable[[list[str]], object] | None = None) -> None:
    """``python -m kars_actions.cli.inputs [COMMAND]``: read the inputs, then run the command in this process.

    ``run`` receives the ``kars-actions`` argv once the environment and working directory are the command's
    (the CLI's ``main`` unless a caller records it instead)."""
    from kars_actions.core import gha
    from kars_actions.core.masking import register_process_secrets
    from kars_actions.core.report import make_reporter

    # Secrets first: an input that holds one (a token, a webhook, a URL with a password) is masked before
    # any warning or error below could print it.
    gha.install_redacting_streams()
    register_process_secrets((), os.environ)
    reporter = make_reporter("github")
    reader = Reader(os.environ)
    try:
        try:
            loaded = load(choose_command(list(sys.argv[1:] if argv is None else argv), os.environ), os.environ, reader)
            inputs = loaded.inputs
        finally:
            for renamed in reader.renamed:  # said even when a later input is refused, as each was read
                print(gha.annotation_command("warning", renamed.message(), title=TITLE), flush=True)
        if inputs.working_directory is not None:
            try:
                os.chdir(inputs.working_directory)
            except OSError:
                where = os.getcwd()
                raise InputError(f"working-directory '{inputs.working_directory}' does not exist in {where}") from None
    except InputError as error:
        reporter.error(error)
        gha.drain_streams()
        sys.exit(error.exit_code)
    # Nothing the command starts (a test suite, say) inherits the raw inputs: what it needs is in argv or in the
    # variables the CLI reads.
    for name in [name for name in os.environ if name.startswith(PREFIX)]:
        del os.environ[name]
    os.environ.update(inputs.secrets)
    os.environ["KARS_FORMAT"] = "github"
    if run is None:
        from kars_actions.cli import main as cli_main

        run = cli_main
    run(inputs.argv())


if __name__ == "__main__":
    main()
