"""Predict bodies sent with ``Content-Encoding``: gzip is inflated, as TF Serving's HTTP server does; others get a 415.

TF Serving inflates a request body whose Content-Encoding names gzip (net_http's
``auto_uncompress_input``, on by default), so clients written for it may send one. Here the size
limit, ``max_body_bytes``, holds for the body as sent and again for what it inflates to: inflating
stops one byte past the limit, so a gzip bomb costs no more than a body of the largest size, and
gets a 413. A corrupt or cut-short gzip body is a 400. Any other coding (deflate, br, zstd, ...)
gets a 415 with ``Accept-Encoding: gzip`` (RFC 9110 section 15.5.16) before its body is read.
"""

import zlib
from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from serving.images import quoted
from serving.limits import Limits, RequestError, read_body

GZIP = ("gzip", "x-gzip")  # RFC 9110 section 8.4.1.3: a recipient treats x-gzip as gzip
IDENTITY = "identity"  # no coding at all
GZIP_WINDOW = 16 + zlib.MAX_WBITS  # zlib's wbits for a gzip header and trailer around the deflate data


def is_gzip(request: Request) -> bool:
    """Whether the body is gzip (False: no coding); RequestError 415 for any other coding."""
    values = request.headers.getlist("content-encoding")
    codings = [coding.strip().lower() for value in values for coding in value.split(",")]
    codings = [coding for coding in codings if coding not in ("", IDENTITY)]
    if not codings:
        return False
    if len(codings) == 1 and codings[0] in GZIP:
        return True
    named = quoted(", ".join(codings))
    message = f"Content-Encoding {named} is not supported: send the body as is or as gzip"
    raise RequestError(415, message, {"Accept-Encoding": "gzip"})


def gunzip(body: bytes, limit: int) -> bytes:
    """The inflated gzip ``body``: RequestError 413 past ``limit`` bytes, 400 when it is not one whole gzip stream."""
    inflater = zlib.decompressobj(GZIP_WINDOW)
    try:
        inflated = inflater.decompress(body, limit + 1)  # one byte past the limit tells a bomb; nothing more is made
    except zlib.error as e:
        raise RequestError(400, f"the gzip request body is corrupt ({e})") from None
    if len(inflated) > limit:
        raise RequestError(413, f"the gzip request body inflates past {limit} bytes; the limit is {limit}")
    if not inflater.eof:
        raise RequestError(400, "the gzip request body is cut short")
    if inflater.unused_data:
        raise RequestError(400, f"the gzip request body has {len(inflater.unused_data)} bytes after its end")
    return inflated


async def read_decoded_body(request: Request, limits: Limits, grow_to: Callable[[int], None]) -> bytes:
    """``read_body``'s body, inflated when it is gzip; a 415 for another coding comes before the body is read."""
    gzipped = is_gzip(request)
    body = await read_body(request, limits, grow_to)
    if not gzipped:
        return body
    # Off the event loop: inflating up to the limit takes milliseconds, which every other connection would wait.
    inflated = await run_in_threadpool(gunzip, body, limits.max_body_bytes)
    grow_to(len(body) + len(inflated))  # both are held until the request is answered
    return inflated
