"""The GitHub side of a release, through PyGithub: the tag, the draft release, publishing, deployments.

Every write checks first, so a rerun of the same commit reuses what the first run made. The parts live in their own
modules (``tags``, ``releases``, ``deployments``) over one ``api.RepoSession``; ``GitHubReleases`` puts them together.
"""

from __future__ import annotations

from kars_actions.github.access import AccessOps
from kars_actions.github.deployments import DeploymentOps
from kars_actions.github.releases import ReleaseOps


class GitHubReleases(ReleaseOps, DeploymentOps, AccessOps):
    """Tags, releases and deployments for one repository. Build it with ``from_env``."""
