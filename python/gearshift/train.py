"""``gearshift.train``: training-aware compression (host side, TensorFlow/Keras).

``gs.train.prune`` (gradual pruning with fine-tuning), ``gs.train.qat``
(quantization-aware training for the int8/int4 gears) and ``gs.distill``
(knowledge distillation). This module imports nothing heavy: each function
imports the work (``gearshift.converters.train``) and TensorFlow on first call,
so ``import gearshift`` stays TensorFlow-free. See docs/TRAINING.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["distill", "load", "prune", "qat", "save", "sensitivity", "sweep"]


def prune(
    model: Any,
    data: Any,
    sparsity: float = 0.8,
    score: str = "magnitude",
    structure: str = "unstructured",
    epochs: int = 2,
    validation: Any = None,
    **kwargs: Any,
) -> Any:
    """Prunes a Keras model gradually while fine-tuning it on ``data``; returns the pruned copy.

    Args:
        model: a ``keras.Model`` (not changed: a copy is trained).
        data: ``(x, y)`` arrays (class indices or one-hot) or a ``tf.data.Dataset``
            of ``(x, y)`` batches.
        sparsity: the final fraction of zero weights (of output channels for
            ``structure="channel"``; ``"2:4"`` is always 0.5).
        score: ``"magnitude"``, ``"taylor"`` (``|w * dL/dw|``) or ``"fisher"``
            (``1/2 * F * w^2``), measured on ``data``.
        structure: ``"unstructured"``, ``"2:4"`` or ``"channel"``.
        epochs: fine-tuning epochs; the sparsity ramps up (Zhu & Gupta's cubic
            schedule) over the first 60% of the steps.
        validation: optional ``(x, y)`` or Dataset, evaluated after every epoch.
        **kwargs: ``batch_size``, ``optimizer``, ``learning_rate``, ``loss``,
            ``scope`` (``"global"``: one ranking; ``"layer"``: the same fraction
            per layer; ``"erk"``: a per-layer fraction from each kernel's shape,
            thin and depthwise kernels pruned less, wide 1x1 ones more; always
            ``sparsity`` of the eligible kernels' weights overall),
            ``include_first_last``, ``schedule``, ``pruning_fraction``,
            ``updates``, ``score_batches``, ``callbacks``, ``verbose``,
            ``lr_schedule`` (``"constant"``, or ``"cosine"``: held during the
            ramp, then cosine-decayed to ``final_learning_rate``, default 0),
            ``distill_alpha`` and ``distill_temperature`` (self-distillation
            from ``model`` while fine-tuning; 0: labels only)
            (``converters/train/prune.py``).

    Returns:
        The fine-tuned Keras model with its pruned weights exactly zero;
        ``gs.convert`` of it stores them sparse, or removes the channels.
    """
    from .converters.train.prune import prune as _prune

    return _prune(model, data, sparsity, score, structure, epochs, validation, **kwargs)


def qat(
    model: Any,
    data: Any,
    gear: str = "int8",
    calibration: Any = None,
    epochs: int = 2,
    validation: Any = None,
    **kwargs: Any,
) -> Any:
    """Quantization-aware training for the ``int8`` or ``int4`` gear; returns the QAT model.

    The returned Keras model computes with fake quantization that follows the
    gear's integer arithmetic; ``gs.convert(qat_model, path, gears=(...))``
    writes that gear with the ranges the model learned. ``calibration``
    (inputs, as ``gs.convert`` takes them) sets the initial activation ranges;
    ``data`` when None. See docs/TRAINING.md.
    """
    from .converters.train.qat import qat as _qat

    return _qat(model, data, gear, calibration, epochs, validation, **kwargs)


def distill(
    teacher: Any,
    student: Any,
    data: Any,
    temperature: float = 4.0,
    alpha: float = 0.9,
    epochs: int = 10,
    validation: Any = None,
    **kwargs: Any,
) -> Any:
    """Trains ``student`` to match ``teacher``'s softened outputs; returns the trained student.

    The loss is ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(y, s)``.
    ``**kwargs``: ``batch_size``, ``optimizer`` (default: a copy of the student's
    compiled optimizer, else Adam), ``learning_rate``, ``verbose``, ``seed`` (the
    dropout and batch order: one seed and ``alpha=0`` give the paired labels-only run),
    ``augment`` (a callable on each input batch, e.g. Keras random layers: teacher and
    student see the same view), ``unlabeled`` (inputs without labels, a transfer set:
    they train on the soft term alone; ``data`` must then be arrays).
    """
    from .converters.train.distill import distill as _distill

    return _distill(teacher, student, data, temperature, alpha, epochs, validation, **kwargs)


def sensitivity(model: Any, data: Any, **kwargs: Any) -> Any:
    """Per-layer loss/accuracy against sparsity and bit-width (a table; see docs/TRAINING.md).

    ``ray=True`` runs the scan as Ray tasks on a local Ray, ``ray="ADDRESS"`` on
    a cluster (``pip install "gearshift[ray]"``); the results are the local scan's.
    """
    from .converters.train.sensitivity import sensitivity as _sensitivity

    return _sensitivity(model, data, **kwargs)


def save(model: Any, path: Any) -> Any:
    """Saves a model ``prune``/``qat``/``distill`` returned, with what ``gs.convert`` needs.

    Keras' ``model.save`` drops gearshift's record (a channel-pruned model's
    structure, a QAT model's learned ranges and gear) and cannot store a QAT
    model at all; this writes one zip archive that :func:`load` reads back.
    Any other Keras model is saved too. Returns the path.
    """
    from .converters.train.persist import save as _save

    return _save(model, path)


def load(path: Any) -> Any:
    """The model :func:`save` wrote; a QAT model comes back uncompiled (compile it to train on)."""
    from .converters.train.persist import load as _load

    return _load(path)


def sweep(
    model: Any, data: Any, configs: list, validation: Any, ray: Any = None, **kwargs: Any
) -> Any:
    """Several ``prune``/``qat`` runs of ``model``, each evaluated on ``validation``.

    ``configs``: dicts such as ``{"method": "prune", "sparsity": 0.8, "epochs": 2}``
    or ``{"method": "qat", "gear": "int4"}`` (the other keys are that function's
    arguments). ``ray=True`` runs one Ray task per configuration on a local Ray,
    ``ray="ADDRESS"`` on a cluster. Returns a report: ``print(rep)``,
    ``rep.rows``, ``rep.models``, ``rep.best("accuracy")``. ``**kwargs``:
    ``seed``, ``progress``.
    """
    from .converters.train.sweep import sweep as _sweep

    return _sweep(model, data, configs, validation, ray=ray, **kwargs)
