"""An app kept in a folder of a larger repository (its kars.yml lives there): its version and notes come from the
commits that touch that folder — and the quick start's dry run of the bundled example reads as the example's own
release, not as this repository's history."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kars_actions.github.versioning import plan_version
from tests.fakes.cli_fork import run_kars
from tests.versioning.gitrepo import GIT_ENV, GitRepo

REPO = Path(__file__).resolve().parents[2]
QUICK_START = "release --dry-run --config examples/kars-app/kars.yml"


def touch(repo: GitRepo, path: str, message: str) -> str:
    file = repo.path / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(f"{message}\n", encoding="utf-8")
    return repo.commit_work_tree(message)


def test_only_the_commits_touching_the_folder_make_the_notes_and_the_bump(repo: GitRepo) -> None:
    touch(repo, "apps/shop/app.js", "feat: the shop opens")
    repo.tag("v1.0.0")
    touch(repo, "apps/blog/post.md", "feat!: the blog is rewritten")
    inside = touch(repo, "apps/shop/cart.js", "fix: the cart keeps its items")
    plan = plan_version(repo.path / "apps" / "shop", folder=repo.path / "apps" / "shop")
    assert (plan.tag, plan.bump, plan.folder) == ("v1.0.1", "patch", "apps/shop")
    assert [c.commit.sha for c in plan.commits] == [inside]
    assert "the blog is rewritten" not in plan.notes_markdown and "the cart keeps its items" in plan.notes_markdown
    whole = plan_version(repo.path)
    assert (whole.tag, whole.folder) == ("v2.0.0", None)  # the repository's root: every commit counts


def test_nothing_touched_the_folder_since_the_last_release_means_nothing_to_release(repo: GitRepo) -> None:
    touch(repo, "apps/shop/app.js", "feat: the shop opens")
    repo.tag("v1.0.0")
    touch(repo, "apps/blog/post.md", "feat: a post")
    plan = plan_version(repo.path / "apps" / "shop", folder=repo.path / "apps" / "shop")
    assert not plan.released
    assert plan.reason.startswith("nothing to release: no releasable commit touching apps/shop/ (feat, fix")


def like_this_repository(tmp_path: Path) -> tuple[GitRepo, str]:
    """A repository laid out like this one: the example in a folder, the repository's own history and v-tags
    around it. Returns it and the commit that added the example."""
    repo = GitRepo(tmp_path / "deploy-action")
    touch(repo, "product/__init__.py", "feat: the product itself")
    repo.tag("v1.0.0")
    shutil.copytree(REPO / "examples" / "kars-app", repo.path / "examples" / "kars-app")
    example = repo.commit_work_tree("feat: example app with a backend and a frontend")
    for n in range(40):
        touch(repo, f"product/module{n}.py", f"fix: product change {n}")
    return repo, example


def cli(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAILWAY_", "GITHUB_", "KARS_"))}
    return run_kars(
        [*args, "--format", "text", "--no-color"],
        cwd=repo.path,
        env={**env, **GIT_ENV, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_quick_start_dry_run_shows_the_examples_release_on_one_screen(tmp_path: Path) -> None:
    """README quick start 1, exactly as written."""
    repo, example = like_this_repository(tmp_path)
    proc = cli(repo, *QUICK_START.split())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "version     kars-app-v0.1.0 (previous none, bump initial)" in out
    assert "release notes (commits touching examples/kars-app/):" in out
    assert f"(`{example[:7]}`)" in out and "product change" not in out and "the product itself" not in out
    assert "backend: backend/railway.json (kars.yml services.backend.railway_config)" in out
    plan = out.split("release notes")[0]
    assert len(plan.splitlines()) <= 40, plan  # the plan itself fits one screen


def test_the_tag_step_counts_the_same_commits_as_the_release(tmp_path: Path) -> None:
    repo, example = like_this_repository(tmp_path)
    proc = cli(repo, "tag", "--dry-run", "--config", "examples/kars-app/kars.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kars-app-v0.1.0" in proc.stdout and f"(`{example[:7]}`)" in proc.stdout
    assert "product change" not in proc.stdout
