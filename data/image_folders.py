"""Image folders: one subfolder per class, any format Pillow reads (Keras' ``image_dataset_from_directory`` layout).

    SRC/cat/001.jpg   SRC/cat/more/002.png   SRC/dog/a.webp   ...

Classes are the subfolders' names, sorted (label 0 is the first); every file below a class
folder, at any depth, is one image of that class, keyed by its path relative to SRC, which stays
the same from run to run. Images are converted to the requested channels (1: greyscale, 3: RGB,
4: RGBA) and resized to the requested height and width.
"""

import hashlib
import os
from typing import Iterator, List, Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from data import DataError
from data.layout import MAX_IMAGE_SIDE
from data.sources import LabeledImage

MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def class_names(src: str) -> List[str]:
    """The class folders of ``src``, sorted; hidden folders are left out."""
    if not os.path.isdir(src):
        raise DataError(f"{src}: no such folder of class folders")
    names = sorted(
        name for name in os.listdir(src) if not name.startswith(".") and os.path.isdir(os.path.join(src, name))
    )
    if len(names) < 2:
        raise DataError(f"{src}: found {len(names)} class folder(s) {names}; a classifier needs at least two")
    return names


def image_files(src: str, names: Sequence[str]) -> List[Tuple[str, int]]:
    """(path relative to ``src``, label) of every non-hidden file below each class folder, in ``mixed`` order."""
    found = []
    for label, name in enumerate(names):
        for folder, dirs, files in os.walk(os.path.join(src, name)):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [(os.path.relpath(os.path.join(folder, f), src), label) for f in files if not f.startswith(".")]
    return sorted(found, key=mixed)


def mixed(file: Tuple[str, int]) -> bytes:
    """A sort key that interleaves the classes, fixed by the path: a digest of it.

    The records are written in this order and ImportExampleGen keeps the order it reads
    (pipeline/example_gen.py); a split too large for the input cache is streamed through a shuffle
    buffer, which cannot mix classes written one after the other.
    """
    return hashlib.blake2b(file[0].encode(), digest_size=8).digest()


def check_shape(image_shape: Sequence[int]) -> None:
    """DataError unless ``image_shape`` is HEIGHT,WIDTH,CHANNELS: sides up to MAX_IMAGE_SIDE, 1, 3 or 4 channels."""
    sides = image_shape[:2]
    if len(image_shape) != 3 or image_shape[2] not in MODES or not 1 <= min(sides) <= max(sides) <= MAX_IMAGE_SIDE:
        raise DataError(
            f"--image-shape must be HEIGHT,WIDTH,CHANNELS with sides from 1 to {MAX_IMAGE_SIDE} and 1, 3 or 4 "
            f"channels, got {tuple(image_shape)}"
        )


def load(path: str, image_shape: Sequence[int]) -> np.ndarray:
    """The image at ``path`` as uint8 (height, width, channels) of ``image_shape``; raises OSError or ValueError."""
    height, width, channels = image_shape
    with Image.open(path) as image:
        converted = image.convert(MODES[channels]).resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(converted, dtype=np.uint8).reshape(height, width, channels)


def images(
    src: str, files: Sequence[Tuple[str, int]], image_shape: Sequence[int], skip_bad: bool, skipped: list
) -> Iterator[LabeledImage]:
    """Every image of ``files`` (``image_files`` of ``src``); an unreadable one stops with its path, or with
    ``skip_bad`` is appended to ``skipped`` as (path, reason) and left out."""
    check_shape(image_shape)
    for relative, label in files:
        path = os.path.join(src, relative)
        try:
            image = load(path, image_shape)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
            if not skip_bad:
                raise DataError(f"{path}: not a readable image ({err}); --skip-bad leaves such files out") from err
            skipped.append((relative, str(err)))
            continue
        yield LabeledImage(relative.replace(os.sep, "/"), image, label)
