"""What one client may take from the server: body size, time to send a request, connections.

uvicorn closes a connection idle between requests (``timeout_keep_alive``, here ``idle_timeout``)
but has no limit on how long a request's headers or body may take to arrive, and it reads a
request whose client sends nothing at all forever. ``protocol_class`` adds those to uvicorn's own
HTTP/1.1 protocol (h11):

* idle: a new connection, like one between requests, is closed after ``idle_timeout`` s of silence;
* headers: once a request's first byte arrives, its headers must be complete within
  ``header_timeout`` s, or the server answers 408 and closes;
* body: ``read_body`` gives the whole body ``body_timeout`` s (408), refuses one over
  ``max_body_bytes`` (413) from its Content-Length before sending ``100 Continue``, and stops
  reading one that keeps coming at twice the limit;
* connections: past ``max_connections``, a connection's request is answered 503 with Retry-After
  and the connection closed, so that a flood is shed rather than queued;
* memory: the bodies that all requests hold at once, counted from each one's Content-Length or as
  it arrives, stay within ``max_buffered_body_bytes`` (``BodyBudget``); a request past it gets a 503
  with Retry-After and its connection is closed.

An answer given while the client is still sending a body nobody read (a 413 or 408, or a 404 or a
status GET that never reads one) ends the connection: the server shuts down its sending side and
discards what the client still sends for up to ``idle_timeout`` s (RFC 9112 section 9.6,
"lingering close"), so that the client reads the answer, not a reset.
"""

import asyncio
import contextlib
import dataclasses
import json
import re
from typing import Callable, Dict, Iterator, Optional

import h11
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from uvicorn.protocols.http.h11_impl import H11Protocol

RETRY_AFTER_S = 1  # what a shed request is told
# HTTP's grammar for Content-Length: str.isdigit() would also take Unicode digits such as "²", which int() rejects.
_DIGITS = re.compile(r"[0-9]+")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request and per-connection limits (see the module docstring); times in seconds."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_instances: int = 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 5.0
    max_connections: int = 512
    max_buffered_body_bytes: int = 256 * 1024 * 1024


class RequestError(Exception):
    """A request the server refuses, with the HTTP status, the message for ``{"error": ...}`` and headers."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(message: str) -> bytes:
    """TF Serving's error body, ``{"error": "..."}``, for every error the server answers."""
    return json.dumps({"error": message}).encode()


def error_response(status: int, message: str, headers: Optional[dict] = None) -> Response:
    """A response with TF Serving's error body, ``{"error": "..."}``."""
    return Response(error_body(message), status, headers, media_type="application/json")


def shed(message: str, headers: Optional[Dict[str, str]] = None) -> RequestError:
    """A 503 for a saturated server, with Retry-After (and ``headers``)."""
    headers = {"Retry-After": str(RETRY_AFTER_S), **(headers or {})}
    return RequestError(503, f"{message}; retry in {RETRY_AFTER_S} s", headers)


class ClientGone(Exception):
    """The client closed the connection before its request was in: nobody to answer."""


CLOSE = {"Connection": "close"}


class BodyBudget:
    """The request body bytes all requests together hold in memory, and the most they may (a 503 past it).

    Used on the event loop only, so it needs no lock.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0

    @contextlib.contextmanager
    def share(self) -> Iterator[Callable[[int], None]]:
        """One request's share, freed when the block ends; it yields ``grow_to(size)``, which raises a 503 (the
        connection closed: the body is left unread) when the share cannot grow to ``size`` bytes."""
        taken = 0

        def grow_to(size: int) -> None:
            nonlocal taken
            if size <= taken:
                return
            if self.held + size - taken > self.limit:
                message = f"the server holds {self.held:,} bytes of request bodies and its limit is {self.limit:,}"
                raise shed(message, CLOSE)
            self.held += size - taken
            taken = size

        try:
            yield grow_to
        finally:
            self.held -= taken


async def read_body(request: Request, limits: Limits, grow_to: Callable[[int], None]) -> bytes:
    """The request body, or RequestError 413 (too big), 408 (too slow) or 503; ClientGone when the client left.

    A body over the limit whose client is already sending it is read, and dropped, up to twice the
    limit, so that the client gets the 413 on a connection it can keep; past that, and whenever
    the client waits for ``100 Continue``, the 413 comes at once and the connection closes. What is
    kept counts against the server's ``BodyBudget`` through ``grow_to``: the declared length at once.
    """
    limit = limits.max_body_bytes
    header = request.headers.get("content-length", "")
    declared = int(header) if _DIGITS.fullmatch(header) else 0  # 0: chunked, counted as it arrives
    if declared > limit:
        waiting = request.headers.get("expect", "").lower() == "100-continue"
        if waiting or declared > 2 * limit:
            raise RequestError(413, f"the request body has {declared} bytes; the limit is {limit}", CLOSE)
    else:
        grow_to(declared)
    # A timer that cancels this task, rather than anyio.fail_after: that costs more than reading a small body.
    task, expired = asyncio.current_task(), []
    timer = asyncio.get_running_loop().call_later(limits.body_timeout, lambda: expired.append(task.cancel()))
    try:
        return await _read_within(request, limit, grow_to)
    except asyncio.CancelledError:
        if not expired:
            raise
        raise RequestError(408, f"the request body did not arrive within {limits.body_timeout:g} s", CLOSE) from None
    except ClientDisconnect:
        raise ClientGone() from None
    finally:
        timer.cancel()


async def _read_within(request: Request, limit: int, grow_to: Callable[[int], None]) -> bytes:
    """The body up to ``limit`` bytes (see ``read_body``)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            grow_to(size)
            chunks.append(chunk)
        elif size > 2 * limit:
            raise RequestError(413, f"the request body passed {size} bytes; the limit is {limit}", CLOSE)
    if size > limit:
        raise RequestError(413, f"the request body has {size} bytes; the limit is {limit}")
    return b"".join(chunks)


def protocol_class(limits: Limits) -> type:
    """uvicorn's h11 protocol with ``limits`` (pass as ``uvicorn.run(http=...)``)."""
    return type("LimitedH11Protocol", (LimitedH11Protocol,), {"limits": limits})


def _raw_response(status: str, message: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection, for when no request is there to answer."""
    body = error_body(message)
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return f"{head}connection: close\r\n\r\n".encode() + body


class LimitedH11Protocol(H11Protocol):
    """uvicorn's ``H11Protocol`` with header and idle timeouts, a connection cap, and ``_Transport``."""

    limits = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:
        """Counts the connection, sheds it past the cap, and starts its idle timer."""
        self._header_timer: Optional[asyncio.TimerHandle] = None
        self._wrapped = _Transport(transport, self)
        super().connection_made(self._wrapped)  # every write and close uvicorn makes goes through it
        if len(self.connections) > self.limits.max_connections:
            self.app = self._shed
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        """Times the headers of a request that starts here; discards data while lingering."""
        if self._wrapped.lingering:
            self._wrapped.discard(len(data))
            return
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self._header_timer is None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_too_slow)
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle and self._header_timer is not None:  # the headers are in: a new request
            self._header_timer.cancel()
            self._header_timer = None

    def on_response_complete(self) -> None:
        """Closes, lingering, when the client is still sending a body the answer did not read; else keeps alive."""
        # A route that answers without the body (a status GET, a 404 or 405) leaves the client sending it. uvicorn
        # would read on, and its first byte stops the keep-alive timer with no other running: open forever.
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.transport.close()
        super().on_response_complete()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        """Stops this connection's timers."""
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._wrapped.stop()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        """Answers 408 and closes: the request's headers did not arrive in time."""
        self._header_timer = None
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            message = f"the request headers did not arrive within {self.limits.header_timeout:g} s"
            self.transport.write(_raw_response("408 Request Timeout", message))
            self.transport.close()

    async def _shed(self, scope, receive, send) -> None:
        """The ASGI app of a connection past the cap: 503 with Retry-After, then close."""
        error = shed(f"the server is at its limit of {self.limits.max_connections} connections", CLOSE)
        await error_response(error.status, error.message, error.headers)(scope, receive, send)


class _Transport:
    """The connection's transport: ``close`` lingers while the client is still sending a body, and what one step of
    the event loop writes goes out in one system call (uvicorn writes a response's head and body apart)."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedH11Protocol):
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
        """Closes now, or, when the client is sending a body nobody reads, half-closes and lingers."""
        self._flush()
        body_unread = self._protocol.conn.their_state is h11.SEND_BODY
        if self.lingering or not body_unread or not self._transport.can_write_eof() or self._transport.is_closing():
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
