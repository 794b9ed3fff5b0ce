"""Suite-wide guards: no test reaches beyond loopback, and no secret or environment leaks between tests."""

from __future__ import annotations

import gc
import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

# The suite starts the CLI as a process hundreds of times. Where PYTHONDONTWRITEBYTECODE is set (container images
# often set it), every one of those processes, and every xdist worker, would compile the package from source again:
# 0.1 s of CPU a start, a third of a short command's time. Bytecode is written as on any user's machine instead; a
# pyc is only used while its source's size and modification time match, so an edit is never run stale.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

from kars_actions.core import gha  # noqa: E402 - after the bytecode setting, so that it is cached too


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collector walks only what the tests make. A worker holds every test module, fixture and imported
    package: 1,300 collections a worker at Python's defaults (700 new objects each), each walking the young ones,
    and full ones walking everything. The collected suite is frozen out of the collector's way (as before a fork,
    gc.freeze's own use), and a collection waits for 10,000 new objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """pytest collects garbage twice as it ends, to report any error raised by an object's end; the garbage is
    collected here once, with those errors still reported, and the rest frozen so that those two walk only what
    is made after it."""
    gc.collect()
    gc.freeze()


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects anywhere but 127.0.0.1 / ::1 (pytest-httpx mocks never open sockets)."""

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to reach the network: {address!r}")
        return _real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to reach the network: {address!r}")
        return _real_connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "localhost") and not _is_loopback((name, 0)):
            raise NetworkBlocked(f"test tried to resolve a network name: {name!r}")
        return _real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts outside Actions, with no tokens, and with an empty secret registry."""
    for name in (
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "RAILWAY_TOKEN",
        "RAILWAY_API_TOKEN",
        "RAILWAY_GRAPHQL_ENDPOINT",
        "KARS_CONFIG",
        "KARS_FORMAT",
        "NO_COLOR",
    ):
        monkeypatch.delenv(name, raising=False)
    gha.SECRETS.clear()
    yield
    gha.SECRETS.clear()
