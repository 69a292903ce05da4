"""Benchmark (prints figures, asserts nothing): the REST server's throughput and latency on loopback.

    python -m benchmarks.serving --serving-dir outputs/serving/digits-convnet [--requests 400 --clients 4]

Starts ``python -m serving.server`` on a free loopback port, then for each batch size sends
``--requests`` predict requests from ``--clients`` threads (one keep-alive connection each;
instances are random images as ``{"b64": raw pixels}``) after a warm-up, and prints
requests/second, instances/second and the p50/p99 latency of a request.
"""

import argparse
import base64
import json
import os
import sys
import tempfile
import threading
import time

import httpx
import numpy as np

from serving import versions
from serving.process import ServerProcess

MODEL_NAME = "bench"
WARMUP_REQUESTS = 20


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


def main(argv=None) -> int:
    """Starts the server on the newest version in --serving-dir and prints the figures per batch size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serving-dir", required=True, help="the Pusher's folder of <version>/ SavedModels")
    parser.add_argument("--requests", type=int, default=400, help="per batch size")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--batch-sizes", default="1,32", help="comma-separated instances per request")
    args = parser.parse_args(argv)
    found = versions.list_versions(args.serving_dir)
    if not found:
        print(
            f"no pushed model in {args.serving_dir} (a folder <version>/ with {versions.SAVED_MODEL_FILE}): "
            "run the pipeline first (make run), or pass SERVING_DIR=<the Pusher's folder> to make bench-serve",
            file=sys.stderr,
        )
        return 1
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    log_path = os.path.join(tempfile.mkdtemp(prefix="serving-bench-"), "server.log")
    extra = ["--max-instances", str(max(batch_sizes))]
    with ServerProcess(args.serving_dir, MODEL_NAME, log_path, extra) as server:
        metadata = httpx.get(f"{server.url}/v1/models/{MODEL_NAME}/metadata", timeout=60).json()
        image_shape = metadata["metadata"]["image_shape"]
        url = f"{server.url}/v1/models/{MODEL_NAME}:predict"
        print(f"\n=== serving benchmark: version {max(found)} of {args.serving_dir}, image {image_shape} ===")
        print(f"{args.requests} requests per batch size from {args.clients} clients on {server.url}")
        for batch_size in batch_sizes:
            body = request_body(image_shape, batch_size)
            run_load(url, body, WARMUP_REQUESTS, args.clients)
            wall, latencies = run_load(url, body, args.requests, args.clients)
            p50, p99 = np.percentile(latencies, [50, 99]) * 1000
            rate = args.requests / wall
            print(
                f"batch {batch_size:3d}: {rate:8.1f} requests/s {rate * batch_size:9.1f} instances/s"
                f"   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms"
            )
        print(f"server log: {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
