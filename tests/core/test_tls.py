"""Every HTTP client of a process shares one TLS context per trust setting: the CA bundle is loaded once, and the
bundle each client trusts is the one httpx would have given it."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path
from typing import Any

import certifi
import pytest

from kars_actions.core import tls
from kars_actions.github.api import GitHubApi
from kars_actions.health.http import make_client
from kars_actions.railway.api import Credentials, RailwayClient, TokenKind


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The CA files each new TLS context loads, in order, with no context made before the test."""
    seen: list[Any] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
        seen.append(cafile or capath)
        real(self, cafile, capath, cadata)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    tls._context.cache_clear()
    yield seen
    tls._context.cache_clear()


async def _health_clients() -> None:
    for _ in range(2):
        await make_client(concurrency=2, timeout=5).aclose()


def test_the_ca_bundle_is_loaded_once_for_all_the_clients_of_a_release(loads: list[Any]) -> None:
    import asyncio

    for _ in range(2):
        GitHubApi("https://api.github.com", "acme/app", "ghs_x").close()
        RailwayClient(Credentials(TokenKind.PROJECT, "rw_x")).close()
    asyncio.run(_health_clients())
    # GitHub's client trusts no environment (its token must not follow a proxy); Railway's and health's do.
    assert loads == [certifi.where(), certifi.where()]


def test_ssl_cert_file_is_trusted_where_the_environment_is(loads: list[Any], tmp_path: Path, monkeypatch: Any) -> None:
    bundle = tmp_path / "corporate-ca.pem"
    shutil.copyfile(certifi.where(), bundle)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    RailwayClient(Credentials(TokenKind.PROJECT, "rw_x")).close()
    GitHubApi("https://api.github.com", "acme/app", "ghs_x").close()
    assert loads == [str(bundle), certifi.where()]
    monkeypatch.delenv("SSL_CERT_FILE")
    RailwayClient(Credentials(TokenKind.PROJECT, "rw_x")).close()  # a changed environment is followed
    assert loads == [str(bundle), certifi.where(), certifi.where()]
