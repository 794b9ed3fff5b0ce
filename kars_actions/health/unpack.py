"""Undo a health answer's Content-Encoding in bounded steps, so a small compressed body cannot unpack past a cap."""

from __future__ import annotations

import zlib

# What the poller offers in Accept-Encoding; a server that answers with anything else is reported, not guessed at.
OFFERED = "gzip, deflate"
_KNOWN = frozenset({"gzip", "x-gzip", "deflate", "identity"})


class UnsupportedEncoding(ValueError):
    """The answer came with a Content-Encoding the poller did not offer."""


class _Layer:
    """One zlib stream. ``deflate`` is meant to carry a zlib header, but raw deflate is common: both are read."""

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        self._started = False
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS if self._deflate else zlib.MAX_WBITS | 16)
        self.tail = b""

    def inflate(self, data: bytes, limit: int) -> bytes:
        """At most ``limit`` bytes out; the input it could not use yet waits in ``tail``."""
        if self._inflater.eof:
            self.tail = b""
            return b""
        try:
            out = self._inflater.decompress(data, limit)
        except zlib.error:
            if not self._deflate or self._started:
                raise
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._inflater.decompress(data, limit)
        self._started = True
        self.tail = self._inflater.unconsumed_tail
        return out


class Unpacker:
    """Feed the body as it arrives on the wire, get it decoded; ``over`` turns true once it passes ``cap`` bytes.

    Each layer is asked for no more than is still allowed (plus one byte, to see the overflow) and keeps the input
    it could not use yet, so memory stays near ``cap`` whatever the compression ratio: a body of zeros gzipped
    twice (16 GiB in 38 KB) stops after ``cap`` bytes, having read a few hundred bytes from the socket.
    """

    def __init__(self, content_encoding: str, cap: int) -> None:
        names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
        for name in names:
            if name not in _KNOWN:
                raise UnsupportedEncoding(name)
        # Listed in the order they were applied: the last one is undone first.
        self._layers = [_Layer(n) for n in reversed(names) if n != "identity"]
        self.encoding = ", ".join(n for n in names if n != "identity")
        self.cap = cap
        self.size = 0  # decoded bytes seen, up to cap + 1
        self.wire = 0  # bytes received
        self.over = False
        self._out: list[bytes] = []

    @property
    def compressed(self) -> bool:
        return bool(self._layers)

    def feed(self, chunk: bytes) -> bytes:
        """The decoded bytes ``chunk`` yields, never past ``cap`` in all. Raises ``zlib.error`` on a corrupt body."""
        self.wire += len(chunk)
        self._out = []
        self._push(0, chunk)
        return b"".join(self._out)

    def _push(self, index: int, data: bytes) -> None:
        if index == len(self._layers):
            room = self.cap - self.size
            self.size += len(data)
            if len(data) > room:
                data, self.over = data[:room], True
            self._out.append(data)
            return
        layer = self._layers[index]
        while not self.over:
            piece = layer.inflate(data, max(1, self.cap - self.size + 1))
            data = layer.tail
            if piece:
                self._push(index + 1, piece)
            if not data or not piece:
                return
