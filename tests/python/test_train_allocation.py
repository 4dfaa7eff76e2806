"""gs.train.prune's options for long fine-tuning: the per-layer ``scope="erk"``
allocation, the ``lr_schedule="cosine"`` recovery schedule and self-distillation
(``distill_alpha``). Tiny models on scikit-learn's digits, a few seconds each.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import gearshift as gs  # noqa: E402
from gearshift.converters.train.masks import erk_counts, weight_masks  # noqa: E402
from gearshift.converters.train.prune import recovery_learning_rate  # noqa: E402
from gearshift.converters.train.scores import prunable_layers  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[..., None] / 16.0).astype(np.float32)
    return x[:640], d.target[:640]


def _mobile(seed: int = 0):
    """A stem, a 1x1 expansion, a depthwise 3x3, a 1x1 projection and a classifier."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(64, 1, activation="relu", name="expand")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = keras.layers.Conv2D(16, 1, name="project")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(10, name="probs")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def trained(digits):
    x, y = digits
    m = _mobile()
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return m


# -- the ERK allocation --------------------------------------------------------------------
MOBILE_SHAPES = {
    "thin": (1, 1, 16, 16),  # 256 weights
    "expand": (1, 1, 32, 128),  # 4,096: wide 1x1
    "dw": (3, 3, 128, 1),  # 1,152: depthwise
    "project": (1, 1, 128, 32),  # 4,096
}


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.8, 0.95])
def test_erk_counts_sum_to_the_requested_sparsity(sparsity):
    counts = erk_counts(MOBILE_SHAPES, sparsity)
    sizes = {n: math.prod(s) for n, s in MOBILE_SHAPES.items()}
    total = sum(sizes.values())
    assert sum(counts.values()) == int(np.floor(sparsity * total + 0.5))
    assert all(0 <= counts[n] <= sizes[n] for n in sizes)
    if sparsity > 0:
        frac = {n: counts[n] / sizes[n] for n in sizes}
        # the depthwise kernel and the thin 1x1 keep more than the wide 1x1 layers
        assert max(frac["dw"], frac["thin"]) < frac["expand"] == pytest.approx(frac["project"])


def test_erk_density_follows_the_shape_rule():
    counts = erk_counts(MOBILE_SHAPES, 0.8)
    # density (1 - pruned fraction) proportional to sum(shape) / prod(shape)
    dens = {n: 1 - counts[n] / math.prod(s) for n, s in MOBILE_SHAPES.items()}
    rule = {n: sum(s) / math.prod(s) for n, s in MOBILE_SHAPES.items()}
    eps = dens["expand"] / rule["expand"]
    for n in MOBILE_SHAPES:
        assert dens[n] == pytest.approx(eps * rule[n], abs=1.0 / math.prod(MOBILE_SHAPES[n]))


def test_erk_keeps_a_kernel_dense_when_its_share_would_exceed_it():
    shapes = {"tiny": (1, 1, 2, 2), "big": (1, 1, 256, 256)}
    counts = erk_counts(shapes, 0.5)
    assert counts["tiny"] == 0  # density capped at 1: the big layer makes up for it
    assert counts["tiny"] + counts["big"] == round(0.5 * (4 + 65536))


def test_erk_masks_prune_exactly_the_overall_fraction(trained):
    layers = [la for la in prunable_layers(trained) if la.name in ("expand", "dw", "project")]
    scores = {la.name: np.abs(la.kernel.numpy()).astype(np.float64) for la in layers}
    skip = {la.name for la in prunable_layers(trained)} - set(scores)
    masks = weight_masks(trained, scores, 0.8, "unstructured", "erk", skip)
    assert set(masks) == set(scores)
    pruned = {n: int((~m["kernel"]).sum()) for n, m in masks.items()}
    total = sum(s.size for s in scores.values())
    assert sum(pruned.values()) == round(0.8 * total)
    assert pruned == erk_counts({n: a.shape for n, a in scores.items()}, 0.8)
    assert pruned["dw"] / scores["dw"].size < pruned["expand"] / scores["expand"].size
    # within a layer, the lowest scores go
    for n, m in masks.items():
        keep = m["kernel"]
        if (~keep).any() and keep.any():
            assert scores[n][~keep].max() <= scores[n][keep].min()


def test_prune_with_erk_scope(digits, trained):
    x, y = digits
    p = gs.train.prune(trained, (x, y), sparsity=0.8, scope="erk", epochs=1, verbose=0)
    mid = [la for la in prunable_layers(p) if la.name in ("expand", "dw", "project")]
    zeros = sum(int((la.kernel.numpy() == 0).sum()) for la in mid)
    assert zeros == round(0.8 * sum(la.kernel.numpy().size for la in mid))
    first = prunable_layers(p)[0]
    assert (first.kernel.numpy() != 0).all()  # the first and last layers stay dense
    with pytest.raises(ValueError, match="scope"):
        gs.train.prune(trained, (x, y), scope="blocks", verbose=0)


# -- the learning-rate schedule -------------------------------------------------------------
def test_recovery_learning_rate_holds_then_decays_to_its_end_value():
    rates = [recovery_learning_rate(t, 40, 100, 2e-3, 1e-5) for t in range(120)]
    assert rates[:41] == [2e-3] * 41
    assert rates[99] == pytest.approx(1e-5) and rates[119] == pytest.approx(1e-5)
    t = 69  # (69 - 40) / 59 of the way
    want = 1e-5 + (2e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 29 / 59))
    assert rates[t] == pytest.approx(want)
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_prune_cosine_schedule_reaches_its_final_rate(digits, trained):
    x, y = digits  # 640 images, 20 steps an epoch, 40 steps
    seen: list[float] = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(np.asarray(self.model.optimizer.learning_rate)))

    gs.train.prune(
        trained,
        (x, y),
        sparsity=0.5,
        epochs=2,
        learning_rate=1e-3,
        lr_schedule="cosine",
        final_learning_rate=1e-5,
        pruning_fraction=0.5,
        callbacks=[Record()],
        verbose=0,
    )
    assert len(seen) == 40
    assert seen[:21] == pytest.approx([1e-3] * 21)  # held while the sparsity ramps
    assert seen[-1] == pytest.approx(1e-5)
    assert all(a >= b - 1e-12 for a, b in zip(seen, seen[1:]))
    with pytest.raises(ValueError, match="lr_schedule"):
        gs.train.prune(trained, (x, y), lr_schedule="step", verbose=0)
    with pytest.raises(ValueError, match="lr_schedule"):
        gs.train.prune(
            trained, (x, y), lr_schedule="cosine", optimizer=keras.optimizers.SGD(), verbose=0
        )


# -- self-distillation ----------------------------------------------------------------------
def test_self_distillation_loss_is_against_the_same_batches_teacher(digits, trained):
    """With a learning rate too small to move the weights, the fine-tuning loss at
    ``distill_alpha=1`` is the KL divergence of the model to itself, 0 (the teacher's
    logits belong to the same images), and at ``alpha=0.5`` half the labels'
    cross-entropy."""
    x, y = digits
    kw = dict(sparsity=0.0, epochs=1, learning_rate=1e-12, verbose=0)
    losses = {}
    for alpha in (1.0, 0.5):
        hist = keras.callbacks.History()
        p = gs.train.prune(trained, (x, y), distill_alpha=alpha, callbacks=[hist], **kw)
        losses[alpha] = hist.history["loss"][0]
    ce = float(
        np.mean(
            keras.losses.sparse_categorical_crossentropy(
                y, trained.predict(x, verbose=0), from_logits=True
            )
        )
    )
    assert losses[1.0] < 1e-5
    assert losses[0.5] == pytest.approx(0.5 * ce, rel=1e-3)
    np.testing.assert_allclose(
        p.predict(x[:8], verbose=0), trained.predict(x[:8], verbose=0), atol=1e-5
    )
    with pytest.raises(ValueError, match="distill_alpha"):
        gs.train.prune(trained, (x, y), distill_alpha=1.5, verbose=0)
