"""GitHub's API through PyGithub: the repository context, errors turned into KarsErrors, rate limits waited out
within the deadline, and the session every part (tags, releases, deployments) shares."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from kars_actions.core import gha
from kars_actions.core.errors import AuthError, ConfigError, ExternalError, RateLimited
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline, human_duration

if TYPE_CHECKING:
    pass
from typing import Self

T = TypeVar("T")
SERVICE = "GitHub"
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
DESCRIPTION_LIMIT = 140  # GitHub refuses longer deployment status descriptions
SECONDARY_LIMIT_WAIT = 60.0  # GitHub's advice when a secondary limit names no time
FAILED_MARKER = "<!-- kars:release-failed -->"
PRODUCTION_NAMES = frozenset({"production", "prod"})
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
PERMISSION_FOR = {"contents": "contents: write", "deployments": "deployments: write"}


@dataclass(frozen=True)
class ReleaseRef:
    """The tag and (draft) release of one version, as they stand on GitHub."""

    tag: str
    version: str
    sha: str
    release_id: int
    html_url: str
    draft: bool
    prerelease: bool
    tag_created: bool
    release_created: bool
    dry_run: bool = False
    name: str = ""
    body: str = ""
    major_tag: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PublishOutcome:
    release: ReleaseRef
    published_now: bool
    major_tag: str | None = None
    major_moved: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release.to_json(),
            "published_now": self.published_now,
            "major_tag": self.major_tag,
            "major_moved": self.major_moved,
        }


@dataclass(frozen=True)
class DeploymentRef:
    id: int
    environment: str
    sha: str
    created: bool
    url: str = ""
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GitHubContext:
    """Where the workflow runs: server, API, repository and run, from the standard Actions variables."""

    repository: str
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    run_id: str | None = None
    run_attempt: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, repository: str | None = None) -> GitHubContext:
        env = os.environ if environ is None else environ
        repo = repository or env.get("GITHUB_REPOSITORY") or ""
        if not repo or repo.count("/") != 1 or not all(repo.split("/")):
            raise ConfigError(
                "the repository is unknown: GITHUB_REPOSITORY is not set" if not repo else f"bad repository {repo!r}",
                hint="run inside GitHub Actions, or set GITHUB_REPOSITORY=owner/name",
            )
        return cls(
            repository=repo,
            api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            server_url=(env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
            run_id=env.get("GITHUB_RUN_ID") or None,
            run_attempt=env.get("GITHUB_RUN_ATTEMPT") or None,
        )

    @property
    def run_url(self) -> str | None:
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


@dataclass
class _Api:
    """Turns PyGithub exceptions into KarsErrors and waits out rate limits within the deadline."""

    clock: Clock
    deadline: Deadline
    progress: Progress
    wall_time: Callable[[], float] = time.time
    waited: list[float] = field(default_factory=list)

    def call(self, what: str, permission: str | None, fn: Callable[[], T], passthrough: tuple[int, ...] = ()) -> T:
        from github import GithubException
        from requests.exceptions import RequestException

        while True:
            try:
                return fn()
            except GithubException as error:
                status = error.status
                headers = {k.lower(): v for k, v in (error.headers or {}).items()}
                message = _message(error.data)
                wait = self._rate_limit_wait(status, headers, message)
                if wait is not None:
                    self._wait(what, wait, headers)
                    continue
                if status in passthrough:
                    raise
                raise self._translate(what, permission, status, message) from None
            except RequestException as error:
                raise ExternalError(
                    f"{what}: could not reach the API ({type(error).__name__})",
                    service=SERVICE,
                    hint="check GITHUB_API_URL and the runner's network; rerun the job",
                ) from None

    def _rate_limit_wait(self, status: int, headers: dict[str, str], message: str) -> float | None:
        if status not in (403, 429):
            return None
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return SECONDARY_LIMIT_WAIT
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            try:
                return max(1.0, float(headers["x-ratelimit-reset"]) - self.wall_time())
            except ValueError:
                return SECONDARY_LIMIT_WAIT
        lowered = message.lower()
        if status == 429 or "rate limit" in lowered:
            return SECONDARY_LIMIT_WAIT
        return None

    def _wait(self, what: str, seconds: float, headers: dict[str, str]) -> None:
        remaining = self.deadline.remaining()
        if seconds > remaining:
            reset = headers.get("x-ratelimit-reset")
            when = f" (resets at {time.strftime('%H:%M:%S', time.gmtime(float(reset)))} UTC)" if reset else ""
            raise RateLimited(
                f"{what}: rate limited for another {human_duration(seconds)}{when}, "
                f"more than the {human_duration(remaining)} left before the deadline",
                service=SERVICE,
                hint="rerun the job later, or use a token with a higher limit (a GitHub App installation token)",
            )
        self.progress(f"GitHub rate limit reached; waiting {human_duration(seconds)} before retrying {what}")
        self.waited.append(seconds)
        self.clock.sleep(seconds)

    def _translate(self, what: str, permission: str | None, status: int, message: str) -> Exception:
        if status == 401:
            return AuthError(
                f"{what}: the token was refused ({message or 'Bad credentials'})",
                service=SERVICE,
                hint="pass a valid token: github-token defaults to ${{ github.token }}",
            )
        if status == 403 and ("not accessible" in message.lower() or "permission" in message.lower()):
            line = PERMISSION_FOR.get(permission or "", "the right permission")
            return AuthError(
                f"{what}: {message or 'forbidden'} — the token lacks `{line}`",
                service=SERVICE,
                hint=f"add `permissions:` with `{line}` to the job (or workflow) that runs this step",
            )
        if status == 404:
            return ExternalError(
                f"{what}: not found (404)",
                service=SERVICE,
                hint="check GITHUB_REPOSITORY and that the token can see the repository",
            )
        return ExternalError(f"{what}: HTTP {status}: {message or 'no message'}", service=SERVICE)


def _message(data: Any) -> str:
    if isinstance(data, dict):
        text = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = [str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e) for e in errors]
            text = f"{text} ({'; '.join(details)})"
        return text
    return str(data or "")


def is_production(environment: str) -> bool:
    return environment.strip().lower() in PRODUCTION_NAMES


def truncate(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_body(reason: str, run_url: str | None, original: str) -> str:
    """The release body after a failure: a banner naming what failed and the run, then the original notes."""
    kept = original.split(FAILED_MARKER)[-1].lstrip("\n") if FAILED_MARKER in original else original
    link = f"\n> Run: {run_url}" if run_url else ""
    return f"> [!CAUTION]\n> This release failed: {reason}{link}\n\n{FAILED_MARKER}\n\n{kept}"


def quote_ref(ref: str) -> str:
    from urllib.parse import quote

    return quote(ref, safe="/")


class RepoSession:
    """A connection to one repository: the PyGithub client, the repository, and the call wrapper."""

    def __init__(
        self,
        context: GitHubContext,
        token: str | None,
        *,
        dry_run: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        deadline: Deadline | None = None,
        progress: Progress = no_progress,
        wall_time: Callable[[], float] = time.time,
        timeout: int = 30,
    ) -> None:
        self.context = context
        self.dry_run = dry_run
        self.progress = progress
        self.api = _Api(clock, deadline or Deadline.after(600, clock), progress, wall_time)
        self._gh: Any = None
        self._repo: Any = None
        if token:
            gha.SECRETS.register(token)
            from github import Auth, Github

            self._gh = Github(
                base_url=context.api_url,
                auth=Auth.Token(token),
                timeout=timeout,
                retry=None,  # no urllib3 retries and no GithubRetry sleeps: _Api decides
                seconds_between_requests=0,
                seconds_between_writes=0,
                lazy=True,
                user_agent="kars-actions",
            )
            self._repo = self._gh.get_repo(context.repository)
        elif not dry_run:
            raise AuthError(
                "no GitHub token: GITHUB_TOKEN is not set and --github-token was not given",
                service=SERVICE,
                hint="pass github-token (default ${{ github.token }}) with `permissions: contents: write`",
            )

    @classmethod
    def from_env(
        cls,
        token: str | None = None,
        *,
        repository: str | None = None,
        dry_run: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        deadline: Deadline | None = None,
        progress: Progress = no_progress,
        environ: Mapping[str, str] | None = None,
        wall_time: Callable[[], float] = time.time,
    ) -> Self:
        env = os.environ if environ is None else environ
        token = token or env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None
        context = GitHubContext.from_env(env, repository)
        return cls(
            context, token, dry_run=dry_run, clock=clock, deadline=deadline, progress=progress, wall_time=wall_time
        )

    @property
    def can_read(self) -> bool:
        return self._repo is not None

    def close(self) -> None:
        if self._gh is not None:
            self._gh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Reads ----------------------------------------------------------------------------------------------------

    def _requester(self) -> Any:
        return self._gh.requester

    def _get_json(
        self, what: str, path: str, params: dict[str, Any] | None = None, passthrough: tuple[int, ...] = ()
    ) -> Any:
        url = f"{self._repo.url}{path}"
        _, data = self.api.call(
            what,
            None,
            lambda: self._requester().requestJsonAndCheck("GET", url, parameters=params),
            passthrough=passthrough,
        )
        return data
