"""GitHub's REST API over httpx: the documented headers, rate limits waited out within a hard deadline, errors
that say which permission to grant, and the records (release, deployment, repository context) every part shares.

Every request carries ``Accept: application/vnd.github+json``, ``X-GitHub-Api-Version`` and a ``User-Agent``
with our version, as GitHub asks. No request outlives the deadline: each one's timeout is cut to the time left,
and a rate limit longer than that time is an error, not a wait. A ``Retry-After: 0`` or a reset already in the
past never turns into a tight retry loop: consecutive limits back off exponentially from one second.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kars_actions import __version__
from kars_actions.core import gha
from kars_actions.core.backoff import Backoff, Pause
from kars_actions.core.errors import AuthError, ConfigError, ExternalError, RateLimited
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline, human_duration
from kars_actions.core.tls import tls_context
from kars_actions.core.urls import check_url

if TYPE_CHECKING:
    import httpx

SERVICE = "GitHub"
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
DESCRIPTION_LIMIT = 140  # GitHub refuses longer deployment status descriptions
FAILED_MARKER = "<!-- kars:release-failed -->"
PRODUCTION_NAMES = frozenset({"production", "prod"})
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
USER_AGENT = f"kars-actions/{__version__}"
REQUEST_TIMEOUT = 30.0
PER_PAGE = 100
FIRST_BACKOFF = 1.0  # the shortest wait after a rate limit, whatever Retry-After says
SECONDARY_LIMIT_WAIT = 60.0  # GitHub's advice when a secondary limit names no time
# Consecutive limits on one request back off (1 s, 2 s, 4 s ...) under GitHub's own wait, which is honoured when
# longer; a secondary limit that names no time waits GitHub's minute, doubling.
RATE_LIMITS = Backoff(FIRST_BACKOFF)
SECONDARY_LIMITS = Backoff(SECONDARY_LIMIT_WAIT)
# What each kind of write needs, in the words of a workflow's `permissions:` block.
PERMISSION_FOR = {
    "contents": "contents: write",
    "deployments": "deployments: write",
    "workflows": "workflows: write",
    # A pull request's comments are issue comments: either permission lets a token write them.
    "pull-requests": "pull-requests: write",
}


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
    immutable: bool = False  # published with immutable releases on: its tag and assets are locked for good

    @property
    def failed_reason(self) -> str | None:
        """What an earlier run said failed, when the release is marked failed; None when it is not."""
        return failure_reason(self.name, self.body)

    @property
    def tag_prefix(self) -> str:
        """``v`` for ``v1.2.3``: what this project puts before its versions."""
        return self.tag[: -len(self.version)] if self.version and self.tag.endswith(self.version) else ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PublishOutcome:
    """Publishing a release: whether this call published it, whether it is Latest (and why not), and what
    happened to the major tag (moved, or left alone and why)."""

    release: ReleaseRef
    published_now: bool
    major_tag: str | None = None
    major_moved: bool = False
    latest: bool = False
    latest_reason: str = ""
    major_kept_reason: str = ""
    major_from: str | None = None  # the commit the major tag was on before (None: it did not exist)
    major_ruleset: bool = False  # a ruleset refused to move the major tag: the release itself is fine
    overwrote_failure: str | None = None  # the failure mark this publish replaced (what had failed)
    major_error: str | None = None  # moving the major tag failed after publishing (a rerun moves it)

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release.to_json(),
            "published_now": self.published_now,
            "latest": self.latest,
            "latest_reason": self.latest_reason,
            "major_tag": self.major_tag,
            "major_moved": self.major_moved,
            "major_kept_reason": self.major_kept_reason,
            "major_from": self.major_from,
            "major_ruleset": self.major_ruleset,
            "overwrote_failure": self.overwrote_failure,
            "major_error": self.major_error,
            "immutable": self.release.immutable,
        }


@dataclass(frozen=True)
class DeploymentRef:
    id: int
    environment: str
    sha: str
    created: bool
    url: str = ""
    dry_run: bool = False
    payload: dict[str, Any] = field(default_factory=dict)  # as GitHub keeps it: what the first run recorded

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _checked(env: Mapping[str, str], name: str, default: str) -> str:
    """An endpoint override from the environment, refused up front when it is not a usable http(s) URL."""
    value = (env.get(name) or "").strip() or default
    return check_url(value, name, error=ConfigError, hint=f"unset {name}, or set it to {default}").rstrip("/")


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
            api_url=_checked(env, "GITHUB_API_URL", DEFAULT_API_URL),
            server_url=_checked(env, "GITHUB_SERVER_URL", DEFAULT_SERVER_URL),
            run_id=env.get("GITHUB_RUN_ID") or None,
            run_attempt=env.get("GITHUB_RUN_ATTEMPT") or None,
        )

    @property
    def run_url(self) -> str | None:
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


def is_production(environment: str) -> bool:
    return environment.strip().lower() in PRODUCTION_NAMES


def truncate(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_body(reason: str, run_url: str | None, original: str) -> str:
    """The release body after a failure: a banner naming what failed and the run, then the original notes."""
    kept = clean_body(original)
    link = f"\n> Run: {run_url}" if run_url else ""
    return f"> [!CAUTION]\n> This release failed: {reason}{link}\n\n{FAILED_MARKER}\n\n{kept}"


def not_published_body(reason: str, run_url: str | None, original: str) -> str:
    """The draft's body when the release stopped without publishing, for a reason that is no failure of the version
    (another deployment replaced it while it was watched): a banner saying why and the run, then the notes."""
    kept = clean_body(original)
    link = f"\n> Run: {run_url}" if run_url else ""
    return f"> [!WARNING]\n{_NOT_PUBLISHED_LINE}{reason}{link}\n\n{FAILED_MARKER}\n\n{kept}"


def clean_body(body: str) -> str:
    """The release notes without an earlier failure banner."""
    return body.split(FAILED_MARKER)[-1].lstrip("\n") if FAILED_MARKER in body else body


FAILED_SUFFIX = " (failed)"
_FAILED_LINE = "> This release failed: "
NOT_PUBLISHED_SUFFIX = " (not published)"
_NOT_PUBLISHED_LINE = "> This release was not published: "


def failure_reason(name: str, body: str) -> str | None:
    """What failed, as the failure banner says it, when a release is marked failed (by its title or its banner);
    None for a release that is not."""
    if FAILED_MARKER not in body and not name.endswith(FAILED_SUFFIX):
        return None
    banner = body.split(FAILED_MARKER)[0]
    for line in banner.splitlines():
        if line.startswith(_FAILED_LINE):
            return line.removeprefix(_FAILED_LINE).strip() or "no reason given"
    if not name.endswith(FAILED_SUFFIX) and _NOT_PUBLISHED_LINE in banner:
        return None  # held back, not failed: a deployment it did not make replaced it while it was watched
    return "no reason given"


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, the decoded JSON body (None when empty), the headers."""

    status: int
    data: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return error_message(self.data)


def error_message(data: Any) -> str:
    """GitHub's ``message``, with the ``errors`` details it lists (codes and fields, never request data)."""
    if isinstance(data, dict):
        text = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = []
            for item in errors:
                if isinstance(item, dict):
                    details.append(str(item.get("message") or item.get("code") or "invalid"))
                else:
                    details.append(str(item))
            text = f"{text} ({'; '.join(details)})"
        return text
    return str(data or "")


def quote_ref(ref: str) -> str:
    return quote(ref, safe="/")


class GitHubApi:
    """One repository's REST API. ``request`` answers or raises a KarsError; ``expect`` lets a caller handle a
    status itself (a 404 that means "not there yet", a 422 that means "someone else was first")."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        deadline: Deadline | None = None,
        progress: Progress = no_progress,
        wall_time: Callable[[], float] = time.time,
        timeout: float = REQUEST_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        gha.SECRETS.register(token)
        self.api_url = api_url.rstrip("/")
        self.repo_url = f"{self.api_url}/repos/{repository}"
        self.clock = clock
        self.deadline = deadline or Deadline.after(600, clock)
        self.progress = progress
        self.wall_time = wall_time
        self.timeout = timeout
        self.waited: list[float] = []
        self._http = httpx.Client(
            headers={
                "Accept": MEDIA_TYPE,
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
                "Authorization": f"Bearer {token}",
            },
            transport=transport,
            follow_redirects=False,  # a redirect to another host must not carry the token
            trust_env=False,
            verify=tls_context(trust_env=False),
        )

    def close(self) -> None:
        self._http.close()

    # Requests ---------------------------------------------------------------------------------------------------
    def get(
        self, what: str, path: str, params: Mapping[str, Any] | None = None, expect: tuple[int, ...] = ()
    ) -> Answer:
        return self.request("GET", path, what=what, params=params, expect=expect)

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        permission: str | None = None,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        expect: tuple[int, ...] = (),
    ) -> Answer:
        """``path`` is relative to the repository (``/releases``) or a full URL GitHub handed out (pagination)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.repo_url}{path}"
        limited = 0
        while True:
            answer = self._send(method, url, what, params, body)
            if answer.status < 400:
                return answer
            wait = self._rate_limit_wait(answer, limited)
            if wait is None:
                if answer.status in expect:
                    return answer
                raise self.translate(what, permission, answer)
            self._wait(what, wait, answer.headers)
            limited += 1

    def _send(
        self, method: str, url: str, what: str, params: Mapping[str, Any] | None, body: Mapping[str, Any] | None
    ) -> Answer:
        import httpx

        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise ExternalError(
                f"{what}: the time for this run ran out before GitHub was asked",
                service=SERVICE,
                hint="rerun the job: every step resumes where it stopped; raise --timeout if this repeats",
            )
        budget = min(self.timeout, remaining)
        try:
            response = self._http.request(method, url, params=params, json=body, timeout=budget)
        except httpx.TimeoutException:
            raise ExternalError(
                f"{what}: GitHub did not answer within {human_duration(budget)}",
                service=SERVICE,
                hint="GitHub may be slow or down (https://www.githubstatus.com); rerun the job, it resumes",
            ) from None
        except httpx.HTTPError as error:
            raise ExternalError(
                f"{what}: could not reach the API ({type(error).__name__})",
                service=SERVICE,
                hint="check GITHUB_API_URL and the runner's network; rerun the job",
            ) from None
        data: Any = None
        if response.content:
            try:
                data = response.json()
            except ValueError:
                if response.is_success:
                    # A 2xx that is not JSON is not GitHub's API (a login page, a proxy, the web address).
                    raise ExternalError(
                        f"{what}: the API answered with a page that is not JSON",
                        service=SERVICE,
                        hint="check GITHUB_API_URL: https://api.github.com, or https://HOST/api/v3 for GitHub "
                        "Enterprise Server (not the web address)",
                    ) from None
                data = response.text[:200]
        return Answer(response.status_code, data, {k.lower(): v for k, v in response.headers.items()})

    def paginate(self, what: str, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following GitHub's ``Link: rel="next"`` (only back to the same API)."""
        url: str | None = path
        query: Mapping[str, Any] | None = {**(params or {}), "per_page": PER_PAGE}
        while url is not None:
            answer = self.request("GET", url, what=what, params=query)
            yield from answer.data if isinstance(answer.data, list) else ()
            url = _next_link(answer.headers.get("link", ""))
            query = None  # the next link carries the query
            if url is not None and not url.startswith(self.api_url + "/"):
                raise ExternalError(f"{what}: GitHub sent a next page on another host", service=SERVICE)

    def first_page(self, what: str, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        answer = self.get(what, path, {**(params or {}), "per_page": PER_PAGE})
        return list(answer.data) if isinstance(answer.data, list) else []

    # Rate limits --------------------------------------------------------------------------------------------------
    def _rate_limit_wait(self, answer: Answer, limited_before: int) -> float | None:
        """How long to wait before asking again, or None when this is no rate limit. Consecutive limits on one
        request back off (1 s, 2 s, 4 s ...), so a ``Retry-After: 0`` or a reset in the past never spins."""
        if answer.status not in (403, 429):
            return None
        headers = answer.headers
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return RATE_LIMITS.pause(limited_before, retry_after=float(retry_after))
            except ValueError:
                return RATE_LIMITS.pause(limited_before, retry_after=SECONDARY_LIMIT_WAIT)
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            try:
                reset_in = float(headers["x-ratelimit-reset"]) - self.wall_time()
            except ValueError:
                reset_in = SECONDARY_LIMIT_WAIT
            return RATE_LIMITS.pause(limited_before, retry_after=reset_in)
        if answer.status == 429 or "rate limit" in answer.message.lower():
            return SECONDARY_LIMITS.pause(limited_before)
        return None

    def _wait(self, what: str, seconds: float, headers: Mapping[str, str]) -> None:
        remaining = self.deadline.remaining()
        if Pause.before(self.deadline, seconds).last:  # no time would be left to ask again
            reset = headers.get("x-ratelimit-reset", "")
            when = ""
            if reset.isdigit() and float(reset) > self.wall_time():
                when = f" (resets at {time.strftime('%H:%M:%S', time.gmtime(float(reset)))} UTC)"
            raise RateLimited(
                f"{what}: rate limited for another {human_duration(seconds)}{when}, "
                f"more than the {human_duration(remaining)} left before the deadline",
                service=SERVICE,
                hint="rerun the job later, or use a token with a higher limit (a GitHub App installation token)",
            )
        self.progress(f"GitHub rate limit reached; waiting {human_duration(seconds)} before retrying {what}")
        self.waited.append(seconds)
        self.clock.sleep(seconds)

    # Errors -----------------------------------------------------------------------------------------------------
    def translate(self, what: str, permission: str | None, answer: Answer) -> ExternalError:
        status, message = answer.status, answer.message
        if status == 401:
            return AuthError(
                f"{what}: the token was refused ({message or 'Bad credentials'})",
                service=SERVICE,
                hint="pass a valid token: github-token defaults to ${{ github.token }}",
            )
        accepted = _accepted_permission(answer.headers.get("x-accepted-github-permissions", ""))
        lowered = message.lower()
        if status == 403 and (accepted or "not accessible" in lowered or "permission" in lowered):
            line = accepted or PERMISSION_FOR.get(permission or "", "the right permission")
            if permission == "pull-requests":
                line = "pull-requests: write` or `issues: write"
            return permission_error(f"{what}: {message or 'forbidden'}", line)
        if status == 404:
            return ExternalError(
                f"{what}: not found (404)",
                service=SERVICE,
                hint="check GITHUB_REPOSITORY and that the token can see the repository",
            )
        if status == 422:
            refused = _immutable_refusal(what, message)
            if refused is not None:
                return refused
        if status >= 500:
            return ExternalError(
                f"{what}: GitHub answered HTTP {status}",
                service=SERVICE,
                hint="GitHub may be having an incident (https://www.githubstatus.com); rerun the job, it resumes",
            )
        return ExternalError(f"{what}: HTTP {status}: {message or 'no message'}", service=SERVICE)


def _immutable_refusal(what: str, message: str) -> ExternalError | None:
    """An immutable-release refusal on a path that did not expect one, in words that say what it means."""
    from kars_actions.github.refusals import assets_locked, assets_locked_sign, used_up_sign

    if assets_locked_sign(message):
        return assets_locked(what, message)
    if used_up_sign(message):
        return ExternalError(
            f"{what}: the tag name is used up by an immutable release and can never be created again "
            f"(GitHub: {message})",
            service=SERVICE,
            hint="release the next patch version instead (pass --version)",
        )
    return None


class PermissionMissing(AuthError):
    """GitHub refused a write because the token lacks a permission; ``permission`` names it as a workflow's
    ``permissions:`` block would."""

    def __init__(self, message: str, *, permission: str, hint: str) -> None:
        super().__init__(message, service=SERVICE, hint=hint)
        self.permission = permission


def permission_error(what: str, line: str) -> PermissionMissing:
    return PermissionMissing(
        f"{what} — the token lacks `{line}`",
        permission=line.replace("`", ""),
        hint=f"add `permissions:` with `{line}` to the job (or workflow) that runs this step",
    )


def _accepted_permission(header: str) -> str | None:
    """``X-Accepted-GitHub-Permissions: contents=write`` (alternatives separated by ``;``) as ``contents: write``."""
    for option in header.split(";"):
        for part in option.split(","):
            name, _, level = part.strip().partition("=")
            if name and level:
                return f"{name}: {level}"
    return None


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        section = part.split(";")
        if len(section) < 2:
            continue
        target = section[0].strip()
        if any(p.strip() in ('rel="next"', "rel=next") for p in section[1:]) and target.startswith("<"):
            return target.strip("<>")
    return None
