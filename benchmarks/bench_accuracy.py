"""Accuracy of every gear on real MediaPipe models and real photographs, against LiteRT fp32.

The models come from the installed ``mediapipe`` wheel (the files only, as in
bench_tflite_models.py): face_detection_short_range (BlazeFace),
pose_detection, face_landmark and hand_landmark_lite. The photographs ship
inside the scikit-image wheel (``skimage.data``, nothing is downloaded), in
two disjoint sets:

* calibration (94): the first 60 LFW faces of ``lfw_subset`` (every other
  one pasted at 40% size into one of the calibration photographs, a face in a
  scene), and two random crops each of 17 texture, microscopy, astronomy and
  object photographs (brick, grass, gravel, coins, moon, page, text, clock,
  cell, immunohistochemistry, retina, hubble_deep_field, chelsea, horse,
  microaneurysms, checkerboard, logo);
* evaluation (36): LFW faces 60-89 (every other one pasted into astronaut,
  camera, coffee or rocket), those four photographs, and astronaut and coffee
  mirrored.

Each image is resized to the model's input (bilinear) and mapped to the range
MediaPipe feeds the model ([-1, 1] for the detectors, [0, 1] for the landmark
models). For each calibration method, ``gs.convert`` writes an fp32, fp16,
int8 and int4 gear (compact storage, the default), and each gear runs the
evaluation images next to LiteRT's fp32 interpreter:

* detectors: the best-scoring anchor of each, its box decoded with the SSD
  anchors MediaPipe's graphs use; box IoU between the gear's and LiteRT's
  (over all images, and over the images where LiteRT's best score is at
  least 0.5, a detection), the distance between their centres (pixels of the
  model input) and the difference of their sigmoid scores;
* landmark models: the mean 2-D distance between the gear's and LiteRT's
  landmarks (pixels of the model input).

    python benchmarks/bench_accuracy.py [--methods minmax,input_percentile]
        [--models SUBSTR,...] [--json OUT]

A method ending in ``+cle`` (``input_percentile+cle``) converts with
cross-layer equalization (``gs.convert(equalize=True)``); ``+islands`` (or
``+islandsN``, a budget of N layers) with float islands chosen by measured
sensitivity (``gs.convert(float_layers="auto")``): the JSON records the layers,
the file size and the int8 gear's batch-1 latency (median, one thread);
``+heads`` with the last weighted layers in float (``float_layers="heads"``); ``+hislands``
(``+hislandsN``) with those and up to N (4) more chosen with them (``"heads+auto"``);
``+tail`` (``+tailN``) with the heads and a float tail of up to N (4) weighted layers,
its cut measured (``"tail"``).
A last suffix ``+bc`` adds bias correction (``gs.convert(bias_correction=True)``,
sequential, measured for the int8 gear and again for the int4 gear, each keeping its
own biases), ``+bcw`` its weight-only form (``bias_correction="weights"``), ``+bc4``
the sequential form with fp32 and int4 only in the file, ``+bcw4`` its weight-only form:
``input_percentile+heads+bc``. A token ``+wmse`` or ``+gptq`` anywhere after the
calibration method chooses the int4 gear's weight rounding
(``gs.convert(weight_rounding="mse"|"gptq")``), ``+dw8`` keeps its depthwise layers at
int8 (``int4_int8_layers="depthwise"``), ``+i8auto`` (``+i8autoB``, a budget: ``B`` layers,
or below 1 that share of the 4-bit weights) those and the layers whose 4-bit weights cost
the task's error most, measured on the calibration photographs (``int4_int8_layers="auto"``,
the JSON names them and the int4 gear's prepared weight bytes), ``+gptq8`` rounds the int8
gear's weights with GPTQ (``int8_weight_rounding="gptq"``), ``+i4`` writes fp32 and
int4 only (float islands then chosen by the int4 gear): ``input_percentile+gptq+dw8+islands8+i4``.

The method ``aeq`` is Google's AI Edge Quantizer beside them (``aeq_compare.py``: its
static int8 recipe, calibrated on the same images in the same order, the int8 ``.tflite``
run by LiteRT), reported as an ``int8`` row; it needs AEQ in a folder of its own
(``make aeq-env``, ``--aeq-path``), and without it the row is skipped with the reason.

Needs ``pip install --no-deps mediapipe==0.10.14 scikit-image ai-edge-litert``.
Prints a table and writes JSON (default
benchmarks/results/<date>-<arch>-accuracy.json).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from bench_tflite_models import input_range, mediapipe_models
from results_doc import cpu_model, litert_version, write_results

import gearshift as gs
from gearshift.bench import table

GEARS = ("fp32", "fp16", "int8", "int4")
CALIBRATION_FACES = range(0, 60)
EVALUATION_FACES = range(60, 90)
CALIBRATION_PHOTOS = (
    "brick", "grass", "gravel", "coins", "moon", "page", "text", "clock", "cell",
    "immunohistochemistry", "retina", "hubble_deep_field", "chelsea", "horse",
    "microaneurysms", "checkerboard", "logo",
)  # fmt: skip
EVALUATION_PHOTOS = ("astronaut", "camera", "coffee", "rocket")
EVALUATION_MIRRORED = ("astronaut", "coffee")
DETECTED = 0.5  # LiteRT fp32's best score from which an image counts as a detection


@dataclass(frozen=True)
class ModelKind:
    """How to score one model: a detector (anchors) or a landmark model (points)."""

    kind: str  # "detector" | "landmarks"
    strides: tuple[tuple[int, int], ...] = ()  # detector: (stride, anchors per cell)
    points: int = 0  # landmark model: landmarks in output 0, 3 values each


MODELS = {
    "face_detection_short_range": ModelKind("detector", strides=((8, 2), (16, 6))),
    "pose_detection": ModelKind("detector", strides=((8, 2), (16, 2), (32, 6))),
    "face_landmark": ModelKind("landmarks", points=468),
    "hand_landmark_lite": ModelKind("landmarks", points=21),
}


# ---------------------------------------------------------------------------
# Photographs
# ---------------------------------------------------------------------------
def _rgb(img: np.ndarray) -> np.ndarray:
    """Any skimage sample as float RGB in [0, 1]."""
    a = np.asarray(img)
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.clip(a[..., :3], 0.0, 1.0)


def _crops(img: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` square crops of 60% of the shorter side at random positions."""
    h, w = img.shape[:2]
    side = int(0.6 * min(h, w))
    out = []
    for _ in range(n):
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        out.append(img[y : y + side, x : x + side])
    return out


def _composite(face: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``face`` scaled to 40% of a square crop of ``background``'s shorter side, pasted at
    a random position: one face in a scene, as a face detector expects it."""
    from PIL import Image

    bg = background[: min(background.shape[:2]), : min(background.shape[:2])]
    side = bg.shape[0]
    f = int(0.4 * side)
    u8 = Image.fromarray(np.round(face * 255.0).astype(np.uint8))
    small = np.asarray(u8.resize((f, f), Image.BILINEAR), np.float32) / 255.0
    y, x = int(rng.integers(0, side - f + 1)), int(rng.integers(0, side - f + 1))
    out = bg.copy()
    out[y : y + f, x : x + f] = small
    return out


def photo_sets() -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """``(calibration, evaluation)``: named float RGB photographs, disjoint (no face,
    background or photograph in both)."""
    import skimage.data as data

    faces = data.lfw_subset()  # 200 25x25 crops: 100 faces, then 100 non-faces
    rng = np.random.default_rng(0)
    photos = {n: _rgb(getattr(data, n)()) for n in CALIBRATION_PHOTOS}
    cal = []
    for k, i in enumerate(CALIBRATION_FACES):
        if k % 2 == 0:
            cal.append((f"lfw{i}", _rgb(faces[i])))
        else:  # a face composite on one of the calibration photographs
            bg_name = CALIBRATION_PHOTOS[k % len(CALIBRATION_PHOTOS)]
            cal.append((f"lfw{i}@{bg_name}", _composite(_rgb(faces[i]), photos[bg_name], rng)))
    for name, img in photos.items():
        cal += [(f"{name}[{k}]", c) for k, c in enumerate(_crops(img, 2, rng))]
    scenes = {n: _rgb(getattr(data, n)()) for n in EVALUATION_PHOTOS}
    ev = []
    for k, i in enumerate(EVALUATION_FACES):
        if k % 2 == 0:
            ev.append((f"lfw{i}", _rgb(faces[i])))
        else:
            bg_name = EVALUATION_PHOTOS[k % len(EVALUATION_PHOTOS)]
            ev.append((f"lfw{i}@{bg_name}", _composite(_rgb(faces[i]), scenes[bg_name], rng)))
    ev += list(scenes.items())
    ev += [(f"{n}-mirrored", scenes[n][:, ::-1]) for n in EVALUATION_MIRRORED]
    return cal, ev


def to_input(images: list[tuple[str, np.ndarray]], size: int, lo: float, hi: float) -> np.ndarray:
    """Resized (bilinear, PIL) and mapped to [lo, hi]: float32 NHWC."""
    from PIL import Image

    out = []
    for _, img in images:
        u8 = Image.fromarray(np.round(img * 255.0).astype(np.uint8))
        r = np.asarray(u8.resize((size, size), Image.BILINEAR), np.float32) / 255.0
        out.append(lo + (hi - lo) * r)
    return np.stack(out).astype(np.float32)


# ---------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------
def ssd_anchors(size: int, strides: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Anchor centres ``[N, 2]`` (x, y in pixels) in MediaPipe's SsdAnchorsCalculator order."""
    out = []
    for stride, per_cell in strides:
        g = size // stride
        for y in range(g):
            for x in range(g):
                out += [((x + 0.5) * stride, (y + 0.5) * stride)] * per_cell
    return np.asarray(out, np.float64)


def _best_box(reg: np.ndarray, cls: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, float]:
    """(x0, y0, x1, y1) of the best-scoring anchor's box, and its sigmoid score."""
    k = int(np.argmax(cls))
    cx, cy = anchors[k] + reg[k, :2]
    w, h = reg[k, 2], reg[k, 3]
    score = 1.0 / (1.0 + np.exp(-np.clip(float(cls[k]), -80.0, 80.0)))
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]), score


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def detector_scores(
    ys: list[np.ndarray], refs: list[np.ndarray], anchors: np.ndarray
) -> dict[str, float]:
    """Per image best-anchor IoU, centre shift and score difference; means and worst."""
    reg_i = 0 if ys[0].shape[-1] > 1 else 1
    ious, shifts, dscore, detected = [], [], [], []
    for i in range(refs[0].shape[0]):
        box_r, s_r = _best_box(refs[reg_i][i], refs[1 - reg_i][i].ravel(), anchors)
        box_g, s_g = _best_box(ys[reg_i][i], ys[1 - reg_i][i].ravel(), anchors)
        ious.append(_iou(box_r, box_g))
        c_r, c_g = (box_r[:2] + box_r[2:]) / 2, (box_g[:2] + box_g[2:]) / 2
        shifts.append(float(np.hypot(*(c_r - c_g))))
        dscore.append(abs(s_g - s_r))
        detected.append(s_r >= DETECTED)
    det = np.asarray(detected)
    return {
        "iou_mean": float(np.mean(ious)),
        "iou_detected": float(np.mean(np.asarray(ious)[det])) if det.any() else float("nan"),
        "detected": int(det.sum()),
        "iou_min": float(np.min(ious)),
        "iou_min_detected": float(np.min(np.asarray(ious)[det])) if det.any() else float("nan"),
        "shift_px_mean": float(np.mean(shifts)),
        "score_diff_mean": float(np.mean(dscore)),
        "score_diff_max": float(np.max(dscore)),
    }


def landmark_scores(ys: list[np.ndarray], refs: list[np.ndarray], points: int) -> dict[str, float]:
    """Mean 2-D landmark distance per image (pixels), mean and worst over images."""
    y = ys[0].reshape(-1, points, 3)[..., :2]
    r = refs[0].reshape(-1, points, 3)[..., :2]
    per_image = np.linalg.norm(y - r, axis=2).mean(axis=1)
    return {"shift_px_mean": float(per_image.mean()), "shift_px_max": float(per_image.max())}


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------
def litert_fp32(path: Path, x: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    from gearshift.converters.litert_runner import interpreter_class, run_tflite

    it = interpreter_class()(model_path=os.fspath(path))
    names = [d["name"] for d in it.get_output_details()]
    return run_tflite(os.fspath(path), [x]), names


def run_gear(rt: gs.Runtime, gear: str, x: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """The gear's outputs for every image (batch 1), in LiteRT's output order."""
    rt.gear = gear
    outs: list[list[np.ndarray]] = []
    for i in range(x.shape[0]):
        y = rt.run(x[i : i + 1])
        if not isinstance(y, dict):
            y = {rt.outputs[0].name: y}
        outs.append([y[n] for n in names] if set(names) <= set(y) else list(y.values()))
    return [np.concatenate(col) for col in zip(*outs)]


def aeq_row(
    path: Path,
    x_cal: np.ndarray,
    x_ev: np.ndarray,
    names: list[str],
    score: Callable[[list[np.ndarray]], dict[str, float]],
    tmp: str,
    aeq: tuple[Any, Any] | str | None,
) -> dict[str, Any]:
    """The ``aeq`` method: AEQ's static int8 model (``aeq_compare.quantize``, the same
    calibration images in the same order) run by LiteRT on the evaluation images; or,
    when AEQ is not importable, why the row is skipped."""
    import aeq_compare

    from gearshift.converters.litert_runner import interpreter_class, run_tflite

    if aeq is None or isinstance(aeq, str):
        return {"skipped": aeq or "AEQ not requested", "gears": {}}
    out = Path(tmp) / f"{path.stem}-aeq.tflite"
    info = aeq_compare.quantize(path, x_cal, out, aeq)
    order = [d["name"] for d in interpreter_class()(model_path=os.fspath(out)).get_output_details()]
    got = run_tflite(out, [x_ev])
    ys = [got[order.index(n)] for n in names] if set(names) <= set(order) else got
    return {
        **info,
        "gears": {"int8": score(ys)},
        "recipe": "static_wi8_ai8",
        "float_layers": [],
        "int8_ms": None,
    }


def bench_model(
    path: Path,
    kind: ModelKind,
    methods: list[str],
    cal_imgs: list,
    eval_imgs: list,
    aeq: tuple[Any, Any] | str | None = None,
) -> dict[str, Any]:
    it_size = int(gs_input_size(path))
    lo, hi = input_range(path.stem)
    x_cal = to_input(cal_imgs, it_size, lo, hi)
    x_ev = to_input(eval_imgs, it_size, lo, hi)
    refs, names = litert_fp32(path, x_ev)
    score: Callable[[list[np.ndarray]], dict[str, float]]
    if kind.kind == "detector":
        anchors = ssd_anchors(it_size, kind.strides)
        score = lambda ys: detector_scores(ys, refs, anchors)  # noqa: E731
    else:
        score = lambda ys: landmark_scores(ys, refs, kind.points)  # noqa: E731
    # float_layers="auto" ranks layers by this task's own error on the calibration inputs
    # (the source's outputs there are LiteRT's; the evaluation images are never used)
    task_error: Callable[[list[np.ndarray], list[np.ndarray]], float]
    if kind.kind == "detector":
        anchors_cal = ssd_anchors(it_size, kind.strides)

        def task_error(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
            s = detector_scores(got, ref, anchors_cal)
            return 1.0 - s["iou_mean"] + s["score_diff_mean"]
    else:

        def task_error(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
            return landmark_scores(got, ref, kind.points)["shift_px_mean"]

    result: dict[str, Any] = {"input_size": it_size, "methods": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            if method == AEQ_METHOD:
                result["methods"][method] = aeq_row(path, x_cal, x_ev, names, score, tmp, aeq)
                continue
            out = Path(tmp) / f"{path.stem}-{method}.gear"
            plain, rounding, int8_layers, only4 = rounding_suffix(method)
            rest, bias, gears_ = bias_suffix(plain)
            if only4:
                gears_ = ("fp32", "int4")
            both = "+hislands" in rest  # the heads, then "auto" with them in float
            marker = "+tail" if "+tail" in rest else "+hislands" if both else "+islands"
            base, _, islands = rest.removesuffix("+heads").partition(marker)
            budget = int(islands) if islands else 4
            islands_mode = (
                "tail" if marker == "+tail" else "heads+auto" if both
                else "auto" if "+islands" in rest else "heads" if rest.endswith("+heads")
                else None
            )  # fmt: skip
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                report = gs.convert(
                    path, out, gears=gears_, calibration=x_cal,
                    calibration_method=base.removesuffix("+cle"), progress=False,
                    equalize=base.endswith("+cle"),
                    float_layers=islands_mode, float_budget=budget,
                    float_metric=task_error, bias_correction=bias, weight_rounding=rounding,
                    int4_int8_layers=int8_layers, int4_int8_budget=int8_budget(method),
                    int8_weight_rounding="gptq" if "gptq8" in method.split("+") else "nearest",
                )  # fmt: skip
            seconds = time.perf_counter() - t0
            notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
            for n in notes:
                print(f"  [{path.stem} {method}] warning: {n}", file=sys.stderr)
            rt = gs.Runtime(str(out), threads=1)
            gears = {g: score(run_gear(rt, g, x_ev, names)) for g in gears_}
            result["methods"][method] = {
                "convert_seconds": seconds,
                "warnings": notes,
                "gears": gears,
                "float_layers": report.float_layers,
                "bias_correction": bias,
                "weight_rounding": rounding,
                "int4_int8_layers": int8_layers,
                "int8_weight_rounding": "gptq" if "gptq8" in method.split("+") else "nearest",
                "int4_int8_kept": report.int4_int8_layers if "int4" in gears_ else [],
                "notes": [n for g in report.gears for n in g.notes if n.startswith("bias")][:1]
                + [n for g in report.gears for n in g.notes if n.startswith("int4 weight")][:1]
                + [n for g in report.gears for n in g.notes if n.startswith("int8 weight")][:1]
                + [n for g in report.gears for n in g.notes if "int4_int8_layers auto" in n][:1],
                "int4_prepared_bytes": prepared_bytes(out, "int4", x_ev)
                if "int4" in gears_
                else None,
                "file_bytes": out.stat().st_size,
                "int8_ms": int8_latency_ms(rt, x_ev) if "int8" in gears_ else None,
            }
    return result


#: the method name of AEQ's row (``aeq_compare.py``): static int8, AEQ's own calibration
AEQ_METHOD = "aeq"
ROUNDING_TOKENS = {"wmse": "mse", "gptq": "gptq"}


def rounding_suffix(method: str) -> tuple[str, str, str, bool]:
    """A method's int4 tokens anywhere after the calibration method
    (``input_percentile+gptq+dw8+heads``): ``+wmse``/``+gptq`` (``gs.convert``'s
    ``weight_rounding``, ``"nearest"`` without one) and ``+dw8`` (``int4_int8_layers=
    "depthwise"``, else ``"first"``; ``+i8auto[B]``: ``"auto"``) and ``+i4`` (a file of
    fp32 and int4 only, whose ``+islands`` are then chosen by the int4 gear's error); the
    method without them and the three choices."""
    first, *tokens = method.split("+")
    chosen = [ROUNDING_TOKENS[t] for t in tokens if t in ROUNDING_TOKENS]
    rest = [
        t
        for t in tokens
        if t not in ROUNDING_TOKENS
        and t not in ("dw8", "i4", "gptq8")
        and not t.startswith("i8auto")
    ]
    int8_layers = "depthwise" if "dw8" in tokens else "first"
    if any(t.startswith("i8auto") for t in tokens):
        int8_layers = "auto"
    only4 = "i4" in tokens
    return "+".join([first, *rest]), chosen[-1] if chosen else "nearest", int8_layers, only4


def int8_budget(method: str) -> float:
    """``+i8autoB``'s budget (``gs.convert``'s ``int4_int8_budget``): ``i8auto`` the
    default (0.25), ``i8auto8`` 8 layers, ``i8auto0.4`` 40% of the 4-bit weights."""
    for t in method.split("+")[1:]:
        if t.startswith("i8auto"):
            return float(t.removeprefix("i8auto") or 0.25)
    return 0.25


def bias_suffix(method: str) -> tuple[str, bool | str, tuple[str, ...]]:
    """A method's bias-correction suffix: ``+bc`` (sequential, each integer gear
    measured on its own), ``+bcw`` (weight error alone), ``+bc4``/``+bcw4`` (the same in
    a file of fp32 and int4 only); the method without it, ``gs.convert``'s
    ``bias_correction`` and the gears to write."""
    for suffix, bias, gears in (
        ("+bc4", "sequential", ("fp32", "int4")),
        ("+bcw4", "weights", ("fp32", "int4")),
        ("+bcw", "weights", GEARS),
        ("+bc", "sequential", GEARS),
    ):
        if method.endswith(suffix):
            return method.removesuffix(suffix), bias, gears
    return method, False, GEARS


def prepared_bytes(path: Path, gear: str, x: np.ndarray) -> int:
    """The bytes a fresh runtime prepares for ``gear``'s weights (one run)."""
    rt = gs.Runtime(str(path), gear=gear, threads=1)
    rt.run(x[:1])
    return int(rt.prepared_bytes)


def int8_latency_ms(rt: gs.Runtime, x: np.ndarray, runs: int = 5) -> float:
    """The int8 gear's median batch-1 latency over ``runs`` passes of the images."""
    rt.gear = "int8"
    times = []
    for _ in range(runs):
        for i in range(x.shape[0]):
            t0 = time.perf_counter()
            rt.run(x[i : i + 1])
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def gs_input_size(path: Path) -> int:
    from gearshift.converters.litert_runner import interpreter_class

    it = interpreter_class()(model_path=os.fspath(path))
    return int(it.get_input_details()[0]["shape"][1])


def _row(model: str, method: str, gear: str, kind: ModelKind, s: dict[str, float]) -> list[str]:
    if kind.kind == "detector":
        vals = [
            f"{s['iou_mean']:.3f}",
            f"{s['iou_detected']:.3f} ({s['detected']})",
            f"{s['iou_min']:.2f}",
            f"{s['shift_px_mean']:.1f}",
            f"{s['score_diff_mean']:.3f}",
        ]
    else:
        vals = ["", "", "", f"{s['shift_px_mean']:.2f}", ""]
    return [model, method, gear, *vals]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="minmax,input_percentile")
    ap.add_argument("--models", default="", help="comma-separated substrings of model names")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--aeq-path",
        default=None,
        help="folder holding ai_edge_quantizer (scripts/aeq_env.sh; default "
        "build-aeq/site-packages): the method 'aeq' runs AEQ's static int8 there",
    )
    args = ap.parse_args(argv)
    files = mediapipe_models()
    if files is None:
        print("error: mediapipe is not installed (pip install --no-deps mediapipe==0.10.14)")
        return 1
    wanted = [m for m in args.models.split(",") if m]
    files = [
        f for f in files if f.stem in MODELS and (not wanted or any(w in f.stem for w in wanted))
    ]
    methods = [m for m in args.methods.split(",") if m]
    aeq: tuple[Any, Any] | str | None = None
    if AEQ_METHOD in methods:
        import aeq_compare

        aeq = aeq_compare.find(args.aeq_path)
        if isinstance(aeq, str):
            print(f"skipping the AEQ rows: {aeq}", file=sys.stderr)
    cal, ev = photo_sets()
    print(f"{len(cal)} calibration and {len(ev)} evaluation photographs; CPU: {cpu_model()}")
    results, rows = {}, []
    for f in files:
        kind = MODELS[f.stem]
        print(f"{f.stem}: converting with {', '.join(methods)}", flush=True)
        results[f.stem] = bench_model(f, kind, methods, cal, ev, aeq)
        for m, r in results[f.stem]["methods"].items():
            rows += [_row(f.stem, m, g, kind, s) for g, s in r["gears"].items()]
    head = ["model", "calibration", "gear", "IoU", "IoU detected (n)", "IoU min", "shift px"]
    head.append("|d score|")
    print(table([head, *rows]))
    cost = [["model", "calibration", "file KiB", "int8 ms (batch 1, 1 thread)", "float layers"]]
    for model, r in results.items():
        for m, v in r["methods"].items():
            if "skipped" in v:
                continue
            layers = ", ".join(v["float_layers"]) or "-"
            ms = "-" if v["int8_ms"] is None else f"{v['int8_ms']:.2f}"
            cost.append([model, m, f"{v['file_bytes'] / 1024:.0f}", ms, layers])
    print(table(cost))
    write_results(
        results,
        "",
        args.json
        or Path(__file__).parent / "results" / f"{_today()}-{os.uname().machine}-accuracy.json",
        litert=litert_version(),
        calibration=[n for n, _ in cal],
        evaluation=[n for n, _ in ev],
    )
    return 0


def _today() -> str:
    import datetime as dt

    return dt.date.today().isoformat()


if __name__ == "__main__":
    sys.exit(main())
