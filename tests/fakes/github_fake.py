"""An in-memory GitHub REST API on 127.0.0.1 that the client talks to through GITHUB_API_URL.

It keeps refs, annotated tag objects, commits (seeded by the test, with the files each one changes), releases,
deployments and their statuses, answers with the JSON shapes GitHub documents, and reproduces GitHub's awkward
corners: drafts invisible to ``GET /releases/tags/{tag}`` and, for tokens without ``contents: write``, to every
listing; ``make_latest`` as ``true`` / ``false`` / ``legacy`` (newest created, then the higher version);
deployments listed newest first; ``auto_inactive`` (prior non-transient deployments that were ``success``);
422 "Reference already exists"; 403 "Resource not accessible by integration" with
``X-Accepted-GitHub-Permissions`` when a permission is off; the 404 for a release create or update whose
``target_commitish`` is a commit changing ``.github/workflows/`` (that needs a ``workflows`` permission
``GITHUB_TOKEN`` never has); pull requests whose head moves with each push (and forks'), their issue comments —
listed oldest first, written with either ``issues`` or ``pull_requests`` write, at most 65,536 characters — and the
tree each commit records; and rate limits with ``x-ratelimit-*`` / ``retry-after`` headers.

Immutable releases (``immutable_releases = True``, as a repository or organisation turns them on): a published
release says ``"immutable": true`` (drafts stay mutable, ``false``) and its tag can be neither moved nor deleted
(422, "Repository rule violations found … protected ref"); a deleted immutable release leaves its tag name used up
for good: creating the ref is refused ("Cannot create ref due to creations being restricted", the REST form of the
GH013 a ``git push`` meets), a release for it is refused ("tag_name was used by an immutable release"), and a draft
for it cannot be published ("Published releases must have a valid tag"). ``ruleset_tags`` are tags a ruleset keeps
in place (moving or deleting them is refused the same way).

Every request is recorded with its headers. Hooks run before a request is handled, so a test can let "another
job" act in between; faults answer a chosen request with an error; gates hold requests until several arrived, so
two runs can be forced to interleave.

Run standalone: ``python -m tests.fakes.github_fake --port 8123 [--repo owner/name] [--commit SHA ...]``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.quick_handler import QuickHandler

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
NOT_ACCESSIBLE = "Resource not accessible by integration"
WORKFLOWS_DIR = ".github/workflows/"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _semver_key(tag: str) -> tuple[int, ...] | None:
    """A final version's order (``v1.2.3`` → (1, 2, 3)); None for prereleases and other tags."""
    match = re.fullmatch(r"[^0-9]*(\d+)\.(\d+)\.(\d+)", tag)
    return tuple(int(g) for g in match.groups()) if match else None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0  # the answer's HTTP status, once it was handled
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass
class RateLimit:
    remaining_requests: int  # how many of the next requests are refused
    status: int = 403
    reset_after: float = 60.0
    retry_after: int | None = None
    secondary: bool = False


@dataclass
class Hook:
    method: str
    pattern: re.Pattern[str]
    action: Callable[[GitHubFake], None]
    once: bool = True


@dataclass
class Fault:
    """Answer matching requests with an error instead of handling them (``times`` requests, then gone)."""

    method: str
    pattern: re.Pattern[str]
    status: int
    message: str
    when: Callable[[Any], bool] | None = None
    times: int = 1


@dataclass
class Gate:
    """Hold matching requests until ``parties`` of them have arrived, then let them all through at once."""

    method: str
    pattern: re.Pattern[str]
    barrier: threading.Barrier
    when: Callable[[Any], bool] | None = None


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}


def _tag_name_refused(message: str) -> ApiError:
    """GitHub's 422 for a release whose tag name an immutable release used up."""
    return ApiError(
        422, "Validation Failed", [{"resource": "Release", "code": "custom", "field": "tag_name", "message": message}]
    )


class GitHubFake:
    """The fake's state and its HTTP server. Use as a context manager or call ``start()``/``stop()``."""

    def __init__(self, repository: str = "kars/app", *, token: str | None = "ghs_fake_token", port: int = 0) -> None:
        self.repository = repository
        self.token = token
        self._port = port
        self.lock = threading.RLock()
        self.commits: set[str] = set()
        self.commit_files: dict[str, list[str]] = {}  # sha -> the paths the commit changes
        self.refs: dict[str, dict[str, str]] = {}  # "refs/tags/v1" -> {"type": "tag"|"commit", "sha": ...}
        self.tag_objects: dict[str, dict[str, Any]] = {}
        self.releases: dict[int, dict[str, Any]] = {}
        self.deployments: dict[int, dict[str, Any]] = {}
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}  # issue comments by id; "issue" is the PR's number
        self.trees: dict[str, str] = {}  # commit sha -> the sha of the tree it records
        # True: write; False: read only (GITHUB_TOKEN never has `workflows`). A pull request's comments are issue
        # comments: GitHub lets either `issues` or `pull_requests` write them.
        self.permissions: dict[str, bool] = {
            "contents": True,
            "deployments": True,
            "workflows": False,
            "issues": False,
            "pull_requests": True,
        }
        # A user's token sees its permissions on the repository; an installation token (GITHUB_TOKEN) does not.
        self.user_token = False
        self.immutable_releases = False  # the repository's immutable-releases setting
        self.used_up: set[str] = set()  # tag names a deleted immutable release used up for good
        self.ruleset_tags: set[str] = set()  # tags a ruleset protects from updates and deletion
        self.requests: list[RecordedRequest] = []
        self.rate_limit: RateLimit | None = None
        self.hooks: list[Hook] = []
        self.faults: list[Fault] = []
        self.gates: list[Gate] = []
        self._created = 0  # a creation clock: every release and deployment is one second younger than the last
        self._next_id = 1000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> GitHubFake:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="github-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GitHubFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def repo_url(self) -> str:
        return f"{self.url}/repos/{self.repository}"

    @property
    def html_base(self) -> str:
        return f"https://github.example/{self.repository}"

    # Seeding and inspection -------------------------------------------------------------------------------------
    def _id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def add_commit(self, *shas: str, files: list[str] | None = None) -> None:
        with self.lock:
            self.commits.update(shas)
            for sha in shas:
                self.commit_files[sha] = list(files or [])

    def add_tag(self, name: str, sha: str, *, annotated: bool = True) -> None:
        """A tag some earlier run (or a person) created."""
        with self.lock:
            self.commits.add(sha)
            if annotated:
                obj = self._make_tag_object(name, f"Release {name}", sha)
                self.refs[f"refs/tags/{name}"] = {"type": "tag", "sha": obj["sha"]}
            else:
                self.refs[f"refs/tags/{name}"] = {"type": "commit", "sha": sha}

    def add_release(
        self,
        tag: str,
        *,
        draft: bool = True,
        prerelease: bool = False,
        target: str = "main",
        name: str | None = None,
        body: str = "",
    ) -> dict[str, Any]:
        with self.lock:
            return self._make_release(
                {
                    "tag_name": tag,
                    "draft": draft,
                    "prerelease": prerelease,
                    "target_commitish": target,
                    "name": name or tag,
                    "body": body,
                }
            )

    def add_used_up(self, tag: str) -> None:
        """An immutable release of ``tag`` was published, then deleted with its tag: the name is used up for good."""
        with self.lock:
            self.used_up.add(tag)
            self.refs.pop(f"refs/tags/{tag}", None)

    def locked(self, tag: str) -> bool:
        """Whether a published immutable release holds ``tag`` in place."""
        with self.lock:
            return any(r["tag_name"] == tag and r["immutable"] and not r["draft"] for r in self.releases.values())

    def add_deployment(
        self,
        environment: str,
        sha: str,
        *,
        state: str | None = "success",
        transient: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.commits.add(sha)
            body = {"ref": sha, "environment": environment, "transient_environment": transient, "payload": payload}
            deployment = self._make_deployment(body, sha)
            if state:
                self._make_status(deployment["id"], {"state": state, "auto_inactive": False})
            return deployment

    def add_status(self, deployment_id: int, state: str, *, auto_inactive: bool = True) -> dict[str, Any]:
        """A status on an existing deployment, as another workflow (or a later release) would post it."""
        with self.lock:
            return self._make_status(deployment_id, {"state": state, "auto_inactive": auto_inactive})

    def add_pull(
        self, number: int, head: str, *, fork: bool = False, head_ref: str = "feature", base_ref: str = "main"
    ) -> dict[str, Any]:
        """An open pull request; ``fork``: its head lives in another repository (a contributor's fork)."""
        with self.lock:
            self.commits.add(head)
            head_repo = f"contributor/{self.repository.split('/')[1]}" if fork else self.repository
            self.pulls[number] = {
                "number": number,
                "state": "open",
                "merged": False,
                "html_url": f"{self.html_base}/pull/{number}",
                "head": {"sha": head, "ref": head_ref, "repo": {"full_name": head_repo}},
                "base": {"ref": base_ref, "repo": {"full_name": self.repository}},
            }
            return self.pulls[number]

    def push(self, number: int, sha: str) -> None:
        """A push to the pull request's branch: its head moves."""
        with self.lock:
            self.commits.add(sha)
            self.pulls[number]["head"]["sha"] = sha

    def close_pull(self, number: int, *, merged: bool = False) -> None:
        with self.lock:
            self.pulls[number]["state"] = "closed"
            self.pulls[number]["merged"] = merged

    def set_tree(self, sha: str, tree: str) -> None:
        """The tree ``sha`` records (two commits with the same tree hold the same files)."""
        with self.lock:
            self.commits.add(sha)
            self.trees[sha] = tree

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in sorted(self.comments.values(), key=lambda c: c["id"]) if c["issue"] == number]

    def tag_commit(self, name: str) -> str | None:
        """The commit a tag ref ends at (annotated tags peeled)."""
        with self.lock:
            ref = self.refs.get(f"refs/tags/{name}")
            if ref is None:
                return None
            if ref["type"] == "tag":
                return str(self.tag_objects[ref["sha"]]["object"]["sha"])
            return ref["sha"]

    def releases_for(self, tag: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.releases.values() if r["tag_name"] == tag]

    def writes(self) -> list[RecordedRequest]:
        """Write requests the fake carried out (2xx): what changed the repository's state."""
        return [r for r in self.requests if r.is_write and 200 <= r.status < 300]

    def write_attempts(self) -> list[RecordedRequest]:
        """Every write request, refused ones included (a permission probe GitHub answers 403 or 422)."""
        return [r for r in self.requests if r.is_write]

    def on(self, method: str, path_regex: str, action: Callable[[GitHubFake], None], *, once: bool = True) -> None:
        """Run ``action(fake)`` just before a matching request is handled (e.g. another job wins a race)."""
        self.hooks.append(Hook(method.upper(), re.compile(path_regex), action, once))

    def fail(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 502,
        message: str = "Server Error",
        when: Callable[[Any], bool] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests (whose body passes ``when``) with ``status``."""
        self.faults.append(Fault(method.upper(), re.compile(path_regex), status, message, when, times))

    def gate(
        self,
        method: str,
        path_regex: str,
        parties: int = 2,
        *,
        when: Callable[[Any], bool] | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Hold matching requests (whose body passes ``when``) until ``parties`` of them arrived, bounded by
        ``timeout`` real seconds; the gate then stays open."""
        barrier = threading.Barrier(parties, timeout=timeout)
        self.gates.append(Gate(method.upper(), re.compile(path_regex), barrier, when))

    def latest_release(self) -> dict[str, Any] | None:
        with self.lock:
            return next((r for r in self.releases.values() if r["latest"]), None)

    def deployments_of(self, environment: str, sha: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                d
                for d in self.deployments.values()
                if d["environment"] == environment and (sha is None or d["sha"] == sha)
            ]

    def state_of(self, deployment_id: int) -> str | None:
        with self.lock:
            statuses = self.statuses.get(deployment_id) or []
            return str(statuses[-1]["state"]) if statuses else None

    # JSON builders ------------------------------------------------------------------------------------------------
    def _user(self) -> dict[str, Any]:
        return {
            "login": "github-actions[bot]",
            "id": 41898282,
            "node_id": "MDM6Qm90NDE4OTgyODI=",
            "type": "Bot",
            "url": f"{self.url}/users/github-actions%5Bbot%5D",
        }

    def _ref_json(self, name: str) -> dict[str, Any]:
        ref = self.refs[name]
        kind = "tags" if ref["type"] == "tag" else "commits"
        return {
            "ref": name,
            "node_id": f"REF_{name}",
            "url": f"{self.repo_url}/git/{name}",
            "object": {"type": ref["type"], "sha": ref["sha"], "url": f"{self.repo_url}/git/{kind}/{ref['sha']}"},
        }

    def _make_tag_object(self, tag: str, message: str, sha: str) -> dict[str, Any]:
        obj_sha = f"{self._id():040x}"
        obj = {
            "sha": obj_sha,
            "node_id": f"TAG_{obj_sha}",
            "tag": tag,
            "message": message,
            "url": f"{self.repo_url}/git/tags/{obj_sha}",
            "tagger": {
                "name": "github-actions[bot]",
                "email": "41898282+github-actions[bot]@users.noreply.github.com",
                "date": _now(),
            },
            "object": {"type": "commit", "sha": sha, "url": f"{self.repo_url}/git/commits/{sha}"},
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
        }
        self.tag_objects[obj_sha] = obj
        return obj

    def _created_at(self) -> str:
        self._created += 1
        return (_EPOCH + timedelta(seconds=self._created)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _make_release(self, body: dict[str, Any]) -> dict[str, Any]:
        rid = self._id()
        tag = str(body.get("tag_name", ""))
        draft = bool(body.get("draft", False))
        release = {
            "id": rid,
            "node_id": f"RE_{rid}",
            "url": f"{self.repo_url}/releases/{rid}",
            "assets_url": f"{self.repo_url}/releases/{rid}/assets",
            "upload_url": f"{self.url}/uploads/releases/{rid}/assets{{?name,label}}",
            "html_url": f"{self.html_base}/releases/tag/{tag if not draft else f'untagged-{rid}'}",
            "tag_name": tag,
            "target_commitish": body.get("target_commitish") or "main",
            "name": body.get("name") or tag,
            "body": body.get("body") or "",
            "draft": draft,
            "prerelease": bool(body.get("prerelease", False)),
            "make_latest": body.get("make_latest", "true"),
            "created_at": self._created_at(),
            "published_at": None if draft else _now(),
            "author": self._user(),
            "assets": [],
            "tarball_url": f"{self.repo_url}/tarball/{tag}",
            "zipball_url": f"{self.repo_url}/zipball/{tag}",
            "latest": False,
            "immutable": False,  # drafts are mutable; publishing with the setting on makes a release immutable
        }
        self.releases[rid] = release
        if not draft:
            self._on_publish(release, str(release["make_latest"]))
        return release

    def _on_publish(self, release: dict[str, Any], make_latest: str) -> None:
        """A release was published (or updated while published) with ``make_latest``: ``true`` makes it Latest,
        ``false`` leaves Latest alone, ``legacy`` lets GitHub choose: the newest created, then the higher version.
        Drafts and prereleases are never Latest."""
        tag = release["tag_name"]
        if f"refs/tags/{tag}" not in self.refs:
            # Publishing a release whose tag does not exist makes GitHub create it at target_commitish.
            self.refs[f"refs/tags/{tag}"] = {"type": "commit", "sha": release["target_commitish"]}
        release["immutable"] = release["immutable"] or self.immutable_releases
        release["html_url"] = f"{self.html_base}/releases/tag/{tag}"
        release["published_at"] = release["published_at"] or _now()
        if release["prerelease"] or release["draft"]:
            return
        if make_latest == "true":
            for other in self.releases.values():
                other["latest"] = False
            release["latest"] = True
        elif make_latest == "legacy" or self.latest_release() is None:
            self._legacy_latest()

    def _legacy_latest(self) -> None:
        candidates = [r for r in self.releases.values() if not r["draft"] and not r["prerelease"]]
        for other in self.releases.values():
            other["latest"] = False
        if candidates:
            best = max(candidates, key=lambda r: (r["created_at"], _semver_key(r["tag_name"]) or ()))
            best["latest"] = True

    def _make_deployment(self, body: dict[str, Any], sha: str) -> dict[str, Any]:
        did = self._id()
        environment = body.get("environment") or "production"
        deployment = {
            "id": did,
            "node_id": f"DE_{did}",
            "url": f"{self.repo_url}/deployments/{did}",
            "sha": sha,
            "ref": body.get("ref"),
            "task": body.get("task") or "deploy",
            "payload": body.get("payload") or {},
            "original_environment": environment,
            "environment": environment,
            "description": body.get("description"),
            "creator": self._user(),
            "created_at": self._created_at(),
            "updated_at": _now(),
            "statuses_url": f"{self.repo_url}/deployments/{did}/statuses",
            "repository_url": self.repo_url,
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment", environment == "production")),
            "required_contexts": body.get("required_contexts"),
            "auto_merge": body.get("auto_merge", True),
        }
        self.deployments[did] = deployment
        self.statuses[did] = []
        return deployment

    def _make_status(self, did: int, body: dict[str, Any]) -> dict[str, Any]:
        sid = self._id()
        deployment = self.deployments[did]
        status = {
            "id": sid,
            "node_id": f"DES_{sid}",
            "url": f"{self.repo_url}/deployments/{did}/statuses/{sid}",
            "state": body["state"],
            "creator": self._user(),
            "description": body.get("description", ""),
            "environment": body.get("environment") or deployment["environment"],
            "target_url": body.get("log_url") or body.get("target_url") or "",
            "log_url": body.get("log_url") or body.get("target_url") or "",
            "environment_url": body.get("environment_url", ""),
            "created_at": _now(),
            "updated_at": _now(),
            "deployment_url": deployment["url"],
            "repository_url": self.repo_url,
        }
        self.statuses[did].append(status)
        if body["state"] == "success" and body.get("auto_inactive", True):
            # GitHub's auto_inactive: prior deployments to the same environment that were successful get an
            # inactive status; transient ones are skipped (GitHub shows them as destroyed once inactive).
            for other_id, other in self.deployments.items():
                if (
                    other_id < did
                    and other["environment"] == deployment["environment"]
                    and not other["transient_environment"]
                    and self.statuses[other_id]
                    and self.statuses[other_id][-1]["state"] == "success"
                ):
                    self._make_status(other_id, {"state": "inactive", "auto_inactive": False})
        return status

    # Request handling ---------------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: Any) -> _Response:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        recorded = RecordedRequest(method, path, parse_qs(split.query), body, headers=dict(headers))
        with self.lock:
            self.requests.append(recorded)
        response = self._handle(recorded, headers)
        recorded.status = response.status
        return response

    def _handle(self, recorded: RecordedRequest, headers: dict[str, str]) -> _Response:
        method, path, query, body = recorded.method, recorded.path, recorded.query, recorded.body
        for hook in list(self.hooks):
            if hook.method == method and hook.pattern.search(path):
                if hook.once:
                    self.hooks.remove(hook)
                hook.action(self)
        for gate in list(self.gates):
            if gate.method != method or not gate.pattern.search(path):
                continue
            if gate.when is not None and not gate.when(body if isinstance(body, dict) else {}):
                continue
            gate.barrier.wait()  # outside the lock: the other party's request must get in
            with self.lock:
                if gate in self.gates:
                    self.gates.remove(gate)
        fault = self._fault(method, path, body)
        if fault is not None:
            return fault
        limited = self._rate_limited()
        if limited is not None:
            return limited
        if self.token is not None:
            auth = headers.get("authorization", "")
            if auth not in (f"token {self.token}", f"Bearer {self.token}"):
                return _Response(
                    401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
                )
        prefix = f"/repos/{self.repository}"
        if not path.startswith(prefix):
            return _Response(404, {"message": "Not Found"})
        rest = path[len(prefix) :] or "/"
        try:
            with self.lock:
                return self._route(method, rest, query, body if isinstance(body, dict) else {})
        except ApiError as error:
            payload: dict[str, Any] = {"message": error.message, "documentation_url": "https://docs.github.com/rest"}
            if error.errors:
                payload["errors"] = error.errors
            return _Response(error.status, payload, error.headers)

    def _fault(self, method: str, path: str, body: Any) -> _Response | None:
        with self.lock:
            for fault in self.faults:
                if fault.method != method or not fault.pattern.search(path):
                    continue
                if fault.when is not None and not fault.when(body if isinstance(body, dict) else {}):
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return _Response(fault.status, {"message": fault.message})
        return None

    def _rate_limited(self) -> _Response | None:
        with self.lock:
            limit = self.rate_limit
            if limit is None or limit.remaining_requests <= 0:
                return None
            limit.remaining_requests -= 1
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "5000",
            "x-ratelimit-reset": str(int(time.time() + limit.reset_after)),
            "x-ratelimit-resource": "core",
        }
        if limit.retry_after is not None:
            headers["retry-after"] = str(limit.retry_after)
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            if limit.secondary
            else "API rate limit exceeded for installation ID 1."
        )
        return _Response(
            limit.status, {"message": message, "documentation_url": "https://docs.github.com/rest"}, headers
        )

    def _need(self, permission: str) -> None:
        if not self.permissions.get(permission, True):
            raise ApiError(403, NOT_ACCESSIBLE, headers={"x-accepted-github-permissions": f"{permission}=write"})

    def _need_comment_permission(self) -> None:
        if not (self.permissions.get("issues") or self.permissions.get("pull_requests")):
            raise ApiError(
                403, NOT_ACCESSIBLE, headers={"x-accepted-github-permissions": "issues=write; pull_requests=write"}
            )

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in comment.items() if k != "issue"}

    def _can_push(self) -> bool:
        return bool(self.permissions.get("contents", True))

    def _visible(self, release: dict[str, Any]) -> bool:
        """Drafts are shown only to tokens with push access."""
        return not release["draft"] or self._can_push()

    def _check_target(self, body: dict[str, Any]) -> None:
        """A release write naming a commit that changes .github/workflows/ needs the workflows permission;
        without it GitHub answers 404, as if the repository were not there."""
        target = str(body.get("target_commitish") or "")
        files = self.commit_files.get(target, [])
        if any(f.startswith(WORKFLOWS_DIR) for f in files) and not self.permissions.get("workflows", False):
            raise ApiError(404, "Not Found")

    def _refuse_if_protected(self, name: str, action: str) -> None:
        """A published immutable release's tag, or a tag a ruleset protects, cannot be moved or deleted."""
        tag = name.removeprefix("refs/tags/")
        if name.startswith("refs/tags/") and (tag in self.ruleset_tags or self.locked(tag)):
            raise ApiError(422, f"Repository rule violations found\n\nCannot {action} this protected ref.\n\n")

    def _check_immutable_edit(self, release: dict[str, Any], body: dict[str, Any]) -> None:
        """Only the title, the notes and the prerelease and Latest flags of an immutable release can change; and a
        draft whose tag name is used up cannot be published."""
        if release["immutable"] and not release["draft"]:
            for key in ("tag_name", "target_commitish", "draft"):
                if key in body and body[key] != release[key]:
                    raise ApiError(
                        422,
                        "Validation Failed",
                        [{"resource": "Release", "code": "custom", "field": key, "message": "release is immutable"}],
                    )
        tag = str(body.get("tag_name") or release["tag_name"])
        publishing = release["draft"] and body.get("draft") is False
        if publishing and tag in self.used_up and f"refs/tags/{tag}" not in self.refs:
            raise _tag_name_refused("Published releases must have a valid tag")

    def _paginate(self, items: list[dict[str, Any]], query: dict[str, list[str]], path: str) -> _Response:
        per_page = min(100, int((query.get("per_page") or ["30"])[0]))
        page = int((query.get("page") or ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if page * per_page < len(items):
            keep = "".join(f"&{k}={v[0]}" for k, v in query.items() if k not in ("page", "per_page"))
            headers["link"] = f'<{self.url}{path}?per_page={per_page}&page={page + 1}{keep}>; rel="next"'
        return _Response(200, chunk, headers)

    def _route(self, method: str, rest: str, query: dict[str, list[str]], body: dict[str, Any]) -> _Response:
        full = f"/repos/{self.repository}{rest}"
        if method == "GET" and rest == "/":
            return _Response(
                200,
                {
                    "id": 1,
                    "name": self.repository.split("/")[1],
                    "full_name": self.repository,
                    "url": self.repo_url,
                    "html_url": self.html_base,
                    "node_id": "R_1",
                    **(
                        {"permissions": {"admin": False, "push": self._can_push(), "pull": True}}
                        if self.user_token
                        else {}
                    ),
                },
            )
        # git refs
        m = re.fullmatch(r"/git/refs?/(tags/.+|heads/.+)", rest)
        if m and method == "GET":
            name = f"refs/{m.group(1)}"
            if name not in self.refs:
                raise ApiError(404, "Not Found")
            return _Response(200, self._ref_json(name))
        if rest == "/tags" and method == "GET":
            names = sorted((n for n in self.refs if n.startswith("refs/tags/")), reverse=True)
            items = [
                {
                    "name": n.removeprefix("refs/tags/"),
                    "commit": {"sha": sha, "url": f"{self.repo_url}/commits/{sha}"},
                    "zipball_url": f"{self.repo_url}/zipball/{n.removeprefix('refs/tags/')}",
                    "tarball_url": f"{self.repo_url}/tarball/{n.removeprefix('refs/tags/')}",
                    "node_id": f"REF_{n}",
                }
                for n in names
                if (sha := self.tag_commit(n.removeprefix("refs/tags/")))
            ]
            return self._paginate(items, query, full)
        if rest == "/git/refs" and method == "POST":
            self._need("contents")
            name, sha = str(body.get("ref", "")), str(body.get("sha", ""))
            if not name.startswith("refs/") or name.count("/") < 2:
                raise ApiError(422, "Reference name is invalid")
            if name in self.refs:
                raise ApiError(422, "Reference already exists")
            if name.removeprefix("refs/tags/") in self.used_up:
                raise ApiError(
                    422,
                    "Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n",
                )
            if sha in self.tag_objects:
                self.refs[name] = {"type": "tag", "sha": sha}
            elif sha in self.commits:
                self.refs[name] = {"type": "commit", "sha": sha}
            else:
                raise ApiError(422, "Object does not exist")
            return _Response(201, self._ref_json(name))
        m = re.fullmatch(r"/git/refs/(tags/.+|heads/.+)", rest)
        if m and method == "PATCH":
            self._need("contents")
            name = f"refs/{m.group(1)}"
            if name not in self.refs:
                raise ApiError(422, "Reference does not exist")
            self._refuse_if_protected(name, "update")
            sha = str(body.get("sha", ""))
            if sha not in self.commits and sha not in self.tag_objects:
                raise ApiError(422, "Object does not exist")
            self.refs[name] = {"type": "tag" if sha in self.tag_objects else "commit", "sha": sha}
            return _Response(200, self._ref_json(name))
        if m and method == "DELETE":
            self._need("contents")
            name = f"refs/{m.group(1)}"
            if name in self.refs:
                self._refuse_if_protected(name, "delete")
            if self.refs.pop(name, None) is None:
                raise ApiError(422, "Reference does not exist")
            return _Response(204)
        # git tag objects
        if rest == "/git/tags" and method == "POST":
            self._need("contents")
            if body.get("object") not in self.commits:
                raise ApiError(422, "Object does not exist")
            obj = self._make_tag_object(str(body.get("tag")), str(body.get("message", "")), str(body["object"]))
            return _Response(201, obj)
        m = re.fullmatch(r"/git/tags/([0-9a-f]+)", rest)
        if m and method == "GET":
            found = self.tag_objects.get(m.group(1))
            if found is None:
                raise ApiError(404, "Not Found")
            return _Response(200, found)
        # releases
        if rest == "/releases" and method == "GET":
            items = sorted((r for r in self.releases.values() if self._visible(r)), key=lambda r: r["id"], reverse=True)
            return self._paginate(items, query, full)
        if rest == "/releases" and method == "POST":
            self._need("contents")
            self._check_target(body)
            tag = str(body.get("tag_name", ""))
            if not tag:
                raise ApiError(
                    422, "Validation Failed", [{"resource": "Release", "code": "missing_field", "field": "tag_name"}]
                )
            if tag in self.used_up:
                raise _tag_name_refused("tag_name was used by an immutable release")
            if not body.get("draft") and any(not r["draft"] and r["tag_name"] == tag for r in self.releases.values()):
                raise ApiError(
                    422, "Validation Failed", [{"resource": "Release", "code": "already_exists", "field": "tag_name"}]
                )
            return _Response(201, self._make_release(body))
        if rest == "/releases/latest" and method == "GET":
            for r in self.releases.values():
                if r["latest"]:
                    return _Response(200, r)
            raise ApiError(404, "Not Found")
        m = re.fullmatch(r"/releases/tags/(.+)", rest)
        if m and method == "GET":
            for r in self.releases.values():
                if r["tag_name"] == m.group(1) and not r["draft"]:  # drafts are not found by tag
                    return _Response(200, r)
            raise ApiError(404, "Not Found")
        m = re.fullmatch(r"/releases/(\d+)", rest)
        if m:
            if method in WRITE_METHODS:
                self._need("contents")  # GitHub checks the token's permission before it looks for the release
            release = self.releases.get(int(m.group(1)))
            if release is None or not self._visible(release):
                raise ApiError(404, "Not Found")
            if method == "GET":
                return _Response(200, release)
            if method == "PATCH":
                self._need("contents")
                self._check_target(body)
                self._check_immutable_edit(release, body)
                was_draft = release["draft"]
                for key in ("tag_name", "name", "body", "draft", "prerelease", "target_commitish", "make_latest"):
                    if key in body:
                        release[key] = body[key]
                if was_draft and not release["draft"]:
                    if any(
                        not r["draft"] and r["tag_name"] == release["tag_name"] and r["id"] != release["id"]
                        for r in self.releases.values()
                    ):
                        release["draft"] = True
                        raise ApiError(
                            422,
                            "Validation Failed",
                            [{"resource": "Release", "code": "already_exists", "field": "tag_name"}],
                        )
                    self._on_publish(release, str(body.get("make_latest") or "true"))
                elif not release["draft"] and "make_latest" in body:
                    self._on_publish(release, str(body["make_latest"]))
                return _Response(200, release)
            if method == "DELETE":
                self._need("contents")
                if release["immutable"] and not release["draft"]:
                    self.used_up.add(release["tag_name"])  # the tag may go now; its name never comes back
                del self.releases[release["id"]]
                if release["latest"]:
                    self._legacy_latest()
                return _Response(204)
        # commits (the files a commit changes)
        m = re.fullmatch(r"/commits/([0-9a-f]{7,40})", rest)
        if m and method == "GET":
            sha = m.group(1)
            if sha not in self.commits:
                raise ApiError(422, f"No commit found for SHA: {sha}")
            files = [{"filename": name, "status": "modified"} for name in self.commit_files.get(sha, [])]
            return _Response(200, {"sha": sha, "url": f"{self.repo_url}/commits/{sha}", "files": files})
        # pull requests and their (issue) comments
        m = re.fullmatch(r"/pulls/(\d+)", rest)
        if m and method == "GET":
            pull = self.pulls.get(int(m.group(1)))
            if pull is None:
                raise ApiError(404, "Not Found")
            return _Response(200, json.loads(json.dumps(pull)))
        m = re.fullmatch(r"/issues/(\d+)/comments", rest)
        if m:
            number = int(m.group(1))
            if number not in self.pulls:
                raise ApiError(404, "Not Found")
            if method == "GET":
                return self._paginate([self._comment_json(c) for c in self.comments_on(number)], query, full)
            if method == "POST":
                self._need_comment_permission()
                text = str(body.get("body") or "")
                if not text or len(text) > 65536:
                    raise ApiError(
                        422, "Validation Failed", [{"resource": "IssueComment", "code": "custom", "field": "body"}]
                    )
                cid = self._id()
                comment = {
                    "id": cid,
                    "issue": number,
                    "node_id": f"IC_{cid}",
                    "url": f"{self.repo_url}/issues/comments/{cid}",
                    "html_url": f"{self.html_base}/pull/{number}#issuecomment-{cid}",
                    "body": text,
                    "user": self._user(),
                    "created_at": self._created_at(),
                    "updated_at": _now(),
                }
                self.comments[cid] = comment
                return _Response(201, self._comment_json(comment))
        m = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if m:
            comment = self.comments.get(int(m.group(1)))
            if method in WRITE_METHODS:
                self._need_comment_permission()
            if comment is None:
                raise ApiError(404, "Not Found")
            if method == "GET":
                return _Response(200, self._comment_json(comment))
            if method == "PATCH":
                text = str(body.get("body") or "")
                if not text or len(text) > 65536:
                    raise ApiError(
                        422, "Validation Failed", [{"resource": "IssueComment", "code": "custom", "field": "body"}]
                    )
                comment["body"], comment["updated_at"] = text, _now()
                return _Response(200, self._comment_json(comment))
        # git commits (the tree each records)
        m = re.fullmatch(r"/git/commits/([0-9a-f]{40})", rest)
        if m and method == "GET":
            sha = m.group(1)
            if sha not in self.commits:
                raise ApiError(404, "Not Found")
            tree = self.trees.get(sha) or f"{int(sha, 16) ^ 0xFFFF:040x}"[-40:]
            return _Response(200, {"sha": sha, "url": f"{self.repo_url}/git/commits/{sha}", "tree": {"sha": tree}})
        # deployments
        if rest == "/deployments" and method == "GET":
            items = sorted(self.deployments.values(), key=lambda d: d["id"], reverse=True)
            for key in ("sha", "ref", "task", "environment"):
                if key in query:
                    items = [d for d in items if d.get(key) == query[key][0]]
            return self._paginate(items, query, full)
        if rest == "/deployments" and method == "POST":
            self._need("deployments")
            ref = str(body.get("ref", ""))
            sha = ref if ref in self.commits else self.tag_commit(ref.removeprefix("refs/tags/")) or ""
            if not sha:
                raise ApiError(422, f"No ref found for: {ref}")
            if body.get("required_contexts") is None:
                raise ApiError(409, "Conflict: Commit status checks failed for main.")
            return _Response(201, self._make_deployment(body, sha))
        m = re.fullmatch(r"/deployments/(\d+)(/statuses)?", rest)
        if m:
            did = int(m.group(1))
            if did not in self.deployments:
                raise ApiError(404, "Not Found")
            if m.group(2) is None and method == "GET":
                return _Response(200, self.deployments[did])
            if m.group(2) and method == "GET":
                items = list(reversed(self.statuses[did]))
                return self._paginate(items, query, full)
            if m.group(2) and method == "POST":
                self._need("deployments")
                state = body.get("state")
                valid = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
                if state not in valid:
                    raise ApiError(
                        422,
                        "Validation Failed",
                        [{"resource": "DeploymentStatus", "code": "invalid", "field": "state"}],
                    )
                if len(str(body.get("description") or "")) > 140:
                    raise ApiError(
                        422,
                        "Validation Failed",
                        [
                            {
                                "resource": "DeploymentStatus",
                                "code": "custom",
                                "field": "description",
                                "message": "description is too long (maximum is 140 characters)",
                            }
                        ],
                    )
                return _Response(201, self._make_status(did, body))
        raise ApiError(404, "Not Found")


class _Handler(QuickHandler):
    owner: GitHubFake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.owner.handle(self.command, self.path, headers, body)
        data = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve
    do_PATCH = _serve
    do_PUT = _serve
    do_DELETE = _serve


@contextmanager
def running(repository: str = "kars/app", **kwargs: Any) -> Iterator[GitHubFake]:
    fake = GitHubFake(repository, **kwargs)
    with fake:
        yield fake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the in-memory GitHub REST fake on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--repo", default="kars/app")
    parser.add_argument("--token", default="ghs_fake_token")
    parser.add_argument("--commit", action="append", default=[], help="a commit sha the fake knows (repeatable)")
    args = parser.parse_args(argv)
    fake = GitHubFake(args.repo, token=args.token or None, port=args.port)
    fake.add_commit(*args.commit)
    fake.start()
    print(f"GitHub fake for {args.repo} listening on {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
