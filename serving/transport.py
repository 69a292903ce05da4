"""The transport under each connection of the REST server (serving/limits.py): lingering close, one write per step.

An answer given while the client is still sending what the server will not read (a body nobody
read after a 413, 408, 404 or status GET; headers past the cap after a 431) ends the connection: the
server shuts down its sending side and discards what the client still sends, up to
``max_body_bytes`` bytes for up to ``idle_timeout`` s (RFC 9112 section 9.6, "lingering close"),
so that the client reads the answer, not a reset. And what one step of the event loop writes goes
out in one system call, since uvicorn writes a response's head and body apart.
"""

import asyncio
from typing import Optional

import h11

# The client's states in which it may still be sending bytes the server will not read: a body, or a request h11
# gave up parsing (headers past the cap, malformed framing).
UNREAD = (h11.SEND_BODY, h11.ERROR)


class LingeringTransport:
    """The connection's transport: ``close`` lingers while the client may still be sending what nobody reads, and
    what one step of the event loop writes goes out in one system call (see the module docstring)."""

    def __init__(self, transport: asyncio.Transport, protocol):  # protocol: serving.limits.LimitedH11Protocol
        self._transport = transport
        self._protocol = protocol
        self._budget = protocol.limits.max_body_bytes  # bytes discarded before giving up on the client
        self._timer: Optional[asyncio.TimerHandle] = None
        self._pending = []  # what write was given in this step of the event loop
        self.lingering = False

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        """Sends ``data`` at the end of this step of the event loop, with whatever else the step writes."""
        if data:
            if not self._pending:
                self._protocol.loop.call_soon(self._flush)
            self._pending.append(data)

    def _flush(self) -> None:
        """Writes what ``write`` gathered, unless closing or lingering (writing after ``write_eof`` raises)."""
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        """Closes now, or, when the client may still be sending what nobody reads, half-closes and lingers."""
        self._flush()
        unread = self._protocol.conn.their_state in UNREAD
        if self.lingering or not unread or not self._transport.can_write_eof() or self._transport.is_closing():
            self._transport.close()
            return
        self.lingering = True
        self._transport.resume_reading()  # uvicorn may have paused it; the rest is read to be dropped
        self._transport.write_eof()
        # As long as an idle connection is given: a client that has not read the answer by then is not reading.
        self._timer = self._protocol.loop.call_later(self._protocol.timeout_keep_alive, self._transport.close)

    def is_closing(self) -> bool:
        """True once closing or lingering: nothing more is written."""
        return self.lingering or self._transport.is_closing()

    def discard(self, size: int) -> None:
        """Drops ``size`` bytes the client sent; closes once the budget is spent."""
        self._budget -= size
        if self._budget < 0:
            self._transport.close()

    def stop(self) -> None:
        """Cancels the linger timer (the connection is gone)."""
        if self._timer is not None:
            self._timer.cancel()
