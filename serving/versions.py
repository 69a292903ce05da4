"""The version folders the Pusher writes, ``<serving_dir>/<version>/``, found without importing TensorFlow.

A version is a folder named by a non-negative integer (the Pusher uses a timestamp). It counts
only once it holds a SavedModel's ``saved_model.pb`` and ``variables/``: the Pusher copies files
into the final folder, so a folder without them is still being written.
"""

import os
from typing import Dict, Tuple

# tf.saved_model.SAVED_MODEL_FILENAME_PB and VARIABLES_DIRECTORY, spelled out so that callers
# that only look for models (the benchmark's client) need not import TensorFlow.
SAVED_MODEL_FILE = "saved_model.pb"
VARIABLES_DIR = "variables"


def is_complete(version_dir: str) -> bool:
    """Whether ``version_dir`` holds a SavedModel's graph file and variables folder."""
    return os.path.isfile(os.path.join(version_dir, SAVED_MODEL_FILE)) and os.path.isdir(
        os.path.join(version_dir, VARIABLES_DIR)
    )


def list_versions(serving_dir: str) -> Dict[int, str]:
    """Maps each complete version under ``serving_dir`` to its folder; empty when there is none."""
    if not os.path.isdir(serving_dir):
        return {}
    found = {}
    for name in os.listdir(serving_dir):
        path = os.path.join(serving_dir, name)
        if name.isdigit() and is_complete(path):
            found[int(name)] = path
    return found


def resolve(model_dir: str) -> Tuple[int, str]:
    """The (version, folder) that ``model_dir`` names: one version folder, or a serving folder's newest.

    Raises FileNotFoundError when ``model_dir`` holds no complete version.
    """
    model_dir = os.path.normpath(model_dir)
    name = os.path.basename(model_dir)
    if is_complete(model_dir):
        return (int(name) if name.isdigit() else 0), model_dir
    found = list_versions(model_dir)
    if not found:
        raise FileNotFoundError(
            f"{model_dir}: no model version there (a folder <version>/ with {SAVED_MODEL_FILE} and {VARIABLES_DIR}/)"
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
