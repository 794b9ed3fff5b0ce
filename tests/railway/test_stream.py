"""The deployment subscription against the simulator's graphql-transport-ws endpoint, on the shared test clock."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from kars_actions.railway.api import Credentials, TokenKind
from kars_actions.railway.stream import SUBSCRIPTIONS, DeploymentStream, StreamLost, websocket_url
from tests.fakes.railway_sim import Script, load_schema
from tests.fakes.railway_stream import stream_control
from tests.railway.conftest import NEW, World


def start(world: World, build: float = 60, deploy: float = 20) -> str:
    """A new deployment of the api created straight in the simulator: BUILDING now, SUCCESS after build+deploy."""
    world.sim.script_for(world.api, Script.success(build=build, deploy=deploy))
    client = world.client()
    return client.deploy(world.api, world.env, NEW)


def stream(world: World, token: str | None = None) -> DeploymentStream:
    credentials = Credentials(TokenKind.PROJECT, token or world.project_token)
    return DeploymentStream(credentials, world.sim.url, clock=world.clock, open_timeout=5)


@pytest.mark.parametrize("name", sorted(SUBSCRIPTIONS))
def test_subscription_documents_validate_against_railway_schema(name: str) -> None:
    errors = validate(load_schema(), parse(SUBSCRIPTIONS[name]))
    assert errors == [], [e.message for e in errors]


def test_the_socket_url_is_the_api_url_with_a_websocket_scheme() -> None:
    assert websocket_url("https://backboard.railway.com/graphql/v2") == "wss://backboard.railway.com/graphql/v2"
    assert websocket_url("http://127.0.0.1:8080/graphql/v2") == "ws://127.0.0.1:8080/graphql/v2"


def test_the_state_when_subscribing_comes_first_then_each_change_at_the_moment_it_happens(world: World) -> None:
    deployment_id = start(world, build=60, deploy=20)
    began = world.clock.monotonic()
    seen: list[tuple[str, float]] = []
    with stream(world).open() as updates:
        updates.follow(deployment_id)
        while not seen or seen[-1][0] != "SUCCESS":
            for update in updates.wait(600):
                seen.append((update.status, world.clock.monotonic() - began))
    # The first message is read at the first step of the wait (1 s on the test clock); it was sent at 0 s.
    assert seen == [("BUILDING", 1.0), ("DEPLOYING", 60.0), ("SUCCESS", 80.0)]
    assert world.sim.count("Deployment") == 0, "no status was polled"
    assert stream_control(world.sim).subscribed == [deployment_id]


def test_silence_returns_no_update_after_the_wait(world: World) -> None:
    deployment_id = start(world, build=300)
    with stream(world).open() as updates:
        updates.follow(deployment_id)
        assert [u.status for u in updates.wait(30)] == ["BUILDING"]  # the state when subscribing
        began = world.clock.monotonic()
        assert updates.wait(30) == []
        assert world.clock.monotonic() - began == pytest.approx(30.0)


def test_a_refused_upgrade_is_a_lost_stream(world: World) -> None:
    stream_control(world.sim).refuse = 1
    with pytest.raises(StreamLost, match=r"refused the subscription socket \(HTTP 503\)"):
        stream(world).open()


def test_a_dropped_socket_is_a_lost_stream(world: World) -> None:
    deployment_id = start(world, build=60, deploy=20)
    stream_control(world.sim).drop_after = 1
    with stream(world).open() as updates:
        updates.follow(deployment_id)
        with pytest.raises(StreamLost, match=r"dropped|no pong"):
            for _ in range(200):
                updates.wait(600)


def test_an_unknown_token_gets_the_subscription_refused(world: World) -> None:
    deployment_id = start(world)
    with stream(world, token="not-a-token").open() as updates:
        updates.follow(deployment_id)
        with pytest.raises(StreamLost, match="Not Authorized"):
            updates.wait(5)


def test_the_token_never_appears_in_why_the_stream_was_lost(world: World) -> None:
    stream_control(world.sim).refuse = 1
    with pytest.raises(StreamLost) as caught:
        stream(world).open()
    assert world.project_token not in caught.value.why


def test_a_rerun_that_saw_an_older_status_does_not_take_the_first_read_for_a_missed_push(world: World) -> None:
    """A rerun reuses a deployment listed as QUEUED; by the first read it is BUILDING. That change happened before
    the subscription, so it is no sign of a silent stream: the wait stays on the stream."""
    from kars_actions.core.timing import Deadline
    from kars_actions.railway.api import Deployment
    from kars_actions.railway.stream import stream_opener
    from kars_actions.railway.wait import ServiceRef, StartedDeployment, wait_for_deployments

    deployment_id = start(world, build=60, deploy=20)
    client = world.client()
    ref = ServiceRef(world.api, "api")
    stale = Deployment(deployment_id, "QUEUED")
    started = StartedDeployment(ref, deployment_id, True, world.clock.monotonic(), seen=stale)
    lines: list[str] = []
    rows = wait_for_deployments(
        client,
        lambda service, deployment: "",
        [started],
        progress=lines.append,
        deadline=Deadline.after(900, world.clock),
        stream=stream_opener(client),
    )
    assert rows["api"].status == "SUCCESS"
    assert not any("polling instead" in line for line in lines), lines
    assert world.sim.count("Deployment") == 1, "one read when subscribing; the rest was pushed"
