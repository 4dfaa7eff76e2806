"""Importance scores of weights and of whole output channels, measured on data.

Three scores, per weight ``w`` of a Conv2D / DepthwiseConv2D / Dense kernel:

- ``magnitude``: ``|w|``;
- ``taylor``: first-order Taylor estimate of the loss change when ``w`` is
  removed, ``|w * dL/dw|``, averaged over the batches (Molchanov et al. 2017);
- ``fisher``: Optimal Brain Damage's saliency ``1/2 * F * w^2`` with ``F``
  the diagonal of the empirical Fisher information, estimated as the mean of
  the squared batch gradients ``(dL/dw)^2`` over the batches (LeCun et al.
  1990, with the Fisher standing in for the Hessian's diagonal).

A channel's score is the sum of its weights' scores (its filter: every weight
that produces that output channel), so that the three scores rank channels the
same way they rank weights. Batch gradients (not per-sample ones) keep the
cost at one backward pass per batch; the tests check the formulas above.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...progress import Progress
from .data import first_batches

__all__ = [
    "SCORES",
    "WEIGHT_LAYERS",
    "channel_scores",
    "kernel_channel_axis",
    "prunable_layers",
    "weight_scores",
]

SCORES = ("magnitude", "taylor", "fisher")
WEIGHT_LAYERS = ("Conv2D", "DepthwiseConv2D", "Dense")


def prunable_layers(model: Any) -> list[Any]:
    """The model's Conv2D / DepthwiseConv2D / Dense layers (nested models included), in order."""
    from ..import_keras import iter_leaf_layers

    return [layer for layer in iter_leaf_layers(model) if type(layer).__name__ in WEIGHT_LAYERS]


def kernel_channel_axis(layer: Any) -> int:
    """Output-channel axis of a Keras kernel: last for Conv2D ``[KH,KW,I,O]`` and Dense
    ``[I,O]``; axis 2 for DepthwiseConv2D ``[KH,KW,C,M]`` (with M = 1: one filter a channel)."""
    return 2 if type(layer).__name__ == "DepthwiseConv2D" else -1


def _loss_fn(model: Any, loss: Any) -> Any:
    """A callable ``loss(y, out)``: ``loss``, else the model's compiled loss (names resolved)."""
    import keras

    fn = loss if loss is not None else getattr(model, "loss", None)
    return keras.losses.get(fn) if isinstance(fn, (str, dict)) else fn


def weight_scores(
    model: Any,
    score: str,
    data: Any = None,
    loss: Any = None,
    batches: int = 16,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Score of every kernel weight, by layer name, shaped like the kernel.

    ``data`` (a Dataset of ``(x, y)`` batches) and ``loss`` (a Keras loss; the
    model's compiled one when None) are needed for ``taylor`` and ``fisher``;
    the first ``batches`` batches are used.
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    layers = prunable_layers(model)
    if score == "magnitude":
        return {
            layer.name: np.abs(np.asarray(layer.kernel.numpy(), np.float64)) for layer in layers
        }
    import tensorflow as tf

    fn = _loss_fn(model, loss)
    if data is None or fn is None:
        raise ValueError(f"score {score!r} needs data and a loss (compile the model or pass loss=)")
    kernels = [layer.kernel for layer in layers]
    acc = [np.zeros(k.shape, np.float64) for k in kernels]
    n = 0
    with Progress(batches, f"scoring ({score})", enabled=None if progress else False) as bar:
        for x, y in first_batches(data, batches):
            with tf.GradientTape() as tape:
                out = model(x, training=False)
                value = tf.reduce_mean(fn(y, out))  # a loss function gives one per sample
            grads = tape.gradient(value, kernels)
            for a, k, g in zip(acc, kernels, grads):
                g64 = np.asarray(g, np.float64)
                if score == "taylor":
                    a += np.abs(np.asarray(k.numpy(), np.float64) * g64)
                else:
                    a += g64 * g64
            n += 1
            bar.update()
    if n == 0:
        raise ValueError("data has no batches to score on")
    out: dict[str, np.ndarray] = {}
    for layer, a in zip(layers, acc):
        mean = a / n
        if score == "fisher":
            w = np.asarray(layer.kernel.numpy(), np.float64)
            mean = 0.5 * mean * w * w
        out[layer.name] = mean
    return out


def channel_scores(layer: Any, scores: np.ndarray) -> np.ndarray:
    """Per output channel: the sum of the scores of the weights producing it."""
    if type(layer).__name__ == "DepthwiseConv2D":  # [C, M] -> channel c*M + m, as the IR
        return np.asarray(scores.sum(axis=(0, 1))).reshape(-1)
    return scores.reshape(-1, scores.shape[-1]).sum(axis=0)
