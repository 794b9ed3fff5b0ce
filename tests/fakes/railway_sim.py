"""A Railway GraphQL API on 127.0.0.1 for tests: projects, services, variables, deployments that move through
their statuses on a clock the test controls, rollbacks, logs, and injectable faults; PR environments as Railway
makes them (ephemeral, ``meta.prNumber``, forked from the base with domains of their own, a deployment per push),
and ``environmentCreate`` / ``environmentDelete``.

Every document is validated against Railway's real schema (the introspection result in
``tests/fakes/schemas/railway-graphql-schema.json``, vendored) and executed by walking its parsed operation.

Time: the simulator reads ``SimClock``. A test either shares that clock with the client (the client's sleeps
advance it) or sets ``advance_per_request`` so each request moves time on (for a CLI in another process).

Run alone for a self-test workflow: ``python -m tests.fakes.railway_sim --port 8765``.
"""

from __future__ import annotations

import argparse
import email.utils
import functools
import json
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_client_schema,
    parse,
    validate,
)
from graphql.error import GraphQLSyntaxError
from graphql.utilities import value_from_ast_untyped

from tests.fakes.clock import FakeClock
from tests.fakes.quick_handler import QuickHandler
from tests.fakes.railway_sim_watch import WatchBackupSim

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "railway-graphql-schema.json"
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
LIVE = ("SUCCESS", "SLEEPING")

_schema: GraphQLSchema | None = None
_schema_loaded = False
_schema_lock = threading.Lock()


def load_schema(path: Path = SCHEMA_PATH) -> GraphQLSchema:
    """Railway's schema, built once from the vendored copy (a missing copy is an error, never a skipped check)."""
    global _schema, _schema_loaded
    with _schema_lock:
        if not _schema_loaded:
            raw = json.loads(path.read_text(encoding="utf-8"))
            _schema = build_client_schema(raw.get("data", raw), assume_valid=True)
            _schema_loaded = True
        assert _schema is not None
        return _schema


@functools.lru_cache(maxsize=1024)
def parse_query(query: str) -> DocumentNode:
    """A query document, parsed once per text: the CLI sends the same few documents thousands of times a suite, and
    the nodes are only read."""
    return parse(query)


@functools.lru_cache(maxsize=1024)
def schema_errors(query: str) -> tuple[str, ...]:
    """What Railway's schema says of a query text — the same answer every time, so worked out once."""
    return tuple(e.message for e in validate(load_schema(), parse_query(query)))


SimClock = FakeClock  # the simulator's clock: the same test clock every fake uses


# --- Scripts: how a deployment moves ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """Phases (status, seconds; None = stays) plus what Railway would tell about the deployment afterwards."""

    phases: tuple[tuple[str, float | None], ...]
    events: tuple[dict[str, Any], ...] = ()
    build_logs: tuple[str, ...] = ()
    deploy_logs: tuple[str, ...] = ()

    @classmethod
    def success(cls, build: float = 60, deploy: float = 20, queued: float = 0) -> Script:
        phases = ((("QUEUED", queued),) if queued else ()) + (
            ("BUILDING", build),
            ("DEPLOYING", deploy),
            ("SUCCESS", None),
        )
        return cls(phases, build_logs=("building...", "build ok"), deploy_logs=("listening on :3000",))

    @classmethod
    def build_failure(cls, build: float = 40, error: str = "npm ERR! missing script: build") -> Script:
        return cls(
            (("BUILDING", build), ("FAILED", None)),
            events=(_event("BUILD_IMAGE", error="Docker build failed"),),
            build_logs=("> npm run build", error, "ERROR: failed to build: exit code 1"),
        )

    @classmethod
    def healthcheck_failure(cls, build: float = 60, deploy: float = 100, attempts: int = 10) -> Script:
        # Railway writes its healthcheck to the build log; the app's own log says why it never answered.
        checks = tuple(
            f"Attempt #{n} failed with service unavailable. Continuing to retry for {max(0, 100 - 10 * n)}s"
            for n in range(1, attempts + 1)
        )
        return cls(
            (("BUILDING", build), ("DEPLOYING", deploy), ("FAILED", None)),
            events=(
                _event("BUILD_IMAGE"),
                _event("HEALTHCHECK", error="service unavailable", attempt=attempts, maxAttempts=attempts),
            ),
            build_logs=(
                "> npm run build",
                "build ok",
                "=== Successfully Built! ===",
                "====================",
                "Starting Healthcheck",
                "====================",
                "Path: /api/health",
                "Retry window: 1m40s",
                *checks,
                "1/1 replicas never became healthy!",
                "Healthcheck failed!",
            ),
            deploy_logs=("Starting Container", "Error: connect ECONNREFUSED 10.0.0.5:5432"),
        )

    @classmethod
    def crash_after_success(cls, build: float = 60, deploy: float = 20, up: float = 30) -> Script:
        """Passes Railway's healthcheck, goes live, then exits ``up`` seconds later."""
        return cls(
            (("BUILDING", build), ("DEPLOYING", deploy), ("SUCCESS", up), ("CRASHED", None)),
            events=(_event("BUILD_IMAGE"), _event("CREATE_CONTAINER", error="container exited with code 1")),
            deploy_logs=(
                "Starting Container",
                "listening on :3000",
                "Error: Cannot find module './jobs/cleanup'",
                "exited with code 1",
            ),
        )

    @classmethod
    def crash(cls, build: float = 60, deploy: float = 20) -> Script:
        return cls(
            (("BUILDING", build), ("DEPLOYING", deploy), ("CRASHED", None)),
            events=(_event("BUILD_IMAGE"), _event("CREATE_CONTAINER", error="container exited with code 1")),
            deploy_logs=("Starting Container", "TypeError: Cannot read properties of undefined", "exited with code 1"),
        )

    @classmethod
    def held(cls, status: str = "WAITING") -> Script:
        return cls(((status, None),))


def _event(step: str, **payload: Any) -> dict[str, Any]:
    return {
        "step": step,
        "payload": {"error": None, "reason": None, "detail": None, "attempt": None, "maxAttempts": None, **payload},
    }


@dataclass
class SimDeployment:
    id: str
    project_id: str
    environment_id: str
    service_id: str
    commit: str | None
    created: float
    script: Script
    can_rollback: bool = True
    removed_at: float | None = None
    promoted_at: float | None = None
    extra_meta: dict[str, Any] = field(default_factory=dict)
    # Replaced by a newer deployment: REMOVING from ``removing_at`` (it still takes traffic for the service's
    # overlapSeconds, then drains for drainingSeconds), REMOVED at ``removed_at``.
    removing_at: float | None = None
    stops_serving_at: float | None = None
    crashed_at: float | None = None  # a crash loop that used up its restarts: CRASHED from then on

    def natural(self, now: float) -> tuple[str, float]:
        """(status, since) from the script alone."""
        at = self.created
        for status, seconds in self.script.phases:
            if seconds is None or now < at + seconds:
                return status, at
            at += seconds
        return self.script.phases[-1][0], at

    def status(self, now: float) -> tuple[str, float]:
        if self.removed_at is not None and now >= self.removed_at:
            return "REMOVED", self.removed_at
        if self.crashed_at is not None and now >= self.crashed_at:
            return "CRASHED", self.crashed_at
        if self.removing_at is not None and now >= self.removing_at:
            return "REMOVING", self.removing_at
        return self.natural(now)


@dataclass(frozen=True)
class Recorded:
    operation: str | None
    fields: tuple[str, ...]
    mutation: bool
    token: str
    http_status: int
    at: float = 0.0  # the simulator's clock when it answered
    variables: dict[str, Any] = field(default_factory=dict)  # of a request answered 200: what it asked for


@dataclass
class Fault:
    # "http" | "drop" | "stall" | "graphql_error" | "rate_limit" | "slow" (the right answer, ``seconds`` late: a
    # loaded machine or a slow Railway)
    kind: str
    operation: str | None = None  # operation name or top-level field; None: any request
    count: int = 1
    status: int = 500
    retry_after: float | None = 1.0  # rate_limit: the Retry-After header (None: none sent)
    reset_in: float | None = None  # rate_limit: send X-RateLimit-Reset as epoch seconds this far from now (<0: past)
    message: str = "Internal server error"
    after: bool = False  # drop/stall: after the operation ran (its answer is lost), else before
    seconds: float = 5.0


class SimError(Exception):
    pass


class RailwaySim(WatchBackupSim):
    def __init__(
        self,
        clock: SimClock | None = None,
        *,
        advance_per_request: float = 0.0,
        validate: bool = True,
        follow_client_clock: bool = False,
    ) -> None:
        self.clock = clock or SimClock()
        self.advance_per_request = advance_per_request
        # A CLI on KARS_TEST_VIRTUAL_CLOCK=1 announces its time; following it times a replayed deploy exactly.
        self.follow_client_clock = follow_client_clock
        self._client_base: dict[str, float] = {}
        self.validate = validate
        self.lock = threading.RLock()
        self.projects: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.variables: dict[tuple[str, str], dict[str, str]] = {}
        self.deployments: list[SimDeployment] = []
        self.project_tokens: dict[str, tuple[str, str]] = {}
        self.account_tokens: set[str] = set()
        self.known_commits: set[str] | None = None  # None: any sha exists
        self.scripts: dict[tuple[str, str | None], Script] = {}
        self.default_script = Script.success()
        self.rollback_seconds = 15.0
        # How long a replaced deployment stays REMOVING (canRollback false) before it is REMOVED, on top of the
        # service's overlapSeconds + drainingSeconds: Railway stops and tears the old one down after the new one
        # went live, which takes a few seconds even without overlap or draining.
        self.removing_seconds = 8.0
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.requests_per_token: Counter[str] = Counter()
        self.rate_limit: tuple[int, float] | None = None
        self._window: dict[str, tuple[float, int]] = {}
        # Service settings as Railway keeps them: the EnvironmentConfig entry of each (service, environment).
        self.settings: dict[tuple[str, str], dict[str, Any]] = {}
        self.patches: dict[str, list[dict[str, Any]]] = {}  # environment id -> committed patches, oldest first
        self.dropped_settings: set[tuple[str, str]] = set()  # (section, key) Railway accepts and does not keep
        self._hooks: list[_Hook] = []
        # Pull-request environments: the domains Railway gives a service in one environment, and what was deleted.
        self.env_domains: dict[tuple[str, str], str] = {}
        self.deleted_environments: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._watch_state()

    # Seeding ---------------------------------------------------------------------------------------------------

    def add_project(self, name: str) -> str:
        pid = str(uuid.uuid4())
        self.projects[pid] = {"id": pid, "name": name, "prDeploys": False, "baseEnvironmentId": None}
        return pid

    def set_pr_environments(self, project_id: str, on: bool = True, base: str | None = None) -> None:
        """Railway's PR environments for the project (Settings → Environments), forked from ``base``."""
        self.projects[project_id]["prDeploys"] = on
        self.projects[project_id]["baseEnvironmentId"] = base

    def open_pull_request(self, project_id: str, pr: int, head: str) -> str:
        """What Railway does when it hears of a pull request with PR environments on: an ephemeral environment
        ``<project>-pr-<n>`` forked from the base, with Railway's PR metadata, deploying the head to every service."""
        project = self.projects[project_id]
        base = project.get("baseEnvironmentId")
        with self.lock:
            env = self._fork(project_id, f"{project['name']}-pr-{pr}", base, ephemeral=True, pr=pr)
            self._deploy_everywhere(env, head)
        return env

    def push_pull_request(self, pr: int, head: str) -> None:
        """A push to the pull request's branch: Railway deploys the new head in its PR environment."""
        with self.lock:
            env = next(e["id"] for e in self.environments.values() if e.get("pr") == pr and e.get("ephemeral"))
            self._deploy_everywhere(env, head)

    def environment_named(self, name: str) -> str | None:
        return next((e["id"] for e in self.environments.values() if e["name"] == name), None)

    def _fork(self, project_id: str, name: str, source: str | None, *, ephemeral: bool, pr: int | None = None) -> str:
        """A new environment with the source's services, variables, settings and (for services with a domain) a
        domain of its own, as Railway forks one."""
        env = self.add_environment(project_id, name, ephemeral=ephemeral, source=source, pr=pr)
        for sid, service in self.services.items():
            if service["projectId"] != project_id:
                continue
            if source is not None and (sid, source) in self.variables:
                self.variables[(sid, env)] = dict(self.variables[(sid, source)])
            if source is not None and (sid, source) in self.settings:
                self.settings[(sid, env)] = json.loads(json.dumps(self.settings[(sid, source)]))
            if service.get("domain"):
                self.env_domains[(sid, env)] = f"{service['name']}-{name}.up.railway.app"
        return env

    def _deploy_everywhere(self, environment_id: str, commit: str | None) -> None:
        project_id = self.environments[environment_id]["projectId"]
        for sid, service in self.services.items():
            if service["projectId"] == project_id:
                script = self.scripts.get((sid, commit)) or self.scripts.get((sid, None)) or self.default_script
                self._create(sid, environment_id, commit, script, self.clock.monotonic())

    def domain_of(self, service_id: str, environment_id: str) -> str | None:
        env = self.environments.get(environment_id) or {}
        if (service_id, environment_id) in self.env_domains:
            return self.env_domains[(service_id, environment_id)]
        return None if env.get("ephemeral") else self.services[service_id].get("domain")

    def add_environment(
        self, project_id: str, name: str, *, ephemeral: bool = False, source: str | None = None, pr: int | None = None
    ) -> str:
        """An environment; ``ephemeral`` with ``source`` (the environment id it was forked from) is a PR environment."""
        eid = str(uuid.uuid4())
        self.environments[eid] = {
            "id": eid,
            "name": name,
            "projectId": project_id,
            "ephemeral": ephemeral,
            "source": source,
            "pr": pr,
        }
        return eid

    def add_service(
        self,
        project_id: str,
        name: str,
        *,
        domain: str | None = None,
        custom_domain: str | None = None,
        repo: str | None = "kars/app",
        image: str | None = None,
        root_directory: str | None = None,
        config_file: str | None = None,
        healthcheck_path: str | None = None,
    ) -> str:
        """A service; by default connected to the GitHub repository kars/app (``repo=None``: not connected)."""
        sid = str(uuid.uuid4())
        self.services[sid] = {
            "id": sid,
            "name": name,
            "projectId": project_id,
            "domain": domain,
            "custom": custom_domain,
            "repo": repo,
            "image": image,
            "rootDirectory": root_directory,
            "railwayConfigFile": config_file,
            "healthcheckPath": healthcheck_path,
        }
        return sid

    def set_variables(self, service_id: str, environment_id: str, values: dict[str, str]) -> None:
        self.variables[(service_id, environment_id)] = dict(values)

    def add_project_token(self, project_id: str, environment_id: str, token: str | None = None) -> str:
        token = token or f"proj-{uuid.uuid4().hex}"
        self.project_tokens[token] = (project_id, environment_id)
        return token

    def add_account_token(self, token: str | None = None) -> str:
        token = token or f"acct-{uuid.uuid4().hex}"
        self.account_tokens.add(token)
        return token

    def script_for(self, service_id: str, script: Script, commit: str | None = None) -> None:
        self.scripts[(service_id, commit)] = script

    def add_deployment(
        self,
        service_id: str,
        environment_id: str,
        commit: str,
        *,
        status: str = "SUCCESS",
        age: float = 3600.0,
        took: float = 300.0,
        can_rollback: bool = True,
    ) -> str:
        """A deployment from the past: ``took`` seconds to reach ``status``, created ``age`` seconds ago."""
        now = self.clock.monotonic()
        phases: tuple[tuple[str, float | None], ...] = (
            ("BUILDING", took * 0.7),
            ("DEPLOYING", took * 0.3),
            (status, None),
        )
        if status == "SLEEPING":
            # Serverless: it served, then fell asleep ten minutes ago (or half-way, for a young deployment).
            awake = max(1.0, age - took - min(600.0, (age - took) / 2))
            phases = (("BUILDING", took * 0.7), ("DEPLOYING", took * 0.3), ("SUCCESS", awake), ("SLEEPING", None))
        with self.lock:
            self._settle(now - age)
            d = self._create(service_id, environment_id, commit, Script(phases), now - age)
            d.can_rollback = can_rollback
            if status == "REMOVED":
                d.script = Script((("BUILDING", took * 0.7), ("DEPLOYING", took * 0.3), ("SUCCESS", None)))
                d.removed_at = now - age + took + 1
            self._settle(now)
        return d.id

    def deploy_now(self, service_id: str, environment_id: str, commit: str, script: Script | None = None) -> str:
        """Someone else deploys ``commit`` now (the dashboard, Railway's auto-deploy on a push, another job): a
        deployment kars-actions did not make, on its way like any other; once it is live the one it replaces goes
        REMOVING, then REMOVED."""
        with self.lock:
            now = self.clock.monotonic()
            self._settle(now)
            chosen = script or self.scripts.get((service_id, commit)) or self.scripts.get((service_id, None))
            return self._create(service_id, environment_id, commit, chosen or self.default_script, now).id

    def deployment(self, deployment_id: str) -> SimDeployment:
        return next(d for d in self.deployments if d.id == deployment_id)

    def status_of(self, deployment_id: str) -> str:
        with self.lock:
            self._settle(self.clock.monotonic())
            return self.deployment(deployment_id).status(self.clock.monotonic())[0]

    def deployments_of(self, service_id: str, commit: str | None = None) -> list[SimDeployment]:
        return [d for d in self.deployments if d.service_id == service_id and (commit is None or d.commit == commit)]

    # Faults and accounting -----------------------------------------------------------------------------------------

    def inject(self, kind: str, operation: str | None = None, **kwargs: Any) -> Fault:
        fault = Fault(kind, operation, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    @property
    def mutations(self) -> list[Recorded]:
        return [r for r in self.requests if r.mutation]

    def count(self, operation: str) -> int:
        return sum(1 for r in self.requests if r.operation == operation or operation in r.fields)

    # Server --------------------------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> RailwaySim:
        if self.validate:
            load_schema()
        sim = self

        class Handler(QuickHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                sim._handle(self, body)

            def do_GET(self) -> None:
                # Subscriptions: a WebSocket upgrade on the same URL, as Railway serves them.
                from tests.fakes import railway_stream

                if railway_stream.is_upgrade(self):
                    railway_stream.serve(sim, self)
                else:
                    sim._send(self, 405, {"errors": [{"message": "use POST, or a WebSocket for subscriptions"}]})

            def log_message(self, format: str, *args: Any) -> None:
                return

            def date_time_string(self, timestamp: float | None = None) -> str:
                # Railway's clock, as a real server's Date header gives it: the simulated one.
                return email.utils.format_datetime(EPOCH + timedelta(seconds=sim.clock.monotonic()), usegmt=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the simulator first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/graphql/v2"

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RailwaySim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Request handling ---------------------------------------------------------------------------------------------

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _drop(self, handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        with suppress(OSError):
            handler.connection.shutdown(2)

    def _follow(self, header: str) -> None:
        """Move to the client's virtual time (``X-Kars-Virtual-Clock: <session> <seconds>``): each CLI process
        counts from 0, so its time is taken relative to where the simulator stood at its first request."""
        session, _, seconds = header.partition(" ")
        try:
            at = float(seconds)
        except ValueError:
            return
        with self.lock:
            now = self.clock.monotonic()
            base = self._client_base.setdefault(session, now - at)
            self.clock.advance(base + at - now)

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        virtual = handler.headers.get("X-Kars-Virtual-Clock")
        if self.follow_client_clock and virtual:
            self._follow(virtual)
        elif self.advance_per_request:
            self.clock.advance(self.advance_per_request)
        token = handler.headers.get("Project-Access-Token")
        bearer = handler.headers.get("Authorization", "")
        kind, value = ("project", token) if token else ("account", bearer.removeprefix("Bearer ").strip())
        try:
            request = json.loads(body)
            query = request["query"]
            document = parse_query(query)
        except (ValueError, KeyError, TypeError, GraphQLSyntaxError) as error:
            self._record(None, (), False, value, 400)
            self._send(handler, 400, {"errors": [{"message": f"invalid request: {error}"}]})
            return
        op = _operation(document, request.get("operationName"))
        fields = tuple(s.name.value for s in op.selection_set.selections if isinstance(s, FieldNode)) if op else ()
        name = op.name.value if op and op.name else None
        is_mutation = bool(op and op.operation is OperationType.MUTATION)
        fault = self._take_fault(name, fields)
        if fault is not None and fault.kind == "rate_limit":
            self._record(name, fields, is_mutation, value, 429)
            headers = {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0"}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            if fault.reset_in is not None:
                headers["X-RateLimit-Reset"] = f"{time.time() + fault.reset_in:.0f}"
            self._send(handler, 429, {"errors": [{"message": "Rate limit exceeded"}]}, headers)
            return
        limited = self._rate_limited(value)
        if limited is not None:
            self._record(name, fields, is_mutation, value, 429)
            self._send(handler, 429, {"errors": [{"message": "Rate limit exceeded"}]}, limited)
            return
        if fault is not None and fault.kind == "slow":
            self._stop.wait(fault.seconds)
        if fault is not None and not fault.after:
            if fault.kind == "http":
                self._record(name, fields, is_mutation, value, fault.status)
                self._send(handler, fault.status, {"errors": [{"message": fault.message}]})
                return
            if fault.kind == "graphql_error":
                self._record(name, fields, is_mutation, value, 200)
                self._send(handler, 200, {"data": None, "errors": [{"message": fault.message}]})
                return
            if fault.kind in ("drop", "stall"):
                self._record(name, fields, is_mutation, value, 0)
                if fault.kind == "stall":
                    self._stop.wait(fault.seconds)
                self._drop(handler)
                return
        payload = self._execute(query, document, op, request.get("variables") or {}, kind, value)
        self._run_hooks(name, fields)
        if fault is not None and fault.after:
            # The operation ran; its answer never reaches the client.
            self._record(name, fields, is_mutation, value, 0 if fault.kind != "http" else fault.status)
            if fault.kind == "http":
                self._send(handler, fault.status, {"errors": [{"message": fault.message}]})
                return
            if fault.kind == "stall":
                self._stop.wait(fault.seconds)
            self._drop(handler)
            return
        self._record(name, fields, is_mutation, value, 200, request.get("variables") or {})
        self._send(handler, 200, payload, self._limit_headers(value))

    def _record(
        self,
        name: str | None,
        fields: tuple[str, ...],
        mutation: bool,
        token: str,
        status: int,
        variables: dict[str, Any] | None = None,
    ) -> None:
        with self.lock:
            at = self.clock.monotonic()
            self.requests.append(Recorded(name, fields, mutation, token, status, at, dict(variables or {})))
            self.requests_per_token[token] += 1

    def _take_fault(self, name: str | None, fields: tuple[str, ...]) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and (
                    fault.operation is None or fault.operation == name or fault.operation in fields
                ):
                    fault.count -= 1
                    return fault
        return None

    def _rate_limited(self, token: str) -> dict[str, str] | None:
        if self.rate_limit is None:
            return None
        limit, window = self.rate_limit
        now = self.clock.monotonic()
        with self.lock:
            start, used = self._window.get(token, (now, 0))
            if now >= start + window:
                start, used = now, 0
            if used >= limit:
                wait = math.ceil(start + window - now)
                return {"Retry-After": str(max(1, wait)), "X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"}
            self._window[token] = (start, used + 1)
        return None

    def _limit_headers(self, token: str) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        limit, _ = self.rate_limit
        _, used = self._window.get(token, (0.0, 0))
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - used))}

    def _execute(
        self,
        query: str,
        document: DocumentNode,
        op: OperationDefinitionNode | None,
        variables: dict[str, Any],
        kind: str,
        token: str,
    ) -> dict[str, Any]:
        if self.validate:
            errors = schema_errors(query)
            if errors:
                return {"data": None, "errors": [{"message": message} for message in errors]}
        if op is None:
            return {"data": None, "errors": [{"message": "Unknown operation"}]}
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        data: dict[str, Any] = {}
        with self.lock:
            self._settle(self.clock.monotonic())
            try:
                for selection in op.selection_set.selections:
                    if not isinstance(selection, FieldNode):
                        raise SimError("the simulator expects plain top-level fields")
                    args = {a.name.value: value_from_ast_untyped(a.value, variables) for a in selection.arguments or ()}
                    resolver: Callable[..., Any] | None = getattr(self, f"_r_{selection.name.value}", None)
                    if resolver is None:
                        raise SimError(f"the simulator does not implement {selection.name.value}")
                    value = resolver(_Auth(kind, token, self), **args)
                    key = selection.alias.value if selection.alias else selection.name.value
                    data[key] = _select(value, selection.selection_set, fragments)
            except SimError as error:
                return {"data": None, "errors": [{"message": str(error)}]}
            except Exception as error:  # noqa: BLE001 - a simulator bug must show up in the test, not hang it
                return {"data": None, "errors": [{"message": f"simulator error: {type(error).__name__}: {error}"}]}
        return {"data": data}

    # State ----------------------------------------------------------------------------------------------------------

    def _create(
        self,
        service_id: str,
        environment_id: str,
        commit: str | None,
        script: Script,
        created: float,
        extra: dict[str, Any] | None = None,
    ) -> SimDeployment:
        service = self.services[service_id]
        d = SimDeployment(
            str(uuid.uuid4()),
            service["projectId"],
            environment_id,
            service_id,
            commit,
            created,
            script,
            extra_meta=extra or {},
        )
        self.deployments.append(d)
        return d

    def _settle(self, now: float) -> None:
        """A deployment that reached SUCCESS replaces the older live deployments of its service: they go REMOVING,
        keep serving for the service's ``overlapSeconds``, drain for its ``drainingSeconds``, are torn down for
        ``removing_seconds``, then are REMOVED (canRollback is false until then)."""
        for d in sorted(self.deployments, key=lambda x: x.created):
            status, since = d.natural(now)
            if d.promoted_at is None and status in LIVE and d.removed_at is None:
                d.promoted_at = since
                self._on_promoted(d)
                deploy = self._instance_settings(d.service_id, d.environment_id).get("deploy") or {}
                overlap = float(deploy.get("overlapSeconds") or 0)
                draining = float(deploy.get("drainingSeconds") or 0)
                for other in self.deployments:
                    if (
                        other is not d
                        and other.service_id == d.service_id
                        and other.environment_id == d.environment_id
                        and other.created < d.created
                        and other.removed_at is None
                        and other.promoted_at is not None
                    ):
                        other.removing_at = since
                        other.stops_serving_at = since + overlap
                        other.removed_at = since + overlap + draining + self.removing_seconds

    def _iso(self, t: float) -> str:
        return (EPOCH + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")

    def _node(self, d: SimDeployment) -> dict[str, Any]:
        now = self.clock.monotonic()
        status, since = d.status(now)
        domain = self.domain_of(d.service_id, d.environment_id)
        return {
            "id": d.id,
            "status": status,
            "createdAt": self._iso(d.created),
            "updatedAt": self._iso(since),
            "statusUpdatedAt": self._iso(since),
            "meta": {"commitHash": d.commit, **d.extra_meta} if d.commit else dict(d.extra_meta),
            "canRollback": d.can_rollback and status in ("REMOVED", *LIVE),
            "canRedeploy": True,
            "url": None,
            "staticUrl": domain,
            "serviceId": d.service_id,
            "projectId": d.project_id,
            "environmentId": d.environment_id,
            "instances": self.instances_of(d, now),
        }

    # Resolvers (one per top-level field; arguments as in the schema) ---------------------------------------------

    def _r_projectToken(self, auth: _Auth) -> dict[str, Any]:
        scope = auth.project_scope(for_project_token_query=True)
        return {"projectId": scope[0], "environmentId": scope[1]}

    def _r_project(self, auth: _Auth, id: str) -> dict[str, Any]:
        auth.allow(id)
        project = self.projects.get(id)
        if project is None:
            raise SimError("Project not found")
        envs = [e for e in self.environments.values() if e["projectId"] == id]
        services = [s for s in self.services.values() if s["projectId"] == id]
        return {
            **project,
            "services": {"edges": [{"node": {"id": s["id"], "name": s["name"]}} for s in services]},
            "environments": {"edges": [{"node": self._env_summary(e)} for e in envs]},
        }

    def _env_summary(self, env: dict[str, Any]) -> dict[str, Any]:
        source = self.environments.get(env.get("source") or "")
        return {
            "id": env["id"],
            "name": env["name"],
            "projectId": env["projectId"],
            "isEphemeral": bool(env.get("ephemeral")),
            "meta": {"prNumber": env.get("pr"), "branch": None},
            "sourceEnvironment": {"id": source["id"], "name": source["name"]} if source else None,
        }

    def _r_projects(self, auth: _Auth, **_: Any) -> dict[str, Any]:
        if auth.kind != "account":
            raise SimError("Not Authorized")
        auth.allow(None)
        return {"edges": [{"node": {"id": p["id"], "name": p["name"]}} for p in self.projects.values()]}

    def _r_serviceInstance(self, auth: _Auth, serviceId: str, environmentId: str) -> dict[str, Any]:
        service = self.services.get(serviceId)
        if service is None:
            raise SimError("Service not found")
        auth.allow(service["projectId"], environmentId)
        now = self.clock.monotonic()
        mine = sorted(
            (d for d in self.deployments if d.service_id == serviceId and d.environment_id == environmentId),
            key=lambda d: d.created,
            reverse=True,
        )
        return {
            "id": f"{serviceId}:{environmentId}",
            "serviceName": service["name"],
            "rootDirectory": service.get("rootDirectory"),
            "railwayConfigFile": service.get("railwayConfigFile"),
            "healthcheckPath": service.get("healthcheckPath"),
            "source": {"repo": service.get("repo"), "image": service.get("image")}
            if service.get("repo") or service.get("image")
            else None,
            "latestDeployment": self._node(mine[0]) if mine else None,
            "activeDeployments": [self._node(d) for d in mine if d.status(now)[0] in LIVE],
            "domains": {
                "serviceDomains": [{"domain": domain}] if (domain := self.domain_of(serviceId, environmentId)) else [],
                "customDomains": [{"domain": service["custom"]}]
                if service.get("custom") and not self.environments.get(environmentId, {}).get("ephemeral")
                else [],
            },
        }

    def _r_deployments(self, auth: _Auth, input: dict[str, Any], first: int | None = None, **_: Any) -> dict[str, Any]:
        auth.allow(input.get("projectId"), input.get("environmentId"))
        now = self.clock.monotonic()
        wanted = [
            d
            for d in sorted(self.deployments, key=lambda d: d.created, reverse=True)
            if all(
                input.get(k) in (None, getattr(d, a))
                for k, a in (
                    ("projectId", "project_id"),
                    ("environmentId", "environment_id"),
                    ("serviceId", "service_id"),
                )
            )
        ]
        status = input.get("status") or {}
        if status.get("in"):
            wanted = [d for d in wanted if d.status(now)[0] in status["in"]]
        if status.get("notIn"):
            wanted = [d for d in wanted if d.status(now)[0] not in status["notIn"]]
        return {"edges": [{"node": self._node(d)} for d in wanted[: first or 100]]}

    def _find(self, auth: _Auth, deployment_id: str) -> SimDeployment:
        d = next((x for x in self.deployments if x.id == deployment_id), None)
        if d is None:
            raise SimError("Deployment not found")
        auth.allow(d.project_id, d.environment_id)
        return d

    def _r_deployment(self, auth: _Auth, id: str) -> dict[str, Any]:
        return self._node(self._find(auth, id))

    def _r_variables(
        self,
        auth: _Auth,
        projectId: str,
        environmentId: str,
        serviceId: str | None = None,
        **_: Any,
    ) -> dict[str, str]:
        auth.allow(projectId, environmentId)
        return dict(self.variables.get((serviceId or "", environmentId), {}))

    def _r_deploymentEvents(self, auth: _Auth, id: str, **_: Any) -> dict[str, Any]:
        d = self._find(auth, id)
        now = self.clock.monotonic()
        status, since = d.status(now)
        if status in ("BUILDING", "QUEUED", "DEPLOYING"):
            return {"edges": []}
        if d.script.events:
            nodes = [
                {"id": f"{d.id}-{i}", "createdAt": self._iso(d.created), "completedAt": self._iso(since), **e}
                for i, e in enumerate(d.script.events)
            ]
        else:
            nodes = self._phase_events(d, now)
        return {"edges": [{"node": n} for n in nodes]}

    def _phase_events(self, d: SimDeployment, now: float) -> list[dict[str, Any]]:
        """A deployment that went well tells its steps with their times, as Railway's deploymentEvents do."""
        steps = {"QUEUED": "QUEUE", "BUILDING": "BUILD_IMAGE", "DEPLOYING": "HEALTHCHECK"}
        out = []
        at = d.created
        for i, (status, seconds) in enumerate(d.script.phases):
            if seconds is None or status not in steps or at + seconds > now:
                break
            out.append(
                {
                    "id": f"{d.id}-{i}",
                    "step": steps[status],
                    "createdAt": self._iso(at),
                    "completedAt": self._iso(at + seconds),
                    "payload": {"error": None, "reason": None, "detail": None, "attempt": None, "maxAttempts": None},
                }
            )
            at += seconds
        return out

    def _logs(self, auth: _Auth, deployment_id: str, limit: int | None, build: bool) -> list[dict[str, Any]]:
        d = self._find(auth, deployment_id)
        lines = d.script.build_logs if build else d.script.deploy_logs
        return [{"message": m, "severity": "info", "timestamp": self._iso(d.created)} for m in lines][-(limit or 100) :]

    def _r_buildLogs(self, auth: _Auth, deploymentId: str, limit: int | None = None, **_: Any) -> list[dict[str, Any]]:
        return self._logs(auth, deploymentId, limit, True)

    def _r_deploymentLogs(
        self, auth: _Auth, deploymentId: str, limit: int | None = None, **_: Any
    ) -> list[dict[str, Any]]:
        return self._logs(auth, deploymentId, limit, False)

    def _r_serviceInstanceDeployV2(
        self,
        auth: _Auth,
        serviceId: str,
        environmentId: str,
        commitSha: str | None = None,
    ) -> str:
        service = self.services.get(serviceId)
        if service is None:
            raise SimError("Service not found")
        auth.allow(service["projectId"], environmentId)
        if commitSha and self.known_commits is not None and commitSha not in self.known_commits:
            raise SimError("Commit not found")
        script = self.scripts.get((serviceId, commitSha)) or self.scripts.get((serviceId, None)) or self.default_script
        return self._create(serviceId, environmentId, commitSha, script, self.clock.monotonic()).id

    def _r_deploymentCancel(self, auth: _Auth, id: str) -> bool:
        d = self._find(auth, id)
        status, _ = d.status(self.clock.monotonic())
        if status not in ("QUEUED", "WAITING", "INITIALIZING", "BUILDING", "DEPLOYING", "NEEDS_APPROVAL"):
            raise SimError("Deployment cannot be cancelled")
        d.removed_at = self.clock.monotonic()
        d.can_rollback = False  # it never served: there is nothing to roll back to
        return True

    def _r_deploymentRollback(self, auth: _Auth, id: str) -> bool:
        self.rollback_requested_at.append(self.clock.monotonic())
        d = self._find(auth, id)
        if not self._node(d)["canRollback"]:
            raise SimError("Deployment cannot be rolled back")
        script = Script((("DEPLOYING", self.rollback_seconds), ("SUCCESS", None)))
        self._create(d.service_id, d.environment_id, d.commit, script, self.clock.monotonic(), {"rollbackFrom": d.id})
        return True

    # Environment config: service settings, patches, and edits by someone else ----------------------------------
    # Railway keeps each service instance's settings in the environment's EnvironmentConfig, keyed by service id.
    # A patch is deep-merged into it (null removes an entry); configEtag is a digest of the whole config, so it
    # changes with every change, whoever made it.

    def set_settings(self, service_id: str, environment_id: str, settings: dict[str, Any]) -> None:
        """Seed a service instance's settings (``{"build": {...}, "deploy": {...}, "configFile": ...}``)."""
        with self.lock:
            self.settings[(service_id, environment_id)] = json.loads(json.dumps(settings))

    def settings_of(self, service_id: str, environment_id: str) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self._instance_settings(service_id, environment_id)))

    def edit_settings(
        self, environment_id: str, patch: dict[str, Any], message: str = "Edited in the dashboard"
    ) -> None:
        """Someone else changes the environment now (the dashboard, the CLI, another job)."""
        with self.lock:
            self._commit_patch(environment_id, patch, message)

    def edit_after(
        self, operation: str, environment_id: str, patch: dict[str, Any], *, times: int = 1, message: str = "Edited"
    ) -> None:
        """Someone else edits the environment right after ``operation`` has been served ``times`` times."""
        with self.lock:
            self._hooks.append(_Hook(operation, times, lambda: self._commit_patch(environment_id, patch, message)))

    def after(self, operation: str, action: Callable[[], Any], *, times: int = 1) -> None:
        """Run ``action`` right after ``operation`` has been served ``times`` times: trouble that starts once a
        deploy is under way, say."""
        with self.lock:
            self._hooks.append(_Hook(operation, times, action))

    def config_etag(self, environment_id: str) -> str:
        with self.lock:
            return _etag(self._environment_config(environment_id))

    def _run_hooks(self, name: str | None, fields: tuple[str, ...]) -> None:
        with self.lock:
            for hook in list(self._hooks):
                if hook.operation == name or hook.operation in fields:
                    hook.remaining -= 1
                    if hook.remaining == 0:
                        self._hooks.remove(hook)
                        hook.action()

    def _instance_settings(self, service_id: str, environment_id: str) -> dict[str, Any]:
        key = (service_id, environment_id)
        if key not in self.settings:
            # What a new service instance holds: Railway's default builder and nothing else of the file's kind.
            self.settings[key] = {
                "source": {"repo": "kars/kars-app", "branch": "main"},
                "build": {"builder": "RAILPACK"},
                "deploy": {},
            }
        return self.settings[key]

    def _environment_config(self, environment_id: str) -> dict[str, Any]:
        project_id = self.environments[environment_id]["projectId"]
        services = {
            sid: self._instance_settings(sid, environment_id)
            for sid, service in self.services.items()
            if service["projectId"] == project_id
        }
        return {"services": services, "sharedVariables": {}, "volumes": {}, "buckets": {}}

    def _commit_patch(self, environment_id: str, patch: Any, message: str | None) -> str:
        if not isinstance(patch, dict):
            raise SimError("Invalid EnvironmentConfig patch: expected an object")
        project_id = self.environments[environment_id]["projectId"]
        services = patch.get("services") or {}
        if not isinstance(services, dict):
            raise SimError("Invalid EnvironmentConfig patch: services must be an object keyed by service id")
        for sid, entry in services.items():
            service = self.services.get(sid)
            if service is None or service["projectId"] != project_id:
                raise SimError(f"Service {sid} not found in environment")
            if not isinstance(entry, dict):
                raise SimError(f"Invalid EnvironmentConfig patch at services.{sid}: expected an object")
            _check_settings(sid, entry)
        # Railway validates the whole patch before it changes anything.
        for sid, entry in services.items():
            kept = {
                section: (
                    {k: v for k, v in value.items() if (section, k) not in self.dropped_settings}
                    if isinstance(value, dict)
                    else value
                )
                for section, value in entry.items()
            }
            _deep_merge(self._instance_settings(sid, environment_id), kept)
        patch_id = str(uuid.uuid4())
        self.patches.setdefault(environment_id, []).append(
            {
                "id": patch_id,
                "environmentId": environment_id,
                "message": message,
                "patch": json.loads(json.dumps(patch)),
                "status": "COMMITTED",
                "createdAt": self._iso(self.clock.monotonic()),
                "appliedAt": self._iso(self.clock.monotonic()),
            }
        )
        return patch_id

    def _env_node(self, environment_id: str) -> dict[str, Any]:
        env = self.environments[environment_id]
        source = self.environments.get(env.get("source") or "")
        config = self._environment_config(environment_id)
        return {
            "id": env["id"],
            "name": env["name"],
            "projectId": env["projectId"],
            "isEphemeral": bool(env.get("ephemeral")),
            "sourceEnvironment": {"id": source["id"], "name": source["name"]} if source else None,
            "meta": {"prNumber": env.get("pr"), "branch": None},
            "config": json.loads(json.dumps(config)),
            "configEtag": _etag(config),
            "volumeInstances": self.volume_instances_of(environment_id),
        }

    def _r_environmentCreate(self, auth: _Auth, input: dict[str, Any]) -> dict[str, Any]:
        """Railway's environmentCreate: a fork of sourceEnvironmentId (services, variables, settings), ephemeral
        when asked; it deploys what the source runs unless skipInitialDeploys. Project tokens may not."""
        if auth.kind != "account":
            raise SimError("Not Authorized")
        project_id = str(input.get("projectId") or "")
        auth.allow(project_id)
        if project_id not in self.projects:
            raise SimError("Project not found")
        name = str(input.get("name") or "")
        if not name or any(e["name"] == name and e["projectId"] == project_id for e in self.environments.values()):
            raise SimError(f"Environment {name!r} already exists" if name else "name is required")
        source = input.get("sourceEnvironmentId")
        if source is not None and source not in self.environments:
            raise SimError("Source environment not found")
        env = self._fork(project_id, name, source, ephemeral=bool(input.get("ephemeral")))
        if source is not None and not input.get("skipInitialDeploys"):
            for sid in [x for x, svc in self.services.items() if svc["projectId"] == project_id]:
                served = [d for d in self.deployments if d.service_id == sid and d.environment_id == source]
                if served:
                    commit = max(served, key=lambda d: d.created).commit
                    self._create(sid, env, commit, self.default_script, self.clock.monotonic())
        return self._env_node(env)

    def _r_environmentDelete(self, auth: _Auth, id: str) -> bool:
        env = self.environments.get(id)
        if env is None:
            raise SimError("Environment not found")
        if auth.kind != "account":
            raise SimError("Not Authorized")
        auth.allow(env["projectId"])
        now = self.clock.monotonic()
        for d in self.deployments:
            if d.environment_id == id and d.removed_at is None:
                d.removed_at = now
        self.deleted_environments.append(self.environments.pop(id))
        return True

    def _r_environment(self, auth: _Auth, id: str, projectId: str | None = None) -> dict[str, Any]:
        env = self.environments.get(id)
        if env is None:
            raise SimError("Environment not found")
        auth.allow(env["projectId"], id)
        return self._env_node(id)

    def _r_environmentPatches(
        self, auth: _Auth, environmentId: str, first: int | None = None, **_: Any
    ) -> dict[str, Any]:
        env = self.environments.get(environmentId)
        if env is None:
            raise SimError("Environment not found")
        auth.allow(env["projectId"], environmentId)
        newest_first = list(reversed(self.patches.get(environmentId, [])))[: first or 100]
        return {
            "edges": [{"cursor": p["id"], "node": p} for p in newest_first],
            "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
        }

    def _r_environmentPatchCommit(
        self, auth: _Auth, environmentId: str, patch: Any = None, commitMessage: str | None = None
    ) -> str:
        env = self.environments.get(environmentId)
        if env is None:
            raise SimError("Environment not found")
        auth.allow(env["projectId"], environmentId)
        return self._commit_patch(environmentId, patch or {}, commitMessage)

    def _r_serviceInstanceUpdate(
        self, auth: _Auth, serviceId: str, input: dict[str, Any], environmentId: str | None = None
    ) -> bool:
        service = self.services.get(serviceId)
        if service is None:
            raise SimError("Service not found")
        if environmentId is None:
            raise SimError("environmentId is required")
        auth.allow(service["projectId"], environmentId)
        entry: dict[str, Any] = {}
        for key, value in input.items():
            if key == "railwayConfigFile":
                if value:
                    raise SimError(
                        "Config as Code (railway.json / railway.toml) is deprecated. Use Infrastructure as Code "
                        "(.railway/railway.ts) instead"
                    )
                entry["configFile"] = None
            elif key in _BUILD_INPUTS:
                entry.setdefault("build", {})[key] = value
            else:
                entry.setdefault("deploy", {})[key] = value
        self._commit_patch(environmentId, {"services": {serviceId: entry}}, None)
        # serviceInstanceUpdate writes the settings directly: it leaves no patch in the history.
        self.patches[environmentId].pop()
        return True


@dataclass
class _Auth:
    kind: str
    token: str
    sim: RailwaySim

    def project_scope(self, for_project_token_query: bool = False) -> tuple[str, str]:
        if self.kind != "project" or self.token not in self.sim.project_tokens:
            raise SimError("Project Token not found")
        return self.sim.project_tokens[self.token]

    def allow(self, project_id: str | None, environment_id: str | None = None) -> None:
        if self.kind == "account":
            if self.token not in self.sim.account_tokens:
                raise SimError("Not Authorized")
            return
        scope = self.sim.project_tokens.get(self.token)
        if scope is None or (project_id and project_id != scope[0]) or (environment_id and environment_id != scope[1]):
            raise SimError("Not Authorized")


_BUILD_INPUTS = frozenset({"builder", "buildCommand", "dockerfilePath", "watchPatterns", "nixpacksPlan"})
_ENUMS = {
    ("build", "builder"): {"NIXPACKS", "DOCKERFILE", "RAILPACK", "HEROKU", "PAKETO"},
    ("build", "buildEnvironment"): {"V2", "V3"},
    ("deploy", "restartPolicyType"): {"ON_FAILURE", "ALWAYS", "NEVER"},
    ("deploy", "runtime"): {"UNSPECIFIED", "LEGACY", "V2"},
}
_INTEGERS = {"healthcheckTimeout", "numReplicas", "restartPolicyMaxRetries", "overlapSeconds", "drainingSeconds"}


@dataclass
class _Hook:
    operation: str
    remaining: int
    action: Callable[[], Any]


def _etag(config: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]


def _check_settings(service_id: str, entry: dict[str, Any]) -> None:
    """What Railway's EnvironmentConfig schema refuses: wrong enums, fractional seconds, a non-list preDeploy."""
    if entry.get("configFile"):
        raise SimError("Config as Code (railway.json / railway.toml) is deprecated. Use Infrastructure as Code instead")
    for section in ("build", "deploy"):
        values = entry.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise SimError(f"Invalid config at services.{service_id}.{section}: expected an object")
        for key, value in values.items():
            where = f"services.{service_id}.{section}.{key}"
            allowed = _ENUMS.get((section, key))
            if allowed and value is not None and value not in allowed:
                raise SimError(f"Invalid config at {where}: {value!r} is not one of {sorted(allowed)}")
            if key in _INTEGERS and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise SimError(f"Invalid config at {where}: expected an integer")
            if (
                key == "preDeployCommand"
                and value is not None
                and not (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                raise SimError(f"Invalid config at {where}: expected a list of strings")


def _deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Railway's patch semantics: objects merge key by key, null removes the entry, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        elif isinstance(value, dict):
            fresh: dict[str, Any] = {}
            _deep_merge(fresh, value)
            target[key] = fresh
        else:
            target[key] = json.loads(json.dumps(value))


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return next((o for o in ops if o.name and o.name.value == name), None)
    return ops[0] if len(ops) == 1 else None


def _select(value: Any, selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]) -> Any:
    """Keep only what the document asked for, as a GraphQL server would."""
    if selection_set is None or value is None:
        return value
    if isinstance(value, list):
        return [_select(v, selection_set, fragments) for v in value]
    out: dict[str, Any] = {}
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            key = selection.alias.value if selection.alias else name
            if name == "__typename":
                out[key] = "Object"
                continue
            if name not in value:
                raise SimError(f"the simulator does not serve field {name}")
            out[key] = _select(value[name], selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            out.update(_select(value, fragments[selection.name.value].selection_set, fragments))
        elif isinstance(selection, InlineFragmentNode):
            out.update(_select(value, selection.selection_set, fragments))
    return out


@contextmanager
def running(sim: RailwaySim) -> Iterator[RailwaySim]:
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def demo(sim: RailwaySim) -> dict[str, str]:
    """A project shaped like the reference app: api + web in production, each with a live deployment."""
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    api = sim.add_service(project, "api", domain="api-production.up.railway.app")
    web = sim.add_service(project, "web", domain="web-production.up.railway.app")
    sim.set_variables(api, env, {"DATABASE_URL": "postgres://sim", "PORT": "3000"})
    sim.add_deployment(api, env, "0" * 40)
    sim.add_deployment(web, env, "0" * 40)
    return {
        "project_id": project,
        "environment_id": env,
        "project_token": sim.add_project_token(project, env, "sim-project-token"),
        "account_token": sim.add_account_token("sim-account-token"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Railway GraphQL API simulator (loopback only).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--advance-per-request",
        type=float,
        default=5.0,
        help="simulated seconds each request moves the clock (default 5)",
    )
    args = parser.parse_args(argv)
    sim = RailwaySim(advance_per_request=args.advance_per_request)
    info = demo(sim)
    sim.start(args.port)
    print(json.dumps({"endpoint": sim.url, **info}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
