"""The scale benchmark's parts: jittered MNIST, a run measured with its whole process tree's peak memory, the plot."""

import subprocess
import sys
import threading
import time
from typing import Iterator, NamedTuple

import numpy as np
import psutil
from scipy import ndimage

from data import sources

SAMPLE_SECONDS = 0.2
MAX_SHIFT, MAX_DEGREES, MAX_ZOOM = 2.0, 10.0, 0.1


class Measured(NamedTuple):
    """One pipeline process: wall seconds, and every sample of the resident memory of it and its children as
    (epoch seconds, MiB)."""

    wall: float
    samples: tuple

    @property
    def peak_mb(self) -> float:
        """The highest sample."""
        return max((mib for _, mib in self.samples), default=0.0)


class ScaleRun(NamedTuple):
    """One size's figures."""

    size: int
    cold: Measured
    cached: Measured
    components: dict
    component_peaks: dict
    artifacts_mb: float
    data_mb: float
    accuracy: float
    split: str
    runner: str = "in-process"


def jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (H, W, 1) shifted, rotated and scaled a little about its centre; uint8."""
    angle = np.deg2rad(rng.uniform(-MAX_DEGREES, MAX_DEGREES))
    zoom = 1.0 + rng.uniform(-MAX_ZOOM, MAX_ZOOM)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / zoom
    centre = (np.array(image.shape[:2]) - 1) / 2.0
    offset = centre - rotation @ centre - rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)
    out = ndimage.affine_transform(image[..., 0].astype(np.float32), rotation, offset=offset, order=1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)[..., np.newaxis]


def jittered_mnist(source: str, size: int) -> Iterator[sources.LabeledImage]:
    """``size`` examples: MNIST's own first, then jittered copies, each seeded by its index (deterministic)."""
    originals = list(sources.mnist(source))
    for index in range(size):
        base = originals[index % len(originals)]
        image = base.image if index < len(originals) else jitter(base.image, np.random.default_rng(index))
        yield sources.LabeledImage(f"mnist-jitter-{index:07d}", image, base.label)


def measure(pipeline_args: list) -> Measured:
    """Runs the local pipeline in a new process; returns its wall time and its process tree's peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "local_runner", *pipeline_args])
    samples = []
    sampler = threading.Thread(target=_sample, args=(process.pid, samples), daemon=True)
    sampler.start()
    if process.wait() != 0:
        raise RuntimeError(f"the pipeline failed (exit {process.returncode}): {pipeline_args}")
    wall = time.perf_counter() - started
    sampler.join()
    return Measured(wall, tuple(samples))


def component_peaks(measured: Measured, executions: list) -> dict:
    """{node: the highest process-tree memory sampled while it ran, MiB} for MLMD's ``executions`` of the run.

    The components run one after another in the runner's process, so a component's figure also
    holds what earlier ones left in the heap; the rise over the previous component shows its own part.
    """
    peaks = {}
    for execution in executions:
        start, end = execution.start_ms / 1000, execution.end_ms / 1000
        during = [mib for at, mib in measured.samples if start <= at <= end]
        before = [mib for at, mib in measured.samples if at < start][-1:]  # a component shorter than a sample
        peaks[execution.node] = max(during or before or [0.0])
    return peaks


def _sample(pid: int, samples: list) -> None:
    """Until ``pid`` exits: appends (epoch seconds, MiB) of its and its descendants' summed resident memory."""
    try:
        root = psutil.Process(pid)
        while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
            tree = [root, *root.children(recursive=True)]
            total = 0
            for process in tree:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass  # a worker that just exited
            samples.append((time.time(), total / 2**20))
            time.sleep(SAMPLE_SECONDS)
    except psutil.Error:
        return


def plot(runs: list, path: str) -> str:
    """A PNG of cold wall time and peak memory against the number of examples, log-log; returns its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    in_process = [run for run in runs if run.runner == "in-process"]
    sizes = [run.size for run in in_process]
    for axes, values, label in zip(
        figure.subplots(1, 2), ("wall", "peak_mb"), ("cold run, s", "peak memory, MiB"), strict=True
    ):
        axes.loglog(sizes, [getattr(run.cold, values) for run in in_process], "o-", label="in-process Beam")
        for run in runs:
            if run.runner != "in-process":
                axes.loglog([run.size], [getattr(run.cold, values)], "s", label=f"{run.runner} Beam")
        axes.set_xlabel("examples")
        axes.set_ylabel(label)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.savefig(path, dpi=110)
    return path
