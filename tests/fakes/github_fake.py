"""An in-memory GitHub REST API on 127.0.0.1 that PyGithub talks to through its base URL.

It keeps refs, annotated tag objects, commits (seeded by the test), releases, deployments and their statuses,
answers with the JSON shapes PyGithub reads, and reproduces GitHub's awkward corners: drafts invisible to
``GET /releases/tags/{tag}``, 422 "Reference already exists", 403 "Resource not accessible by integration" when
a permission is off, and rate limits with ``x-ratelimit-*`` / ``retry-after`` headers. Every request is
recorded, and hooks run before a request is handled, so a test can let "another job" act in between.

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
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
NOT_ACCESSIBLE = "Resource not accessible by integration"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0  # the answer's HTTP status, once it was handled

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
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


class GitHubFake:
    """The fake's state and its HTTP server. Use as a context manager or call ``start()``/``stop()``."""

    def __init__(self, repository: str = "kars/app", *, token: str | None = "ghs_fake_token", port: int = 0) -> None:
        self.repository = repository
        self.token = token
        self._port = port
        self.lock = threading.RLock()
        self.commits: set[str] = set()
        self.refs: dict[str, dict[str, str]] = {}  # "refs/tags/v1" -> {"type": "tag"|"commit", "sha": ...}
        self.tag_objects: dict[str, dict[str, Any]] = {}
        self.releases: dict[int, dict[str, Any]] = {}
        self.deployments: dict[int, dict[str, Any]] = {}
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.permissions: dict[str, bool] = {"contents": True, "deployments": True}
        self.requests: list[RecordedRequest] = []
        self.rate_limit: RateLimit | None = None
        self.hooks: list[Hook] = []
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

    def add_commit(self, *shas: str) -> None:
        with self.lock:
            self.commits.update(shas)

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
        self, tag: str, *, draft: bool = True, prerelease: bool = False, target: str = "main", name: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            return self._make_release(
                {
                    "tag_name": tag,
                    "draft": draft,
                    "prerelease": prerelease,
                    "target_commitish": target,
                    "name": name or tag,
                    "body": "",
                }
            )

    def add_deployment(self, environment: str, sha: str, *, state: str | None = "success") -> dict[str, Any]:
        with self.lock:
            deployment = self._make_deployment({"ref": sha, "environment": environment}, sha)
            if state:
                self._make_status(deployment["id"], {"state": state})
            return deployment

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
            "created_at": _now(),
            "published_at": None if draft else _now(),
            "author": self._user(),
            "assets": [],
            "tarball_url": f"{self.repo_url}/tarball/{tag}",
            "zipball_url": f"{self.repo_url}/zipball/{tag}",
            "latest": False,
        }
        self.releases[rid] = release
        if not draft:
            self._on_publish(release)
        return release

    def _on_publish(self, release: dict[str, Any]) -> None:
        tag = release["tag_name"]
        if f"refs/tags/{tag}" not in self.refs:
            # Publishing a release whose tag does not exist makes GitHub create it at target_commitish.
            self.refs[f"refs/tags/{tag}"] = {"type": "commit", "sha": release["target_commitish"]}
        release["html_url"] = f"{self.html_base}/releases/tag/{tag}"
        release["published_at"] = release["published_at"] or _now()
        if not release["prerelease"] and release.get("make_latest", "true") == "true":
            for other in self.releases.values():
                other["latest"] = False
            release["latest"] = True

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
            "created_at": _now(),
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
            for other_id, other in self.deployments.items():
                if (
                    other_id != did
                    and other["environment"] == deployment["environment"]
                    and self.statuses[other_id]
                    and self.statuses[other_id][-1]["state"] != "inactive"
                ):
                    self._make_status(other_id, {"state": "inactive", "auto_inactive": False})
        return status

    # Request handling ---------------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: Any) -> _Response:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        recorded = RecordedRequest(method, path, parse_qs(split.query), body)
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
            return _Response(error.status, payload)

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
            raise ApiError(403, NOT_ACCESSIBLE)

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
                },
            )
        # git refs
        m = re.fullmatch(r"/git/refs?/(tags/.+|heads/.+)", rest)
        if m and method == "GET":
            name = f"refs/{m.group(1)}"
            if name not in self.refs:
                raise ApiError(404, "Not Found")
            return _Response(200, self._ref_json(name))
        if rest == "/git/refs" and method == "POST":
            self._need("contents")
            name, sha = str(body.get("ref", "")), str(body.get("sha", ""))
            if not name.startswith("refs/") or name.count("/") < 2:
                raise ApiError(422, "Reference name is invalid")
            if name in self.refs:
                raise ApiError(422, "Reference already exists")
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
            sha = str(body.get("sha", ""))
            if sha not in self.commits and sha not in self.tag_objects:
                raise ApiError(422, "Object does not exist")
            self.refs[name] = {"type": "tag" if sha in self.tag_objects else "commit", "sha": sha}
            return _Response(200, self._ref_json(name))
        if m and method == "DELETE":
            self._need("contents")
            name = f"refs/{m.group(1)}"
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
            items = sorted(self.releases.values(), key=lambda r: r["id"], reverse=True)
            return self._paginate(items, query, full)
        if rest == "/releases" and method == "POST":
            self._need("contents")
            tag = str(body.get("tag_name", ""))
            if not tag:
                raise ApiError(
                    422, "Validation Failed", [{"resource": "Release", "code": "missing_field", "field": "tag_name"}]
                )
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
            release = self.releases.get(int(m.group(1)))
            if release is None:
                raise ApiError(404, "Not Found")
            if method == "GET":
                return _Response(200, release)
            if method == "PATCH":
                self._need("contents")
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
                    self._on_publish(release)
                elif not release["draft"] and body.get("make_latest") == "true":
                    self._on_publish(release)
                return _Response(200, release)
            if method == "DELETE":
                self._need("contents")
                del self.releases[release["id"]]
                return _Response(204)
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


class _Handler(BaseHTTPRequestHandler):
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
