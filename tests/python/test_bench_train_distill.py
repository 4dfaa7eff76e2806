"""bench_train.py's student comparison: students of at most a quarter of the teacher's
parameters, paired runs (same initial weights, batches and dropout; only the loss
differs), the paired statistics, the sweep's stages and the command line."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")  # the emulated aarch64 Python run has no TensorFlow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def bt(monkeypatch):
    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])  # restored after each test
    return importlib.import_module("bench_train")


@pytest.mark.parametrize("model", ["cnn", "mobilenet"])
def test_students_have_at_most_a_quarter_of_the_parameters(bt, model):
    build = bt.MODELS[model]
    ratio = bt.params(build(bt.STUDENT_WIDTH[model])) / bt.params(build(1.0))
    assert 0.2 < ratio <= bt.MAX_STUDENT_RATIO


def _digits(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), np.arange(n) % 10


def _same(a, b) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_paired_students_differ_only_by_the_loss(bt):
    x, y = _digits()
    teacher = bt.cnn(0.5, seed=5)
    kd = bt.KD(temperature=4.0, alpha=0.9, epochs=1)
    init = bt.student_init(bt.cnn, 0.25, 3, len(x), kd.epochs)  # with dropout
    before = [w.copy() for w in init.get_weights()]
    again = bt.student_init(bt.cnn, 0.25, 3, len(x), kd.epochs)
    assert _same(init, again)  # one seed, one set of initial weights
    a = bt.train_student(teacher, init, (x, y), kd, 0.0, seed=3)
    b = bt.train_student(teacher, again, (x, y), kd, 0.0, seed=3)
    assert _same(a, b)  # the same batches, order and dropout: the same result
    taught = bt.train_student(teacher, init, (x, y), kd, 0.9, seed=3)
    assert not _same(a, taught)  # only the loss changed, and it matters
    assert all(np.array_equal(u, v) for u, v in zip(before, init.get_weights()))


def test_paired_stats_against_hand_values(bt):
    alone = [np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]), np.array([1, 1, 1, 0])]
    taught = [np.array([1, 1, 1, 0]), np.array([1, 1, 0, 0]), np.array([1, 1, 0, 1])]
    got = bt.paired_stats(alone, taught)
    assert got["diff_points"] == pytest.approx([25.0, 25.0, 0.0])
    assert got["mean_diff_points"] == pytest.approx(50 / 3)
    se = np.std([25.0, 25.0, 0.0], ddof=1) / np.sqrt(3)
    assert got["se_seeds_points"] == pytest.approx(se)
    assert got["t"] == pytest.approx((50 / 3) / se)
    per_image = 100 * np.array([0, 1, 0, 1]) / 3  # mean over seeds of taught - alone
    assert got["se_images_points"] == pytest.approx(per_image.std(ddof=1) / 2)
    assert got["wins_ties_losses"] == [2, 1, 0]
    assert got["only_distilled_right"] == [1, 1, 1]
    assert got["only_alone_right"] == [0, 0, 1]
    assert 0 < got["p_two_sided"] < 1


def test_sweep_stages_move_one_knob_at_a_time(bt):
    base = bt.KD(4.0, 0.9, 8)
    assert [bt.replace(base, **c) for c in bt.stage_changes(0, base)] == [
        bt.KD(2.0, 0.9, 8),
        bt.KD(4.0, 0.9, 8),
        bt.KD(8.0, 0.9, 8),
    ]
    best = bt.KD(2.0, 0.9, 8)
    assert bt.stage_changes(1, best) == [{}, {"alpha": 0.5}]
    assert bt.stage_changes(2, best) == [{}, {"epochs": 16}]


def test_command_line_student_options(bt):
    args = bt.parser().parse_args(["--json", "out.json", "--model", "mobilenet"])
    assert args.student_seeds == 5 and not args.distill_sweep and args.student_width is None
    assert bt.distill_setting(args) == bt.DISTILL_DEFAULTS["mobilenet"]
    args = bt.parser().parse_args(
        [
            "--json",
            "out.json",
            "--student-seeds",
            "3",
            "--distill-sweep",
            "--sweep-seeds",
            "2",
            "--distill-temperature",
            "2",
            "--distill-alpha",
            "0.5",
            "--student-width",
            "0.4",
        ]
    )
    assert (args.student_seeds, args.sweep_seeds, args.student_width) == (3, 2, 0.4)
    assert args.distill_sweep and (args.distill_temperature, args.distill_alpha) == (2.0, 0.5)
    args.student_epochs = 3
    assert bt.distill_setting(args) == bt.KD(2.0, 0.5, 3)


def test_folds_leave_out_the_sweeps_validation_images(bt):
    bf = importlib.import_module("bench_distill_folds")
    x, y = bf.all_images()
    held = bf.sweep_validation(y)
    xtr, _, ytr, _ = bt.mnist()
    _, xv, _, _ = bt.sweep_split(xtr, ytr)
    assert len(held) == len(xv) == 800
    rows = {r.tobytes() for r in xv}
    assert all(x[i].tobytes() in rows for i in held)  # the very images the sweep chose on
    tests = [te for _, te in bf.folds(y, 5, held)]
    assert sum(map(len, tests)) == len(y) - len(held)
    assert not np.intersect1d(np.concatenate(tests), held).size


def test_fold_stats_against_hand_values(bt):
    bf = importlib.import_module("bench_distill_folds")
    alone = [np.array([1, 0, 0, 1]), np.array([1, 1, 0])]
    taught = [np.array([1, 1, 0, 1]), np.array([1, 0, 0])]
    got = bf.fold_stats(alone, taught)
    assert got["diff_points"] == pytest.approx([25.0, -100 / 3])
    assert got["pooled_images"] == 7
    assert got["pooled_diff_points"] == pytest.approx(0.0)
    assert got["only_distilled_right"] == [1, 0] and got["only_alone_right"] == [0, 1]


def test_transfer_pair_repeats_and_scales_the_labels_only_epochs(bt):
    bx = importlib.import_module("bench_distill_transfer")
    x, y = _digits(64)
    xl, yl, xu = bx.split_labels(x, y, 0.25)
    assert (len(xl), len(xu)) == (16, 48) and len(set(yl)) >= 8  # stratified
    teacher = bt.cnn(0.25, seed=5)
    pair = bx.student_pair(bt.cnn, teacher, (xl, yl), xu, (2.0, 0.5), 1, seed=2)
    # the labels-only epochs scaled by all / labelled images (4); one batch per epoch here
    assert pair["steps"] == {"alone": 4, "taught": 2}
    init = bt.student_init(bt.cnn, bt.STUDENT_WIDTH["cnn"], 2, 16, 4)
    again = bx.student_pair(bt.cnn, teacher, (xl, yl), xu, (2.0, 0.5), 1, seed=2)
    assert _same(pair["alone"], again["alone"]) and _same(pair["taught"], again["taught"])
    assert not _same(pair["alone"], init)
    v = bx.views(3)(x[:4], training=True)
    assert np.asarray(v).shape == x[:4].shape and not np.allclose(v, x[:4])


def test_transfer_command_line(bt):
    bx = importlib.import_module("bench_distill_transfer")
    args = bx.parser().parse_args(["--json", "o.json", "--model", "mobilenet"])
    assert (args.labelled, args.seeds, args.select, args.epochs) == (0.25, 5, False, None)
    assert set(bx.CHOSEN) == set(bx.EPOCHS) == set(bt.MODELS)
    assert all(c in bx.CANDIDATES for c in bx.CHOSEN.values())
