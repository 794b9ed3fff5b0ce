"""Fixtures for the Railway tests: a seeded simulator on a test clock, and clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from kars_actions.railway.api import Credentials, RailwayClient, TokenKind
from tests.fakes.railway_sim import RailwaySim, SimClock

OLD = "0" * 40
NEW = "a1b2c3d4" * 5


@dataclass
class World:
    sim: RailwaySim
    clock: SimClock
    project: str
    env: str
    api: str
    web: str
    api_old: str
    web_old: str
    project_token: str
    account_token: str
    clients: list[RailwayClient] = field(default_factory=list)

    def client(self, kind: TokenKind = TokenKind.PROJECT, **kwargs: object) -> RailwayClient:
        token = self.project_token if kind is TokenKind.PROJECT else self.account_token
        client = RailwayClient(Credentials(kind, token), self.sim.url, clock=self.clock, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.sim.stop()

    def cli_env(self, **extra: str) -> dict[str, str]:
        return {
            "RAILWAY_TOKEN": self.project_token,
            "RAILWAY_GRAPHQL_ENDPOINT": self.sim.url,
            "KARS_TEST_VIRTUAL_CLOCK": "1",
            **extra,
        }


def build_world(advance_per_request: float = 0.0, *, follow_client_clock: bool = False) -> World:
    clock = SimClock()
    sim = RailwaySim(clock, advance_per_request=advance_per_request, follow_client_clock=follow_client_clock)
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    sim.add_environment(project, "staging")
    api = sim.add_service(project, "api", domain="api-production.up.railway.app")
    web = sim.add_service(project, "web", domain="web-production.up.railway.app", custom_domain="www.example.com")
    sim.set_variables(api, env, {"DATABASE_URL": "postgres://user:hunter2-secret@db/app", "PORT": "3000"})
    api_old = sim.add_deployment(api, env, OLD, took=300)
    web_old = sim.add_deployment(web, env, OLD, took=120)
    return World(
        sim,
        clock,
        project,
        env,
        api,
        web,
        api_old,
        web_old,
        sim.add_project_token(project, env),
        sim.add_account_token(),
    )


@pytest.fixture
def world() -> Iterator[World]:
    w = build_world()
    w.sim.start()
    yield w
    w.close()


@pytest.fixture
def cli_world() -> Iterator[World]:
    """For the CLI in another process (or CliRunner): each request moves simulated time 5 s."""
    w = build_world(advance_per_request=5.0)
    w.sim.start()
    yield w
    w.close()


@pytest.fixture
def timed_world() -> Iterator[World]:
    """For the CLI as a real process on a virtual clock: the simulator follows the CLI's clock exactly, so a
    deploy's timing (polls, delays, deadlines) plays out as it would for real, in milliseconds."""
    w = build_world(follow_client_clock=True)
    w.sim.start()
    yield w
    w.close()
