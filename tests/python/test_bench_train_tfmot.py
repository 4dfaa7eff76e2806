"""bench_train.py's TFMOT comparison is optional: skipped with a how-to when TFMOT is
absent, found in its own folder (appended to sys.path, never shadowing the venv) when
present. No test here needs TFMOT itself."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras")  # the emulated aarch64 Python run has no TensorFlow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def modules(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])  # restored after each test
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("GEARSHIFT_TFMOT_PATH", str(empty))  # not build-tfmot/ of a checkout
    for name in ("tensorflow_model_optimization", "tf_keras"):
        if name in sys.modules:
            pytest.skip(f"{name} is already imported in this process")
    tc = importlib.import_module("tfmot_compare")
    bt = importlib.import_module("bench_train")
    yield tc, bt
    for name in ("tensorflow_model_optimization", "tf_keras"):
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "FAKE", False):
            del sys.modules[name]


def _absent(tc) -> bool:
    return isinstance(tc.find(), str)


def test_missing_folder_is_a_clear_skip(modules, tmp_path):
    tc, _ = modules
    msg = tc.find(tmp_path / "nowhere")
    assert isinstance(msg, str)
    assert "is not a folder" in msg and "make tfmot-env" in msg


def test_absent_tfmot_skips_without_running(modules, tmp_path, monkeypatch):
    tc, bt = modules
    if not _absent(tc):
        pytest.skip("TFMOT is importable in this environment")
    ran = []
    args = argparse.Namespace(no_tfmot=False, tfmot_path=str(tmp_path))
    res = bt.tfmot_rows(args, lambda: ran.append(1) or {"rows": []})
    assert ran == []
    assert set(res) == {"skipped"}
    assert "not importable" in res["skipped"] and "make tfmot-env" in res["skipped"]


def test_no_tfmot_flag_skips(modules):
    _, bt = modules
    args = argparse.Namespace(no_tfmot=True, tfmot_path=None)
    res = bt.tfmot_rows(args, lambda: pytest.fail("the comparison ran"))
    assert "--no-tfmot" in res["skipped"]


def test_folder_is_appended_not_prepended(modules, tmp_path, monkeypatch):
    tc, _ = modules
    if not _absent(tc):
        pytest.skip("TFMOT is importable in this environment")
    for name in ("tensorflow_model_optimization", "tf_keras"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("FAKE = True\n")
    found = tc.find(tmp_path)
    assert not isinstance(found, str), found
    assert sys.path[-1] == str(tmp_path)  # after the venv: its TensorFlow and absl win
    assert all(getattr(m, "FAKE", False) for m in found)


def test_plan_follows_the_recipe(modules):
    """The 80% row's TFMOT schedule is the gs.train.prune call's: the MobileNet-style
    model's 8 epochs, 40% ramp and cosine 2e-3; the CNN's (and 2:4's) the defaults."""
    tc, bt = modules
    p = tc.plan(bt.RECIPES["mobilenet"], 3, 4000)
    assert (p["epochs"], p["steps"], p["end_step"], p["frequency"]) == (8, 1000, 400, 40)
    assert (p["lr_schedule"], p["learning_rate"], p["final_learning_rate"]) == ("cosine", 2e-3, 0)
    assert p["gs_scope"] == "erk" and "same sparsity" in p["tfmot_scope"]
    d = tc.plan(bt.RECIPES["cnn"], 3, 4000)  # "epochs": None means --tune
    assert (d["epochs"], d["steps"], d["end_step"], d["frequency"]) == (3, 375, 225, 22)
    assert (d["lr_schedule"], d["learning_rate"]) == ("constant", 5e-4)
    with pytest.raises(ValueError, match="distill_alpha"):
        tc.plan({"epochs": 8, "distill_alpha": 0.5}, 3, 4000)  # no silent difference


def test_recovery_schedule_is_gs_trains(modules):
    """The LearningRateSchedule given to TFMOT's optimizer gives gs.train.prune's cosine
    recovery at every step (checked on Keras 3's base class; TFMOT passes tf_keras's)."""
    import keras
    import numpy as np

    from gearshift.converters.train.prune import recovery_learning_rate

    tc, _ = modules
    for hold, total, lr, final in ((400, 1000, 2e-3, 0.0), (10, 50, 1e-3, 1e-5), (50, 50, 1e-3, 0)):
        s = tc.recovery_schedule(
            keras.optimizers.schedules.LearningRateSchedule, hold, total, lr, final
        )
        steps = np.arange(total + 20)
        got = np.asarray(s(keras.ops.convert_to_tensor(steps)))
        want = [recovery_learning_rate(int(t), hold, total, lr, final) for t in steps]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)


def test_eligible_sparsity_skips_the_edges(modules):
    """gs.train's reached sparsity, recorded beside TFMOT's: the inner weight layers."""
    import keras
    import numpy as np

    _, bt = modules
    m = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, name="first"),
            keras.layers.DepthwiseConv2D(3, name="dw"),
            keras.layers.Conv2D(8, 1, name="mid"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="last"),
        ]
    )
    dw, mid = m.get_layer("dw"), m.get_layer("mid")
    k = dw.kernel.numpy()
    k[..., :2, :] = 0  # half of the 36 depthwise weights
    dw.kernel.assign(k)
    mid.kernel.assign(np.zeros_like(mid.kernel.numpy()))  # all 32
    got = bt.eligible_sparsity(m)
    assert got["depthwise_layers"] == 0.5
    assert got["eligible_layers"] == (18 + 32) / (36 + 32)
