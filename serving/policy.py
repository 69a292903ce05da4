"""TF Serving's model version policy: which of the versions on disk to serve.

* ``latest`` (the default): the newest ``num_versions`` (default 1);
* ``all``: every version;
* ``specific``: the listed versions, those of them that are on disk.

Served versions answer side by side under ``/versions/{v}``; a request without a version goes to
the newest one served. Canary: ``latest`` with ``num_versions=2`` serves the new push next to the
one before it. Rollback: ``specific`` pins the version to keep.
"""

import dataclasses
from typing import FrozenSet, Iterable, Set

from serving import OptionError
from serving.versions import version_of

LATEST = "latest"
ALL = "all"
SPECIFIC = "specific"
KINDS = (LATEST, ALL, SPECIFIC)


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which versions to serve (see the module docstring); ``parse`` builds one from flags."""

    kind: str = LATEST
    num_versions: int = 1
    versions: FrozenSet[int] = frozenset()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise OptionError(f"unknown version policy {self.kind!r}: choose {', '.join(KINDS)}")
        if self.kind == LATEST and self.num_versions < 1:
            raise OptionError(f"the latest policy serves at least 1 version, got {self.num_versions}")
        if self.kind == SPECIFIC and not self.versions:
            raise OptionError("the specific policy needs the versions to serve")
        if self.kind != SPECIFIC and self.versions:
            raise OptionError(f"versions are listed only with the specific policy, not {self.kind!r}")

    def select(self, available: Iterable[int]) -> Set[int]:
        """The versions to serve out of ``available``."""
        available = set(available)
        if self.kind == ALL:
            return available
        if self.kind == SPECIFIC:
            return available & self.versions
        return set(sorted(available, reverse=True)[: self.num_versions])

    def describe(self) -> str:
        """The policy in words, for the log."""
        if self.kind == LATEST:
            return f"latest {self.num_versions}"
        if self.kind == SPECIFIC:
            return f"specific {sorted(self.versions)}"
        return ALL


def parse(kind: str, num_versions: int, versions: str) -> VersionPolicy:
    """The policy the server's flags name; ``versions`` is comma-separated (the specific policy's)."""
    listed = set()
    for item in filter(None, (part.strip() for part in versions.split(","))):
        version = version_of(item)
        if version is None:
            raise OptionError(f"--versions: {item!r} is not a version (ASCII digits, at most 2^63-1)")
        listed.add(version)
    return VersionPolicy(kind, num_versions, frozenset(listed))
