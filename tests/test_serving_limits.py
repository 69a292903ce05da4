"""Hostile clients against a real server on loopback with tight limits: slow or silent connections, floods, huge bodies.

Raw sockets, because HTTP client libraries do not send a request a byte at a time or stop halfway.
Every wait is bounded by WAIT_S, so that a server that hangs fails the test instead of hanging it.
"""

import json
import select
import shutil
import socket
import threading
import time

import httpx
import pytest
from test_serving import MODEL, PREDICT, STATUS, WAIT_S, ZEROS, wait_for

from benchmarks.server_process import ServerProcess
from serving import versions
from serving.limits import RETRY_AFTER_S

MAX_BODY_BYTES = 64 * 1024
MAX_CONNECTIONS = 4
MAX_BUFFERED_BODY_BYTES = 2 * MAX_BODY_BYTES  # two bodies of the largest size, all connections together
TIMEOUT_S = 1.0  # the header, body and idle timeouts
TRICKLE_S = 0.25  # a slow client's pause between bytes


@pytest.fixture(scope="module")
def server(mnist_run, tmp_path_factory):
    """``python -m serving.server`` with tight limits, on a copy of the newest version the shared run pushed."""
    version, path = versions.resolve(mnist_run.config.serving_dir)
    serving_dir = tmp_path_factory.mktemp("serving-limits")
    shutil.copytree(path, serving_dir / str(version))
    log_path = str(tmp_path_factory.mktemp("server-limits-log") / "server.log")
    flags = ["--max-body-bytes", str(MAX_BODY_BYTES), "--max-connections", str(MAX_CONNECTIONS)]
    flags += ["--max-buffered-body-bytes", str(MAX_BUFFERED_BODY_BYTES)]
    for timeout in ("--header-timeout", "--body-timeout", "--idle-timeout"):
        flags += [timeout, str(TIMEOUT_S)]
    flags += ["--enable-batching", "--max-batch-size", "1", "--max-enqueued-batches", "1"]  # a queue of one instance
    flags += ["--log-level", "debug"]  # a client that leaves is a debug line
    with ServerProcess(str(serving_dir), MODEL, log_path, flags) as process:
        yield process


def connect(server) -> socket.socket:
    """A raw connection to the server; every read waits at most WAIT_S."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset after its answer counts as closed)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def read_response(sock: socket.socket) -> tuple:
    """One HTTP response: its status, headers (names in lower case) and body (as long as its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection in the body of {head!r}"
        body += chunk
    return int(status_line.split()[1]), headers, body


def trickle(sock: socket.socket, data: bytes) -> threading.Thread:
    """Sends ``data`` a byte every TRICKLE_S from a thread, until done or the server closes the connection."""

    def send() -> None:
        for byte in data:
            try:
                sock.send(bytes([byte]))
            except OSError:
                return
            time.sleep(TRICKLE_S)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def request_head(method: str, path: str, headers: dict) -> bytes:
    """An HTTP/1.1 request line and headers."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answers(server) -> bool:
    """Whether a predict on a new connection gets a 200."""
    return httpx.post(server.url + PREDICT, json={"instances": [ZEROS]}, timeout=WAIT_S).status_code == 200


def three_tries(scenario, what: str):
    """``scenario()``'s answer, trying it at most three times (each bounded by its clients' timeouts): a busy
    machine may let held connections time out before the request that needs them arrives."""
    for _ in range(3):
        answer = scenario()
        if answer:
            return answer
    pytest.fail(f"three tries and no {what}")


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(server):
    with connect(server) as sock:
        assert read_until_closed(sock) == b""


def test_headers_sent_a_byte_at_a_time_get_a_408_and_the_connection_closed(server):
    with connect(server) as sock:
        sender = trickle(sock, request_head("GET", STATUS, {"X-Padding": "x" * 1000}))
        answer = read_until_closed(sock)
        sender.join(WAIT_S)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request headers did not arrive within 1 s" in answer
    assert not sender.is_alive()


def test_a_body_sent_a_byte_at_a_time_gets_a_408_and_the_connection_closed(server):
    body = json.dumps({"instances": [ZEROS]}).encode()
    with connect(server) as sock:
        sock.sendall(request_head("POST", PREDICT, {"Content-Length": len(body)}))
        sender = trickle(sock, body)
        answer = read_until_closed(sock)
        sender.join(WAIT_S)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request body did not arrive within 1 s" in answer
    assert not sender.is_alive()


@pytest.mark.parametrize(
    "method, path, status",
    [("GET", STATUS, 200), ("POST", "/v2/nowhere", 404), ("GET", PREDICT, 405)],
    ids=["status", "unknown-route", "predict-with-get"],
)
def test_a_connection_is_closed_when_its_request_body_was_answered_unread_and_keeps_coming(
    server, method, path, status
):
    with connect(server) as sock:
        sock.sendall(request_head(method, path, {"Content-Length": 10}))
        assert read_response(sock)[0] == status
        try:
            sock.sendall(b"x")  # a byte of the body nobody reads: it stopped uvicorn's one timer on the connection
        except OSError:
            pass  # the server closed the connection first
        assert read_until_closed(sock) == b""


def test_fifty_slow_or_silent_connections_are_all_closed_by_the_server(server):
    head = request_head("POST", PREDICT, {"Content-Length": 1000})
    sockets, senders = [connect(server) for _ in range(50)], []
    for n, sock in enumerate(sockets):  # silent, headers a byte at a time, or headers at once and the body slowly
        if n % 3 == 1:
            senders.append(trickle(sock, head))
        elif n % 3 == 2:
            sock.sendall(head)
            senders.append(trickle(sock, b"{" * 1000))
    open_sockets = set(sockets)
    deadline = time.monotonic() + WAIT_S
    while open_sockets and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_sockets), [], [], 1.0)
        for sock in readable:
            read_until_closed(sock)
            open_sockets.discard(sock)
    for sock in sockets:
        sock.close()
    assert not open_sockets, f"{len(open_sockets)} of 50 connections still open"
    for sender in senders:
        sender.join(WAIT_S)
    wait_for(lambda: answers(server), "the server to answer again")


def test_connections_past_the_cap_get_a_503_with_retry_after_and_the_server_recovers(server):
    def shed_answer():
        """A request made while more than MAX_CONNECTIONS others are open, or None when they closed too soon."""
        held = [connect(server) for _ in range(MAX_CONNECTIONS + 2)]
        try:
            with httpx.Client(timeout=WAIT_S) as client:
                response = client.get(server.url + STATUS)
            return response if response.status_code == 503 else None
        finally:
            for sock in held:
                sock.close()

    # Held connections close after TIMEOUT_S; on a busy machine the request may come later.
    response = three_tries(shed_answer, "a request past the connection cap")
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Connection"] == "close"
    assert response.json()["error"] == f"the server is at its limit of {MAX_CONNECTIONS} connections; retry in 1 s"
    wait_for(lambda: answers(server), "the server to answer again")


def test_a_request_past_the_servers_budget_of_buffered_bodies_gets_a_503_with_retry_after(server):
    def refused():
        """A predict made while two others hold the whole budget, or None when they timed out too soon."""
        held = [connect(server) for _ in range(MAX_BUFFERED_BODY_BYTES // MAX_BODY_BYTES)]
        try:
            for sock in held:  # a body of the largest size declared, and a little of it sent
                sock.sendall(request_head("POST", PREDICT, {"Content-Length": MAX_BODY_BYTES}) + b'{"instances": [')
            with httpx.Client(timeout=WAIT_S) as client:
                response = client.post(server.url + PREDICT, json={"instances": [ZEROS]})
            return response if response.status_code == 503 else None
        finally:
            for sock in held:
                sock.close()

    # The held bodies time out after TIMEOUT_S; on a busy machine the request may come later.
    response = three_tries(refused, "a request past the budget of buffered bodies")
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert response.headers["Connection"] == "close"
    message = f"the server holds {MAX_BUFFERED_BODY_BYTES:,} bytes of request bodies and its limit is 131,072"
    assert response.json()["error"] == f"{message}; retry in 1 s"
    wait_for(lambda: answers(server), "the server to answer again once the held bodies are gone")


def test_expect_100_continue_with_a_huge_content_length_gets_a_413_and_no_100_continue(server):
    headers = {"Content-Length": 10**12, "Expect": "100-continue", "Content-Type": "application/json"}
    with connect(server) as sock:
        sock.sendall(request_head("POST", PREDICT, headers))
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"the request body has 1000000000000 bytes; the limit is 65536" in answer


def test_a_chunked_body_is_refused_with_413_before_it_ends(server):
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b" " * 16 * 1024)
    with connect(server) as sock:
        sock.sendall(request_head("POST", PREDICT, {"Transfer-Encoding": "chunked"}))
        try:
            for _ in range(3 * MAX_BODY_BYTES // (16 * 1024)):  # three times the limit, and never the last chunk
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed before all of it went
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"the limit is 65536" in answer
    assert answers(server)


def test_a_body_over_the_limit_sent_whole_gets_413_on_a_connection_that_stays_open(server):
    body, request = b" " * (MAX_BODY_BYTES + 1), json.dumps({"instances": [ZEROS]}).encode()
    with connect(server) as sock:  # one connection for both requests: a client library would reconnect unseen
        sock.sendall(request_head("POST", PREDICT, {"Content-Length": len(body)}) + body)
        status, headers, answer = read_response(sock)
        assert status == 413 and "connection" not in headers
        assert json.loads(answer)["error"] == f"the request body has {MAX_BODY_BYTES + 1} bytes; the limit is 65536"
        sock.sendall(request_head("POST", PREDICT, {"Content-Length": len(request)}) + request)
        assert read_response(sock)[0] == 200


def test_a_client_that_leaves_mid_body_costs_one_debug_line_and_no_traceback(server):
    before = len(server.log())
    for _ in range(3):
        with connect(server) as sock:
            sock.sendall(request_head("POST", PREDICT, {"Content-Length": 1000}) + b'{"instances": [')
            time.sleep(TRICKLE_S)  # let the server start reading the body before the client leaves
    left = "left before its request body was in"
    wait_for(lambda: server.log()[before:].count(left) == 3, "the server to log the three clients leaving")
    assert answers(server)
    logged = server.log()[before:]
    assert "Traceback" not in logged and "ClientDisconnect" not in logged, logged


def test_a_full_batch_queue_sheds_requests_with_503_and_retry_after_and_never_hangs(server):
    body = {"instances": [ZEROS]}

    def burst():
        """Requests from MAX_CONNECTIONS clients at once; the answers, or None when none was shed for a full queue."""
        statuses = []

        def client() -> None:
            with httpx.Client(timeout=WAIT_S) as http:
                for _ in range(20):
                    response = http.post(server.url + PREDICT, json=body)
                    statuses.append((response.status_code, response.headers.get("Retry-After"), response.text))

        threads = [threading.Thread(target=client) for _ in range(MAX_CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return statuses if any("the batch queue is full" in text for _, _, text in statuses) else None

    statuses = three_tries(burst, "a request shed by the full batch queue")
    assert {status for status, _, _ in statuses} <= {200, 503}
    assert {retry for status, retry, _ in statuses if status == 503} == {str(RETRY_AFTER_S)}
    assert answers(server)
