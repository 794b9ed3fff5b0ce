"""Railway's GraphQL API: tokens and headers, typed errors, bounded retries for reads, never a blind mutation retry."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from kars_actions.core import gha
from kars_actions.core.backoff import Backoff, Pause
from kars_actions.core.errors import AuthError, ConfigError, ExternalError, RateLimited
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline
from kars_actions.core.tls import tls_context
from kars_actions.core.urls import check_url

if TYPE_CHECKING:
    import httpx

DEFAULT_ENDPOINT = "https://backboard.railway.com/graphql/v2"
ENDPOINT_ENV = "RAILWAY_GRAPHQL_ENDPOINT"
PROJECT_TOKEN_ENV = "RAILWAY_TOKEN"
ACCOUNT_TOKEN_ENV = "RAILWAY_API_TOKEN"
SERVICE = "Railway"

# Messages Railway returns (as HTTP 200 + errors) when a token is wrong for its header, expired or deleted.
_AUTH_MESSAGES = ("not authorized", "project token not found", "unauthorized", "invalid token", "token expired")
# Railway answers passing trouble on its side as HTTP 200 + errors too ("Problem processing request"). These are
# retried like a 5xx; anything else (auth, not found, validation, a refusal) is an answer and is not.
_TRANSIENT_MESSAGES = (
    "problem processing request",
    "internal server error",
    "service unavailable",
    "temporarily unavailable",
    "bad gateway",
    "gateway timeout",
    "timed out",
    "timeout",
    "try again",
    "too many requests",
    "rate limit",
)

LIVE_STATUSES = frozenset({"SUCCESS", "SLEEPING"})
FAILED_STATUSES = frozenset({"FAILED", "CRASHED", "REMOVED", "SKIPPED"})
HELD_STATUSES = frozenset({"WAITING", "NEEDS_APPROVAL"})
IN_PROGRESS_STATUSES = frozenset({"QUEUED", "INITIALIZING", "BUILDING", "DEPLOYING", "WAITING", "NEEDS_APPROVAL"})
# On the way to another status within seconds or minutes: a decision that depends on the status (may it be rolled
# back to, is it live, did it fail) waits one of these out before concluding anything. REMOVING is a replaced
# deployment being drained and torn down; Railway answers canRollback false until it is REMOVED.
TRANSIENT_STATUSES = frozenset({"QUEUED", "WAITING", "INITIALIZING", "BUILDING", "DEPLOYING", "REMOVING"})
# Railway's order of statuses, for telling a stale report from a fresh one when their timestamps cannot: a
# deployment moves up this ladder (SLEEPING and SUCCESS alternate on one rung; a CRASHED app restarted by Railway
# comes back to SUCCESS with a newer timestamp).
STATUS_ORDER = {
    "WAITING": 0,
    "NEEDS_APPROVAL": 0,
    "QUEUED": 1,
    "INITIALIZING": 1,
    "BUILDING": 2,
    "DEPLOYING": 3,
    "SUCCESS": 4,
    "SLEEPING": 4,
    "FAILED": 5,
    "CRASHED": 5,
    "SKIPPED": 5,
    "REMOVING": 6,
    "REMOVED": 7,
}


# --- Documents ---------------------------------------------------------------------------------------------------
# Every document the client can send lives in this registry, so a test validates all of them against the schema.

DOCUMENTS: dict[str, str] = {}

_DEPLOYMENT_FIELDS = """
fragment DeploymentFields on Deployment {
  id status createdAt statusUpdatedAt meta canRollback url staticUrl serviceId
}"""


def _document(name: str, text: str) -> str:
    body = text.strip()
    if "...DeploymentFields" in body:
        body += "\n" + _DEPLOYMENT_FIELDS.strip()
    DOCUMENTS[name] = body
    return name


Q_PROJECT_TOKEN = _document("ProjectToken", "query ProjectToken { projectToken { projectId environmentId } }")
Q_PROJECT = _document(
    "Project",
    """query Project($id: String!) {
  project(id: $id) {
    id name
    services { edges { node { id name } } }
    environments { edges { node { id name } } }
  }
}""",
)
Q_PROJECTS = _document("Projects", "query Projects { projects { edges { node { id name } } } }")
Q_SERVICE_INSTANCE = _document(
    "ServiceInstance",
    """query ServiceInstance($serviceId: String!, $environmentId: String!) {
  serviceInstance(serviceId: $serviceId, environmentId: $environmentId) {
    id serviceName rootDirectory railwayConfigFile healthcheckPath
    source { repo image }
    latestDeployment { ...DeploymentFields }
    activeDeployments { ...DeploymentFields }
    domains { serviceDomains { domain } customDomains { domain } }
  }
}""",
)
Q_DEPLOYMENTS = _document(
    "Deployments",
    """query Deployments($input: DeploymentListInput!, $first: Int) {
  deployments(input: $input, first: $first) { edges { node { ...DeploymentFields } } }
}""",
)
Q_DEPLOYMENT = _document("Deployment", "query Deployment($id: String!) { deployment(id: $id) { ...DeploymentFields } }")
Q_VARIABLES = _document(
    "Variables",
    """query Variables($projectId: String!, $environmentId: String!, $serviceId: String) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
}""",
)
Q_DEPLOYMENT_EVENTS = _document(
    "DeploymentEvents",
    """query DeploymentEvents($id: String!, $first: Int) {
  deploymentEvents(id: $id, first: $first) {
    edges { node { step createdAt completedAt payload { error reason detail attempt maxAttempts } } }
  }
}""",
)
Q_BUILD_LOGS = _document(
    "BuildLogs",
    """query BuildLogs($deploymentId: String!, $limit: Int) {
  buildLogs(deploymentId: $deploymentId, limit: $limit) { message severity timestamp }
}""",
)
Q_DEPLOYMENT_LOGS = _document(
    "DeploymentLogs",
    """query DeploymentLogs($deploymentId: String!, $limit: Int) {
  deploymentLogs(deploymentId: $deploymentId, limit: $limit) { message severity timestamp }
}""",
)
M_DEPLOY = _document(
    "ServiceInstanceDeployV2",
    """mutation ServiceInstanceDeployV2($serviceId: String!, $environmentId: String!, $commitSha: String) {
  serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId, commitSha: $commitSha)
}""",
)
M_CANCEL = _document("DeploymentCancel", "mutation DeploymentCancel($id: String!) { deploymentCancel(id: $id) }")
# Boolean!: Railway rejects a selection set here (the docs' `{ id status }` example is invalid).
M_ROLLBACK = _document(
    "DeploymentRollback", "mutation DeploymentRollback($id: String!) { deploymentRollback(id: $id) }"
)


# --- Tokens ------------------------------------------------------------------------------------------------------


class TokenKind(Enum):
    PROJECT = "project"
    ACCOUNT = "account"

    @property
    def env_var(self) -> str:
        return PROJECT_TOKEN_ENV if self is TokenKind.PROJECT else ACCOUNT_TOKEN_ENV

    @property
    def header(self) -> str:
        return "Project-Access-Token" if self is TokenKind.PROJECT else "Authorization: Bearer"

    @property
    def describe(self) -> str:
        kind = "project token" if self is TokenKind.PROJECT else "account or workspace token"
        return f"{kind} from {self.env_var} (sent as {self.header})"


@dataclass(frozen=True)
class Credentials:
    kind: TokenKind
    token: str = field(repr=False)

    def __post_init__(self) -> None:
        gha.SECRETS.register(self.token)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Credentials:
        """``RAILWAY_TOKEN`` (project token) wins over ``RAILWAY_API_TOKEN``, as in Railway's own CLI."""
        project = environ.get(PROJECT_TOKEN_ENV, "").strip()
        account = environ.get(ACCOUNT_TOKEN_ENV, "").strip()
        if project:
            return cls(TokenKind.PROJECT, project)
        if account:
            return cls(TokenKind.ACCOUNT, account)
        raise ConfigError(
            f"no Railway token: set {PROJECT_TOKEN_ENV} (a project token) or {ACCOUNT_TOKEN_ENV} "
            "(an account or workspace token)",
            hint=f"in a workflow: env: {PROJECT_TOKEN_ENV}: ${{{{ secrets.{PROJECT_TOKEN_ENV} }}}}; create a project "
            "token in the Railway dashboard under Project Settings → Tokens",
        )

    def headers(self) -> dict[str, str]:
        if self.kind is TokenKind.PROJECT:
            return {"Project-Access-Token": self.token}
        return {"Authorization": f"Bearer {self.token}"}


# --- Errors ------------------------------------------------------------------------------------------------------


class RailwayAPIError(ExternalError):
    """Railway answered with GraphQL errors that are not about the token."""

    def __init__(self, message: str, *, operation: str, messages: Sequence[str], hint: str | None = None) -> None:
        super().__init__(message, service=SERVICE, hint=hint)
        self.operation = operation
        self.messages = list(messages)


class RailwayUnavailable(ExternalError):
    """Railway could not be reached or kept failing (5xx, dropped connections, timeouts) past the retries."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, service=SERVICE, hint=hint)


class OutcomeUnknown(RailwayUnavailable):
    """A mutation was sent but its answer was lost (timeout, 5xx, dropped connection): it may have taken effect."""


class RailwayTransientError(RailwayAPIError):
    """Railway answered HTTP 200 with an error that says its side is in trouble, not that the request is wrong."""


def is_transient(messages: Sequence[str]) -> bool:
    lowered = " ".join(messages).lower()
    return bool(messages) and any(m in lowered for m in _TRANSIENT_MESSAGES)


def auth_error(kind: TokenKind, detail: str) -> AuthError:
    if kind is TokenKind.PROJECT:
        hint = (
            f"{PROJECT_TOKEN_ENV} must hold a current project token for this project and environment "
            "(Project Settings → Tokens); if it is an account or workspace token, set it as "
            f"{ACCOUNT_TOKEN_ENV} instead (sent as Authorization: Bearer)"
        )
    else:
        hint = (
            f"{ACCOUNT_TOKEN_ENV} must hold a current account or workspace token that can see the project "
            f"(railway.com/account/tokens); if it is a project token, set it as {PROJECT_TOKEN_ENV} instead "
            "(sent as Project-Access-Token)"
        )
    return AuthError(f"Railway refused the {kind.describe}: {detail}", service=SERVICE, hint=hint)


# --- Data ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """One Railway deployment, as much of it as the release needs."""

    id: str
    status: str
    created_at: str = ""
    status_updated_at: str | None = None
    commit_hash: str | None = None
    can_rollback: bool = False
    url: str | None = None
    service_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> Deployment:
        meta = node.get("meta")
        meta_map: Mapping[str, Any] = meta if isinstance(meta, Mapping) else {}
        commit = meta_map.get("commitHash")
        url = node.get("url") or node.get("staticUrl")
        return cls(
            id=str(node["id"]),
            status=str(node.get("status") or "UNKNOWN"),
            created_at=str(node.get("createdAt") or ""),
            status_updated_at=node.get("statusUpdatedAt"),
            commit_hash=str(commit) if commit else None,
            can_rollback=bool(node.get("canRollback")),
            url=str(url) if url else None,
            service_id=node.get("serviceId"),
            meta=meta_map,
        )

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    def fresher_than(self, known: Deployment | None) -> bool:
        """Whether this report of the deployment is at least as new as ``known``: by Railway's status timestamp
        when both carry a different one, else by the order of statuses. A stale report (a stream's first message,
        the state when it subscribed, arriving after a fresher read) is older on both counts."""
        if known is None:
            return True
        mine, theirs = parse_time(self.status_updated_at), parse_time(known.status_updated_at)
        if mine is not None and theirs is not None and mine != theirs:
            return mine > theirs
        rank, known_rank = STATUS_ORDER.get(self.status), STATUS_ORDER.get(known.status)
        return rank is None or known_rank is None or rank >= known_rank

    def duration_seconds(self) -> float | None:
        """Seconds from creation to the last status change (for a SUCCESS deployment: how long it took)."""
        start, end = parse_time(self.created_at), parse_time(self.status_updated_at)
        if start is None or end is None or end < start:
            return None
        return end - start


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class ServiceInstanceInfo:
    service_id: str
    latest: Deployment | None
    active: tuple[Deployment, ...]
    domains: tuple[str, ...]  # custom domains first, then Railway-provided ones
    # Where the service's code and config live in the repository, as set in Railway (None: not set).
    root_directory: str | None = None
    config_file: str | None = None
    healthcheck_path: str | None = None
    # What Railway builds from: a GitHub repository ("owner/name") or a Docker image; neither: nothing connected.
    repo: str | None = None
    image: str | None = None

    @property
    def url(self) -> str | None:
        return f"https://{self.domains[0]}" if self.domains else None


@dataclass(frozen=True)
class DeploymentEvent:
    step: str
    error: str | None
    reason: str | None
    detail: str | None
    attempt: int | None
    max_attempts: int | None
    created_at: str | None = None
    completed_at: str | None = None


# --- The client ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries of a read, in all
    base: float = 1.0  # first backoff, seconds
    cap: float = 16.0  # longest backoff between tries
    rate_limit_wait: float = 300.0  # longest total wait for 429s in one call (and never past the deadline)
    rate_limit_floor: float = 1.0  # least wait after a 429, doubling per 429: "Retry-After: 0" is no busy loop
    call_timeout: float = 180.0  # a call's own deadline when the caller gives none

    @property
    def reads(self) -> Backoff:
        """Between tries of a read: doubling from ``base`` to ``cap``, each pause drawn from its upper half so that
        concurrent jobs do not retry in lockstep."""
        return Backoff(self.base, 2.0, self.cap, jitter="equal")

    @property
    def rate_limits(self) -> Backoff:
        """After a 429: Railway's wait as it asks; one under the floor (0, a reset already past) doubles from the
        floor with each 429 in a row instead."""
        return Backoff(self.rate_limit_floor, 2.0, self.cap, floor=self.rate_limit_floor, retry_after="as-asked")


class RailwayClient:
    """A small synchronous Railway GraphQL client. Thread-safe for concurrent service deploys."""

    def __init__(
        self,
        credentials: Credentials,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        clock: Clock = SYSTEM_CLOCK,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        import httpx

        self.credentials = credentials
        self.endpoint = endpoint
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.requests_by_operation: dict[str, int] = {}
        self._server_clock: tuple[float, float] | None = None  # (Railway's epoch time, our monotonic) at an answer
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            transport=transport,
            headers={"User-Agent": "kars-actions", **credentials.headers()},
            follow_redirects=False,
            verify=tls_context(trust_env=True),
        )

    @classmethod
    def from_env(
        cls,
        endpoint: str | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> RailwayClient:
        import os

        env = os.environ if environ is None else environ
        credentials = Credentials.from_environ(env)
        url = endpoint or env.get(ENDPOINT_ENV, "").strip() or DEFAULT_ENDPOINT
        url = check_url(
            url, ENDPOINT_ENV, error=ConfigError, hint=f"unset {ENDPOINT_ENV}, or point it at {DEFAULT_ENDPOINT}"
        )
        return cls(credentials, url, clock=clock, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RailwayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The core --------------------------------------------------------------------------------------------------

    def query(
        self, operation: str, variables: Mapping[str, Any] | None = None, deadline: Deadline | None = None
    ) -> Any:
        """Run a read; 5xx, connection errors and timeouts are retried with capped, jittered backoff."""
        return self._call(operation, variables or {}, deadline, retry_unknown=True)

    def mutate(
        self, operation: str, variables: Mapping[str, Any] | None = None, deadline: Deadline | None = None
    ) -> Any:
        """Run a mutation once. A lost answer raises ``OutcomeUnknown``: the caller checks before any retry.

        Only failures that prove the request was not acted on are retried here: 429 (refused up front) and a
        connection that was never opened.
        """
        return self._call(operation, variables or {}, deadline, retry_unknown=False)

    def _call(
        self, operation: str, variables: Mapping[str, Any], deadline: Deadline | None, *, retry_unknown: bool
    ) -> Any:
        import httpx

        document = DOCUMENTS[operation]
        deadline = deadline or Deadline.after(self.retry.call_timeout, self.clock)
        payload = {"query": document, "variables": dict(variables), "operationName": operation}
        attempt = 0
        limits = self.retry.rate_limits.start()
        rate_waited = 0.0
        while True:
            attempt += 1
            with self._lock:
                self.requests_sent += 1
                self.requests_by_operation[operation] = self.requests_by_operation.get(operation, 0) + 1
            try:
                response = self._http.post(
                    self.endpoint, json=payload, headers=self._clock_header(), timeout=self._request_timeout(deadline)
                )
            except httpx.ConnectError as error:
                failure = f"cannot connect to {self.endpoint} ({type(error).__name__})"
                self._backoff_or_raise(attempt, deadline, failure, operation, unknown=False)
                continue
            except (httpx.TimeoutException, httpx.TransportError) as error:
                failure = f"no answer from {self.endpoint} ({type(error).__name__})"
                if not retry_unknown:
                    raise OutcomeUnknown(
                        f"{operation}: {failure}; the request may have been applied", hint=_RETRY_HINT
                    ) from None
                self._backoff_or_raise(attempt, deadline, failure, operation, unknown=True)
                continue
            self._note_server_time(response.headers.get("date"))
            if response.status_code == 429:
                # Railway's wait is honoured; but a Retry-After of 0 or a reset time already past would turn into a
                # request storm, so such a hint is replaced by a wait that doubles with each 429 in a row.
                wait = limits.next(retry_after=_rate_limit_wait(response.headers))
                if Pause.before(deadline, wait).overruns or rate_waited + wait > self.retry.rate_limit_wait:
                    raise RateLimited(
                        f"rate limit reached during {operation}; Railway asks to wait {wait:.0f}s, "
                        f"past this step's deadline",
                        service=SERVICE,
                        hint="Railway allows 100 requests/hour on Free, 1,000 on Hobby and 10,000 on Pro; rerun "
                        "later, or stop other jobs that share the token",
                    )
                rate_waited += wait
                self.clock.sleep(wait)
                continue
            if response.status_code in (401, 403):
                raise auth_error(self.credentials.kind, f"HTTP {response.status_code}")
            if response.status_code >= 500:
                failure = f"HTTP {response.status_code} from {self.endpoint}"
                if not retry_unknown:
                    raise OutcomeUnknown(f"{operation}: {failure}; the request may have been applied", hint=_RETRY_HINT)
                self._backoff_or_raise(attempt, deadline, failure, operation, unknown=True)
                continue
            try:
                return self._data(operation, response)
            except RailwayTransientError as error:
                failure = f"Railway answered {'; '.join(error.messages)!r}"
                if not retry_unknown:
                    raise OutcomeUnknown(
                        f"{operation}: {failure}; the request may have been applied", hint=_RETRY_HINT
                    ) from None
                self._backoff_or_raise(attempt, deadline, failure, operation, unknown=True)

    def _request_timeout(self, deadline: Deadline) -> float:
        """A request never outlives the deadline by more than a second (the client's own timeout is the most)."""
        configured = self._http.timeout.read or 30.0
        if getattr(self.clock, "virtual", False):
            # The test seam's virtual clock: its deadline is simulated time and says nothing of how long a real
            # request may take, so a look at the deadline (none of it left) is not cut off by a loaded machine.
            return configured
        return max(1.0, min(configured, deadline.remaining()))

    def _clock_header(self) -> dict[str, str]:
        # Test seam: a virtual clock (KARS_TEST_VIRTUAL_CLOCK=1) tells the Railway simulator its time, so a
        # deploy replayed in milliseconds is timed exactly as it would be for real. Real clocks send nothing.
        session = getattr(self.clock, "announce", None)
        return {"X-Kars-Virtual-Clock": f"{session} {self.clock.monotonic():.3f}"} if session else {}

    def _note_server_time(self, date: str | None) -> None:
        if not date:
            return
        try:
            when = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        with self._lock:
            self._server_clock = (when, self.clock.monotonic())

    def server_time(self) -> float:
        """Railway's time now (epoch seconds), from the Date of its latest answer; the local clock before any.

        Metric windows are asked in Railway's time, so a runner whose clock is off still reads the right minutes.
        """
        with self._lock:
            known = self._server_clock
        if known is None:
            return time.time()
        when, at = known
        return when + (self.clock.monotonic() - at)

    def _backoff_or_raise(
        self, attempt: int, deadline: Deadline, failure: str, operation: str, *, unknown: bool
    ) -> None:
        # Indexed by the attempt, not by the failures before it: a 429 on the way counts as a try too.
        pause = Pause.before(deadline, self.retry.reads.pause(attempt - 1, rng=self._rng))
        if attempt >= self.retry.attempts or pause.overruns:
            raise RailwayUnavailable(
                f"{operation}: {failure}, after {attempt} attempt(s)",
                hint="Railway's API may be degraded (status.railway.com); rerun the job later",
            )
        self.clock.sleep(pause.seconds)

    def _data(self, operation: str, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            raise RailwayUnavailable(
                f"{operation}: HTTP {response.status_code} with a body that is not JSON",
                hint=f"check {ENDPOINT_ENV} points at Railway's GraphQL endpoint",
            ) from None
        if not isinstance(body, dict):
            raise RailwayUnavailable(f"{operation}: unexpected answer shape (HTTP {response.status_code})")
        errors = body.get("errors")
        if errors:
            messages = [
                str(e.get("message", e)) if isinstance(e, dict) else str(e)
                for e in (errors if isinstance(errors, list) else [errors])
            ]
            lowered = " ".join(messages).lower()
            if any(m in lowered for m in _AUTH_MESSAGES):
                raise auth_error(self.credentials.kind, "; ".join(messages))
            if is_transient(messages):
                raise RailwayTransientError(
                    f"{operation} failed: {'; '.join(messages)}", operation=operation, messages=messages
                )
            raise RailwayAPIError(f"{operation} failed: {'; '.join(messages)}", operation=operation, messages=messages)
        if response.status_code >= 400:
            raise RailwayAPIError(f"{operation} failed: HTTP {response.status_code}", operation=operation, messages=[])
        data = body.get("data")
        if not isinstance(data, dict):
            raise RailwayAPIError(f"{operation} returned no data", operation=operation, messages=[])
        return data

    # Operations -------------------------------------------------------------------------------------------------

    def project_token(self, deadline: Deadline | None = None) -> tuple[str, str]:
        """(projectId, environmentId) that the project token is for."""
        data = (self.query(Q_PROJECT_TOKEN, deadline=deadline) or {}).get("projectToken")
        if not isinstance(data, dict) or not data.get("projectId") or not data.get("environmentId"):
            # Railway answered without an error yet without the token's project: nothing can be resolved.
            raise ExternalError(
                "the answer to projectToken named no project and environment",
                service="Railway",
                hint="check that RAILWAY_TOKEN is a project token of an existing project (Project Settings → Tokens)",
            )
        return str(data["projectId"]), str(data["environmentId"])

    def project(self, project_id: str, deadline: Deadline | None = None) -> dict[str, Any]:
        data: dict[str, Any] = self.query(Q_PROJECT, {"id": project_id}, deadline)["project"]
        return data

    def projects(self, deadline: Deadline | None = None) -> list[tuple[str, str]]:
        """(id, name) of every project the account or workspace token can see."""
        edges = self.query(Q_PROJECTS, deadline=deadline)["projects"]["edges"]
        return [(str(e["node"]["id"]), str(e["node"]["name"])) for e in edges]

    def service_instance(
        self, service_id: str, environment_id: str, deadline: Deadline | None = None
    ) -> ServiceInstanceInfo:
        data = self.query(Q_SERVICE_INSTANCE, {"serviceId": service_id, "environmentId": environment_id}, deadline)
        inst = data["serviceInstance"]
        domains = inst.get("domains") or {}
        names = [d["domain"] for d in domains.get("customDomains") or []] + [
            d["domain"] for d in domains.get("serviceDomains") or []
        ]
        latest = inst.get("latestDeployment")
        source = inst.get("source") or {}
        return ServiceInstanceInfo(
            service_id=service_id,
            latest=Deployment.from_node(latest) if latest else None,
            active=tuple(Deployment.from_node(d) for d in inst.get("activeDeployments") or []),
            domains=tuple(n for n in names if n),
            root_directory=inst.get("rootDirectory") or None,
            config_file=inst.get("railwayConfigFile") or None,
            healthcheck_path=inst.get("healthcheckPath") or None,
            repo=source.get("repo") or None,
            image=source.get("image") or None,
        )

    def deployments(
        self,
        project_id: str,
        environment_id: str,
        service_id: str,
        *,
        first: int = 20,
        statuses: Sequence[str] | None = None,
        deadline: Deadline | None = None,
    ) -> list[Deployment]:
        """Deployments of one service instance, newest first."""
        selector: dict[str, Any] = {"projectId": project_id, "environmentId": environment_id, "serviceId": service_id}
        if statuses:
            selector["status"] = {"in": list(statuses)}
        data = self.query(Q_DEPLOYMENTS, {"input": selector, "first": first}, deadline)
        return [Deployment.from_node(e["node"]) for e in data["deployments"]["edges"]]

    def deployment(self, deployment_id: str, deadline: Deadline | None = None) -> Deployment:
        return Deployment.from_node(self.query(Q_DEPLOYMENT, {"id": deployment_id}, deadline)["deployment"])

    def variable_names(
        self, project_id: str, environment_id: str, service_id: str, deadline: Deadline | None = None
    ) -> frozenset[str]:
        """The names of the variables a service sees. Values are dropped here and never kept."""
        data = self.query(
            Q_VARIABLES, {"projectId": project_id, "environmentId": environment_id, "serviceId": service_id}, deadline
        )
        variables = data.get("variables") or {}
        return frozenset(str(k) for k in variables) if isinstance(variables, dict) else frozenset()

    def deploy(self, service_id: str, environment_id: str, commit: str, deadline: Deadline | None = None) -> str:
        data = self.mutate(
            M_DEPLOY, {"serviceId": service_id, "environmentId": environment_id, "commitSha": commit}, deadline
        )
        return str(data["serviceInstanceDeployV2"])

    def cancel(self, deployment_id: str, deadline: Deadline | None = None) -> bool:
        return bool(self.mutate(M_CANCEL, {"id": deployment_id}, deadline)["deploymentCancel"])

    def rollback(self, deployment_id: str, deadline: Deadline | None = None) -> bool:
        return bool(self.mutate(M_ROLLBACK, {"id": deployment_id}, deadline)["deploymentRollback"])

    def deployment_events(self, deployment_id: str, deadline: Deadline | None = None) -> list[DeploymentEvent]:
        data = self.query(Q_DEPLOYMENT_EVENTS, {"id": deployment_id, "first": 50}, deadline)
        events = []
        for edge in data["deploymentEvents"]["edges"]:
            node = edge["node"]
            payload = node.get("payload") or {}
            events.append(
                DeploymentEvent(
                    step=str(node.get("step")),
                    error=payload.get("error"),
                    reason=payload.get("reason"),
                    detail=payload.get("detail"),
                    attempt=payload.get("attempt"),
                    max_attempts=payload.get("maxAttempts"),
                    created_at=node.get("createdAt"),
                    completed_at=node.get("completedAt"),
                )
            )
        return events

    def logs(self, deployment_id: str, *, build: bool, limit: int = 20, deadline: Deadline | None = None) -> list[str]:
        operation = Q_BUILD_LOGS if build else Q_DEPLOYMENT_LOGS
        data = self.query(operation, {"deploymentId": deployment_id, "limit": limit}, deadline)
        entries = data["buildLogs" if build else "deploymentLogs"] or []
        return [str(e.get("message", "")) for e in entries][-limit:]


_RETRY_HINT = "kars-actions checks for the deployment before retrying; rerun the job if it stopped here"


def _rate_limit_wait(headers: Mapping[str, str]) -> float:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset``, else 60."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            number = float(reset.strip())
        except ValueError:
            number = -1.0
        if number >= 0:
            # An epoch timestamp (seconds or milliseconds) or a number of seconds: all three appear in the wild.
            if number > 1e12:
                number = number / 1000.0
            return max(0.0, number - time.time()) if number > 1e9 else number
    return 60.0
