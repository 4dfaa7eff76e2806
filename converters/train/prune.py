"""Gradual pruning with fine-tuning: the polynomial schedule, its Keras callback,
and ``gearshift.train.prune``.

Zhu & Gupta (2017), "To prune, or not to prune": the sparsity at step ``t``
rises from ``s_i`` to ``s_f`` over ``[t0, t0 + n*dt]`` as

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3

(fast at first, while many weights are redundant, slowly near the end), with
the masks recomputed every ``dt`` steps and held (re-applied after every
training step, so the optimizer cannot regrow a pruned weight) until the end.

The learning rate: constant (``lr_schedule="constant"``), or held while the
sparsity ramps and then cosine-decayed to ``final_learning_rate`` over the
recovery steps (``lr_schedule="cosine"``, :func:`recovery_learning_rate`), so
the last epochs settle at the final masks instead of jumping around them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import as_dataset, clone_model, compile_like, validation_data
from .masks import (
    SCOPES,
    STRUCTURES,
    Masks,
    apply_masks,
    channel_masks,
    edge_layer_names,
    weight_masks,
)
from .scores import SCORES, weight_scores

__all__ = [
    "LR_SCHEDULES",
    "GradualPruning",
    "PolynomialSchedule",
    "prune",
    "recovery_learning_rate",
    "training_marks",
]

MARKS = "_gearshift_train"  # attribute a returned model carries for gs.convert
LR_SCHEDULES = ("constant", "cosine")


def recovery_learning_rate(
    step: int, hold_steps: int, total_steps: int, learning_rate: float, final: float = 0.0
) -> float:
    """The ``"cosine"`` schedule: ``learning_rate`` for the first ``hold_steps`` (the
    sparsity ramp), then ``final + (lr - final) * (1 + cos(pi * t)) / 2`` with ``t``
    going from 0 to 1 over the remaining steps; ``final`` at the last step
    (``total_steps - 1``) and after."""
    if step < hold_steps:
        return float(learning_rate)
    span = total_steps - 1 - hold_steps
    t = 1.0 if span <= 0 else min((step - hold_steps) / span, 1.0)
    return float(final + (learning_rate - final) * 0.5 * (1.0 + math.cos(math.pi * t)))


def _lr_callback(hold_steps: int, total_steps: int, learning_rate: float, final: float) -> Any:
    """Sets the optimizer's learning rate before every training step (cosine recovery)."""
    base = _keras_callback_base()

    class _LR(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.step = 0
            self.rates: list[float] = []

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            lr = recovery_learning_rate(self.step, hold_steps, total_steps, learning_rate, final)
            self.model.optimizer.learning_rate.assign(lr)
            self.rates.append(lr)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.step += 1

    return _LR()


@dataclass(frozen=True)
class PolynomialSchedule:
    """Zhu & Gupta's cubic schedule between ``begin_step`` and ``end_step``."""

    final_sparsity: float
    begin_step: int = 0
    end_step: int = 100
    frequency: int = 10
    initial_sparsity: float = 0.0
    power: float = 3.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.initial_sparsity <= self.final_sparsity < 1.0:
            raise ValueError(
                "need 0 <= initial_sparsity <= final_sparsity < 1, got "
                f"{self.initial_sparsity} and {self.final_sparsity}"
            )
        if self.end_step < self.begin_step or self.frequency < 1:
            raise ValueError(
                f"need begin_step <= end_step and frequency >= 1, got {self.begin_step}, "
                f"{self.end_step}, {self.frequency}"
            )

    def sparsity(self, step: int) -> float:
        """``s_t`` (``s_i`` before the begin step, ``s_f`` from the end step on)."""
        if step <= self.begin_step:
            return self.initial_sparsity if step < self.end_step else self.final_sparsity
        if step >= self.end_step:
            return self.final_sparsity
        frac = (step - self.begin_step) / (self.end_step - self.begin_step)
        si, sf = self.initial_sparsity, self.final_sparsity
        return sf + (si - sf) * (1.0 - frac) ** self.power

    def updates(self, step: int) -> bool:
        """Whether the masks are recomputed at ``step``."""
        if step < self.begin_step or step > self.end_step:
            return False
        return (step - self.begin_step) % self.frequency == 0 or step == self.end_step


def _keras_callback_base() -> type:
    import keras

    return keras.callbacks.Callback


class GradualPruning:
    """Keras callback: masks from ``score`` at the schedule's sparsity, held every step.

    Built by :func:`make_callback` (so that this module imports without Keras).
    """


def make_callback(
    schedule: PolynomialSchedule,
    structure: str = "unstructured",
    score: str = "magnitude",
    data: Any = None,
    loss: Any = None,
    scope: str = "global",
    include_first_last: bool = False,
    score_batches: int = 8,
    progress: bool = False,
) -> Any:
    """The pruning callback (a ``keras.callbacks.Callback``); see :class:`GradualPruning`."""
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    base = _keras_callback_base()

    class _Callback(base, GradualPruning):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.schedule = schedule
            self.step = 0
            self.masks: Masks = {}
            self.current = 0.0
            self.history: list[tuple[int, float]] = []
            self.channels_removed = 0
            self._skip: set[str] | None = None

        def update(self) -> None:
            s = schedule.sparsity(self.step)
            model = self.model
            if self._skip is None:
                self._skip = set() if include_first_last else edge_layer_names(model)
            if s > 0:
                scores = weight_scores(
                    model, score, data, loss, batches=score_batches, progress=progress
                )
                if structure == "channel":
                    self.masks, self.channels_removed = channel_masks(
                        model, scores, s, include_first_last
                    )
                else:
                    self.masks = weight_masks(model, scores, s, structure, scope, self._skip)
            self.current = s
            self.history.append((self.step, s))
            apply_masks(model, self.masks)

        def on_train_begin(self, logs: Any = None) -> None:
            if schedule.updates(self.step) or schedule.sparsity(self.step) > 0:
                self.update()

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if self.step > 0 and schedule.updates(self.step):
                self.update()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.step += 1
            apply_masks(self.model, self.masks)

        def on_train_end(self, logs: Any = None) -> None:
            if self.current < schedule.final_sparsity:
                self.update()  # a run shorter than the schedule still ends at its target
            apply_masks(self.model, self.masks)

    return _Callback()


def _steps_per_epoch(ds: Any) -> int:
    import tensorflow as tf

    n = int(ds.cardinality())
    if n < 0:  # unknown or infinite: count once
        n = sum(1 for _ in ds)
    if n == tf.data.INFINITE_CARDINALITY or n <= 0:
        raise ValueError("data must be a finite dataset of (x, y) batches")
    return n


def _self_distilling(net: Any, teacher: Any, ds: Any, temperature: float, alpha: float) -> Any:
    """Recompiles ``net`` with the distillation loss against ``teacher`` and returns ``ds``
    with the teacher's logits packed after one-hot labels (``[B, 2C]`` targets)."""
    import tensorflow as tf

    from .distill import distillation_loss, logit_model, logits_of

    classes = int(teacher.outputs[0].shape[-1])
    t_fn = logit_model(teacher)
    one_hot = len(ds.element_spec[1].shape) >= 2 and ds.element_spec[1].shape[-1] == classes

    def pack(x: Any, y: Any) -> Any:
        lab = (
            tf.cast(y, tf.float32)
            if one_hot
            else tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int32), classes)
        )
        return x, tf.concat([lab, tf.cast(t_fn(x, False), tf.float32)], axis=-1)

    def kd_loss(packed: Any, out: Any) -> Any:
        s = logits_of(net, out)
        return distillation_loss(packed[:, classes:], s, packed[:, :classes], temperature, alpha)

    def accuracy(packed: Any, out: Any) -> Any:
        hit = tf.equal(tf.argmax(packed[:, :classes], -1), tf.argmax(out, -1))
        return tf.reduce_mean(tf.cast(hit, tf.float32))

    net.compile(optimizer=net.optimizer, loss=kd_loss, metrics=[accuracy])
    return ds.map(pack)


def training_marks(model: Any) -> dict[str, Any] | None:
    """What ``gearshift.train`` recorded on a model it returned (None for others)."""
    marks = getattr(model, MARKS, None)
    return dict(marks) if isinstance(marks, dict) else None


def _mark(model: Any, marks: dict[str, Any]) -> None:
    # object.__setattr__: Keras would otherwise track the dict as a layer attribute
    object.__setattr__(model, MARKS, marks)


def prune(
    model: Any,
    data: Any,
    sparsity: float = 0.8,
    score: str = "magnitude",
    structure: str = "unstructured",
    epochs: int = 2,
    validation: Any = None,
    batch_size: int = 32,
    optimizer: Any = None,
    learning_rate: float = 5e-4,
    loss: Any = None,
    scope: str = "global",
    include_first_last: bool = False,
    schedule: PolynomialSchedule | None = None,
    pruning_fraction: float = 0.6,
    updates: int = 10,
    score_batches: int = 8,
    callbacks: list[Any] | None = None,
    verbose: Any = "auto",
    lr_schedule: str = "constant",
    final_learning_rate: float = 0.0,
    distill_alpha: float = 0.0,
    distill_temperature: float = 4.0,
) -> Any:
    """Prunes ``model`` gradually while fine-tuning it; returns the pruned copy.

    The schedule ramps from 0 to ``sparsity`` over the first ``pruning_fraction``
    of the training steps with ``updates`` mask updates (or ``schedule``); the
    rest of the epochs fine-tune at the final masks. ``structure="2:4"`` means
    sparsity 0.5; ``"channel"``'s sparsity is the fraction of output channels of
    each group of tied layers. The returned model has its pruned weights at
    exactly zero; ``gearshift.convert`` stores them sparse, and for ``channel``
    removes the pruned channels from the graph.

    ``scope`` (unstructured): ``"global"`` ranks all eligible kernels together,
    ``"layer"`` prunes each to ``sparsity``, ``"erk"`` gives each kernel its own
    share by its shape (``masks.erk_counts``); in every case ``sparsity`` is the
    fraction of the eligible kernels' weights (first and last layers excluded
    unless ``include_first_last``; biases and batch norm never pruned).
    ``lr_schedule="cosine"`` holds ``learning_rate`` while the sparsity ramps and
    cosine-decays it to ``final_learning_rate`` by the last step (Adam at
    ``learning_rate`` only; not with ``optimizer``); ``"constant"`` keeps it.
    ``distill_alpha > 0`` fine-tunes against ``model`` itself as the teacher
    (self-distillation, :func:`gearshift.distill`'s loss at
    ``distill_temperature``); the scores still use the labels' loss.
    """
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)):
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    if not 0.0 <= float(sparsity) < 1.0 or not math.isfinite(sparsity):
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    if structure == "2:4" and float(sparsity) != 0.5:
        sparsity = 0.5
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {lr_schedule!r}"
        )
    if lr_schedule != "constant" and optimizer is not None:
        raise ValueError("lr_schedule applies to the default Adam; schedule your optimizer's own")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not 0.0 <= distill_alpha <= 1.0 or not distill_temperature > 0:
        raise ValueError(
            f"need 0 <= distill_alpha <= 1 and distill_temperature > 0, got {distill_alpha!r} "
            f"and {distill_temperature!r}"
        )
    ds = as_dataset(data, batch_size)
    net = clone_model(model)
    compile_like(net, model, ds, optimizer, learning_rate, loss)
    label_loss = net.loss
    train_ds = ds
    if distill_alpha > 0:
        train_ds = _self_distilling(net, model, ds, distill_temperature, distill_alpha)
    steps = _steps_per_epoch(ds) * epochs
    if schedule is None:
        end = max(1, round(pruning_fraction * steps))
        schedule = PolynomialSchedule(
            final_sparsity=float(sparsity),
            begin_step=0,
            end_step=end,
            frequency=max(1, end // max(updates, 1)),
        )
    cb = make_callback(
        schedule,
        structure,
        score,
        data=ds,
        loss=label_loss,
        scope=scope,
        include_first_last=include_first_last,
        score_batches=score_batches,
    )
    extra = []
    if lr_schedule == "cosine":
        extra.append(_lr_callback(schedule.end_step, steps, learning_rate, final_learning_rate))
    net.fit(
        train_ds,
        epochs=epochs,
        validation_data=validation_data(validation),
        callbacks=[cb, *extra, *(callbacks or [])],
        shuffle=False,  # the Dataset is shuffled already (as_dataset)
        verbose=verbose,
    )
    _mark(
        net,
        {
            "kind": "prune",
            "structure": structure,
            "sparsity": float(sparsity),
            "score": score,
            "scope": scope,
            "lr_schedule": lr_schedule,
            "include_first_last": include_first_last,
            "channels_removed": cb.channels_removed,
            "masks": {k: {v: np.asarray(m) for v, m in d.items()} for k, d in cb.masks.items()},
        },
    )
    return net
