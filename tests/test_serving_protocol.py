"""HTTP/1.1 as a hostile or merely unusual client speaks it, against a real server on loopback: timeouts measured,
header floods, request smuggling, pipelining, and the address the server listens on by default.

The server serves a small real SavedModel saved here in seconds (``save_tiny_model``), so these tests need no
pipeline run. Raw sockets, because HTTP client libraries neither pipeline nor send both Content-Length and
Transfer-Encoding. Every read waits at most SOCKET_WAIT_S; the timeouts' tests are the only ones that time anything.
"""

import json
import socket
import time
from typing import Iterator

import httpx
import psutil
import pytest
import tensorflow as tf
from test_serving_limits import read_until_closed, request_head, trickle

from benchmarks.server_process import ServerProcess
from models import features
from serving import options
from serving import server as server_command
from serving.app import VERSION_HEADER
from serving.limits import MAX_HEADER_BYTES

MODEL = "tiny"
HEIGHT, WIDTH, CHANNELS = 4, 4, 1
CLASS_COUNT = 3
# Like a model exported with checks on its input, the tiny model fails inside TensorFlow on an all-white image.
WHITE = 255
CHECK_MESSAGE = "tiny model: an all-white image is out of range"
MAX_BODY_BYTES = 64 * 1024
IDLE_TIMEOUT_S, HEADER_TIMEOUT_S, BODY_TIMEOUT_S = 1.0, 1.5, 2.0  # apart, so that a wrong timer shows
EARLY_S = 0.05  # a timer may start a little before the client's clock does (accept, then the client's next line)
LATE_S = 1.0  # how late past its configured value a timeout may fire
SOCKET_WAIT_S = 60  # bounds every read, so that a server that never answers fails the test instead of hanging it
STATUS = f"/v1/models/{MODEL}"
PREDICT = f"{STATUS}:predict"
METADATA = f"{STATUS}/metadata"


class TinyClassifier(tf.Module):
    """A linear classifier on raw uint8 HWC pixels, with the pipeline export's signatures and a check on its input."""

    def __init__(self):
        super().__init__()
        pixels = HEIGHT * WIDTH * CHANNELS
        self.weights = tf.Variable(tf.reshape(tf.range(pixels * CLASS_COUNT, dtype=tf.float32), [pixels, -1]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def transform(self, image):
        """Transform's output, ``image_xf`` [batch, height, width, channels]: where the server reads the shape."""
        pixels = tf.cast(tf.io.decode_raw(image, tf.uint8), tf.float32) / 255.0
        return {features.IMAGE_XF: tf.reshape(pixels, [-1, HEIGHT, WIDTH, CHANNELS])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE)])
    def serve_image(self, image):
        """``serving_image``: probabilities and classes for raw pixel bytes."""
        scaled = self.transform(image)[features.IMAGE_XF]
        check = tf.debugging.assert_less(tf.reduce_min(scaled, axis=[1, 2, 3]), 1.0, message=CHECK_MESSAGE)
        with tf.control_dependencies([check]):
            logits = tf.reshape(scaled, [tf.shape(scaled)[0], -1]) @ self.weights
        probabilities = tf.nn.softmax(logits)
        return {features.PROBABILITIES: probabilities, features.CLASSES: tf.argmax(probabilities, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples):
        """``serving_default``: the same for serialized tf.Examples whose ``image`` feature holds the pixels."""
        parsed = tf.io.parse_example(examples, {features.IMAGE: tf.io.FixedLenFeature([], tf.string)})
        return self.serve_image(parsed[features.IMAGE])


def save_tiny_model(path: str) -> None:
    """Saves a TinyClassifier to the version folder ``path``."""
    model = TinyClassifier()
    signatures = {features.IMAGE_SIGNATURE: model.serve_image, features.EXAMPLES_SIGNATURE: model.serve_examples}
    tf.saved_model.save(model, path, signatures=signatures)


def image(value: int) -> list:
    """A pixel array, [height][width][channels], every pixel ``value``."""
    return [[[value] * CHANNELS] * WIDTH] * HEIGHT


def predict_body(*values: int) -> bytes:
    """A predict request's JSON: one instance per value, every pixel of it that value."""
    return json.dumps({"instances": [image(value) for value in values]}).encode()


def tiny_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """``python -m serving.server`` on the tiny model as version 1: the default host, MAX_BODY_BYTES, the timeouts."""
    serving_dir = tmp_path_factory.mktemp("serving-tiny")
    save_tiny_model(str(serving_dir / "1"))
    log_path = str(tmp_path_factory.mktemp("server-tiny-log") / "server.log")
    flags = ["--max-body-bytes", str(MAX_BODY_BYTES), "--idle-timeout", str(IDLE_TIMEOUT_S)]
    flags += ["--header-timeout", str(HEADER_TIMEOUT_S), "--body-timeout", str(BODY_TIMEOUT_S)]
    with ServerProcess(str(serving_dir), MODEL, log_path, flags) as process:
        yield process


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The tiny model's server (``tiny_server``)."""
    yield from tiny_server(tmp_path_factory)


def connect(server) -> socket.socket:
    """A raw connection to the server; every read waits at most SOCKET_WAIT_S."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_WAIT_S)


def read_responses(stream, count: int) -> list:
    """The next ``count`` responses on a connection's ``makefile("rb")``: (status, headers in lower case, body)."""
    responses = []
    for _ in range(count):
        status_line = stream.readline()
        assert status_line.startswith(b"HTTP/1.1 "), f"not a response: {status_line!r}"
        headers = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        responses.append((int(status_line.split()[1]), headers, stream.read(int(headers["content-length"]))))
    return responses


def exchange(server, data: bytes, count: int = 1) -> list:
    """Sends ``data`` in one send on a new connection; the ``count`` responses, then what came before the close."""
    with connect(server) as sock, sock.makefile("rb") as stream:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server answered and closed before it read everything: its answer is still there to read
        responses = read_responses(stream, count)
        try:
            return responses + [stream.read()]
        except ConnectionResetError:  # a reset after the answers: closed all the same
            return responses + [b""]


def answers(server) -> bool:
    """Whether a predict on a new connection gets a 200: the server is still up for the next client."""
    return httpx.post(server.url + PREDICT, content=predict_body(0), timeout=SOCKET_WAIT_S).status_code == 200


def assert_fired_on_time(elapsed: float, configured: float) -> None:
    """The timeout fired no earlier than configured and at most LATE_S after."""
    assert configured - EARLY_S <= elapsed <= configured + LATE_S, f"fired after {elapsed:.2f} s, set to {configured}"


def test_a_silent_new_connection_is_closed_after_the_idle_timeout(server):
    with connect(server) as sock:
        start = time.monotonic()
        assert read_until_closed(sock) == b""
        elapsed = time.monotonic() - start
    assert_fired_on_time(elapsed, IDLE_TIMEOUT_S)


def test_a_keep_alive_connection_is_closed_after_the_idle_timeout_past_its_last_answer(server):
    with connect(server) as sock, sock.makefile("rb") as stream:
        sock.sendall(request_head("GET", STATUS, {}))
        assert read_responses(stream, 1)[0][0] == 200
        start = time.monotonic()
        assert stream.read() == b""
        elapsed = time.monotonic() - start
    assert_fired_on_time(elapsed, IDLE_TIMEOUT_S)


def trickled_answer(sock, data: bytes) -> tuple:
    """The server's answer to ``data`` sent a byte at a time, and the seconds from the first byte to the close."""
    start = time.monotonic()
    sender = trickle(sock, data)
    answer = read_until_closed(sock)
    elapsed = time.monotonic() - start
    sender.join(SOCKET_WAIT_S)
    return answer, elapsed


def test_headers_sent_a_byte_at_a_time_get_a_408_after_the_header_timeout(server):
    with connect(server) as sock:
        answer, elapsed = trickled_answer(sock, request_head("GET", STATUS, {"X-Padding": "x" * 100}))
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b'{"error": "the request headers did not arrive within 1.5 s"}')
    assert_fired_on_time(elapsed, HEADER_TIMEOUT_S)


def test_a_body_sent_a_byte_at_a_time_gets_a_408_after_the_body_timeout(server):
    body = predict_body(0)
    with connect(server) as sock:
        sock.sendall(request_head("POST", PREDICT, {"Content-Length": len(body)}))
        answer, elapsed = trickled_answer(sock, body)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b'{"error": "the request body did not arrive within 2 s"}')
    assert_fired_on_time(elapsed, BODY_TIMEOUT_S)


def flood(header_lines: str) -> bytes:
    """A status GET with ``header_lines`` among its headers, asking to close after the answer."""
    return f"GET {STATUS} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header_lines}Connection: close\r\n\r\n".encode()


FLOODS = [
    pytest.param("".join(f"X-F{n}: 1\r\n" for n in range(1000)), 200, id="1000-small-headers-under-the-cap"),
    pytest.param("".join(f"X-Flood-{n}: {n}\r\n" for n in range(10_000)), 431, id="10000-small-headers"),
    pytest.param(f"X-Flood: {'x' * MAX_HEADER_BYTES}\r\n", 431, id="one-header-past-the-cap"),
    pytest.param(f"X-Flood: {'x' * 1_000_000}\r\n", 431, id="one-1MB-header"),
]


@pytest.mark.parametrize("header_lines, status", FLOODS)
def test_headers_past_the_cap_get_a_431_and_the_connection_closed_and_the_server_serves_on(
    server, header_lines, status
):
    (answered, headers, body), after = exchange(server, flood(header_lines))
    assert answered == status
    assert headers["connection"] == "close" and after == b""
    if status == 431:
        assert json.loads(body) == {"error": f"the request line and headers pass {MAX_HEADER_BYTES} bytes"}
    assert answers(server)


# The smuggled request: what a front end framing by Content-Length reads as the body, h11 (by Transfer-Encoding)
# would read as the next request on the connection.
SMUGGLED = b"0\r\n\r\n" + request_head("GET", METADATA, {})


@pytest.mark.parametrize(
    "framing",
    [
        {"Content-Length": len(SMUGGLED), "Transfer-Encoding": "chunked"},
        {"Transfer-Encoding": "chunked", "Content-Length": 5},
    ],
    ids=["content-length-first", "transfer-encoding-first"],
)
def test_a_request_with_both_content_length_and_transfer_encoding_gets_a_400_and_the_connection_closed(server, framing):
    (status, headers, body), after = exchange(server, request_head("POST", PREDICT, framing) + SMUGGLED)
    assert status == 400 and headers["connection"] == "close"
    assert json.loads(body) == {"error": "a request may not have both Content-Length and Transfer-Encoding"}
    assert after == b""  # the smuggled request got no answer: the connection closed after the 400
    assert answers(server)


def test_pipelined_requests_in_one_send_are_answered_in_order(server):
    one, three = predict_body(0), predict_body(10, 20, 30)
    pipelined = [
        request_head("POST", PREDICT, {"Content-Length": len(three)}) + three,
        request_head("GET", "/v1/models/other", {}),
        request_head("GET", METADATA, {}),
        request_head("POST", PREDICT, {"Content-Length": len(one), "Connection": "close"}) + one,
    ]
    *responses, after = exchange(server, b"".join(pipelined), count=4)
    assert [status for status, _, _ in responses] == [200, 404, 200, 200]
    first, missing, metadata, last = (json.loads(body) for _, _, body in responses)
    assert len(first["predictions"]) == 3 and len(last["predictions"]) == 1
    assert responses[0][1][VERSION_HEADER.lower()] == responses[3][1][VERSION_HEADER.lower()] == "1"
    assert missing["error"].startswith("unknown model 'other'")
    assert metadata["metadata"]["image_shape"] == [HEIGHT, WIDTH, CHANNELS]
    assert after == b""


def test_the_server_listens_on_loopback_only_unless_told_otherwise(server):
    args = options.parser(server_command.PROG, "").parse_args(["--serving-dir", ".", "--model-name", MODEL])
    assert args.host == "127.0.0.1"
    assert "--host" not in server.args  # the fixture's server runs with the default
    process = psutil.Process(server.pid)
    listening = {c.laddr for c in process.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", server.port)}
