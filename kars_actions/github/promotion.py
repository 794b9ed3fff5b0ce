"""The promotion gate's evidence: which GitHub deployment in the required environment (staging) proves a commit.

A commit is proven when a deployment of it — or of a commit with the same git tree, so that merging the verified
branch counts — was made by kars-actions (its payload says so) and its last verdict is ``success``. A deployment
that a newer one replaced since (GitHub marks it ``inactive``) still proves its commit: it went live and was
healthy there; one marked ``failure`` after the fact (the long watch) does not. Everything here only reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from kars_actions.github.api import GitHubApi
from kars_actions.github.deployments import Deployments

RECORD = "kars"  # the payload key every deployment kars-actions makes carries
MADE_BY = "kars-actions"
# Deployments of the required environment looked at, newest first: enough for any release train, and a bound on
# the requests (one status read each, one tree read per other commit).
LOOK_AT = 30
SHOWN = 5  # what the required environment proved last, listed when a commit is refused


def made_by_kars(deployment: dict[str, Any]) -> bool:
    payload = deployment.get("payload")
    record = payload.get(RECORD) if isinstance(payload, dict) else None
    return isinstance(record, dict) and record.get("made_by") == MADE_BY


def recorded_version(deployment: dict[str, Any]) -> str | None:
    payload = deployment.get("payload")
    record = payload.get(RECORD) if isinstance(payload, dict) else None
    version = record.get("version") if isinstance(record, dict) else None
    return str(version) if version else None


@dataclass(frozen=True)
class Proven:
    """One deployment in the required environment, with its latest state."""

    deployment_id: int
    sha: str
    version: str | None
    state: str | None
    created_at: str = ""
    same: str = ""  # "commit" | "tree" when it is of the commit being released (or of its tree)
    superseded: bool = False  # a newer deployment replaced it there since (its verdict stands)

    @property
    def shown_state(self) -> str:
        state = self.state or "no status"
        return f"{state}, since replaced" if self.superseded else state

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "commit": self.sha,
            "version": self.version,
            "state": self.state,
            "created_at": self.created_at,
            "same": self.same,
            "superseded": self.superseded,
        }


@dataclass(frozen=True)
class PromotionCheck:
    required: str
    commit: str
    tree: str | None
    proof: Proven | None
    last_proven: tuple[Proven, ...] = ()  # newest first: what the required environment proved last
    tried: tuple[Proven, ...] = field(default=())  # deployments of this commit there that are not a success

    @property
    def proven(self) -> bool:
        return self.proof is not None


def tree_of(api: GitHubApi, sha: str) -> str | None:
    """The tree a commit records (Git database API), or None when GitHub does not know the commit."""
    answer = api.get(f"reading commit {sha[:12]}", f"/git/commits/{sha}", expect=(404, 422))
    data: dict[str, Any] = answer.data if answer.status < 400 and isinstance(answer.data, dict) else {}
    tree = data.get("tree")
    return str(tree["sha"]) if isinstance(tree, dict) and tree.get("sha") else None


def check_promotion(api: GitHubApi, deployments: Deployments, required: str, commit: str) -> PromotionCheck:
    """Find the deployment in ``required`` that proves ``commit``; read-only."""
    tree = tree_of(api, commit)
    candidates = {int(d["id"]): d for d in deployments.of_commit(required, commit)}
    candidates.update({int(d["id"]): d for d in deployments.newest(required)})
    ours = [candidates[i] for i in sorted(candidates, reverse=True) if made_by_kars(candidates[i])][:LOOK_AT]
    trees: dict[str, str | None] = {commit: tree}
    proven: list[Proven] = []
    tried: list[Proven] = []
    for deployment in ours:
        sha = str(deployment.get("sha") or "")
        state, superseded = deployments.verdict_of(int(deployment["id"]))
        created = str(deployment.get("created_at") or "")
        seen = Proven(int(deployment["id"]), sha, recorded_version(deployment), state, created, "", superseded)
        if state != "success":
            if sha == commit:
                tried.append(replace(seen, same="commit"))
            continue
        if sha not in trees:
            trees[sha] = tree_of(api, sha)
        same = "commit" if sha == commit else "tree" if tree is not None and trees[sha] == tree else ""
        if same:
            proof = replace(seen, same=same)
            return PromotionCheck(required, commit, tree, proof, tuple(proven[:SHOWN]), tuple(tried))
        proven.append(seen)
    return PromotionCheck(required, commit, tree, None, tuple(proven[:SHOWN]), tuple(tried))
