"""Knowledge distillation: ``gearshift.distill(teacher, student, data, temperature, alpha)``.

Hinton et al. (2015). With teacher logits ``t``, student logits ``s``,
temperature ``T`` and labels ``y``, the student minimises

    alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(y, softmax(s))

(the ``T^2`` keeps the soft term's gradients on the hard term's scale as
``T`` changes). A model that ends in softmax gives its log-probabilities as
logits: ``softmax(log p / T) = softmax(z / T)`` for any logits ``z`` of ``p``.
The student may be a model ``gearshift.train.prune`` returned (a channel-pruned
teacher, say): its masks are held through distillation and its marks kept, so
``gearshift.convert`` still removes the pruned channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import _check_pair, as_dataset, clone_model, default_loss
from .prune import MARKS, training_marks

__all__ = ["distill", "distillation_loss", "logits_of", "with_transfer_set"]


def _ends_in_softmax(model: Any) -> bool:
    from .data import _ends_in_softmax as f

    return f(model)


def logits_of(model: Any, out: Any) -> Any:
    """``out`` as logits: log-probabilities when ``model`` ends in softmax."""
    import tensorflow as tf

    if _ends_in_softmax(model):
        return tf.math.log(tf.clip_by_value(out, 1e-12, 1.0))
    return out


def logit_model(model: Any) -> Any:
    """``f(x, training) -> logits`` sharing ``model``'s weights.

    For a model ending in a softmax Dense or a Softmax/Activation("softmax")
    layer, the values before the softmax (exact logits: no gradient lost where a
    probability underflows); else the log of the clipped outputs, or the
    outputs themselves when the model has no softmax.
    """
    import keras

    last = model.layers[-1]
    kind = type(last).__name__
    if _ends_in_softmax(model):
        try:
            feats = keras.Model(model.inputs, last.input)
        except (AttributeError, ValueError):
            feats = None
        if feats is not None and kind == "Dense":

            def dense_logits(x: Any, training: bool) -> Any:
                z = keras.ops.matmul(feats(x, training=training), last.kernel)
                return z + last.bias if last.use_bias else z

            return dense_logits
        if feats is not None and kind in ("Softmax", "Activation"):
            return lambda x, training: feats(x, training=training)
    return lambda x, training: logits_of(model, model(x, training=training))


def distillation_loss(
    teacher_logits: Any, student_logits: Any, y: Any, temperature: float, alpha: float
) -> Any:
    """The batch mean of the loss in the module doc (``y``: class indices or one-hot).

    A sample without a label (index ``-1``, or an all-zero one-hot row: what
    ``distill(unlabeled=...)`` gives the transfer set) has the soft term alone,
    ``T^2 * KL``."""
    import tensorflow as tf

    t = tf.cast(temperature, tf.float32)
    p_t = tf.nn.softmax(teacher_logits / t, axis=-1)
    log_p_t = tf.nn.log_softmax(teacher_logits / t, axis=-1)
    log_p_s = tf.nn.log_softmax(student_logits / t, axis=-1)
    kl = tf.reduce_sum(p_t * (log_p_t - log_p_s), axis=-1)
    y = tf.convert_to_tensor(y)
    if len(y.shape) == len(student_logits.shape):
        y = tf.cast(y, tf.float32)
        labelled = tf.reduce_sum(y, axis=-1) > 0
        ce = tf.nn.softmax_cross_entropy_with_logits(y, student_logits)
    else:
        y = tf.cast(tf.reshape(y, [-1]), tf.int32)
        labelled = y >= 0
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(y, 0), student_logits)
    soft = t * t * kl
    per_sample = tf.where(labelled, alpha * soft + (1.0 - alpha) * ce, soft)
    return tf.reduce_mean(per_sample)


def with_transfer_set(data: Any, unlabeled: Any) -> tuple[np.ndarray, np.ndarray]:
    """``data``'s ``(x, y)`` arrays followed by the ``unlabeled`` inputs, labelled ``-1``
    (class indices) or with all-zero rows (one-hot)."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        raise ValueError(
            "unlabeled= needs data as (x, y) arrays, not a tf.data.Dataset: give the "
            "unlabeled samples label -1 (or an all-zero one-hot row) in the Dataset instead"
        )
    x, y = _check_pair(data, "data")
    u = np.asarray(unlabeled, np.float32)
    if u.ndim != x.ndim or u.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"unlabeled inputs have shape {u.shape[1:]} per sample but data's x has "
            f"{x.shape[1:]}: they must match"
        )
    if u.shape[0] == 0:
        return x, y
    if y.ndim == 2 and y.shape[1] > 1:
        none = np.zeros((u.shape[0], y.shape[1]), y.dtype)
    else:
        none = np.full((u.shape[0], *y.shape[1:]), -1, dtype=np.int64)
        y = y.astype(np.int64)
    return np.concatenate([x, u]), np.concatenate([y, none])


def _accuracy(model: Any, ds: Any) -> float:
    hits = total = 0
    for x, y in ds:
        pred = np.asarray(model(x, training=False)).argmax(-1)
        lab = np.asarray(y)
        lab = lab.argmax(-1) if lab.ndim == pred.ndim + 1 else lab.reshape(pred.shape)
        hits += int((pred == lab).sum())
        total += lab.size
    return hits / max(total, 1)


def distill(
    teacher: Any,
    student: Any,
    data: Any,
    temperature: float = 4.0,
    alpha: float = 0.9,
    epochs: int = 10,
    validation: Any = None,
    batch_size: int = 32,
    optimizer: Any = None,
    learning_rate: float | None = None,
    verbose: Any = "auto",
    seed: int | None = None,
    augment: Any = None,
    unlabeled: Any = None,
) -> Any:
    """Trains a copy of ``student`` on ``data`` against ``teacher``; returns it.

    The optimizer: ``optimizer``, else a fresh copy of the student's compiled one
    (its learning rate unless ``learning_rate`` is given), else Adam at
    ``learning_rate`` (1e-3 when None).

    Shows a progress bar per epoch (Keras' ``Progbar``) with the loss, and the
    validation accuracy at the end of each epoch when ``validation`` is given.

    ``seed``: when given, Keras' random state (the student copy's dropout) and the
    shuffling of ``(x, y)`` arrays come from it, so that two calls with one seed and
    one student start from the same weights and see the same batches in the same
    order: a run with ``alpha=0`` (the labels alone) is then the paired reference
    of a distilled one. Without it, the process's running state and shuffling seed 0.

    ``augment``: a callable ``augment(x) -> x`` on a batch of inputs (TensorFlow ops or
    Keras random layers, e.g. ``keras.Sequential([keras.layers.RandomTranslation(...)])``)
    applied each step before the teacher and the student see it: both see the same
    view, so the student matches the teacher's function on inputs the labels never
    described ("consistent teaching", Beyer et al. 2022) - with ``alpha=0`` the same
    views are trained on the labels alone. Keras random layers built with a ``seed``
    give the same views in two calls.

    ``unlabeled``: inputs without labels (a transfer set, same shape per sample as
    ``data``'s ``x``; ``data`` must then be arrays): shuffled into the batches with the
    labelled samples, they train on the soft term alone (``T^2 * KL``), so the student
    learns the teacher's function where no label exists. The labels-only control of
    such a run is the student trained on ``data`` alone.
    """
    import keras
    import tensorflow as tf

    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    t_out = teacher.outputs[0].shape[-1]
    s_out = student.outputs[0].shape[-1]
    if t_out != s_out:
        raise ValueError(f"teacher has {t_out} outputs but the student {s_out}: they must match")
    if unlabeled is not None:
        data = with_transfer_set(data, unlabeled)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    ds = as_dataset(data, batch_size, seed=0 if seed is None else seed)
    val = as_dataset(validation, 128, shuffle=False) if validation is not None else None
    net = clone_model(student)
    marks = training_marks(student)
    masks = (marks or {}).get("masks") or {}
    opt = optimizer
    compiled = getattr(student, "optimizer", None)
    if opt is None and compiled is not None:
        opt = type(compiled).from_config(compiled.get_config())
        if learning_rate is not None:
            opt.learning_rate = learning_rate
    elif opt is None:
        opt = keras.optimizers.Adam(1e-3 if learning_rate is None else learning_rate)
    default_loss(net, ds)  # checks the labels' form early
    pairs = [(v, tf.constant(m, v.dtype)) for layer in net.layers for v, m in _masked(layer, masks)]

    t_fn, s_fn = logit_model(teacher), logit_model(net)

    @tf.function
    def step(x: Any, y: Any) -> Any:
        if augment is not None:
            x = augment(x)
        t_logits = t_fn(x, False)
        with tf.GradientTape() as tape:
            s_logits = s_fn(x, True)
            loss = distillation_loss(t_logits, s_logits, y, temperature, alpha)
        grads = tape.gradient(loss, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
        for v, m in pairs:  # a pruned student stays pruned
            v.assign(v * m)
        return loss

    show = 1 if verbose == "auto" else int(verbose)
    n = int(ds.cardinality()) if int(ds.cardinality()) > 0 else None
    for epoch in range(epochs):
        bar = keras.utils.Progbar(n, verbose=show, stateful_metrics=["val_accuracy"])
        if show:
            print(f"distill epoch {epoch + 1}/{epochs}")
        for i, (x, y) in enumerate(ds):
            loss = step(x, y)
            bar.update(i + 1, [("loss", float(loss))])
        if val is not None:
            bar.update(n or i + 1, [("val_accuracy", _accuracy(net, val))], finalize=True)
    if marks is not None:
        object.__setattr__(net, MARKS, marks)
    return net


def _masked(layer: Any, masks: dict[str, dict[str, np.ndarray]]) -> list[tuple[Any, np.ndarray]]:
    return [(getattr(layer, v), m.astype(np.float32)) for v, m in masks.get(layer.name, {}).items()]
