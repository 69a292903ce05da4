"""Benchmark (prints figures, asserts nothing): the REST server's throughput, latency and memory on loopback.

    python -m benchmarks.rest_load --serving-dir outputs/serving/digits-convnet \\
        [--requests 4000 --clients 4,16 --batch-sizes 1,32 --memory-requests 100000 --swaps 10]

Copies the newest version in --serving-dir into a temporary serving folder and starts
``python -m serving.server`` on it on a free loopback port, once with server-side batching and once
without. Each time, for every batch size and client count, it sends ``--requests`` predict requests
from that many threads (one keep-alive httpx connection each; instances are random images as
``{"b64": raw pixels}``) after a warm-up, and prints requests/second, instances/second and the p50
and p99 latency of a request. Then the server's resident memory (RSS): before and after
``--memory-requests`` requests of one instance from the largest client count; before and after
``--swaps`` hot swaps (a new version copied in each time, waited for until the old one is freed);
and before and after as many versions that fail to load.
"""

import base64
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import httpx
import numpy as np

from benchmarks.server_process import ServerProcess, copy_broken_version
from cli.parsing import Parser
from serving import versions

MODEL_NAME = "bench"
WARMUP_REQUESTS = 200
BATCHING_FLAGS = ["--enable-batching", "--max-batch-size", "32"]
# One TensorFlow thread per pool: the model is small, and on a machine of a few cores the client and the
# server's HTTP loop need the cores more than TensorFlow's idle-spinning pools do (the same for both runs).
SERVER_FLAGS = ["--tensorflow-intra-op-parallelism", "1", "--tensorflow-inter-op-parallelism", "1"]


def request_body(image_shape, batch_size: int, seed: int = 0) -> bytes:
    """A row-format predict request of ``batch_size`` random images."""
    images = np.random.default_rng(seed).integers(0, 256, size=(batch_size, *image_shape), dtype=np.uint8)
    instances = [{"b64": base64.b64encode(image.tobytes()).decode()} for image in images]
    return json.dumps({"instances": instances}).encode()


def run_load(url: str, body: bytes, requests: int, clients: int) -> tuple:
    """Sends ``requests`` POSTs of ``body`` from ``clients`` threads; returns (wall seconds, latencies)."""
    latencies, errors = [], []
    lock = threading.Lock()

    def client(count: int) -> None:
        with httpx.Client(timeout=120) as http:
            for _ in range(count):
                start = time.perf_counter()
                response = http.post(url, content=body)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors.append(response.text)

    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return wall, np.array(latencies)


def wait_for_state(server: ServerProcess, version: int, state: str, timeout_s: float = 600) -> None:
    """Polls the server until ``version`` is in ``state``; RuntimeError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while server.version_states().get(version, ("",))[0] != state:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for version {version} to be {state}:\n{server.log()[-3000:]}")
        time.sleep(0.1)


def print_load(server: ServerProcess, image_shape, args) -> None:
    """Throughput and latency for every batch size and client count."""
    url = f"{server.url}/v1/models/{MODEL_NAME}:predict"
    for batch_size in args.batch_sizes:
        body = request_body(image_shape, batch_size)
        for clients in args.clients:
            run_load(url, body, WARMUP_REQUESTS, clients)
            wall, latencies = run_load(url, body, args.requests, clients)
            p50, p99 = np.percentile(latencies, [50, 99]) * 1000
            rate = args.requests / wall
            print(
                f"  batch {batch_size:3d}, {clients:3d} clients: {rate:8.1f} requests/s {rate * batch_size:9.1f} "
                f"instances/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms",
                flush=True,
            )


def print_rss(server: ServerProcess, label: str, action) -> None:
    """Runs ``action`` and prints the server's resident memory before and after it."""
    before = server.memory_mb()
    action()
    after = server.memory_mb()
    print(f"  RSS over {label} {before:7.1f} -> {after:7.1f} MiB ({after - before:+.1f})")


def print_memory(server: ServerProcess, image_shape, args, source: str, serving_dir: str, version: int) -> None:
    """The server's RSS across many requests, hot swaps and failed loads; ``version`` is the one it serves."""
    url = f"{server.url}/v1/models/{MODEL_NAME}:predict"
    versions_made = iter(range(version + 1, version + 1 + 2 * args.swaps))

    def swap() -> None:
        served = version
        for _ in range(args.swaps):
            old, served = served, next(versions_made)
            shutil.copytree(source, os.path.join(serving_dir, str(served)))
            wait_for_state(server, old, "END")  # freed, once the new version serves

    def fail() -> None:
        for _ in range(args.swaps):
            broken = next(versions_made)
            copy_broken_version(source, os.path.join(serving_dir, str(broken)))
            wait_for_state(server, broken, "END")

    print_rss(
        server,
        f"{args.memory_requests} requests:",
        lambda: run_load(url, request_body(image_shape, 1), args.memory_requests, max(args.clients)),
    )
    print_rss(server, f"{args.swaps} hot swaps:    ", swap)
    print_rss(server, f"{args.swaps} failed loads: ", fail)


def measure(args, source: str, version: int, batching: bool) -> None:
    """Starts a server on a copy of ``source`` (batching on or off) and prints every figure."""
    work = tempfile.mkdtemp(prefix="serving-bench-")
    serving_dir = os.path.join(work, "serving")
    shutil.copytree(source, os.path.join(serving_dir, str(version)))
    flags = [*SERVER_FLAGS, *(BATCHING_FLAGS if batching else [])]
    flags += ["--max-instances", str(max(args.batch_sizes)), "--poll-seconds", "0.2", "--max-connections", "1024"]
    log_path = os.path.join(work, "server.log")
    with ServerProcess(serving_dir, MODEL_NAME, log_path, flags) as server:
        metadata = httpx.get(f"{server.url}/v1/models/{MODEL_NAME}/metadata", timeout=60).json()
        image_shape = metadata["metadata"]["image_shape"]
        print(f"\nbatching {'on' if batching else 'off'}: python -m serving.server {' '.join(flags)}", flush=True)
        print_load(server, image_shape, args)
        print_memory(server, image_shape, args, source, serving_dir, version)
    shutil.rmtree(serving_dir)  # the copies; the log stays
    print(f"  server log: {log_path}")


def build_parser() -> Parser:
    """Every flag of ``python -m benchmarks.rest_load``."""
    parser = Parser("benchmarks.rest_load", __doc__)
    parser.add_argument("--serving-dir", required=True, help="the Pusher's folder of <version>/ SavedModels")
    parser.add_argument("--requests", type=int, default=4000, help="per batch size and client count")
    parser.add_argument("--clients", default="4,16", help="comma-separated counts of concurrent client threads")
    parser.add_argument("--batch-sizes", default="1,32", help="comma-separated instances per request")
    parser.add_argument("--memory-requests", type=int, default=100_000, help="requests between two RSS readings")
    parser.add_argument("--swaps", type=int, default=10, help="hot swaps (and failed loads) between two RSS readings")
    return parser


def main(argv=None) -> int:
    """Prints the figures for the newest version in --serving-dir, with batching on and then off."""
    args = build_parser().parse_args(argv)
    args.clients = [int(count) for count in args.clients.split(",")]
    args.batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    found = versions.list_versions(args.serving_dir)
    if not found:
        print(
            f"no pushed model in {args.serving_dir} (a folder <version>/ with {versions.SAVED_MODEL_FILE}): "
            "run the pipeline first (make run), or pass SERVING_DIR=<the Pusher's folder> to make bench-serve",
            file=sys.stderr,
        )
        return 1
    version = max(found)
    print(f"=== serving benchmark: version {version} of {args.serving_dir} ===")
    print(f"{args.requests} requests per line, clients {args.clients}, batch sizes {args.batch_sizes}, loopback")
    for batching in (True, False):
        measure(args, found[version], version, batching)
    return 0


if __name__ == "__main__":
    sys.exit(main())
