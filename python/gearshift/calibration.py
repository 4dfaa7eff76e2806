"""Calibration data from a folder of images: ``gs.calibration.from_images``.

``gearshift.convert(..., calibration=...)`` also takes an array, a generator,
a callable or a ``tf.data.Dataset`` directly (``converters/calibration_data.py``);
this module adds what a camera model's user usually has, a folder of photos,
read lazily with Pillow and turned into model inputs by the caller's own
preprocessing (the same function the application uses, so calibration sees
what the model will see). Needs only numpy and Pillow (``pip install pillow``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "ImageFolder", "from_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")

Preprocess = Callable[[np.ndarray], Any]


class ImageFolder:
    """The images of a folder as model inputs, one sample at a time (sorted by path).

    Iterating yields ``preprocess(image)`` for each file, where ``image`` is an
    ``HxWx3`` uint8 RGB array (grayscale and palette images are converted, the
    alpha channel dropped). ``len()`` is the number of samples it yields.
    """

    def __init__(self, files: list[Path], preprocess: Preprocess) -> None:
        self.files = files
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Any]:
        for f in self.files:
            yield self.preprocess(read_rgb(f))


def _pil_image() -> Any:
    """Pillow's ``Image`` module, or an error that says how to get it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading calibration images needs Pillow: pip install pillow") from None
    return Image


def read_rgb(path: Path) -> np.ndarray:
    """An image file as ``HxWx3`` uint8 RGB."""
    Image = _pil_image()
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except OSError as e:
        raise ValueError(f"cannot read calibration image {path}: {e}") from e


def resize_to(size: tuple[int, int], scale: tuple[float, float]) -> Preprocess:
    """The default preprocessing: bilinear resize to ``(height, width)``, then map
    [0, 255] linearly to ``scale`` (float32)."""
    Image = _pil_image()

    h, w = size
    lo, hi = scale

    def preprocess(image: np.ndarray) -> np.ndarray:
        r = Image.fromarray(image).resize((w, h), Image.BILINEAR)
        return (lo + (hi - lo) / 255.0 * np.asarray(r, np.float32)).astype(np.float32)

    return preprocess


def from_images(
    folder: str | os.PathLike[str],
    preprocess: Preprocess | None = None,
    *,
    size: tuple[int, int] | None = None,
    scale: tuple[float, float] = (0.0, 1.0),
    limit: int | None = None,
    recursive: bool = False,
) -> ImageFolder:
    """Calibration inputs from the image files in ``folder`` (sorted by path).

    Args:
        folder: a directory holding ``.png``, ``.jpg``, ``.bmp``, ... files.
        preprocess: turns one ``HxWx3`` uint8 RGB image into one model input
            (for example resize, crop, normalise; an array without the batch
            axis, or a dict by input name for several inputs). Without it,
            ``size`` is required and images are resized to it and mapped to
            ``scale``.
        size: ``(height, width)`` for the default preprocessing.
        scale: the range [0, 255] is mapped to, for the default preprocessing
            (``(-1, 1)`` for models trained that way).
        limit: at most this many images (the first ones in path order).
        recursive: also look in sub-folders.

    Pass the result as ``gearshift.convert(..., calibration=...)``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"calibration image folder not found: {os.fspath(folder)!r}")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in root.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(
            f"no images in {os.fspath(folder)!r} (looked for {', '.join(IMAGE_SUFFIXES)}"
            + ("" if recursive else "; recursive=True also searches sub-folders")
            + ")"
        )
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        files = files[:limit]
    if preprocess is None:
        if size is None:
            raise ValueError(
                "from_images needs preprocess= (a function from an HxWx3 uint8 image to one "
                "model input) or size=(height, width) for a plain resize"
            )
        preprocess = resize_to(size, scale)
    elif not callable(preprocess):
        raise ValueError(f"preprocess must be a function, got {type(preprocess).__name__}")
    return ImageFolder(files, preprocess)
