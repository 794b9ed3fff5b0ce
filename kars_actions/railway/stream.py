"""Railway's deployment subscription over graphql-transport-ws: each status change pushed, instead of polled for.

One WebSocket to the API's URL (``wss://…/graphql/v2``, the same host and token headers as the HTTP calls) carries
one ``subscription { deployment(id) { … } }`` per deployment being waited for. Anything that makes the stream
untrustworthy — the upgrade refused, the socket dropped, a protocol or GraphQL error, Railway ending a
subscription before its deployment finished — raises ``StreamLost``; the waiter then polls, as it always could.
The stream never starts, retries or changes a deployment: it only reads, so falling back cannot lose or duplicate
one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kars_actions.core.timing import Clock
from kars_actions.railway.api import (
    _DEPLOYMENT_FIELDS,  # the same fields the polled deployment query asks for
    FAILED_STATUSES,
    LIVE_STATUSES,
    Credentials,
    Deployment,
    RailwayClient,
)

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

PROTOCOL = "graphql-transport-ws"
S_DEPLOYMENT = "DeploymentUpdates"
# Subscriptions travel over the socket, not the HTTP client, so they have their own registry; a test validates
# each against Railway's schema like the documents in ``railway.api.DOCUMENTS``.
SUBSCRIPTIONS: dict[str, str] = {
    S_DEPLOYMENT: (
        "subscription DeploymentUpdates($id: String!) { deployment(id: $id) { ...DeploymentFields } }\n"
        + _DEPLOYMENT_FIELDS.strip()
    ),
}
# On a virtual clock (tests), time moves in steps of this many seconds while waiting for a push.
VIRTUAL_STEP = 1.0


class StreamLost(Exception):
    """The subscription cannot be trusted any more; poll instead. ``why`` is safe to print (no URL, no token)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def websocket_url(endpoint: str) -> str:
    """The subscription URL for a GraphQL HTTP endpoint: the same host and path, ws(s) instead of http(s)."""
    if endpoint.startswith("https://"):
        return "wss://" + endpoint.removeprefix("https://")
    if endpoint.startswith("http://"):
        return "ws://" + endpoint.removeprefix("http://")
    return endpoint


class DeploymentStream:
    """Status pushes for the deployments ``follow``ed, read with ``wait``. Open with ``open`` (raises StreamLost)."""

    def __init__(
        self,
        credentials: Credentials,
        endpoint: str,
        *,
        clock: Clock,
        open_timeout: float = 10.0,
        user_agent: str = "kars-actions",
    ) -> None:
        self.credentials = credentials
        self.url = websocket_url(endpoint)
        self.clock = clock
        self.open_timeout = open_timeout
        self.user_agent = user_agent
        self.subscriptions = 0  # subscriptions sent (the push budget: one per deployment)
        self.messages = 0  # pushes received
        self._socket: ClientConnection | None = None
        self._following: dict[str, str] = {}  # operation id -> deployment id
        self._finished: set[str] = set()  # operation ids whose deployment reached a final status
        self._next_id = 0

    # Connecting -------------------------------------------------------------------------------------------------

    def open(self) -> DeploymentStream:
        """Connect and complete graphql-transport-ws's handshake (connection_init → connection_ack)."""
        from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        headers = {**self.credentials.headers(), **self._clock_header()}
        try:
            # Entered as a context (websockets 17 asks for that); ``close`` leaves it.
            self._socket = connect(
                self.url,
                subprotocols=[PROTOCOL],  # type: ignore[list-item]
                additional_headers=headers,
                user_agent_header=self.user_agent,
                open_timeout=self.open_timeout,
                compression=None,
            ).__enter__()
        except InvalidStatus as error:
            raise StreamLost(f"Railway refused the subscription socket (HTTP {error.response.status_code})") from None
        except (InvalidHandshake, WebSocketException, OSError, TimeoutError) as error:
            raise StreamLost(f"cannot open the subscription socket ({type(error).__name__})") from None
        if self._socket.subprotocol != PROTOCOL:
            self.close()
            raise StreamLost(f"the subscription socket does not speak {PROTOCOL}")
        self._send({"type": "connection_init", "payload": {}})
        message = self._receive(self.open_timeout)
        if message is None or message.get("type") != "connection_ack":
            self.close()
            kind = "no answer" if message is None else repr(message.get("type"))
            raise StreamLost(f"Railway did not acknowledge the subscription connection ({kind})")
        return self

    def _clock_header(self) -> dict[str, str]:
        # Test seam, as the HTTP client has it: a virtual clock (KARS_TEST_VIRTUAL_CLOCK=1) tells the simulator
        # its time, so a replayed deploy moves on the client's clock.
        session = getattr(self.clock, "announce", None)
        return {"X-Kars-Virtual-Clock": f"{session} {self.clock.monotonic():.3f}"} if session else {}

    def follow(self, deployment_id: str) -> None:
        """Subscribe to one deployment's status."""
        self._next_id += 1
        operation = str(self._next_id)
        self._following[operation] = deployment_id
        self.subscriptions += 1
        self._send(
            {
                "id": operation,
                "type": "subscribe",
                "payload": {
                    "query": SUBSCRIPTIONS[S_DEPLOYMENT],
                    "operationName": S_DEPLOYMENT,
                    "variables": {"id": deployment_id},
                },
            }
        )

    def forget(self, deployment_ids: Iterable[str]) -> None:
        """Stop following deployments the waiter is done with."""
        gone = set(deployment_ids)
        for operation, deployment_id in list(self._following.items()):
            if deployment_id in gone:
                del self._following[operation]
                if operation not in self._finished:
                    self._send_quietly({"id": operation, "type": "complete"})

    def close(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            try:
                socket.close()
            except Exception:  # noqa: BLE001 - closing a broken socket must not hide why it broke
                return

    def __enter__(self) -> DeploymentStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Waiting ------------------------------------------------------------------------------------------------------

    def wait(self, seconds: float) -> list[Deployment]:
        """The pushes that arrive within ``seconds`` (at least one, or none after that long: silence)."""
        if getattr(self.clock, "virtual", False):
            return self._wait_virtual(seconds)
        deadline = self.clock.monotonic() + max(0.0, seconds)
        updates: list[Deployment] = []
        while True:
            left = deadline - self.clock.monotonic()
            message = self._receive(left if not updates else 0.0)
            if message is None:
                return updates
            updates.extend(self._handle(message))
            if updates and left <= 0:
                return updates

    def _wait_virtual(self, seconds: float) -> list[Deployment]:
        """On a test clock nothing happens until time moves: move it a step, then ask the server (ping) to push
        what is due by now; its pong comes after those pushes, so each step's updates are all read at once."""
        waited = 0.0
        while True:
            step = min(VIRTUAL_STEP, max(0.0, seconds - waited))
            self.clock.sleep(step)
            waited += step
            self._send({"type": "ping", "payload": self._clock_header()})
            updates: list[Deployment] = []
            while True:
                message = self._receive(self.open_timeout)
                if message is None:
                    raise StreamLost("no pong from the subscription socket")
                if message.get("type") == "pong":
                    break
                updates.extend(self._handle(message))
            if updates or waited >= seconds:
                return updates

    def _handle(self, message: dict[str, Any]) -> list[Deployment]:
        kind = message.get("type")
        operation = str(message.get("id", ""))
        if kind == "ping":
            self._send({"type": "pong"})
            return []
        if kind == "pong":
            return []
        if kind == "next":
            payload = message.get("payload")
            if not isinstance(payload, dict):
                raise StreamLost("a subscription message without a payload")
            if payload.get("errors"):
                raise StreamLost("Railway reported an error on the subscription: " + _messages(payload["errors"]))
            node = (payload.get("data") or {}).get("deployment")
            if not isinstance(node, dict) or "id" not in node:
                raise StreamLost("a subscription message without the deployment")
            deployment = Deployment.from_node(node)
            if deployment.status in LIVE_STATUSES or deployment.status in FAILED_STATUSES:
                self._finished.add(operation)
            self.messages += 1
            return [deployment] if operation in self._following else []
        if kind == "error":
            raise StreamLost("Railway refused the subscription: " + _messages(message.get("payload")))
        if kind == "complete":
            if operation in self._following and operation not in self._finished:
                raise StreamLost("Railway ended the subscription before the deployment finished")
            return []
        raise StreamLost(f"an unexpected subscription message ({str(kind)[:40]!r})")

    # The socket ---------------------------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        from websockets.exceptions import WebSocketException

        if self._socket is None:
            raise StreamLost("the subscription socket is closed")
        try:
            self._socket.send(json.dumps(message))
        except (WebSocketException, OSError) as error:
            raise StreamLost(f"the subscription socket dropped ({type(error).__name__})") from None

    def _send_quietly(self, message: dict[str, Any]) -> None:
        try:
            self._send(message)
        except StreamLost:
            return

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        """One message, or None when none came within ``timeout`` seconds."""
        from websockets.exceptions import WebSocketException

        if self._socket is None:
            raise StreamLost("the subscription socket is closed")
        try:
            raw = self._socket.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            return None
        except (WebSocketException, OSError) as error:
            raise StreamLost(f"the subscription socket dropped ({type(error).__name__})") from None
        try:
            message = json.loads(raw)
        except ValueError:
            raise StreamLost("a subscription message that is not JSON") from None
        if not isinstance(message, dict):
            raise StreamLost("a subscription message that is not a JSON object")
        return message


def _messages(errors: object) -> str:
    items = errors if isinstance(errors, list) else [errors]
    texts = [str(e.get("message", "")) if isinstance(e, dict) else str(e) for e in items]
    return "; ".join(t for t in texts if t)[:300] or "no message"


def stream_opener(client: RailwayClient) -> Callable[[], DeploymentStream]:
    """How the deploy waiter opens the stream: the client's endpoint, token and clock."""

    def open_stream() -> DeploymentStream:
        return DeploymentStream(client.credentials, client.endpoint, clock=client.clock).open()

    return open_stream
