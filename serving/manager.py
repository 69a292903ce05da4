"""Which versions are loaded: the serving folder polled, the version policy applied, versions swapped in and out.

A version is loaded and warmed up in full before one assignment publishes it among the served
versions, and only then is it reported AVAILABLE; a request (which reads the set once) finishes on
the version it started with. A version is loaded once its files stop changing between two polls;
one that fails to load is logged, skipped until its files change, and the versions already served
keep serving.

Unloading follows TF Serving's availability-preserving rule: a version the policy no longer
selects is unloaded only once every selected version is served; a version whose folder is gone is
unloaded as soon as a version the policy selects among those left on disk serves, or none is left
to load, so deleting the newest version falls back to the one before with no moment of nothing
served. TensorFlow's loaded objects are full of reference cycles, which CPython frees only in a
full garbage collection; the manager runs one after each unload and failed load, then hands the
freed heap back to the system (glibc's ``malloc_trim``, which would otherwise keep it for reuse),
so resident memory stays flat across hot swaps.
"""

import ctypes
import dataclasses
import gc
import logging
import threading
import weakref
from typing import Callable, Dict, Iterable, Optional, Set, Tuple

from serving import versions
from serving.loaded_model import ModelError, ServedModel, load
from serving.policy import VersionPolicy

log = logging.getLogger(__name__)

# TF Serving's ServableState names, as GetModelStatus reports them.
LOADING = "LOADING"
AVAILABLE = "AVAILABLE"
UNLOADING = "UNLOADING"
END = "END"
# Versions gone from disk and from memory whose END the status still reports (the newest of them): without a bound,
# a server that sees a push a day would report every version it ever served.
ENDED_KEPT = 8


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One version's state; ``error`` says why a load failed (state END)."""

    state: str
    error: str = ""


class ModelManager:
    """Serves the versions in ``serving_dir`` that ``policy`` (default latest 1) selects; a poll thread updates them."""

    def __init__(
        self,
        serving_dir: str,
        poll_seconds: float = 1.0,
        policy: Optional[VersionPolicy] = None,
        loader: Callable[[int, str], ServedModel] = load,
    ):
        self.serving_dir = serving_dir
        self.poll_seconds = poll_seconds
        self.policy = policy or VersionPolicy()
        self._loader = loader
        # Replaced, never mutated: readers in other threads take one consistent snapshot.
        self._served: Dict[int, ServedModel] = {}
        self._status: Dict[int, VersionStatus] = {}
        self._unloading: Dict[int, weakref.ref] = {}  # unloaded versions some request may still hold
        self._on_disk: Set[int] = set()  # the versions found by the last poll
        self._seen: Dict[int, Tuple] = {}  # each version's fingerprint at the last poll that looked at it
        self._failed: Dict[int, Tuple] = {}  # the fingerprint a version failed to load with
        self._ignored: Set[str] = set()  # folders already logged as not versions
        self._garbage = False  # a failed load left objects for the next collection
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def served(self) -> Dict[int, ServedModel]:
        """The versions serving now (a snapshot; do not mutate)."""
        return self._served

    def status(self) -> Dict[int, VersionStatus]:
        """The state of each version on disk or in memory, and of the ``ENDED_KEPT`` newest others that ended."""
        return self._status

    def get(self, version: Optional[int] = None) -> Optional[ServedModel]:
        """The served ``version``, or the newest served one when None; None when it is not served."""
        served = self._served
        if version is None:
            return served[max(served)] if served else None
        return served.get(version)

    def poll(self, settle: bool = True) -> bool:
        """Loads and unloads versions to match the policy and the folder; returns whether the served set changed.

        With ``settle`` a version is loaded only when its files are the same as at the last poll.
        """
        changed = self._reconcile(settle)
        self.collect()  # out here, where no frame of the poll holds an unloaded version any more
        self._forget_ended()
        return changed

    def _reconcile(self, settle: bool) -> bool:
        """One poll's loads and unloads (see ``poll``)."""
        found, ignored = versions.scan(self.serving_dir)
        self._on_disk = set(found)
        self._log_ignored(ignored)
        served = self._served
        wanted = self.policy.select(v for v in found if v in served or self._failed.get(v) != self._stamp(v, found))
        loaded, waiting = {}, False
        for version in sorted(wanted - set(served), reverse=True):
            stamp = versions.fingerprint(found[version])
            settled = self._seen.get(version) == stamp
            self._seen[version] = stamp
            if settle and not settled:
                waiting = True  # still being written: keep what is served until it is done
                continue
            model = self._load(version, found[version], stamp)
            if model is not None:
                loaded[version] = model
        gone = set(served) - set(found)
        pending = waiting or not wanted <= set(served) | set(loaded)  # a selected version does not serve yet
        # A deleted version still answers while a selected one is on its way and none serves: no outage on rollback.
        keep_gone = pending and not wanted & (set(served) | set(loaded))
        kept = {v: m for v, m in served.items() if (v in wanted or pending) and (v not in gone or keep_gone)}
        self._served = {**kept, **loaded}
        self._seen = {v: s for v, s in self._seen.items() if v in found}
        self._failed = {v: s for v, s in self._failed.items() if v in found}
        for version in sorted(set(served) - set(kept)):
            reason = "its folder is gone" if version in gone else "the policy no longer selects it"
            log.info("unloading version %d: %s", version, reason)
            self._unloading[version] = weakref.ref(served[version])
            self._set_status(version, VersionStatus(UNLOADING))
        return bool(loaded) or len(kept) < len(served)

    def _stamp(self, version: int, found: Dict[int, str]) -> Tuple:
        """The fingerprint of a version that failed to load (to retry it once its files change); () otherwise."""
        return versions.fingerprint(found[version]) if version in self._failed else ()

    def _load(self, version: int, path: str, stamp: Tuple) -> Optional[ServedModel]:
        """Loads one version and serves it at once; on failure logs it, records it as failed and returns None."""
        self._set_status(version, VersionStatus(LOADING))
        try:
            model = self._loader(version, path)
        except ModelError as err:
            log.error(
                "failed to load version %d: %s; still serving %s", version, err, sorted(self._served) or "nothing"
            )
            self._failed[version] = stamp
            self._set_status(version, VersionStatus(END, str(err)))
            self._garbage = True  # what the failed load built is in reference cycles
            return None
        # Served before it is reported AVAILABLE, and before the poll's other loads: what the poll unloads waits
        # for the end of the poll, so the served set only grows here.
        self._served = {**self._served, version: model}
        self._set_status(version, VersionStatus(AVAILABLE))
        log.info("serving version %d from %s (image shape %s)", version, path, model.image_shape)
        return model

    def collect(self) -> None:
        """Frees unloaded versions that no request holds any more (marking them END), and failed loads."""
        if not (self._unloading or self._garbage):
            return
        gc.collect()
        _trim_heap()
        self._garbage = False
        for version, ref in list(self._unloading.items()):
            if ref() is None:
                del self._unloading[version]
                if version not in self._served:  # not pushed again and loaded since
                    self._set_status(version, VersionStatus(END))
                log.info("version %d unloaded", version)

    def _forget_ended(self) -> None:
        """Drops the status of versions that ended and are gone from disk, but for the newest ``ENDED_KEPT``."""
        ended = sorted(v for v, status in self._status.items() if status.state == END and v not in self._on_disk)
        forgotten = set(ended[:-ENDED_KEPT])
        if forgotten:
            self._status = {v: status for v, status in self._status.items() if v not in forgotten}

    def _set_status(self, version: int, status: VersionStatus) -> None:
        """Records ``version``'s state (copy on write, for readers in other threads)."""
        self._status = {**self._status, version: status}

    def _log_ignored(self, names: Iterable[str]) -> None:
        """Logs each folder that is not a version once."""
        for name in sorted(set(names) - self._ignored):
            log.warning("ignoring %r in %s: a version folder is named by ASCII digits only", name, self.serving_dir)
        self._ignored = set(names)

    def start(self) -> None:
        """Loads the selected versions now (not waiting for them to settle) and starts polling."""
        self.poll(settle=False)
        if not self._served:
            log.warning(
                "no loadable model version under %s yet; polling every %ss", self.serving_dir, self.poll_seconds
            )
        log.info("version policy: %s", self.policy.describe())
        self._thread = threading.Thread(target=self._poll_forever, name="model-poller", daemon=True)
        self._thread.start()

    def _poll_forever(self) -> None:
        """The poll thread's loop, until ``stop``."""
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:
                # e.g. the serving folder is briefly unreadable: keep the served versions, poll again.
                log.exception("polling %s failed", self.serving_dir)

    def stop(self) -> None:
        """Stops the poll thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _trim_heap() -> None:
    """Returns the free pages of the C heap to the system (glibc); nothing where the C library has no malloc_trim."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
