"""Calibration data in the forms users have, as one float32 batch per model input.

:func:`prepare_calibration` accepts:

* a NumPy array, batch first (one input), or a dict by input name/order or a
  tuple of arrays (several inputs);
* an iterable or generator whose items are arrays (a batch or one sample),
  dicts by input name, tuples/lists of per-input arrays (TFLite's
  ``representative_dataset`` convention: ``yield [x]``), or ``(x, y)`` /
  ``(x, y, weight)`` pairs as Keras' ``fit`` takes them (the labels are
  ignored);
* a ``tf.data.Dataset`` (batched or not; read with ``as_numpy_iterator``, so
  TensorFlow is only touched when the caller already uses it), with the same
  item forms;
* a callable returning any of these (called once);
* :func:`gearshift.calibration.from_images`: a folder of images and a
  preprocessing function.

At most ``limit`` samples are read: a long generator is not exhausted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_SAMPLES", "RANDOM_SAMPLES", "prepare_calibration"]

MAX_SAMPLES = 256
RANDOM_SAMPLES = 8


def _as_batch(a: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float32)
    if arr.ndim == len(shape) - 1:
        arr = arr[None]  # one sample
    if arr.ndim != len(shape) or any(w not in (-1, g) for w, g in zip(shape, arr.shape)):
        shown = "(" + ", ".join("N" if d == -1 else str(d) for d in shape) + ")"
        raise ValueError(f"{what}: expected shape {shown}, got {tuple(np.shape(a))}")
    return arr


def _is_array(a: Any) -> bool:
    """An array-like value (NumPy, a tf.Tensor, ...), not a Python container."""
    return isinstance(a, np.ndarray) or (
        hasattr(a, "__array__") and not isinstance(a, (list, tuple, Mapping))
    )


def _by_input(d: Mapping[str, Any], names: Sequence[str], what: str) -> list[Any]:
    """A dict's values in input order: by name when every input is a key, else by order."""
    if names and all(n in d for n in names):
        return [d[n] for n in names]
    if len(d) != len(names):
        raise ValueError(
            f"{what}: the model has {len(names)} input(s) ({', '.join(names)}), "
            f"the dict has {len(d)} entries ({', '.join(map(str, d))}); key it by input name"
        )
    return list(d.values())


def _item_parts(item: Any, names: Sequence[str], what: str) -> list[Any]:
    """One iterable item -> one value per model input."""
    n_in = len(names)
    if isinstance(item, Mapping):
        return _by_input(item, names, what)
    if isinstance(item, tuple) and 2 <= len(item) <= 3:
        x = item[0]  # Keras' (x, y) / (x, y, weight): only x calibrates
        single = n_in == 1 and (_is_array(x) or isinstance(x, list))
        if single or (n_in > 1 and isinstance(x, (Mapping, tuple, list))):
            return _item_parts(x, names, what) if n_in > 1 else [x]
    if isinstance(item, (tuple, list)) and len(item) == n_in and all(map(_is_array, item)):
        return list(item)  # TFLite's representative_dataset: [x] or [x1, x2]
    if n_in > 1:
        raise ValueError(
            f"{what}: the model has {n_in} inputs: each item must be a dict by input name or "
            f"a tuple of {n_in} arrays, got {type(item).__name__}"
        )
    return [item]


def _whole(calibration: Any, names: Sequence[str]) -> list[Any] | None:
    """The per-input arrays when ``calibration`` is one array / dict / tuple of arrays."""
    n_in = len(names)
    if _is_array(calibration):
        if n_in > 1:
            raise ValueError(
                f"the model has {n_in} inputs: give calibration as a dict or a tuple of "
                f"{n_in} arrays, one per input"
            )
        return [calibration]
    if isinstance(calibration, Mapping):
        return _by_input(calibration, names, "calibration")
    if (
        n_in > 1
        and isinstance(calibration, (list, tuple))
        and len(calibration) == n_in
        and all(map(_is_array, calibration))
    ):
        return list(calibration)
    return None


def _items(calibration: Any) -> Iterable[Any]:
    if hasattr(calibration, "as_numpy_iterator"):  # tf.data.Dataset
        return calibration.as_numpy_iterator()
    if not isinstance(calibration, Iterable):
        raise ValueError(
            "calibration must be an array (batch first), an iterable or generator of arrays or "
            "dicts, a tf.data.Dataset, a callable returning one of them, or "
            f"gearshift.calibration.from_images(...); got {type(calibration).__name__}"
        )
    return calibration


def prepare_calibration(
    calibration: Any,
    input_shapes: list[tuple[int, ...]],
    limit: int = MAX_SAMPLES,
    seed: int = 0,
    input_names: Sequence[str] | None = None,
) -> tuple[list[np.ndarray], bool]:
    """Calibration data as one batch per model input (at most ``limit`` samples).

    See the module docstring for the accepted forms. ``None`` gives
    :data:`RANDOM_SAMPLES` standard-normal samples. Returns ``(batches, random)``.
    """
    names = list(input_names or [f"input {i}" for i in range(len(input_shapes))])
    if len(names) != len(input_shapes):
        raise ValueError(f"{len(names)} input names for {len(input_shapes)} inputs")
    if calibration is None:
        rng = np.random.default_rng(seed)
        batches = [
            rng.standard_normal((RANDOM_SAMPLES, *s[1:])).astype(np.float32) for s in input_shapes
        ]
        return batches, True
    if callable(calibration) and not _is_array(calibration):
        calibration = calibration()
    whole = _whole(calibration, names)
    if whole is not None:
        what = ["calibration"] if len(names) == 1 else [f"calibration for {n}" for n in names]
        return [_as_batch(a, s, w)[:limit] for a, s, w in zip(whole, input_shapes, what)], False
    chunks: list[list[np.ndarray]] = [[] for _ in names]
    count = 0
    for k, item in enumerate(_items(calibration)):
        parts = _item_parts(item, names, f"calibration item {k}")
        arrs = [
            _as_batch(a, s, f"calibration item {k}" + (f" ({n})" if len(names) > 1 else ""))
            for a, s, n in zip(parts, input_shapes, names)
        ]
        if len({a.shape[0] for a in arrs}) != 1:
            raise ValueError(
                f"calibration item {k}: the inputs have different batch sizes "
                f"{[a.shape[0] for a in arrs]}"
            )
        for c, a in zip(chunks, arrs):
            c.append(a)
        count += arrs[0].shape[0]
        if count >= limit:
            break
    if not count:
        raise ValueError("calibration is empty: it yielded no samples")
    return [np.concatenate(c)[:limit] for c in chunks], False
