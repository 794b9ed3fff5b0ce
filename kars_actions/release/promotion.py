"""The promotion gate, part of preflight: a release to an environment that ``requires`` another (production
requires staging) goes ahead only for a commit — or a commit with the same git tree — that kars-actions proved
live and healthy there. Read-only; a refusal is an ordinary preflight failure (exit 1, before any write).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kars_actions.core.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from kars_actions.github.promotion import PromotionCheck
    from kars_actions.release.context import ReleaseContext


def required_environment(ctx: ReleaseContext) -> str | None:
    """``--requires`` (the action's ``requires`` input) over kars.yml's ``environments.<name>.requires``."""
    required = ctx.options.requires or ctx.environment.requires
    if required and required == ctx.environment.name:
        raise ConfigError(
            f"environment {ctx.environment.name} requires itself",
            hint="requires names another environment, such as staging for production",
        )
    return required or None


def promotion_gate(ctx: ReleaseContext) -> str:
    """Check the gate; returns what proved the commit (in words), or raises CheckFailed saying what the required
    environment proved last and how to release this commit there first."""
    from kars_actions.github.gitlog import Git
    from kars_actions.github.promotion import check_promotion

    required = required_environment(ctx)
    if not required:
        return ""
    commit = Git(ctx.repo_dir).resolve_commit(ctx.options.commit or os.environ.get("GITHUB_SHA") or "HEAD")
    if ctx.github is None or ctx.github.api is None:
        return f"promotion gate: would check that {required} proved {commit[:12]} (GitHub not read)"
    check = check_promotion(ctx.github.api, ctx.github.deployments, required, commit)
    ctx.result.promotion = check
    if check.proof is None:
        raise CheckFailed(refusal(check, ctx.environment.name), hint=release_first(check))
    return proof_words(check)


def proof_words(check: PromotionCheck) -> str:
    proof = check.proof
    assert proof is not None
    what = proof.version or proof.sha[:12]
    same = "this commit" if proof.same == "commit" else f"commit {proof.sha[:12]}, the same tree"
    return f"promotion gate: {check.required} deployment {proof.deployment_id} proved {what} ({same})"


def refusal(check: PromotionCheck, environment: str) -> str:
    """Why the commit may not go to ``environment``, with what the required environment proved last."""
    text = (
        f"{check.commit[:12]} may not be released to {environment}: {check.required} never proved it — no GitHub "
        f"deployment of it, or of a commit with the same tree, made by kars-actions is a success in {check.required}"
    )
    if check.tried:
        tried = ", ".join(f"deployment {p.deployment_id} ({p.shown_state})" for p in check.tried)
        text += f"; this commit's deployments there: {tried}"
    if check.last_proven:
        shown = ", ".join(
            f"{p.version or p.sha[:12]} at {p.sha[:12]} (deployment {p.deployment_id})" for p in check.last_proven
        )
        text += f". What {check.required} proved last: {shown}"
    else:
        text += f". {check.required} has proved nothing yet"
    return text


def release_first(check: PromotionCheck) -> str:
    return (
        f"release it to {check.required} first: kars-actions release --environment {check.required} --commit "
        f"{check.commit} (or release one of the commits {check.required} proved)"
    )
