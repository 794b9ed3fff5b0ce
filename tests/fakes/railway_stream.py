"""The Railway simulator's subscriptions: graphql-transport-ws on the API's own URL, pushing deployment statuses as
the simulator's clock moves them, with the faults a real socket has (upgrade refused, dropped, gone silent).

The simulator's HTTP handler hands a WebSocket upgrade (``GET`` with ``Upgrade: websocket``) to ``serve``. The
WebSocket framing is websockets' sans-I/O protocol; the GraphQL side is this module: ``connection_init`` →
``connection_ack``, ``subscribe`` (validated against Railway's schema, authorised like a query) → a ``next`` each
time the deployment's status changes, the first being its state when subscribing → ``complete`` once it is final;
``ping`` → pushes due by now, then ``pong``.

Time: pushes follow ``sim.clock``. A client on a virtual clock moves time itself and pings; the server first
catches up with that time (the client's announced clock, or ``advance_per_ping``), pushes what changed, then
answers pong — so a test sees every status change at the virtual second it happened, without sleeping.
"""

from __future__ import annotations

import json
import select
import socket
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, OperationType
from graphql.error import GraphQLSyntaxError
from graphql.utilities import value_from_ast_untyped
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from kars_actions.railway.stream import VIRTUAL_STEP

if TYPE_CHECKING:
    from tests.fakes.railway_sim import RailwaySim

PROTOCOL = "graphql-transport-ws"
FINAL = frozenset({"SUCCESS", "SLEEPING", "FAILED", "CRASHED", "REMOVED", "SKIPPED"})


@dataclass
class StreamControl:
    """Faults and accounting of the simulator's subscriptions (``stream_control(sim)``)."""

    refuse: int = 0  # WebSocket upgrades to refuse with HTTP 503
    drop_after: int | None = None  # cut the socket (no close frame) after this many pushes in all
    silent: bool = False  # accept subscriptions and answer pings, but never push
    # Simulated seconds each client ping moves the clock. None: a client's virtual step (1 s) when the simulator
    # moves time per request (``advance_per_request``), as the CLI's clock does between pings; else nothing.
    advance_per_ping: float | None = None
    subscribed: list[str] = field(default_factory=list)  # deployment ids, in order of subscription
    pushes: int = 0
    refused: int = 0
    dropped: int = 0
    closed: int = 0  # sockets the client ended with a close frame (a waiter done with the stream)


def stream_control(sim: RailwaySim) -> StreamControl:
    control: StreamControl | None = getattr(sim, "_stream_control", None)
    if control is None:
        control = StreamControl()
        sim._stream_control = control  # type: ignore[attr-defined]
    return control


def is_upgrade(handler: BaseHTTPRequestHandler) -> bool:
    return handler.headers.get("Upgrade", "").lower() == "websocket"


def serve(sim: RailwaySim, handler: BaseHTTPRequestHandler) -> None:
    """Answer one WebSocket upgrade and run its session until either side closes or the simulator stops."""
    control = stream_control(sim)
    handler.close_connection = True
    protocol = ServerProtocol(subprotocols=[PROTOCOL])  # type: ignore[list-item]
    # The HTTP server already read the request; the protocol object parses it again from the same bytes.
    raw = handler.requestline + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in handler.headers.items()) + "\r\n"
    protocol.receive_data(raw.encode("latin-1"))
    request = next(e for e in protocol.events_received() if isinstance(e, Request))
    with sim.lock:
        refuse = control.refuse > 0
        if refuse:
            control.refuse -= 1
            control.refused += 1
    response = protocol.reject(503, "Subscriptions are unavailable\n") if refuse else protocol.accept(request)
    protocol.send_response(response)
    connection: socket.socket = handler.connection
    connection.sendall(b"".join(protocol.data_to_send()))
    if response.status_code != 101:
        return
    token = handler.headers.get("Project-Access-Token")
    bearer = handler.headers.get("Authorization", "")
    kind, value = ("project", token) if token else ("account", bearer.removeprefix("Bearer ").strip())
    _Session(sim, control, protocol, connection, kind, value).run()


@dataclass
class _Subscription:
    deployment_id: str
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    last_status: str | None  # the status last pushed; None until the first message (the state when subscribing)


class _Session:
    def __init__(
        self,
        sim: RailwaySim,
        control: StreamControl,
        protocol: ServerProtocol,
        connection: socket.socket,
        kind: str,
        token: str,
    ) -> None:
        self.sim = sim
        self.control = control
        self.protocol = protocol
        self.connection = connection
        self.kind = kind
        self.token = token
        self.subscriptions: dict[str, _Subscription] = {}
        self.acknowledged = False
        self.cut = False

    def run(self) -> None:
        stopping = self.sim._stop
        while not stopping.is_set() and not self.cut and self.protocol.state is not State.CLOSED:
            readable, _, _ = select.select([self.connection], [], [], 0.01)
            if readable:
                try:
                    data = self.connection.recv(65536)
                except OSError:
                    return
                if not data:
                    self.protocol.receive_eof()
                else:
                    self.protocol.receive_data(data)
                for event in self.protocol.events_received():
                    if event.opcode is Opcode.TEXT and not self.cut:
                        self._on_message(event.data.decode())
                    elif event.opcode is Opcode.CLOSE:
                        # Counted before the close is answered: the client waits for that answer before it ends.
                        self.control.closed += 1
            if not self.cut:
                self._push_due()
            if not self._flush():
                return
            if self.protocol.state is State.CLOSED or self.protocol.close_expected():
                self._flush()
                return

    def _flush(self) -> bool:
        if self.cut:
            return False
        data = b"".join(self.protocol.data_to_send())
        if data:
            try:
                self.connection.sendall(data)
            except OSError:
                return False
        return True

    def _send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())

    # Messages ---------------------------------------------------------------------------------------------------

    def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            self.protocol.send_close(4400, "Invalid message")
            return
        kind = message.get("type")
        if kind == "connection_init":
            self.acknowledged = True
            self._send({"type": "connection_ack"})
        elif kind == "ping":
            self._catch_up((message.get("payload") or {}).get("X-Kars-Virtual-Clock"))
            self._push_due()
            self._send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            if not self.acknowledged:
                self.protocol.send_close(4401, "Unauthorized")
                return
            self._subscribe(str(message.get("id")), message.get("payload") or {})
        elif kind == "complete":
            self.subscriptions.pop(str(message.get("id")), None)
        else:
            self.protocol.send_close(4400, f"Unknown message type {kind!r}")

    def _catch_up(self, announced: object) -> None:
        follow = getattr(self.sim, "_follow", None)
        if isinstance(announced, str) and getattr(self.sim, "follow_client_clock", False) and follow is not None:
            follow(announced)
        elif self.control.advance_per_ping is not None:
            self.sim.clock.advance(self.control.advance_per_ping)
        elif self.sim.advance_per_request:
            self.sim.clock.advance(VIRTUAL_STEP)

    def _subscribe(self, operation_id: str, payload: dict[str, Any]) -> None:
        from tests.fakes.railway_sim import SimError, _Auth, _operation, parse_query, schema_errors

        def refuse(text: str) -> None:
            self._send({"id": operation_id, "type": "error", "payload": [{"message": text}]})

        try:
            query = payload["query"]
            document = parse_query(query)
        except (KeyError, TypeError, GraphQLSyntaxError) as error:
            refuse(f"invalid subscription: {error}")
            return
        if self.sim.validate:
            errors = schema_errors(query)
            if errors:
                refuse("; ".join(errors))
                return
        operation = _operation(document, payload.get("operationName"))
        if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
            refuse("not a subscription")
            return
        fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
        if len(fields) != 1 or fields[0].name.value != "deployment":
            refuse("the simulator serves only the deployment subscription")
            return
        variables = payload.get("variables") or {}
        args = {a.name.value: value_from_ast_untyped(a.value, variables) for a in fields[0].arguments or ()}
        with self.sim.lock:
            try:
                deployment = self.sim._find(_Auth(self.kind, self.token, self.sim), str(args.get("id")))
            except SimError as error:
                refuse(str(error))
                return
            self.control.subscribed.append(deployment.id)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        # Railway's first message is the deployment as it is when the subscription starts, then one per change. The
        # first one travels over the socket while the client may already read a fresher status over HTTP: a client
        # that applies it as news sees the status go backwards.
        self.subscriptions[operation_id] = _Subscription(deployment.id, operation, fragments, None)
        self._push_due()

    def _push_due(self) -> None:
        if self.control.silent or not self.subscriptions:
            return
        from tests.fakes.railway_sim import _select

        with self.sim.lock:
            now = self.sim.clock.monotonic()
            self.sim._settle(now)
            for operation_id, sub in list(self.subscriptions.items()):
                node = self.sim._node(self.sim.deployment(sub.deployment_id))
                if node["status"] == sub.last_status:
                    continue
                sub.last_status = node["status"]
                field_node = next(s for s in sub.operation.selection_set.selections if isinstance(s, FieldNode))
                data = {"deployment": _select(node, field_node.selection_set, sub.fragments)}
                self._send({"id": operation_id, "type": "next", "payload": {"data": data}})
                self.control.pushes += 1
                if node["status"] in FINAL:
                    self._send({"id": operation_id, "type": "complete"})
                    del self.subscriptions[operation_id]
                if self.control.drop_after is not None and self.control.pushes >= self.control.drop_after:
                    self.control.drop_after = None
                    self.control.dropped += 1
                    self._cut()
                    return

    def _cut(self) -> None:
        """Send what is queued, then drop the TCP connection without a close frame (a network drop)."""
        self._flush()
        self.cut = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
