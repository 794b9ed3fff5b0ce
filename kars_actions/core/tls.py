"""The TLS context every HTTP client of a process shares, made once: loading the CA bundle costs 20-30 ms of CPU,
and a release opens a client per Railway, GitHub, health and alert phase."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl


def tls_context(*, trust_env: bool) -> ssl.SSLContext:
    """What httpx would make for ``verify=True`` with this ``trust_env`` (certifi's bundle, or SSL_CERT_FILE /
    SSL_CERT_DIR when the environment is trusted), made once per bundle. A client that names its own CA bundle
    makes its own context."""
    if not trust_env:
        return _context(False, None, None)
    return _context(True, os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)


@lru_cache(maxsize=8)
def _context(trust_env: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # The variables are part of the key so that a process that changes them gets what httpx would give it.
    import httpx

    return httpx.create_ssl_context(verify=True, trust_env=trust_env)
