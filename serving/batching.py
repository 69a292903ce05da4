"""Server-side batching, like TF Serving's ``--enable_batching``: concurrent requests merged into one model call.

Each served version has a ``Batcher``. A request's instances join its queue; a batch is formed
when a batch thread is free and either ``max_batch_size`` instances are queued or the oldest
queued request has waited ``batch_timeout_micros`` (0: at once, so batches grow exactly while
the model is busy, which adds no latency when the server is idle). A batch takes whole requests
in arrival order; a request larger than ``max_batch_size`` runs as a batch of its own. Each
request gets back exactly its own rows of the batch's outputs. When more than
``max_enqueued_batches`` batches' worth of instances wait, a request is refused (``QueueFull``,
a 503 with Retry-After) rather than queued without bound.

Each time a version's batch holds more requests than any before it, one log line says so: how far
requests are being merged, in at most ``max_batch_size`` lines a version.

The queue lives on the server's event loop and only the model call runs in a batch thread, so
there are no locks: every method but the model call runs on the loop.
"""

import asyncio
import collections
import dataclasses
import functools
import logging
from concurrent.futures import Executor
from typing import Callable, Deque, Dict, List, Optional, Sequence

import numpy as np

from serving import OptionError

log = logging.getLogger(__name__)

Outputs = Dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters (its names, in snake case)."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 64
    num_batch_threads: int = 1

    def __post_init__(self):
        for field in dataclasses.fields(self):
            minimum = 0 if field.name == "batch_timeout_micros" else 1
            if getattr(self, field.name) < minimum:
                flag = "--" + field.name.replace("_", "-")
                raise OptionError(f"{flag} must be at least {minimum}, got {getattr(self, field.name)}")

    @property
    def max_queued_instances(self) -> int:
        """How many instances may wait before requests are refused."""
        return self.max_batch_size * self.max_enqueued_batches


class QueueFull(Exception):
    """The batch queue is full: the server is saturated and the request should be retried later."""


@dataclasses.dataclass
class _Task:
    """One request's instances and the future its outputs go to."""

    images: Sequence[bytes]
    future: asyncio.Future
    enqueued: float


class Batcher:
    """Batches ``run`` (one version's predict) for requests on one event loop; ``executor`` runs the batches.

    ``name`` says whose batches they are in the log.
    """

    def __init__(
        self, run: Callable[[List[bytes]], Outputs], options: BatchingOptions, executor: Executor, name: str = "model"
    ):
        self._run = run
        self._options = options
        self._executor = executor
        self._name = name
        self._most_requests = 1  # the most requests one batch has held (a batch of one is not worth a line)
        self._queue: Deque[_Task] = collections.deque()
        self._queued = 0  # instances in the queue
        self._running = 0  # batches in the executor
        self._timer: Optional[asyncio.TimerHandle] = None

    async def predict(self, images: Sequence[bytes]) -> Outputs:
        """The model's outputs for ``images``, computed in a batch with other requests' instances."""
        if self._queued >= self._options.max_queued_instances:
            raise QueueFull(f"{self._queued} instances are waiting for the model, the limit")
        loop = asyncio.get_running_loop()
        task = _Task(images, loop.create_future(), loop.time())
        self._queue.append(task)
        self._queued += len(images)
        self._dispatch(loop)
        return await task.future

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Starts batches while a batch thread is free and a batch is due."""
        timeout = self._options.batch_timeout_micros / 1e6
        while self._queue and self._running < self._options.num_batch_threads:
            if self._queued < self._options.max_batch_size and timeout > 0:
                wait = self._queue[0].enqueued + timeout - loop.time()
                if wait > 0:
                    if self._timer is None:
                        self._timer = loop.call_later(wait, self._on_timer, loop)
                    return
            batch = self._take()
            images = [image for task in batch for image in task.images]
            if len(batch) > self._most_requests:
                self._most_requests = len(batch)
                log.info(
                    "%s: a batch of %d requests (%d instances), the most so far", self._name, len(batch), len(images)
                )
            self._running += 1
            future = loop.run_in_executor(self._executor, self._run, images)
            future.add_done_callback(functools.partial(self._finish, batch, loop))

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        """The oldest request has waited the batch timeout."""
        self._timer = None
        self._dispatch(loop)

    def _take(self) -> List[_Task]:
        """Whole requests from the front of the queue, up to ``max_batch_size`` instances (at least one request)."""
        batch, size = [], 0
        while self._queue and (not batch or size + len(self._queue[0].images) <= self._options.max_batch_size):
            task = self._queue.popleft()
            batch.append(task)
            size += len(task.images)
        self._queued -= size
        return batch

    def _finish(self, batch: List[_Task], loop: asyncio.AbstractEventLoop, done: asyncio.Future) -> None:
        """Hands each request its rows of the batch's outputs (or the batch's error), then starts the next batch."""
        self._running -= 1
        if done.cancelled():  # its executor was shut down before it ran (exception() would raise): no batch runs
            for task in batch:
                task.future.cancel()
            return
        error = done.exception()
        outputs = None if error is not None else done.result()
        start = 0
        for task in batch:
            end = start + len(task.images)
            if not task.future.done():  # a request whose client went away may have been cancelled
                if error is not None:
                    task.future.set_exception(error)
                else:
                    task.future.set_result({name: array[start:end] for name, array in outputs.items()})
            start = end
        self._dispatch(loop)
