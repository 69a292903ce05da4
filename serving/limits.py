"""What one client may take from the server: body size, header size, time to send a request, connections.

uvicorn closes a connection idle between requests (``timeout_keep_alive``, here ``idle_timeout``)
but has no limit on how long a request's headers or body may take to arrive, and it reads a
request whose client sends nothing at all forever. ``protocol_class`` adds those to uvicorn's own
HTTP/1.1 protocol (h11):

* idle: a new connection, like one between requests, is closed after ``idle_timeout`` s of silence;
* header size: a request line and headers past ``MAX_HEADER_BYTES`` get a 431 and the connection
  closed, however the bytes arrived (h11 caps only headers still incomplete after a read; one read
  may hold a whole request of 256 KiB);
* framing: a request with both Content-Length and Transfer-Encoding, the stuff of request smuggling,
  gets a 400 and the connection closed (RFC 9112 section 6.1); one h11 cannot parse gets a 400;
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

An answer given while the client is still sending what nobody reads ends the connection with a
lingering close (serving/transport.py), so that the client reads the answer, not a reset.
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
from uvicorn.protocols.http.h11_impl import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE, H11Protocol

from serving.transport import LingeringTransport

RETRY_AFTER_S = 1  # what a shed request is told
# The request line and headers, in bytes: h11's cap on headers still incomplete (uvicorn's default), for all.
MAX_HEADER_BYTES = DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
HEADER_OVERHEAD = len(": \r\n")  # what each header line adds to its name and value
HEADERS_TOO_LARGE = f"the request line and headers pass {MAX_HEADER_BYTES} bytes"
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


def refusal(scope: dict) -> Optional[RequestError]:
    """Why a request whose headers h11 parsed is refused before any route sees it (None: it is not)."""
    headers = scope["headers"]
    size = len(scope["method"]) + len(scope["raw_path"]) + len(scope["query_string"])
    size += sum(len(name) + len(value) + HEADER_OVERHEAD for name, value in headers)
    if size > MAX_HEADER_BYTES:
        return RequestError(431, HEADERS_TOO_LARGE, CLOSE)
    names = {name for name, _ in headers}  # lower case: uvicorn lowers them
    if b"content-length" in names and b"transfer-encoding" in names:
        # h11 would frame the body by Transfer-Encoding, a proxy in front perhaps by Content-Length: what one of
        # them reads as a body the other reads as the next request.
        return RequestError(400, "a request may not have both Content-Length and Transfer-Encoding", CLOSE)
    return None


def _raw_response(status: str, message: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection, for when no request is there to answer."""
    body = error_body(message)
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return f"{head}connection: close\r\n\r\n".encode() + body


class LimitedH11Protocol(H11Protocol):
    """uvicorn's ``H11Protocol`` with the module docstring's limits, on a ``LingeringTransport``."""

    limits = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:
        """Counts the connection, sheds it past the cap, and starts its idle timer."""
        self._header_timer: Optional[asyncio.TimerHandle] = None
        self._wrapped = LingeringTransport(transport, self)
        super().connection_made(self._wrapped)  # every write and close uvicorn makes goes through it
        self._app = self.app
        self.app = self._shed if len(self.connections) > self.limits.max_connections else self._checked
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

    def send_400_response(self, msg: str) -> None:
        """Answers a request h11 cannot parse, in TF Serving's error body (uvicorn's is plain text), and closes."""
        # h11 gives up on headers still incomplete past the cap: what it holds unparsed then is past the cap.
        if len(self.conn.trailing_data[0]) > MAX_HEADER_BYTES:
            status, message = "431 Request Header Fields Too Large", HEADERS_TOO_LARGE
        else:
            status, message = "400 Bad Request", "malformed HTTP request"
        self.transport.write(_raw_response(status, message))
        self.transport.close()

    async def _checked(self, scope, receive, send) -> None:
        """The app, for a request ``refusal`` lets through; else the refusal."""
        error = refusal(scope)
        app = self._app if error is None else error_response(error.status, error.message, error.headers)
        await app(scope, receive, send)

    async def _shed(self, scope, receive, send) -> None:
        """The ASGI app of a connection past the cap: 503 with Retry-After, then close."""
        error = shed(f"the server is at its limit of {self.limits.max_connections} connections", CLOSE)
        await error_response(error.status, error.message, error.headers)(scope, receive, send)
