"""GitHub: versions from git and Conventional Commits, tags, releases and deployments over its REST API."""
