"""What a predict body may hold beyond plain JSON, against a real server on the tiny model (test_serving_protocol.py):
an input the model fails on inside TensorFlow (a 500 that names no internals), and a body sent with Content-Encoding
(gzip inflated within the size limit, as TF Serving does; other codings refused with 415).
"""

import gzip
import json
import zlib

import pytest
from test_serving import wait_for
from test_serving_limits import request_head
from test_serving_protocol import (
    CHECK_MESSAGE,
    MAX_BODY_BYTES,
    PREDICT,
    WHITE,
    answers,
    connect,
    exchange,
    predict_body,
    read_responses,
    tiny_server,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The tiny model's server, as test_serving_protocol.py starts it."""
    yield from tiny_server(tmp_path_factory)


INTERNAL_ERROR = {"error": "internal error: see the server log"}  # docs/serving.md, "Errors"
# What would tell a client about the server's insides: a traceback, a source file, an exception's class or text.
INTERNALS = ["Traceback", ".py", "/", "tensorflow", "InvalidArgumentError", "Error:", "assert", CHECK_MESSAGE, "node"]


def post(server, body: bytes, headers: dict) -> tuple:
    """A predict with ``body`` and ``headers`` on a new connection, closed after it: its status, headers and body."""
    head = request_head("POST", PREDICT, {"Content-Length": len(body), "Connection": "close", **headers})
    (response, _) = exchange(server, head + body)
    return response


@pytest.mark.parametrize("columnar", [False, True], ids=["rows", "columns"])
def test_an_input_the_model_fails_on_gets_the_documented_500_naming_no_internals(server, columnar):
    before = len(server.log())
    instances = json.loads(predict_body(0, WHITE))["instances"]  # a good image, then the one the model fails on
    body = json.dumps({"inputs": instances} if columnar else {"instances": instances}).encode()
    status, headers, answer = post(server, body, {})
    assert status == 500 and headers["content-type"] == "application/json"
    assert json.loads(answer) == INTERNAL_ERROR
    assert [internal for internal in INTERNALS if internal in answer.decode()] == []

    # The fault was real and is in the server's log, with its traceback: TensorFlow's error from inside the model.
    def fault_logged():
        """The log since the request, once it holds the model's error (uvicorn logs it after the answer went)."""
        log = server.log()[before:]
        return log if CHECK_MESSAGE in log else None

    logged = wait_for(fault_logged, "the model's error in the server's log")
    assert "Traceback" in logged and "InvalidArgumentError" in logged
    assert answers(server)


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "GZIP", "identity, gzip"])
def test_a_gzip_body_is_inflated_and_answered_like_the_same_body_sent_as_is(server, coding):
    body = predict_body(0, 50, 200)
    plain = post(server, body, {})
    zipped = post(server, gzip.compress(body), {"Content-Encoding": coding})
    assert plain[0] == zipped[0] == 200
    assert json.loads(zipped[2]) == json.loads(plain[2])


def test_a_gzip_bomb_is_refused_with_413_like_a_body_past_the_limit(server):
    inflated = b" " * (256 * MAX_BODY_BYTES)  # padding in a valid predict body: 16 MiB, sent as about 16 KiB
    bomb = gzip.compress(predict_body(0)[:-1] + inflated + b"}")
    assert len(bomb) < MAX_BODY_BYTES // 2
    status, _, answer = post(server, bomb, {"Content-Encoding": "gzip"})
    assert status == 413
    assert json.loads(answer) == {"error": "the gzip request body inflates past 65536 bytes; the limit is 65536"}
    just_under = gzip.compress(predict_body(0)[:-1] + b" " * (MAX_BODY_BYTES - len(predict_body(0))) + b"}")
    assert post(server, just_under, {"Content-Encoding": "gzip"})[0] == 200  # the limit, not a lower one


BROKEN_GZIP = [
    pytest.param(b"not gzip at all", "the gzip request body is corrupt (Error -3", id="not-gzip"),
    pytest.param(gzip.compress(predict_body(0))[:-12], "the gzip request body is cut short", id="cut-short"),
    pytest.param(
        gzip.compress(predict_body(0)) + b"tail", "the gzip request body has 4 bytes after its end", id="tail"
    ),
    pytest.param(zlib.compress(predict_body(0)), "the gzip request body is corrupt (Error -3", id="zlib-not-gzip"),
]


@pytest.mark.parametrize("body, message", BROKEN_GZIP)
def test_a_broken_gzip_body_gets_a_400_saying_so(server, body, message):
    status, _, answer = post(server, body, {"Content-Encoding": "gzip"})
    assert status == 400 and json.loads(answer)["error"].startswith(message)


@pytest.mark.parametrize("coding", ["deflate", "br", "zstd", "gzip, gzip", "compress"])
def test_another_content_encoding_gets_a_415_naming_gzip_before_its_body_is_read(server, coding):
    body = predict_body(0)
    with connect(server) as sock, sock.makefile("rb") as stream:
        # The head alone: a server that read the body first would answer 408 once the body timeout passed.
        sock.sendall(request_head("POST", PREDICT, {"Content-Length": len(body), "Content-Encoding": coding}))
        ((status, headers, answer),) = read_responses(stream, 1)
    assert status == 415 and headers["accept-encoding"] == "gzip"
    expected = f"Content-Encoding '{coding.lower()}' is not supported: send the body as is or as gzip"
    assert json.loads(answer) == {"error": expected}
    assert answers(server)
