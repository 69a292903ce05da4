"""serving/batching.py's Batcher on a real event loop and thread pool; the model is a recorder of what each call got.

test_serving.py checks batched answers of the real model on a real server under concurrency; here the
question is only how requests are grouped into calls, which a recorder shows exactly.
"""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serving.batching import Batcher, BatchingOptions, QueueFull

WAIT_S = 600  # bounds every wait, so that a broken batcher fails the test instead of hanging it


class Recorder:
    """A model whose output row is its input's number; ``hold`` keeps the next call running until released."""

    def __init__(self, fail: bool = False):
        self.calls = []
        self.fail = fail
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def hold(self) -> None:
        """Makes the next call wait for ``release``."""
        self.started.clear()
        self.release.clear()

    def __call__(self, images):
        self.calls.append([int(image) for image in images])
        self.started.set()
        assert self.release.wait(WAIT_S)
        if self.fail:
            raise RuntimeError("the model failed")
        numbers = np.array([int(image) for image in images])
        return {"number": numbers, "double": numbers * 2}


def images(*numbers):
    """Requests' instances, each named by its number."""
    return [str(n).encode() for n in numbers]


async def started(recorder: Recorder) -> None:
    """Waits, off the loop, until the recorder's held call has begun."""
    assert await asyncio.get_running_loop().run_in_executor(None, recorder.started.wait, WAIT_S)


def run(coroutine):
    """Runs ``coroutine`` on a new event loop."""
    return asyncio.run(asyncio.wait_for(coroutine, WAIT_S))


def while_busy(batcher: Batcher, recorder: Recorder, requests: list, return_exceptions: bool = False) -> list:
    """Every result: request ``[0]`` runs alone, ``requests`` queue while the model is busy with it; then all finish."""

    async def scenario():
        recorder.hold()
        first = asyncio.ensure_future(batcher.predict(images(0)))
        await started(recorder)
        waiting = [asyncio.ensure_future(batcher.predict(images(*numbers))) for numbers in requests]
        await asyncio.sleep(0)  # let them all join the queue
        recorder.release.set()
        return await asyncio.gather(first, *waiting, return_exceptions=return_exceptions)

    return run(scenario())


@pytest.fixture
def executor():
    with ThreadPoolExecutor(1) as pool:
        yield pool


def test_requests_that_arrive_while_the_model_is_busy_share_one_call_and_each_gets_its_own_rows(executor):
    recorder = Recorder()
    batcher = Batcher(recorder, BatchingOptions(max_batch_size=8), executor)

    first, *rest = while_busy(batcher, recorder, [[1], [2, 3], [4], [5, 6, 7], [8]])
    assert recorder.calls == [[0], [1, 2, 3, 4, 5, 6, 7, 8]]
    assert first["number"].tolist() == [0]
    assert [r["number"].tolist() for r in rest] == [[1], [2, 3], [4], [5, 6, 7], [8]]
    assert [r["double"].tolist() for r in rest] == [[2], [4, 6], [8], [10, 12, 14], [16]]


def test_a_batch_takes_whole_requests_up_to_the_max_batch_size_and_a_larger_request_runs_alone(executor):
    recorder = Recorder()
    batcher = Batcher(recorder, BatchingOptions(max_batch_size=4), executor)

    _, *rest = while_busy(batcher, recorder, [[1, 2], [3, 4], [5, 6], list(range(10, 20)), [7]])
    assert recorder.calls == [[0], [1, 2, 3, 4], [5, 6], list(range(10, 20)), [7]]
    assert [r["number"].tolist() for r in rest] == [[1, 2], [3, 4], [5, 6], list(range(10, 20)), [7]]


def test_a_batch_waits_for_the_timeout_unless_it_is_full(executor):
    recorder = Recorder()
    # A timeout far beyond the test: the first request can only leave with the others, in a full batch.
    batcher = Batcher(recorder, BatchingOptions(max_batch_size=4, batch_timeout_micros=3_600_000_000), executor)

    async def scenario():
        first = asyncio.ensure_future(batcher.predict(images(1)))
        await asyncio.sleep(0)
        assert recorder.calls == []
        return await asyncio.gather(first, batcher.predict(images(2, 3)), batcher.predict(images(4)))

    results = run(scenario())
    assert recorder.calls == [[1, 2, 3, 4]]
    assert [r["number"].tolist() for r in results] == [[1], [2, 3], [4]]


def test_a_full_queue_refuses_requests_until_it_drains(executor):
    recorder = Recorder()
    batcher = Batcher(recorder, BatchingOptions(max_batch_size=2, max_enqueued_batches=2), executor)

    async def scenario():
        recorder.hold()
        first = asyncio.ensure_future(batcher.predict(images(0)))
        await started(recorder)
        queued = [asyncio.ensure_future(batcher.predict(images(n))) for n in (1, 2, 3, 4)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="4 instances are waiting"):
            await batcher.predict(images(5))
        recorder.release.set()
        await asyncio.gather(first, *queued)
        return await batcher.predict(images(6))

    assert run(scenario())["number"].tolist() == [6]
    assert recorder.calls == [[0], [1, 2], [3, 4], [6]]


def test_a_failed_model_call_fails_every_request_in_its_batch_and_the_next_batch_runs(executor):
    recorder = Recorder(fail=True)
    batcher = Batcher(recorder, BatchingOptions(max_batch_size=8), executor)

    results = while_busy(batcher, recorder, [[1], [2]], return_exceptions=True)
    assert [str(r) for r in results] == ["the model failed"] * 3
    assert recorder.calls == [[0], [1, 2]]


def test_a_batch_whose_executor_shuts_down_before_it_runs_cancels_its_requests():
    recorder = Recorder()
    executor = ThreadPoolExecutor(1)  # one thread for two batch threads: the second batch waits in its queue
    batcher = Batcher(recorder, BatchingOptions(max_batch_size=1, num_batch_threads=2), executor)

    async def scenario():
        recorder.hold()
        first = asyncio.ensure_future(batcher.predict(images(0)))
        await started(recorder)
        second = asyncio.ensure_future(batcher.predict(images(1)))
        await asyncio.sleep(0)
        executor.shutdown(wait=False, cancel_futures=True)
        recorder.release.set()
        return await asyncio.gather(first, second, return_exceptions=True)

    first, second = run(scenario())
    assert first["number"].tolist() == [0]
    assert isinstance(second, asyncio.CancelledError)
    assert recorder.calls == [[0]]


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(max_batch_size=0), "--max-batch-size must be at least 1, got 0"),
        (dict(batch_timeout_micros=-1), "--batch-timeout-micros must be at least 0, got -1"),
        (dict(max_enqueued_batches=0), "--max-enqueued-batches must be at least 1"),
        (dict(num_batch_threads=0), "--num-batch-threads must be at least 1"),
    ],
)
def test_batching_options_name_the_bad_flag(options, message):
    with pytest.raises(ValueError, match=message):
        BatchingOptions(**options)
