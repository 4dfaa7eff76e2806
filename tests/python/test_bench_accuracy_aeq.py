"""bench_accuracy.py's AEQ comparison is optional: skipped with a how-to when AI Edge
Quantizer is absent; the float model handed to it (aeq_compare.float_model) computes
what the source computes, with its float16 constants folded to float32 and a signature.
No test here needs AEQ itself."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")  # the emulated aarch64 Python run has no TensorFlow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def modules(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])  # restored after each test
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("GEARSHIFT_AEQ_PATH", str(empty))  # not build-aeq/ of a checkout
    if "ai_edge_quantizer" in sys.modules:
        pytest.skip("ai_edge_quantizer is already imported in this process")
    return importlib.import_module("aeq_compare"), importlib.import_module("bench_accuracy")


def test_missing_folder_says_how_to_install(modules, tmp_path) -> None:
    ac, _ = modules
    why = ac.find(tmp_path / "nowhere")
    assert isinstance(why, str) and "not a folder" in why and "make aeq-env" in why


def test_absent_aeq_skips_the_row_with_the_reason(modules) -> None:
    ac, ba = modules
    found = ac.find()
    if not isinstance(found, str):
        pytest.skip("ai_edge_quantizer is installed in this environment")
    assert "AI Edge Quantizer not importable" in found and "make aeq-env" in found
    x = np.zeros((1, 4, 4, 3), np.float32)
    row = ba.aeq_row(Path("unused.tflite"), x, x, [], lambda ys: {}, "/nonexistent", found)
    assert row == {"skipped": found, "gears": {}}


def test_aeq_is_a_method_of_its_own(modules) -> None:
    _, ba = modules
    assert ba.AEQ_METHOD == "aeq"
    assert ba.rounding_suffix("input_percentile+cle+gptq+i8auto0.4+heads") == (
        "input_percentile+cle+heads",
        "gptq",
        "auto",
        False,
    )
    assert ba.int8_budget("input_percentile+gptq+i8auto0.4") == 0.4
    assert ba.int8_budget("input_percentile+gptq+i8auto8") == 8
    assert ba.int8_budget("input_percentile+gptq+i8auto") == 0.25


def test_float_model_folds_float16_constants_and_adds_a_signature(modules, tmp_path) -> None:
    import tensorflow as tf
    from tflite_edit import tflite_from_fn

    from gearshift.converters.litert_runner import run_tflite

    ac, _ = modules
    rng = np.random.default_rng(0)
    w = tf.constant(rng.standard_normal((3, 3, 3, 8)).astype(np.float32))
    d = tf.constant(rng.standard_normal((8, 5)).astype(np.float32))

    def fn(x):
        y = tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME"))
        return tf.reduce_mean(y, axis=[1, 2]) @ d

    src = tmp_path / "fp16.tflite"
    src.write_bytes(tflite_from_fn(fn, [(1, 8, 8, 3)], mode="float16"))
    dst = tmp_path / "float.tflite"
    inputs = ac.float_model(src, dst)
    assert len(inputs) == 1

    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fb

    def ops(path: Path) -> list[int]:
        m = fb.read_model(str(path))
        codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
        return [codes[op.opcodeIndex] for op in m.subgraphs[0].operators]

    deq = schema.BuiltinOperator.DEQUANTIZE
    assert deq in ops(src) and deq not in ops(dst)
    m = fb.read_model(str(dst))
    assert [s.signatureKey for s in m.signatureDefs] and all(
        c.builtinCode == max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes
    )
    x = rng.uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
    for a, b in zip(run_tflite(src, [x]), run_tflite(dst, [x])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
