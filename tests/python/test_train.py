"""gearshift.train / gearshift.distill: scores, schedule, masks through training and
export, QAT export against the fake-quantized model, the distillation loss.

Tiny models on scikit-learn's digits, one epoch each: the whole file runs in
about a minute on two cores.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import gearshift as gs  # noqa: E402
from gearshift import gear_format as gf  # noqa: E402
from gearshift.converters.train.distill import distillation_loss  # noqa: E402
from gearshift.converters.train.masks import weight_masks  # noqa: E402
from gearshift.converters.train.prune import PolynomialSchedule  # noqa: E402
from gearshift.converters.train.scores import channel_scores, weight_scores  # noqa: E402

SPARSE = {"bitmap", "csr", "2:4"}


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[..., None] / 16.0).astype(np.float32)
    return x[:1200], d.target[:1200], x[1200:], d.target[1200:]


def _cnn(seed: int = 0, bn: bool = True, softmax: bool = False):
    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
        keras.layers.Conv2D(16, 3),
    ]
    if bn:
        layers.append(keras.layers.BatchNormalization())
    layers += [
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax" if softmax else None),
    ]
    return keras.Sequential(layers)


@pytest.fixture(scope="module")
def trained(digits):
    x, y, _, _ = digits
    m = _cnn()
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return m


# -- scores ------------------------------------------------------------------------------
def _dense_model(w: np.ndarray, b: np.ndarray):
    m = keras.Sequential([keras.Input((w.shape[0],)), keras.layers.Dense(w.shape[1])])
    m.layers[0].set_weights([w, b])
    return m


def test_scores_against_hand_computed_values():
    w = np.array([[0.5, -1.0, 0.25], [2.0, 0.1, -0.3]], np.float32)
    b = np.array([0.1, 0.0, -0.2], np.float32)
    m = _dense_model(w, b)
    xs = [np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32), np.array([[0.3, -0.7]], np.float32)]
    ys = [np.array([0, 2]), np.array([1])]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(zip(xs, ys)),
        output_signature=(
            tf.TensorSpec((None, 2), tf.float32),
            tf.TensorSpec((None,), tf.int64),
        ),
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def grad(x, y):  # d(mean CE)/dW for z = x W + b, by hand
        z = x.astype(np.float64) @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(y)), y] -= 1.0
        return x.T.astype(np.float64) @ p / len(y)

    g = [grad(x, y) for x, y in zip(xs, ys)]
    taylor = (np.abs(w * g[0]) + np.abs(w * g[1])) / 2
    fisher = 0.5 * (g[0] ** 2 + g[1] ** 2) / 2 * w.astype(np.float64) ** 2
    name = m.layers[0].name
    got = {s: weight_scores(m, s, ds, loss, progress=False)[name] for s in ("taylor", "fisher")}
    np.testing.assert_allclose(weight_scores(m, "magnitude")[name], np.abs(w))
    np.testing.assert_allclose(got["taylor"], taylor, rtol=1e-5)
    np.testing.assert_allclose(got["fisher"], fisher, rtol=1e-5)
    # a channel's score: the sum over the weights producing it (Dense: a column)
    np.testing.assert_allclose(channel_scores(m.layers[0], taylor), taylor.sum(axis=0))


def test_scores_take_a_loss_compiled_by_name():
    w = np.array([[0.5, -1.0], [2.0, 0.1]], np.float32)
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    m.layers[0].set_weights([w, np.zeros(2, np.float32)])
    m.compile("adam", "sparse_categorical_crossentropy")
    ds = tf.data.Dataset.from_tensor_slices(
        (np.array([[1.0, 2.0], [0.5, -1.0]], np.float32), np.array([0, 1]))
    ).batch(2)
    by_name = weight_scores(m, "taylor", ds, progress=False)
    explicit = keras.losses.SparseCategoricalCrossentropy()
    np.testing.assert_allclose(
        by_name[m.layers[0].name], weight_scores(m, "taylor", ds, explicit)[m.layers[0].name]
    )


def test_channel_scores_of_conv_and_depthwise():
    conv = keras.layers.Conv2D(3, 2)
    conv.build((None, 4, 4, 2))
    s = np.arange(2 * 2 * 2 * 3, dtype=np.float64).reshape(2, 2, 2, 3)
    np.testing.assert_allclose(channel_scores(conv, s), s.sum(axis=(0, 1, 2)))
    dw = keras.layers.DepthwiseConv2D(2, depth_multiplier=2)
    dw.build((None, 4, 4, 3))
    s = np.arange(2 * 2 * 3 * 2, dtype=np.float64).reshape(2, 2, 3, 2)
    # output channel c * M + m, as the converter's [1, KH, KW, C*M] layout
    np.testing.assert_allclose(channel_scores(dw, s), s.sum(axis=(0, 1)).reshape(-1))


# -- schedule and masks ---------------------------------------------------------------------
def test_polynomial_schedule_values():
    s = PolynomialSchedule(final_sparsity=0.8, begin_step=10, end_step=110, frequency=25)
    assert s.sparsity(0) == 0.0 and s.sparsity(10) == 0.0
    assert s.sparsity(60) == pytest.approx(0.8 * (1 - 0.5**3))
    assert s.sparsity(35) == pytest.approx(0.8 * (1 - 0.75**3))
    assert s.sparsity(110) == 0.8 and s.sparsity(500) == 0.8
    assert [t for t in range(0, 130) if s.updates(t)] == [10, 35, 60, 85, 110]
    vals = [s.sparsity(t) for t in range(10, 111)]
    assert all(a <= b for a, b in zip(vals, vals[1:]))
    with pytest.raises(ValueError, match="final_sparsity"):
        PolynomialSchedule(final_sparsity=1.0)


def test_callback_follows_the_schedule_in_a_users_fit(digits):
    from gearshift.converters.train.prune import make_callback

    x, y, _, _ = digits
    m = _cnn(4, bn=False)
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    sched = PolynomialSchedule(final_sparsity=0.6, begin_step=2, end_step=20, frequency=6)
    cb = make_callback(sched, include_first_last=True)
    m.fit(x[:960], y[:960], batch_size=32, epochs=1, callbacks=[cb], verbose=0)  # 30 steps
    assert [t for t, _ in cb.history] == [2, 8, 14, 20]
    for t, s in cb.history:
        assert s == pytest.approx(sched.sparsity(t))
    kernels = [layer.kernel.numpy() for layer in m.layers if hasattr(layer, "kernel")]
    zeros = sum(int((k == 0).sum()) for k in kernels)
    assert zeros == round(0.6 * sum(k.size for k in kernels))  # held for the last 10 steps


def test_two_four_masks_keep_the_two_best_of_every_four():
    m = _dense_model(np.ones((8, 3), np.float32), np.zeros(3, np.float32))
    name = m.layers[0].name
    scores = {name: np.arange(24, dtype=np.float64).reshape(8, 3)[::-1].copy()}
    keep = weight_masks(m, scores, 0.5, "2:4")[name]["kernel"]
    groups = keep.T.reshape(-1, 4)  # input axis, per output
    assert (groups.sum(axis=1) == 2).all()
    # the scores fall along the input axis: the first two of each group stay
    assert groups[:, :2].all()
    half = weight_masks(m, scores, 0.25, "2:4")[name]["kernel"]
    assert (half.T.reshape(-1, 4).sum(axis=1) == 2).sum() == 3  # half of the 6 groups


def _storage_encodings(path) -> set[str]:
    return {e["encoding"] for e in gf.read_gear(str(path)).manifest["storage"]}


def test_unstructured_pruning_masks_survive_training_and_export(digits, trained, tmp_path):
    x, y, xv, yv = digits
    p = gs.train.prune(
        trained, (x, y), sparsity=0.8, score="taylor", epochs=1, validation=(xv, yv), verbose=0
    )
    assert p is not trained
    assert np.count_nonzero(trained.layers[1].kernel.numpy() == 0) == 0  # caller's model untouched
    # first and last layers stay dense; 80% of the others' weights, exactly
    k = [layer.kernel.numpy() for layer in p.layers if hasattr(layer, "kernel")]
    assert (k[0] != 0).all() and (k[-1] != 0).all()
    total = sum(a.size for a in k[1:-1])
    assert sum(int((a == 0).sum()) for a in k[1:-1]) == round(0.8 * total)
    out = tmp_path / "p.gear"
    gs.convert(p, out, gears=("fp32", "int8"), calibration=x[:64], progress=False)
    assert _storage_encodings(out) & SPARSE
    rt = gs.Runtime(str(out), gear="fp32")
    np.testing.assert_allclose(rt.run(xv[:32]), p.predict(xv[:32], verbose=0), atol=1e-4)
    # the int8 gear's weights are stored sparse: the file shrinks with the zeros
    # (small float weights stay dense float32 in the float gears by design)
    sizes = []
    for model, name in ((p, "p8.gear"), (trained, "d8.gear")):
        gs.convert(model, tmp_path / name, gears=("int8",), calibration=x[:64], progress=False)
        sizes.append((tmp_path / name).stat().st_size)
    assert sizes[0] < 0.75 * sizes[1]  # manifest, biases, first and last layers stay


def test_two_four_and_fisher(digits, trained, tmp_path):
    x, y, _, _ = digits
    p = gs.train.prune(trained, (x, y), score="fisher", structure="2:4", epochs=1, verbose=0)
    dense1 = p.layers[-2].kernel.numpy()  # Dense(32) [I, O]: not first, not last
    assert (dense1.T.reshape(-1, 4) == 0).sum(axis=1).min() >= 2
    out = tmp_path / "p24.gear"
    gs.convert(p, out, gears=("int8",), calibration=x[:64], progress=False)
    assert "2:4" in _storage_encodings(out)


def test_channel_pruning_removes_channels_at_export(digits, trained, tmp_path):
    x, y, xv, _ = digits
    p = gs.train.prune(trained, (x, y), sparsity=0.5, structure="channel", epochs=1, verbose=0)
    conv2 = p.layers[1].kernel.numpy()  # [3, 3, 8, 16]
    zero_out = np.all(conv2 == 0, axis=(0, 1, 2))
    assert zero_out.sum() == 8
    bn = p.layers[2]
    assert np.all(bn.gamma.numpy()[zero_out] == 0) and np.all(bn.beta.numpy()[zero_out] == 0)
    out = tmp_path / "c.gear"
    r = gs.convert(p, out, gears=("fp32",), calibration=x[:32], progress=False)
    assert any("removed" in line for line in r.pruning)
    full = tmp_path / "full.gear"
    gs.convert(trained, full, gears=("fp32",), calibration=x[:32], progress=False)
    assert r.file_bytes < 0.7 * full.stat().st_size
    # removing the zeroed channels changes nothing: the file computes the Keras model
    rt = gs.Runtime(str(out), gear="fp32")
    np.testing.assert_allclose(rt.run(xv[:32]), p.predict(xv[:32], verbose=0), atol=1e-4)
    # QAT of the pruned model holds its masks (bias folded in from the BN included)
    # and its conversion still removes the channels
    q = gs.train.qat(p, (x[:320], y[:320]), epochs=1, verbose=0)
    qconv = next(layer for layer in q.layers if layer.name == p.layers[1].name)
    assert np.all(qconv.kernel.numpy()[..., zero_out] == 0)
    assert np.all(qconv.bias.numpy()[zero_out] == 0)
    r = gs.convert(q, tmp_path / "cq.gear", gears=("int8",), progress=False)
    assert any("removed" in line for line in r.pruning)


# -- QAT -----------------------------------------------------------------------------------
@pytest.mark.parametrize("gear", ["int8", "int4"])
def test_qat_export_reproduces_the_fake_quantized_model(digits, gear, tmp_path):
    x, y, xv, _ = digits
    m = _cnn(1, softmax=True)
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=3, verbose=0)
    q = gs.train.qat(m, (x[:600], y[:600]), gear=gear, calibration=x[:128], epochs=1, verbose=0)
    assert not any(type(layer).__name__ == "BatchNormalization" for layer in q.layers)
    out = tmp_path / f"q_{gear}.gear"
    r = gs.convert(q, out, gears=("fp32", gear), progress=False)
    assert "learned" in r.calibration
    got = gs.Runtime(str(out), gear=gear).run(xv)
    ref = q.predict(xv, verbose=0)
    # the softmax output's int8 unit is 1/256 (TFLite's fixed parameters)
    assert np.abs(got - ref).max() <= 1.0 / 256 + 1e-6
    # same class wherever the QAT model's top two are more than that one unit apart
    # (closer, a one-unit difference may swap them: both are right to within a unit)
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1.0 / 256 + 1e-6
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(got.argmax(1)[clear], ref.argmax(1)[clear])
    # the ranges are the learned ones, not a fresh calibration
    fq = [layer for layer in q.layers if type(layer).__name__ == "ActivationQuantizer"]
    assert fq and all(np.isfinite(layer.rmax.numpy()) for layer in fq)


def test_qat_fake_quantizer_matches_choose_qparams():
    from gearshift.converters.quant_ref import choose_qparams, dequantize, quantize
    from gearshift.converters.train.qat import _layers

    cls, _ = _layers()
    fq = cls(-0.37, 2.9, 0.99)
    x = np.linspace(-1, 4, 1001, dtype=np.float32)
    got = np.asarray(fq(x, training=False))
    qp = choose_qparams(-0.37, 2.9)
    np.testing.assert_array_equal(got, dequantize(quantize(x, qp), qp))


# -- distillation ----------------------------------------------------------------------------
def test_distillation_loss_against_hand_computation():
    t = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]], np.float32)
    s = np.array([[1.0, 1.0, 0.0], [0.5, -0.5, 2.0]], np.float32)
    y = np.array([0, 2])
    temp, alpha = 4.0, 0.7

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    pt, ps = softmax(t / temp), softmax(s / temp)
    kl = (pt * np.log(pt / ps)).sum(1)
    ce = -np.log(softmax(s)[np.arange(2), y])
    want = np.mean(alpha * temp**2 * kl + (1 - alpha) * ce)
    got = float(distillation_loss(t, s, y, temp, alpha))
    assert got == pytest.approx(want, rel=1e-5)
    onehot = float(distillation_loss(t, s, np.eye(3)[y], temp, alpha))
    assert onehot == pytest.approx(want, rel=1e-5)
    # the second sample without a label (-1, or an all-zero one-hot row): soft term alone
    part = np.mean([alpha * temp**2 * kl[0] + (1 - alpha) * ce[0], temp**2 * kl[1]])
    got = float(distillation_loss(t, s, np.array([0, -1]), temp, alpha))
    assert got == pytest.approx(part, rel=1e-5)
    hot = np.eye(3)[y]
    hot[1] = 0
    assert float(distillation_loss(t, s, hot, temp, alpha)) == pytest.approx(part, rel=1e-5)


def test_transfer_set_joins_the_batches_without_labels(digits, trained):
    from gearshift.converters.train.distill import with_transfer_set

    x, y, xv, _ = digits
    xs, ys = with_transfer_set((x[:10], y[:10]), xv[:4])
    assert xs.shape == (14, 8, 8, 1) and list(ys[10:]) == [-1] * 4
    xs, ys = with_transfer_set((x[:10], np.eye(10)[y[:10]]), xv[:4])
    assert ys.shape == (14, 10) and not ys[10:].any()
    with pytest.raises(ValueError, match="shape"):
        with_transfer_set((x[:10], y[:10]), xv[:4, :4])
    student = _cnn(2, bn=False)
    kw = {"alpha": 0.5, "epochs": 1, "verbose": 0, "seed": 1}
    a = gs.distill(trained, student, (x[:64], y[:64]), unlabeled=x[64:256], **kw)
    b = gs.distill(trained, student, (x[:64], y[:64]), **kw)
    assert not all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(32)
    with pytest.raises(ValueError, match="arrays"):
        gs.distill(trained, student, ds, unlabeled=x[64:128], **kw)


def test_logits_of_a_softmax_model_are_the_pre_softmax_values(digits):
    from gearshift.converters.train.distill import logit_model

    x = digits[0][:16]
    m = _cnn(3, bn=False, softmax=True)
    logits = keras.Model(m.inputs, m.layers[-1].input)(x) @ m.layers[-1].kernel
    logits = logits + m.layers[-1].bias
    np.testing.assert_allclose(logit_model(m)(x, False), logits, rtol=1e-5, atol=1e-5)
    plain = _cnn(3, bn=False)
    np.testing.assert_allclose(logit_model(plain)(x, False), plain(x), rtol=1e-6)


def test_distill_trains_the_student_toward_the_teacher(digits, trained):
    x, y, xv, yv = digits
    student = _cnn(2, bn=False)
    before = np.mean(student.predict(xv, verbose=0).argmax(1) == yv)
    got = gs.distill(trained, student, (x, y), epochs=2, validation=(xv, yv), verbose=0)
    after = np.mean(got.predict(xv, verbose=0).argmax(1) == yv)
    assert after > before + 0.3


def test_distill_with_a_seed_repeats_its_batches_and_dropout(digits, trained):
    x, y, _, _ = digits
    student = _cnn(4, bn=False)
    student.add(keras.layers.Dropout(0.3))
    runs = [
        gs.distill(trained, student, (x[:256], y[:256]), alpha=0.0, epochs=1, verbose=0, seed=s)
        for s in (7, 7, 8)
    ]
    same = [np.array_equal(a, b) for a, b in zip(runs[0].get_weights(), runs[1].get_weights())]
    assert all(same)
    other = [np.array_equal(a, b) for a, b in zip(runs[0].get_weights(), runs[2].get_weights())]
    assert not all(other)


def test_distill_augment_shows_teacher_and_student_the_same_view(digits, trained):
    x, y, _, _ = digits
    x, y = x[:256], y[:256]
    student = _cnn(4, bn=False)

    def flip(v):  # deterministic: the run must equal one on flipped data
        return v[:, :, ::-1, :]

    kw = {"alpha": 0.9, "temperature": 2.0, "epochs": 1, "verbose": 0, "seed": 3}
    a = gs.distill(trained, student, (x, y), augment=flip, **kw)
    b = gs.distill(trained, student, (np.ascontiguousarray(x[:, :, ::-1, :]), y), **kw)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
    plain = gs.distill(trained, student, (x, y), **kw)
    assert not all(np.array_equal(u, v) for u, v in zip(a.get_weights(), plain.get_weights()))

    def shifts(seed):  # random views: seeded layers repeat them
        return keras.Sequential([keras.layers.RandomTranslation(0.2, 0.2, seed=seed)])

    r = [gs.distill(trained, student, (x, y), augment=shifts(s), **kw) for s in (5, 5, 6)]
    assert all(np.array_equal(u, v) for u, v in zip(r[0].get_weights(), r[1].get_weights()))
    assert not all(np.array_equal(u, v) for u, v in zip(r[0].get_weights(), r[2].get_weights()))


def test_bad_arguments_say_what_was_expected(digits, trained):
    x, y, _, _ = digits
    with pytest.raises(ValueError, match="structure"):
        gs.train.prune(trained, (x, y), structure="blocks")
    with pytest.raises(ValueError, match="score"):
        gs.train.prune(trained, (x, y), score="random")
    with pytest.raises(ValueError, match="one label"):
        gs.train.prune(trained, (x, y[:10]))
    with pytest.raises(ValueError, match="gear"):
        gs.train.qat(trained, (x, y), gear="fp16")
    with pytest.raises(ValueError, match="alpha"):
        gs.distill(trained, trained, (x, y), alpha=1.5)


def test_import_gearshift_train_does_not_import_tensorflow():
    code = "import sys, gearshift; gearshift.train.prune; gearshift.distill; "
    code += "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- sensitivity and budgets -------------------------------------------------------------------
def test_sensitivity_scan_and_budget_choice(digits, trained, tmp_path):
    _, _, xv, yv = digits
    before = [w.copy() for w in trained.get_weights()]
    rep = gs.train.sensitivity(
        trained, (xv, yv), sparsities=(0.5, 0.9), bits=("int8", "int4"), progress=False
    )
    for a, b in zip(before, trained.get_weights()):  # every layer restored
        np.testing.assert_array_equal(a, b)
    assert len(rep.rows) == 4 * 4 and set(rep.layers) == {
        layer.name for layer in trained.layers if hasattr(layer, "kernel")
    }
    # one layer at 90% sparsity, evaluated by hand, is the row's number
    name = trained.layers[-2].name
    k0 = trained.layers[-2].kernel.numpy()
    keep = np.abs(k0) > np.sort(np.abs(k0).ravel())[int(0.9 * k0.size) - 1]
    trained.layers[-2].kernel.assign(k0 * keep)
    acc = np.mean(trained.predict(xv, verbose=0).argmax(1) == yv)
    trained.layers[-2].kernel.assign(k0)
    row = next(r for r in rep.rows if r["layer"] == name and r["setting"] == 0.9)
    assert row["accuracy"] == pytest.approx(acc)
    choice = rep.choose(sparsity=0.5)
    kept = sum(rep.layers[n] * (1 - c["sparsity"]) for n, c in choice["layers"].items())
    assert kept <= 0.5 * sum(rep.layers.values())
    budget = sum(rep.layers.values())  # one byte a weight: int8 everywhere at most
    choice = rep.choose(bytes=budget)
    spent = sum(
        rep.layers[n] * (1 - c["sparsity"]) * {"fp32": 4, "int8": 1, "int4": 0.5}[c["bits"]]
        for n, c in choice["layers"].items()
    )
    assert spent <= budget
    assert "budget choice" in str(rep)
    # a latency budget from a profile (gearshift bench --profile's JSON form)
    names = list(rep.layers)
    profile = {
        "results": [
            {
                "gears": {
                    g: {
                        "profile": {
                            "nodes": [{"name": n, "op": "CONV_2D", "ms": ms} for n in names]
                            + [{"name": "pool", "op": "MAX_POOL_2D", "ms": 0.1}],
                            "other_ms": 0.05,
                        }
                    }
                    for g, ms in (("fp32", 1.0), ("int8", 0.5), ("int4", 0.45))
                }
            }
        ]
    }
    choice = rep.choose(latency_ms=2.5, profile=profile)
    ms = {"fp32": 1.0, "int8": 0.5, "int4": 0.45}
    took = sum(ms[c["bits"]] * (1 - c["sparsity"]) for c in choice["layers"].values())
    assert took + 0.15 <= 2.5
    assert "ms in the other nodes" in choice["explanation"]
    with pytest.raises(ValueError, match="cannot be met"):
        rep.choose(latency_ms=0.1, profile=profile)
    pytest.importorskip("matplotlib")
    assert rep.plot(str(tmp_path / "s.png")) and (tmp_path / "s.png").stat().st_size > 1000


# -- save / load ---------------------------------------------------------------------------
def test_qat_and_pruned_models_survive_save_and_load(digits, trained, tmp_path):
    x, y, xv, _ = digits
    p = gs.train.prune(trained, (x, y), sparsity=0.5, structure="channel", epochs=1, verbose=0)
    q = gs.train.qat(p, (x[:320], y[:320]), epochs=1, verbose=0)
    for model, gear in ((p, "fp32"), (q, "int8")):
        path = gs.train.save(model, tmp_path / f"{model.name}.gstrain")
        back = gs.train.load(path)
        np.testing.assert_array_equal(back.predict(xv, verbose=0), model.predict(xv, verbose=0))
        a = gs.convert(
            model, tmp_path / "a.gear", gears=(gear,), calibration=x[:32], progress=False
        )
        b = gs.convert(back, tmp_path / "b.gear", gears=(gear,), calibration=x[:32], progress=False)
        # the record came back: channels still removed, QAT ranges still the learned ones
        assert any("removed" in line for line in b.pruning)
        assert a.calibration == b.calibration
        np.testing.assert_array_equal(
            gs.Runtime(str(tmp_path / "a.gear")).run(xv),
            gs.Runtime(str(tmp_path / "b.gear")).run(xv),
        )
    # a loaded QAT model trains on once compiled
    back.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    back.fit(x[:64], y[:64], epochs=1, verbose=0)


def test_load_refuses_other_files_and_save_is_atomic(trained, tmp_path, monkeypatch):
    bad = tmp_path / "bad.gstrain"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"not a file gs\.train\.save wrote"):
        gs.train.load(bad)
    path = gs.train.save(trained, tmp_path / "plain.gstrain")  # a plain Keras model too
    before = path.read_bytes()

    import zipfile

    def killed(*a, **k):
        raise KeyboardInterrupt  # a save killed while writing the archive

    monkeypatch.setattr(zipfile.ZipFile, "write", killed)
    with pytest.raises(KeyboardInterrupt):
        gs.train.save(trained, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir() if f.name.endswith(".part")] == []
    np.testing.assert_array_equal(
        gs.train.load(path).predict(np.zeros((2, 8, 8, 1), np.float32), verbose=0),
        trained.predict(np.zeros((2, 8, 8, 1), np.float32), verbose=0),
    )


def test_sensitivity_on_ray_gives_the_local_scan(digits, trained):
    pytest.importorskip("ray", reason="Ray not installed (pip install gearshift[ray])")
    _, _, xv, yv = digits
    kw = dict(sparsities=(0.5, 0.9), bits=("fp16", "int4"), progress=False)
    local = gs.train.sensitivity(trained, (xv, yv), **kw)
    remote = gs.train.sensitivity(trained, (xv, yv), ray=True, **kw)
    assert [(r["layer"], r["kind"], r["setting"]) for r in remote.rows] == [
        (r["layer"], r["kind"], r["setting"]) for r in local.rows
    ]
    for a, b in zip(local.rows, remote.rows):
        assert b["accuracy"] == a["accuracy"]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6)


def test_ray_missing_says_how_to_install(digits, trained, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    _, _, xv, yv = digits
    with pytest.raises(ImportError, match=r"gearshift\[ray\]"):
        gs.train.sensitivity(
            trained, (xv[:64], yv[:64]), bits=(), sparsities=(0.5,), ray=True, progress=False
        )


def test_sweep_here_and_on_ray(digits, trained):
    x, y, xv, yv = digits
    configs = [
        {"method": "prune", "sparsity": 0.5, "epochs": 1},
        {"method": "qat", "gear": "int8", "epochs": 1},
    ]
    local = gs.train.sweep(trained, (x[:600], y[:600]), configs, (xv, yv), progress=False)
    assert [r["config"]["method"] for r in local.rows] == ["prune", "qat"]
    # 50% of the middle layers (the first and last are not pruned by default)
    assert 0.4 < local.rows[0]["zero_fraction"] <= 0.5 and local.rows[1]["zero_fraction"] < 0.05
    assert "sweep" in str(local) and local.best()[0] in local.rows
    with pytest.raises(ValueError, match="method"):
        gs.train.sweep(trained, (x, y), [{"method": "grow"}], (xv, yv))
    pytest.importorskip("ray", reason="Ray not installed (pip install gearshift[ray])")
    remote = gs.train.sweep(
        trained, (x[:600], y[:600]), configs, (xv, yv), ray=True, progress=False
    )
    for a, b in zip(local.rows, remote.rows):
        assert a["config"] == b["config"]
        assert b["zero_fraction"] == pytest.approx(a["zero_fraction"], abs=0.01)
        # the same seed and data; TensorFlow training is not bit-reproducible across processes
        assert b["accuracy"] == pytest.approx(a["accuracy"], abs=0.05)
    # the models came back with their records: gs.convert still knows the QAT ranges
    from gearshift.converters.train.prune import training_marks

    assert training_marks(remote.models[0])["kind"] == "prune"
    assert training_marks(remote.models[1])["kind"] == "qat"
