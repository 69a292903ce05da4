"""The version folders the Pusher writes, ``<serving_dir>/<version>/``, found without importing TensorFlow.

A version is a folder named by a non-negative integer of ASCII digits that fits TF Serving's
int64 version (the Pusher uses a timestamp). Any other name is not a version: ``str.isdigit``
would also accept Unicode digits such as ``²``, which ``int`` rejects, so names are matched
against ``[0-9]+`` instead. A version counts only once it holds a SavedModel's
``saved_model.pb`` and ``variables/``: the Pusher copies files into the final folder, so a
folder without them is still being written.
"""

import os
import re
from typing import Dict, List, Optional, Tuple

# tf.saved_model.SAVED_MODEL_FILENAME_PB and VARIABLES_DIRECTORY, spelled out so that callers
# that only look for models (the benchmark's client) need not import TensorFlow.
SAVED_MODEL_FILE = "saved_model.pb"
VARIABLES_DIR = "variables"
MAX_VERSION = 2**63 - 1  # TF Serving's versions are int64
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")  # 19 digits hold every int64; longer names are never versions


def version_of(name: str) -> Optional[int]:
    """The version a folder or path segment names, or None when it names none (see the module docstring)."""
    if not _ASCII_DIGITS.fullmatch(name):
        return None
    version = int(name)
    return version if version <= MAX_VERSION else None


def is_complete(version_dir: str) -> bool:
    """Whether ``version_dir`` holds a SavedModel's graph file and variables folder."""
    return os.path.isfile(os.path.join(version_dir, SAVED_MODEL_FILE)) and os.path.isdir(
        os.path.join(version_dir, VARIABLES_DIR)
    )


def scan(serving_dir: str) -> Tuple[Dict[int, str], List[str]]:
    """Each complete version under ``serving_dir`` mapped to its folder, and the folders that are not versions.

    Both are empty when ``serving_dir`` is missing; hidden folders (a copy tool's temporary ones)
    are neither.
    """
    try:
        names = os.listdir(serving_dir)
    except (FileNotFoundError, NotADirectoryError):
        return {}, []
    found, ignored = {}, []
    for name in names:
        path = os.path.join(serving_dir, name)
        version = version_of(name)
        if version is not None:
            if is_complete(path):
                found[version] = path
        elif not name.startswith(".") and os.path.isdir(path):
            ignored.append(name)
    return found, sorted(ignored)


def list_versions(serving_dir: str) -> Dict[int, str]:
    """Maps each complete version under ``serving_dir`` to its folder; empty when there is none."""
    return scan(serving_dir)[0]


def resolve(model_dir: str) -> Tuple[int, str]:
    """The (version, folder) that ``model_dir`` names: one version folder, or a serving folder's newest.

    A version folder whose name is not a version is version 0. Raises FileNotFoundError when
    ``model_dir`` holds no complete version.
    """
    model_dir = os.path.normpath(model_dir)
    if is_complete(model_dir):
        return version_of(os.path.basename(model_dir)) or 0, model_dir
    found = list_versions(model_dir)
    if not found:
        raise FileNotFoundError(
            f"{model_dir}: no model version there (a folder <version>/ with {SAVED_MODEL_FILE} and {VARIABLES_DIR}/, "
            "named by ASCII digits)"
        )
    newest = max(found)
    return newest, found[newest]


def fingerprint(version_dir: str) -> Tuple:
    """The relative path, size and modification time of every file under ``version_dir``.

    Two equal fingerprints a poll apart mean nobody is writing the folder any more.
    """
    entries = []
    for folder, _, files in os.walk(version_dir):
        for name in files:
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path)
            except FileNotFoundError:  # removed while we walked: the folder is still changing
                continue
            entries.append((os.path.relpath(path, version_dir), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))
