"""The training data forms every ``gearshift.train`` call takes, and model preparation.

``data`` is ``(x, y)`` arrays (class indices or one-hot labels) or a
``tf.data.Dataset`` of ``(x, y)`` batches. The arrays are batched and
shuffled here with a fixed seed, so that two runs see the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "as_dataset",
    "clone_model",
    "compile_like",
    "default_loss",
    "first_batches",
    "validation_data",
]


def _check_pair(data: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            f"{what} must be a pair (x, y) of arrays or a tf.data.Dataset of (x, y) batches, "
            f"got {type(data).__name__}"
        )
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{what}: x has {x.shape[0]} samples but y has {y.shape[0]} labels; "
            "expected one label (index or one-hot row) per sample"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{what} is empty: expected at least one sample")
    return x.astype(np.float32), y


def as_dataset(data: Any, batch_size: int = 32, shuffle: bool = True, seed: int = 0) -> Any:
    """A ``tf.data.Dataset`` of ``(x, y)`` batches from ``(x, y)`` arrays or a Dataset."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        return data
    x, y = _check_pair(data, "data")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(x.shape[0], seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def validation_data(validation: Any, batch_size: int = 64) -> Any:
    """Keras' ``validation_data`` from ``(x, y)`` or a Dataset (None stays None)."""
    if validation is None:
        return None
    return as_dataset(validation, batch_size, shuffle=False)


def first_batches(ds: Any, n: int) -> Iterator[tuple[Any, Any]]:
    """The first ``n`` ``(x, y)`` batches of ``ds`` (fewer when it is shorter)."""
    for i, batch in enumerate(ds):
        if i >= n:
            break
        yield batch[0], batch[1]


def _one_hot(ds: Any) -> bool:
    spec = ds.element_spec[1]
    return len(spec.shape) >= 2 and spec.shape[-1] is not None and spec.shape[-1] > 1


def _ends_in_softmax(model: Any) -> bool:
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    name = getattr(act, "__name__", "")
    return name == "softmax" or type(last).__name__ == "Softmax"


def default_loss(model: Any, ds: Any) -> Any:
    """Cross-entropy matching the labels (indices or one-hot) and the model's last layer."""
    import keras

    logits = not _ends_in_softmax(model)
    if _one_hot(ds):
        return keras.losses.CategoricalCrossentropy(from_logits=logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=logits)


def clone_model(model: Any) -> Any:
    """A fresh copy with the same weights: training never changes the caller's model."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def compile_like(
    model: Any,
    source: Any,
    ds: Any,
    optimizer: Any = None,
    learning_rate: float = 1e-3,
    loss: Any = None,
) -> None:
    """Compiles ``model`` with ``loss``, else ``source``'s loss when it was compiled, else
    :func:`default_loss`; with ``optimizer`` or Adam at ``learning_rate``; accuracy metric."""
    import keras

    loss = loss or getattr(source, "loss", None) or default_loss(model, ds)
    opt = optimizer if optimizer is not None else keras.optimizers.Adam(learning_rate)
    metric = "categorical_accuracy" if _one_hot(ds) else "sparse_categorical_accuracy"
    model.compile(optimizer=opt, loss=loss, metrics=[metric])
