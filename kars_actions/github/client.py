"""The GitHub side of a release, through PyGithub: the tag, the draft release, publishing, deployments.

Every write checks first, so a rerun of the same commit reuses what the first run made, and two jobs racing
for one version end with one tag and one release. PyGithub's own retries and sleeps are switched off: this
module decides how long to wait for a rate limit, against a deadline and an injectable clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from kars_actions.core import gha
from kars_actions.core.errors import AuthError, CheckFailed, ConfigError, ExternalError, RateLimited, UsageError
from kars_actions.core.gha import md_escape, md_table
from kars_actions.core.report import BaseResult, Progress, Style, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline, human_duration

if TYPE_CHECKING:
    from kars_actions.github.versioning import VersionPlan

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


class GitHubReleases:
    """Tags, releases and deployments for one repository. Build it with ``from_env``."""

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
    ) -> GitHubReleases:
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

    def __enter__(self) -> GitHubReleases:
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

    def tag_commit(self, tag: str) -> str | None:
        """The commit ``refs/tags/<tag>`` ends at on GitHub (annotated tags peeled), or None."""
        if self._repo is None:
            return None
        from github import GithubException

        try:
            ref = self._get_json(f"reading tag {tag}", f"/git/ref/tags/{_quote(tag)}", passthrough=(404,))
        except GithubException as error:
            if error.status == 404:
                return None
            raise
        return self._peel(tag, ref)

    def _peel(self, tag: str, ref: dict[str, Any]) -> str:
        obj = ref.get("object") or {}
        sha, kind = str(obj.get("sha", "")), obj.get("type")
        for _ in range(5):  # a tag of a tag is legal; GitHub's own UI stops at a few levels too
            if kind != "tag":
                return sha
            data = self._get_json(f"reading tag object of {tag}", f"/git/tags/{sha}")
            obj = data.get("object") or {}
            sha, kind = str(obj.get("sha", "")), obj.get("type")
        return sha

    def _tag_commit_or_none(self, tag: str) -> str | None:
        from github import GithubException

        try:
            return self.tag_commit(tag)
        except GithubException:
            return None

    def find_releases(self, tag: str) -> list[Any]:
        """Every release (drafts included) for ``tag``, oldest first. Drafts are invisible to the by-tag
        endpoint, so this lists releases and matches ``tag_name``."""
        if self._repo is None:
            return []

        def collect() -> list[Any]:
            return sorted((r for r in self._repo.get_releases() if r.tag_name == tag), key=lambda r: r.id)

        return self.api.call(f"listing releases for {tag}", None, collect)

    def find_release(self, tag: str) -> ReleaseRef | None:
        found = self.find_releases(tag)
        if not found:
            return None
        return self._ref_from(found[0], tag, "", created=False, tag_created=False)

    # Tag and draft ----------------------------------------------------------------------------------------------
    def ensure_tag_and_draft(
        self, plan: VersionPlan, sha: str | None = None, *, draft: bool = True, name: str | None = None
    ) -> ReleaseRef:
        """The annotated tag on exactly ``sha`` and a (draft) release for it; reused when they already exist."""
        if not plan.released or not plan.tag or not plan.version:
            raise UsageError("nothing to release: there is no version to tag")
        sha = sha or plan.target_sha
        tag, title = plan.tag, name or plan.tag
        tag_created = self._ensure_tag(tag, sha, plan.notes_markdown)
        existing = self.find_releases(tag)
        if existing:
            return self._reuse_release(existing[0], plan, sha, title, draft, tag_created)
        if self.dry_run:
            self.progress(f"dry run: would create a {'draft ' if draft else ''}release {title} for {tag}")
            return ReleaseRef(
                tag,
                plan.version,
                sha,
                0,
                "",
                draft,
                plan.prerelease,
                tag_created,
                True,
                True,
                title,
                plan.notes_markdown,
                plan.major_tag,
            )
        created = self.api.call(
            f"creating the release for {tag}",
            "contents",
            lambda: self._repo.create_git_release(
                tag,
                name=title,
                message=plan.notes_markdown,
                draft=draft,
                prerelease=plan.prerelease,
                target_commitish=sha,
                make_latest="false" if (draft or plan.prerelease) else "true",
            ),
        )
        keeper = self._settle_release_race(tag, created)
        return self._ref_from(
            keeper,
            plan.version,
            plan.major_tag or "",
            created=keeper.id == created.id,
            tag_created=tag_created,
            sha=sha,
            prerelease=plan.prerelease,
        )

    def _ensure_tag(self, tag: str, sha: str, message: str) -> bool:
        """True when this call created the tag. A tag on another commit stops the release."""
        on_github = self.tag_commit(tag)
        if on_github is not None:
            self._same_commit_or_stop(tag, on_github, sha)
            self.progress(f"tag {tag} already on {sha[:7]}; reusing it")
            return False
        if self.dry_run:
            self.progress(f"dry run: would create the annotated tag {tag} on {sha[:7]}")
            return True
        from github import GithubException

        tag_object = self.api.call(
            f"creating the tag object {tag}",
            "contents",
            lambda: self._repo.create_git_tag(tag, message or tag, sha, "commit"),
        )
        try:
            self.api.call(
                f"creating refs/tags/{tag}",
                "contents",
                lambda: self._repo.create_git_ref(f"refs/tags/{tag}", tag_object.sha),
                passthrough=(422,),
            )
        except GithubException as error:
            if "already exists" not in _message(error.data).lower():
                raise self.api._translate(f"creating refs/tags/{tag}", "contents", 422, _message(error.data)) from None
            # Another job created the ref between our read and our write.
            winner = self.tag_commit(tag)
            if winner is None:
                raise ExternalError(f"refs/tags/{tag} exists and vanished again", service=SERVICE) from None
            self._same_commit_or_stop(tag, winner, sha)
            self.progress(f"tag {tag} was created by a concurrent run on the same commit; reusing it")
            return False
        self.progress(f"created the annotated tag {tag} on {sha[:7]}")
        return True

    @staticmethod
    def _same_commit_or_stop(tag: str, existing: str, wanted: str) -> None:
        if existing != wanted:
            raise CheckFailed(
                f"tag {tag} already exists on commit {existing}, but this release is for commit {wanted}",
                hint="a version is released once: release the new commit under a higher version (--version or a "
                "new commit), or delete the stray tag if it was made by mistake",
            )

    def _reuse_release(
        self, release: Any, plan: VersionPlan, sha: str, title: str, draft: bool, tag_created: bool
    ) -> ReleaseRef:
        assert plan.version is not None
        if not release.draft:
            self.progress(f"release {plan.tag} is already published; nothing to change")
            return self._ref_from(
                release, plan.version, plan.major_tag or "", created=False, tag_created=tag_created, sha=sha
            )
        if self.dry_run:
            self.progress(f"dry run: would update the existing draft release {release.id} for {plan.tag}")
            return self._ref_from(
                release,
                plan.version,
                plan.major_tag or "",
                created=False,
                tag_created=tag_created,
                sha=sha,
                prerelease=plan.prerelease,
            )
        updated = self.api.call(
            f"updating the draft release for {plan.tag}",
            "contents",
            lambda: release.update_release(
                name=title, message=plan.notes_markdown, draft=True, prerelease=plan.prerelease, target_commitish=sha
            ),
        )
        self.progress(f"reusing the draft release {updated.id} for {plan.tag}")
        return self._ref_from(
            updated, plan.version, plan.major_tag or "", created=False, tag_created=tag_created, sha=sha
        )

    def _settle_release_race(self, tag: str, created: Any) -> Any:
        """Two jobs may each create a draft for one tag (GitHub allows several drafts). All of them agree on the
        oldest; a job whose release is not the oldest deletes its own."""
        found = self.find_releases(tag)
        if not found or found[0].id == created.id:
            return created
        keeper = found[0]
        self.progress(f"a concurrent run created release {keeper.id} for {tag} first; removing duplicate {created.id}")
        self.api.call(f"deleting duplicate release {created.id}", "contents", lambda: created.delete_release())
        return keeper

    def _ref_from(
        self,
        release: Any,
        version: str,
        major_tag: str,
        *,
        created: bool,
        tag_created: bool,
        sha: str | None = None,
        prerelease: bool | None = None,
    ) -> ReleaseRef:
        return ReleaseRef(
            tag=release.tag_name,
            version=version,
            sha=sha or str(release.target_commitish or ""),
            release_id=int(release.id),
            html_url=str(release.html_url or ""),
            draft=bool(release.draft),
            prerelease=bool(release.prerelease) if prerelease is None else prerelease,
            tag_created=tag_created,
            release_created=created,
            dry_run=self.dry_run,
            name=str(release.name or release.tag_name),
            body=str(release.body or ""),
            major_tag=major_tag or None,
        )

    # Publish / fail -------------------------------------------------------------------------------------------
    def _release_by_id(self, ref: ReleaseRef) -> Any:
        from github import GithubException

        try:
            return self.api.call(
                f"reading release {ref.release_id}",
                None,
                lambda: self._repo.get_release(ref.release_id),
                passthrough=(404,),
            )
        except GithubException:
            found = self.find_releases(ref.tag)
            if not found:
                raise CheckFailed(
                    f"there is no release for {ref.tag}",
                    hint="run `kars-actions tag` first; it creates the tag and the draft release",
                ) from None
            return found[0]

    def release_for_tag(self, tag: str) -> ReleaseRef:
        """The release ``release-status`` acts on: found by tag (drafts included)."""
        found = self.find_releases(tag)
        if not found:
            raise CheckFailed(
                f"there is no release for {tag} in {self.context.repository}",
                hint="run `kars-actions tag` first; it creates the tag and the draft release",
            )
        release = found[0]
        sha = self._tag_commit_or_none(tag) or str(release.target_commitish or "")
        from kars_actions.github.versioning import SemVer

        version = tag
        for cut in range(len(tag)):
            parsed = SemVer.parse(tag[cut:])
            if parsed is not None:
                version = str(parsed)
                major = None if parsed.is_prerelease or parsed.major == 0 else f"{tag[:cut]}{parsed.major}"
                return self._ref_from(release, version, major or "", created=False, tag_created=False, sha=sha)
        return self._ref_from(release, version, "", created=False, tag_created=False, sha=sha)

    def publish(self, ref: ReleaseRef, move_major: bool = False) -> PublishOutcome:
        """Draft → published (``make_latest`` unless a prerelease); then, only then, move the major tag."""
        if ref.dry_run or self._repo is None:
            self.progress(f"dry run: would publish the release for {ref.tag}")
            return PublishOutcome(ref, True, ref.major_tag if move_major else None, False)
        release = self._release_by_id(ref)
        published_now = False
        current = self._ref_from(
            release, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha
        )
        if release.draft or FAILED_MARKER in str(release.body or ""):
            body = str(release.body or "")
            if FAILED_MARKER in body:
                body = body.split(FAILED_MARKER)[-1].lstrip("\n")
            if self.dry_run:
                self.progress(f"dry run: would publish release {release.id} for {ref.tag}")
            else:
                updated = self.api.call(
                    f"publishing the release for {ref.tag}",
                    "contents",
                    lambda: release.update_release(
                        name=ref.tag,
                        message=body,
                        draft=False,
                        prerelease=ref.prerelease,
                        make_latest="false" if ref.prerelease else "true",
                    ),
                )
                current = self._ref_from(
                    updated, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha
                )
                self.progress(f"published {ref.tag}: {updated.html_url}")
            published_now = True
        moved = False
        major = ref.major_tag if move_major and not ref.prerelease else None
        if major:
            moved = self.move_major_tag(major, ref.sha)
        return PublishOutcome(current, published_now, major, moved)

    def move_major_tag(self, major: str, sha: str) -> bool:
        """Point ``v1`` (a lightweight tag) at ``sha``. True when it moved or was created."""
        from github import GithubException

        current = self.tag_commit(major)
        if current == sha:
            return False
        if self.dry_run:
            self.progress(f"dry run: would move {major} to {sha[:7]}")
            return True
        if current is None:
            try:
                self.api.call(
                    f"creating {major}",
                    "contents",
                    lambda: self._repo.create_git_ref(f"refs/tags/{major}", sha),
                    passthrough=(422,),
                )
                self.progress(f"created {major} at {sha[:7]}")
                return True
            except GithubException as error:
                if "already exists" not in _message(error.data).lower():
                    raise self.api._translate(f"creating {major}", "contents", 422, _message(error.data)) from None
        url = f"{self._repo.url}/git/refs/tags/{_quote(major)}"
        self.api.call(
            f"moving {major}",
            "contents",
            lambda: self._requester().requestJsonAndCheck("PATCH", url, input={"sha": sha, "force": True}),
        )
        self.progress(f"moved {major} to {sha[:7]}")
        return True

    def mark_failed(self, ref: ReleaseRef, reason: str) -> ReleaseRef:
        """Keep the release a draft and say in its title and body what failed, with a link to the run."""
        if ref.dry_run or self._repo is None:
            self.progress(f"dry run: would mark the release for {ref.tag} failed: {reason}")
            return ref
        release = self._release_by_id(ref)
        title = f"{ref.tag} (failed)"
        body = failure_body(reason, self.context.run_url, str(release.body or ""))
        if self.dry_run:
            self.progress(f"dry run: would mark release {release.id} failed: {reason}")
            return self._ref_from(
                release, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha
            )
        updated = self.api.call(
            f"marking the release for {ref.tag} failed",
            "contents",
            lambda: release.update_release(
                name=title, message=body, draft=bool(release.draft), prerelease=bool(release.prerelease)
            ),
        )
        self.progress(f"marked the release for {ref.tag} failed")
        return self._ref_from(updated, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha)

    # Deployments ----------------------------------------------------------------------------------------------
    def start_deployment(
        self,
        environment: str,
        sha: str,
        *,
        production: bool | None = None,
        description: str = "",
        log_url: str | None = None,
        environment_url: str | None = None,
    ) -> DeploymentRef:
        """A deployment of ``sha`` to ``environment`` (reused on rerun) with an ``in_progress`` status."""
        production = is_production(environment) if production is None else production
        existing = self._find_deployment(environment, sha)
        if existing is not None:
            self.progress(f"reusing deployment {existing.id} of {sha[:7]} to {environment}")
            ref = DeploymentRef(int(existing.id), environment, sha, False, str(existing.url), self.dry_run)
        elif self.dry_run:
            self.progress(f"dry run: would create a deployment of {sha[:7]} to {environment}")
            return DeploymentRef(0, environment, sha, True, "", True)
        else:
            created = self.api.call(
                f"creating a deployment to {environment}",
                "deployments",
                lambda: self._repo.create_deployment(
                    ref=sha,
                    task="deploy",
                    auto_merge=False,
                    required_contexts=[],
                    environment=environment,
                    description=truncate(description or f"kars-actions deploy of {sha[:7]}"),
                    transient_environment=not production,
                    production_environment=production,
                ),
            )
            ref = DeploymentRef(int(created.id), environment, sha, True, str(created.url))
            self.progress(f"created deployment {ref.id} of {sha[:7]} to {environment}")
        self.deployment_status(ref, "in_progress", description or "deploying", environment_url, log_url)
        return ref

    def _find_deployment(self, environment: str, sha: str) -> Any:
        if self._repo is None:
            return None

        def first() -> Any:
            for deployment in self._repo.get_deployments(sha=sha, environment=environment):
                return deployment
            return None

        return self.api.call(f"listing deployments to {environment}", None, first)

    def deployment_status(
        self,
        ref: DeploymentRef,
        state: str,
        description: str = "",
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> None:
        """Post a status; ``description`` is cut to GitHub's 140 characters."""
        if state not in DEPLOYMENT_STATES:
            raise UsageError(f"unknown deployment state {state!r}; expected one of {', '.join(DEPLOYMENT_STATES)}")
        log_url = log_url or self.context.run_url
        if self.dry_run or ref.dry_run or self._repo is None:
            self.progress(f"dry run: would set deployment {ref.id} to {state}")
            return
        payload: dict[str, Any] = {"state": state, "description": truncate(description), "auto_inactive": False}
        if environment_url:
            payload["environment_url"] = environment_url
        if log_url:
            payload["log_url"] = log_url
            payload["target_url"] = log_url  # older GHES releases read target_url only
        url = f"{self._repo.url}/deployments/{ref.id}/statuses"
        self.api.call(
            f"setting deployment {ref.id} to {state}",
            "deployments",
            lambda: self._requester().requestJsonAndCheck(
                "POST", url, input=payload, headers={"Accept": "application/vnd.github+json"}
            ),
        )

    def last_deployment_failed(self, environment: str) -> bool:
        """Whether the newest deployment to ``environment`` ended in failure; read before this run posts its own
        status, so that a success now is known as a recovery (the first success after a failure)."""
        if self._repo is None:
            return False

        def newest() -> Any:
            for deployment in self._repo.get_deployments(environment=environment).get_page(0):
                return deployment
            return None

        last = self.api.call(f"listing deployments to {environment}", None, newest)
        if last is None:
            return False
        statuses = self._get_json(f"reading deployment {last.id}", f"/deployments/{last.id}/statuses", {"per_page": 1})
        return bool(statuses) and statuses[0].get("state") in ("failure", "error")

    def deactivate_superseded(self, environment: str, keep: DeploymentRef) -> list[int]:
        """Mark older deployments of ``environment`` inactive (the first page, newest first, is enough: older
        ones were deactivated by the runs that superseded them)."""
        if self._repo is None:
            return []

        def older() -> list[Any]:
            result = []
            for deployment in self._repo.get_deployments(environment=environment).get_page(0):
                if deployment.id != keep.id and deployment.id < keep.id:
                    result.append(deployment)
            return result

        deactivated: list[int] = []
        for deployment in self.api.call(f"listing deployments to {environment}", None, older):
            statuses = self._get_json(
                f"reading deployment {deployment.id}", f"/deployments/{deployment.id}/statuses", {"per_page": 1}
            )
            if statuses and statuses[0].get("state") == "inactive":
                continue
            if not statuses:
                continue  # never started: nothing is live there to supersede
            self.deployment_status(
                DeploymentRef(int(deployment.id), environment, str(deployment.sha), False),
                "inactive",
                f"superseded by deployment {keep.id}",
            )
            deactivated.append(int(deployment.id))
        return deactivated


def _quote(ref: str) -> str:
    from urllib.parse import quote

    return quote(ref, safe="/")


# The `tag` and `release-status` steps ----------------------------------------------------------------------------


@dataclass
class TagRequest:
    """Everything ``kars-actions tag`` was asked, already merged with kars.yml by the caller."""

    repo_dir: str = "."
    target: str | None = None
    bump: str = "auto"
    version: str | None = None
    prerelease: str | None = None
    tag_prefix: str = "v"
    initial_version: str = "0.1.0"
    draft: bool = True
    force: bool = False
    move_major: bool = True
    github_token: str | None = None
    dry_run: bool = False


class TagResult(BaseResult):
    """What the tag step decided and made."""

    def __init__(
        self, plan: VersionPlan, release: ReleaseRef | None, published: PublishOutcome | None = None, note: str = ""
    ) -> None:
        self.plan = plan
        self.release = published.release if published else release
        self.published = published
        self.note = note

    def outputs(self) -> dict[str, str]:
        plan, release = self.plan, self.release
        return {
            "version": plan.version or "",
            "tag": plan.tag or "",
            "previous-tag": plan.previous_tag or "",
            "released": "true" if plan.released else "false",
            "release-id": str(release.release_id) if release and release.release_id else "",
            "release-url": release.html_url if release else "",
            "changelog": plan.notes_markdown,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(),
            "release": self.release.to_json() if self.release else None,
            "published": self.published.to_json() if self.published else None,
            "dry_run": bool(self.release and self.release.dry_run),
            "note": self.note,
            "outputs": {k: v for k, v in self.outputs().items() if k != "changelog"},
        }

    def text_lines(self, style: Style) -> list[str]:
        plan = self.plan
        if not plan.released:
            return [
                f"{style.warn('nothing to release')}: {plan.reason.removeprefix('nothing to release: ')}",
                f"  latest release: {plan.previous_tag or 'none'}; {len(plan.commits)} commit(s) since",
            ]
        dry = self.release is not None and self.release.dry_run
        verb = "would release" if dry or self.release is None else "released"
        lines = [f"{style.ok(verb)} {style.bold(plan.tag or '')} at {plan.target_sha[:7]} ({plan.reason})"]
        if self.release is not None:
            state = "draft" if self.release.draft else "published"
            made = "created" if self.release.release_created else "reused"
            tag_made = "created" if self.release.tag_created else "reused"
            lines.append(
                f"  tag {tag_made}; {state} release {made}"
                + (f": {self.release.html_url}" if self.release.html_url else "")
            )
        if self.note:
            lines.append(f"  {style.dim(self.note)}")
        lines.append("")
        lines.extend(plan.notes_markdown.rstrip("\n").splitlines())
        return lines

    def summary_markdown(self) -> str:
        plan = self.plan
        if not plan.released:
            return f"### Tag: nothing to release\n\n{md_escape(plan.reason)}\n"
        release = self.release
        rows = [
            ["version", f"`{plan.tag}`"],
            ["previous", f"`{plan.previous_tag}`" if plan.previous_tag else "none"],
            ["commit", f"`{plan.target_sha[:12]}`"],
            ["why", plan.reason],
        ]
        if release is not None:
            link = f"[{'draft' if release.draft else 'release'}]({release.html_url})" if release.html_url else "-"
            rows.append(["release", link + (" (dry run)" if release.dry_run else "")])
        return f"### Tag {plan.tag}\n\n" + md_table(["", ""], rows) + "\n" + plan.notes_markdown


class ReleaseStatusResult(BaseResult):
    def __init__(self, release: ReleaseRef, success: bool, reason: str, published: PublishOutcome | None) -> None:
        self.release = published.release if published else release
        self.success = success
        self.reason = reason
        self.published = published

    def outputs(self) -> dict[str, str]:
        return {
            "tag": self.release.tag,
            "release-id": str(self.release.release_id) if self.release.release_id else "",
            "release-url": self.release.html_url,
            "published": "true" if self.success else "false",
            "major-tag": self.published.major_tag or "" if self.published else "",
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "reason": self.reason,
            "release": self.release.to_json(),
            "published": self.published.to_json() if self.published else None,
        }

    def text_lines(self, style: Style) -> list[str]:
        dry = self.release.dry_run
        if self.success:
            verb = "would publish" if dry else "published"
            lines = [f"{style.ok(verb)} {style.bold(self.release.tag)} {self.release.html_url}".rstrip()]
            if self.published and self.published.major_tag:
                moved = "moved" if self.published.major_moved else "already at this commit"
                lines.append(f"  {self.published.major_tag}: {moved}")
            return lines
        verb = "would mark failed" if dry else "marked failed"
        return [f"{style.bad(verb)} {style.bold(self.release.tag)}: {self.reason}"]

    def summary_markdown(self) -> str:
        if self.success:
            return f"### Release {self.release.tag} published\n\n{self.release.html_url}\n"
        return f"### Release {self.release.tag} marked failed\n\n{md_escape(self.reason)}\n"


def _github_for(token: str | None, dry_run: bool, progress: Progress, clock: Clock) -> GitHubReleases | None:
    env_token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if dry_run and (not env_token or not os.environ.get("GITHUB_REPOSITORY")):
        return None  # local git only: nothing to read from and nothing may be written
    return GitHubReleases.from_env(env_token, dry_run=dry_run, progress=progress, clock=clock)


def run_tag(request: TagRequest, progress: Progress = no_progress, clock: Clock = SYSTEM_CLOCK) -> TagResult:
    """The tag step: plan the version from git, then make (or reuse) the tag and the draft release."""
    from kars_actions.github.versioning import DefaultReleaseSettings, plan_version

    if request.github_token:
        gha.SECRETS.register(request.github_token)
    plan = plan_version(
        request.repo_dir,
        request.target,
        DefaultReleaseSettings(request.tag_prefix, request.initial_version),
        request.bump,
        request.version,
        request.prerelease,
        request.force,
    )
    if not plan.released:
        return TagResult(plan, None)
    github = _github_for(request.github_token, request.dry_run, progress, clock)
    if github is None:
        ref = ReleaseRef(
            plan.tag or "",
            plan.version or "",
            plan.target_sha,
            0,
            "",
            request.draft,
            plan.prerelease,
            not plan.existing_tag,
            True,
            True,
            plan.tag or "",
            plan.notes_markdown,
            plan.major_tag,
        )
        return TagResult(plan, ref, note="dry run without GITHUB_TOKEN/GITHUB_REPOSITORY: local git only")
    with github:
        ref = github.ensure_tag_and_draft(plan, draft=True)
        published = None
        if not request.draft:
            published = github.publish(ref, move_major=request.move_major)
        return TagResult(plan, ref, published)


@dataclass
class ReleaseStatusRequest:
    tag: str
    success: bool
    reason: str = ""
    move_major: bool = True
    github_token: str | None = None
    dry_run: bool = False


def run_release_status(
    request: ReleaseStatusRequest, progress: Progress = no_progress, clock: Clock = SYSTEM_CLOCK
) -> ReleaseStatusResult:
    """Publish the release of ``tag`` (and move the major tag), or mark it failed and keep it a draft."""
    if request.github_token:
        gha.SECRETS.register(request.github_token)
    if not request.success and not request.reason.strip():
        raise UsageError("--failure needs --reason saying what failed", hint='e.g. --reason "health check failed"')
    github = _github_for(request.github_token, request.dry_run, progress, clock)
    if github is None:
        ref = ReleaseRef(request.tag, request.tag, "", 0, "", True, False, False, False, True)
        if request.success:
            return ReleaseStatusResult(ref, True, "", PublishOutcome(ref, True, None, False))
        return ReleaseStatusResult(ref, False, request.reason, None)
    with github:
        ref = github.release_for_tag(request.tag)
        if request.dry_run:
            ref = ReleaseRef(**{**asdict(ref), "dry_run": True})
        if request.success:
            return ReleaseStatusResult(ref, True, "", github.publish(ref, move_major=request.move_major))
        return ReleaseStatusResult(github.mark_failed(ref, request.reason), False, request.reason, None)
