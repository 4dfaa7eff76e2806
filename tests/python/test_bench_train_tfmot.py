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
