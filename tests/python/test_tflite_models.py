"""Real, third-party TFLite vision models (MediaPipe's, shipped inside its wheel) through
the importer and the runtime, against LiteRT on the same inputs.

The models are read from the installed ``mediapipe`` package (the Makefile installs it
with ``--no-deps``; nothing of it is imported or committed here). Float tolerance is
1e-4 of each output's scale, or twice LiteRT's own disagreement with itself (XNNPACK
against its builtin kernels) on outputs where float32 rounding through ~100 layers
already exceeds that: LiteRT cannot be a tighter oracle than it is consistent.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from tflite_edit import custom_transpose_conv_to_builtin

import gearshift as gs
from gearshift.converters.import_tflite import UnsupportedOpsError, import_tflite
from gearshift.converters.litert_runner import run_tflite

# model file -> what makes it interesting for the importer
MODELS = {
    "face_detection/face_detection_short_range.tflite": "fp16 weights, DEQUANTIZE folded",
    "face_detection/face_detection_full_range_sparse.tflite": "DENSIFY of sparse weights",
    "face_landmark/face_landmark.tflite": "PRELU",
    "iris_landmark/iris_landmark.tflite": "float32, PRELU",
    "hand_landmark/hand_landmark_lite.tflite": "FULLY_CONNECTED, LOGISTIC, MEAN",
    "hand_landmark/hand_landmark_full.tflite": "FULLY_CONNECTED, LOGISTIC, MEAN",
    "palm_detection/palm_detection_lite.tflite": "RESIZE_BILINEAR, PRELU",
    "palm_detection/palm_detection_full.tflite": "RESIZE_BILINEAR, PRELU",
    "pose_detection/pose_detection.tflite": "DENSIFY, DEPTH_TO_SPACE",
    "pose_landmark/pose_landmark_full.tflite": "RESIZE_BILINEAR, 5 outputs",
    "selfie_segmentation/selfie_segmentation.tflite": "custom Convolution2DTransposeBias",
    "selfie_segmentation/selfie_segmentation_landscape.tflite": "custom transpose conv",
    "holistic_landmark/hand_recrop.tflite": "STRIDED_SLICE",
}


def _modules() -> Path | None:
    spec = importlib.util.find_spec("mediapipe")  # locates the package, runs none of it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "modules"


MODULES = _modules()
needs_mediapipe = pytest.mark.skipif(
    MODULES is None, reason="pip install --no-deps mediapipe==0.10.14 (its bundled models)"
)


def _path(name: str) -> Path:
    assert MODULES is not None
    p = MODULES / name
    # the Makefile pins mediapipe 0.10.14, which ships every model listed here
    assert p.exists(), f"{name} is missing from the installed mediapipe (0.10.14 ships it)"
    return p


def _inputs(rt: gs.Runtime, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (n, *s.shape[1:])).astype(np.float32) for s in rt.inputs]


def _outputs(rt: gs.Runtime, xs: list[np.ndarray]) -> list[np.ndarray]:
    y = rt.run(xs[0] if len(xs) == 1 else xs)
    return [y] if len(rt.outputs) == 1 else [y[o.name] for o in rt.outputs]


def _scale(a: np.ndarray) -> float:
    return max(float(np.abs(a).max()), 1e-12)


@needs_mediapipe
@pytest.mark.parametrize("name", sorted(MODELS))
def test_real_model_fp32_matches_litert(name, tmp_path):
    from ai_edge_litert.interpreter import OpResolverType

    src = _path(name)
    gear = tmp_path / "m.gear"
    report = gs.convert(src, gear, gears=("fp32",), storage="exact", progress=False)
    assert report.gears[0].max_rel_error < 5e-3  # measured by convert() itself
    rt = gs.Runtime(gear)
    xs = _inputs(rt, 2, seed=1)
    xnn = run_tflite(src, xs)  # XNNPACK also runs MediaPipe's transpose-conv custom op
    plain = src.read_bytes()
    if b"Convolution2DTransposeBias" in plain:
        plain = custom_transpose_conv_to_builtin(plain)
    builtin = run_tflite(
        plain, xs, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    got = _outputs(rt, xs)
    assert len(got) == len(xnn)
    for o, y, a, b in zip(rt.outputs, got, xnn, builtin):
        y = y.reshape(a.shape)
        noise = float(np.abs(a - b).max()) / _scale(a)
        err = float(np.abs(y - a).max()) / _scale(a)
        assert err <= max(1e-4, 2 * noise), (o.name, err, noise)


@needs_mediapipe
def test_real_model_all_gears_run(tmp_path):
    """fp16/int8/int4 of an imported float model, calibrated like a Keras one."""
    src = _path("face_detection/face_detection_short_range.tflite")
    rng = np.random.default_rng(0)
    calib = rng.uniform(-1, 1, (16, 128, 128, 3)).astype(np.float32)
    report = gs.convert(
        src,
        tmp_path / "m.gear",
        gears=("fp32", "fp16", "int8", "int4"),
        calibration=calib,
        progress=False,
    )
    errs = {g.name: g.max_rel_error for g in report.gears}
    assert errs["fp16"] < 2e-2
    assert all(np.isfinite(v) and v < 1.0 for v in errs.values()), errs
    assert errs["int8"] <= errs["int4"] * 1.5 + 1e-3


@needs_mediapipe
def test_sparse_weights_stay_sparse(tmp_path):
    """DENSIFY-encoded weights import as zeros the writer stores sparse (int8 bases)."""
    from gearshift.describe import describe

    src = _path("face_detection/face_detection_full_range_sparse.tflite")
    imp = import_tflite(src)
    assert any("DENSIFY" in n for n in imp.notes)
    calib = np.random.default_rng(0).uniform(-1, 1, (4, 192, 192, 3)).astype(np.float32)
    gs.convert(
        src,
        tmp_path / "s.gear",
        gears=("fp32", "int8-sparse"),
        calibration=calib,
        progress=False,
    )
    encodings = [s["encoding"] for s in describe(tmp_path / "s.gear")["storage"]]
    assert sum(e in ("bitmap", "csr", "2:4") for e in encodings) >= 20, encodings


@needs_mediapipe
def test_custom_ops_refused_before_any_work(tmp_path):
    src = _path("face_landmark/face_landmark_with_attention.tflite")
    out = tmp_path / "never.gear"
    with pytest.raises(UnsupportedOpsError) as e:
        gs.convert(src, out, progress=False)
    msg = str(e.value)
    for op, n in [
        ("CUSTOM:Landmarks2TransformMatrix", 3),
        ("CUSTOM:TransformLandmarks", 5),
        ("CUSTOM:TransformTensorBilinear", 3),
    ]:
        assert f"{op} x{n}" in msg
    assert e.value.ops == {
        "CUSTOM:Landmarks2TransformMatrix": 3,
        "CUSTOM:TransformLandmarks": 5,
        "CUSTOM:TransformTensorBilinear": 3,
    }
    assert not out.exists()
