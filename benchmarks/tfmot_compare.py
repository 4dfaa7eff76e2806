"""TensorFlow Model Optimization Toolkit beside ``gs.train``, for ``bench_train.py``.

TFMOT (``tensorflow_model_optimization``) works on Keras 2 models (``tf_keras``)
only, and its pins (``absl-py~=1.2``) would downgrade the project's venv, so it
lives in a folder of its own that ``scripts/tfmot_env.sh`` (``make tfmot-env``)
fills with ``pip install --no-deps --target``; :func:`find` appends that
folder to ``sys.path`` (after the venv's own packages, so TensorFlow, absl and
numpy stay the venv's) only when the comparison runs.

The dense Keras 3 model is rebuilt in ``tf_keras`` with the same layers and its
trained weights copied, so both toolkits start from the same dense model; each
TFMOT method then fine-tunes with the schedule, optimizer, batch and epochs of
the ``gs.train`` call it stands beside:

- ``prune_low_magnitude`` to 80% with the model's pruning recipe (bench_train's
  ``RECIPES``, the keyword arguments of its ``gs.train.prune`` call): its epochs,
  ``PolynomialDecay`` (cubic) over its ``pruning_fraction`` of the steps (0.6
  by default) with 10 mask updates, its learning rate (Adam, 5e-4 by default;
  with ``lr_schedule="cosine"`` held during the ramp and cosine-decayed to
  ``final_learning_rate`` by the last step, :func:`recovery_schedule`, the
  schedule of ``gs.train.prune``), the first and last weight layers dense;
  ``strip_pruning``; TFLite float and int8 (the same 256 calibration images)
  run by LiteRT, and the stripped weights converted by ``gs.convert`` (int8
  gear, zeros stored sparse). Not reproduced: ``scope="erk"`` (gs.train's
  per-layer shares of the 80%); TFMOT prunes each layer it wraps to the same
  80% and leaves ``DepthwiseConv2D`` dense, so the sparsity each reached is
  recorded (``sparsity``) instead;
- ``prune_low_magnitude(sparsity_m_by_n=(2, 4))`` on the Conv2D/Dense layers
  TFMOT accepts for 2:4 (not DepthwiseConv2D), beside gs.train's 2:4 row, which
  fine-tunes ``tune`` epochs with the defaults (60% ramp, Adam 5e-4);
- ``quantize_model`` (QAT), Adam 1e-4, 1 epoch (``gs.train.qat``'s), int8 TFLite
  run by LiteRT, and that file imported by ``gs.convert`` (its own int8
  parameters).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from optional_env import add_folder

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO / "build-tfmot" / "site-packages"
ENV_VAR = "GEARSHIFT_TFMOT_PATH"
HOW_TO = (
    "run `make tfmot-env` (or `bash scripts/tfmot_env.sh DIR` and pass --tfmot-path DIR "
    f"or set {ENV_VAR}=DIR)"
)
WEIGHT_LAYERS = ("Conv2D", "DepthwiseConv2D", "Dense")


def find(path: str | os.PathLike[str] | None = None) -> tuple[Any, Any] | str:
    """``(tfmot, tf_keras)`` modules, or why they are not importable and how to fix it.

    ``path`` (else ``$GEARSHIFT_TFMOT_PATH``, else ``build-tfmot/site-packages``)
    is appended to ``sys.path`` when it exists; packages installed in the venv
    itself are found without it.
    """
    problem = add_folder(path, ENV_VAR, DEFAULT_DIR, "--tfmot-path", HOW_TO)
    if problem is not None:
        return problem
    try:
        import tensorflow_model_optimization as tfmot
        import tf_keras
    except ImportError as e:
        return f"TensorFlow Model Optimization Toolkit not importable ({e}); {HOW_TO}"
    return tfmot, tf_keras


def _prunable(model: Any) -> list[int]:
    """Positions of the weight layers in ``model.layers`` (names differ between builds)."""
    return [i for i, layer in enumerate(model.layers) if type(layer).__name__ in WEIGHT_LAYERS]


# gs.train.prune's defaults for what a recipe may set (converters/train/prune.py)
PRUNE_DEFAULTS: dict[str, Any] = {
    "pruning_fraction": 0.6,
    "updates": 10,
    "learning_rate": 5e-4,
    "lr_schedule": "constant",
    "final_learning_rate": 0.0,
    "scope": "global",
}
BATCH = 32  # gs.train's default batch, as bench_train calls it


def plan(recipe: dict[str, Any], tune: int, n_train: int) -> dict[str, Any]:
    """The schedule TFMOT follows for a ``gs.train.prune`` recipe (its keyword arguments
    beyond sparsity, score and structure; ``epochs`` None means ``tune``): epochs,
    steps, the sparsity ramp's end step and mask-update frequency (as gs.train.prune
    computes them), the learning-rate schedule; and what TFMOT cannot follow."""
    unknown = set(recipe) - set(PRUNE_DEFAULTS) - {"epochs"}
    if unknown:
        raise ValueError(f"no TFMOT equivalent written for recipe keys {sorted(unknown)}")
    r = {**PRUNE_DEFAULTS, **recipe}
    epochs = int(r.get("epochs") or tune)
    steps = epochs * -(-n_train // BATCH)
    end = max(1, round(r["pruning_fraction"] * steps))
    if r["lr_schedule"] not in ("constant", "cosine"):
        raise ValueError(f"unknown lr_schedule {r['lr_schedule']!r}")
    return {
        "epochs": epochs,
        "batch_size": BATCH,
        "steps": steps,
        "pruning_fraction": r["pruning_fraction"],
        "end_step": end,
        "frequency": max(1, end // max(r["updates"], 1)),
        "optimizer": "Adam",
        "learning_rate": r["learning_rate"],
        "lr_schedule": r["lr_schedule"],
        "final_learning_rate": r["final_learning_rate"],
        "gs_scope": r["scope"],
        "tfmot_scope": "each wrapped layer to the same sparsity (no ERK or global ranking)",
    }


def _schedule(tfmot: Any, p: dict[str, Any], sparsity: float) -> Any:
    """``gs.train.prune``'s sparsity schedule (:func:`plan`): cubic ramp 0 -> ``sparsity``
    over the first ``end_step`` steps, a mask update every ``frequency`` steps."""
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=sparsity,
        begin_step=0,
        end_step=p["end_step"],
        power=3,
        frequency=p["frequency"],
    )


def recovery_schedule(base: type, hold: int, total: int, lr: float, final: float = 0.0) -> Any:
    """``gs.train.prune``'s ``lr_schedule="cosine"`` as a Keras ``LearningRateSchedule``
    (``base``: ``tf_keras``'s class for TFMOT): ``lr`` for the first ``hold`` steps
    (the sparsity ramp), then cosine-decayed to ``final`` at step ``total - 1``
    (``converters/train/prune.py``'s ``recovery_learning_rate``, which gs.train sets
    before each step by a callback; the optimizer calls this with its step count,
    0 for the first update)."""
    import tensorflow as tf

    class Recovery(base):  # type: ignore[misc, valid-type]
        def __call__(self, step: Any) -> Any:
            s = tf.cast(step, tf.float32)
            span = float(total - 1 - hold)
            t = tf.ones_like(s) if span <= 0 else tf.minimum((s - hold) / span, 1.0)
            cos = final + (lr - final) * 0.5 * (1.0 + tf.cos(np.pi * t))
            return tf.where(s < hold, tf.constant(lr, tf.float32), cos)

        def get_config(self) -> dict[str, Any]:
            return {"hold": hold, "total": total, "lr": lr, "final": final}

    return Recovery()


def _learning_rate(tk: Any, p: dict[str, Any]) -> Any:
    if p["lr_schedule"] == "cosine":
        base = tk.optimizers.schedules.LearningRateSchedule
        return recovery_schedule(
            base, p["end_step"], p["steps"], p["learning_rate"], p["final_learning_rate"]
        )
    return p["learning_rate"]


def _fit(tk: Any, model: Any, x: np.ndarray, y: np.ndarray, lr: Any, epochs: int, cbs=()):
    model.compile(
        optimizer=tk.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0, callbacks=list(cbs))
    return model


def _sparsity(model: Any, where: list[int]) -> float:
    ws = [model.layers[i].get_weights()[0] for i in where]
    return float(sum(int(np.sum(w == 0)) for w in ws) / sum(w.size for w in ws))


def _tflite(model: Any, cal: np.ndarray | None, int8: bool, sparse: bool = False) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    opts = set()
    if int8:
        opts.add(tf.lite.Optimize.DEFAULT)
    if sparse:
        opts.add(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    conv.optimizations = opts
    if int8 and cal is not None:
        conv.representative_dataset = lambda: ([cal[i : i + 1]] for i in range(len(cal)))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return conv.convert()


def _litert(blob: bytes, x: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    """Held-out accuracy of a ``.tflite`` under LiteRT, and which kernels ran it: its
    default (XNNPACK) first, else its builtin kernels (XNNPACK refuses some sparse files)."""
    from ai_edge_litert.interpreter import OpResolverType

    from gearshift.converters.litert_runner import run_tflite

    try:
        out, kernels = run_tflite(blob, [x])[0], "LiteRT default (XNNPACK)"
    except RuntimeError:
        plain = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        out = run_tflite(blob, [x], experimental_op_resolver_type=plain)[0]
        kernels = "LiteRT builtin kernels (XNNPACK refused the file)"
    return float(np.mean(out.argmax(1) == y)), kernels


def _tflite_row(name: str, fmt: str, blob: bytes, x: np.ndarray, y: np.ndarray, **extra: Any):
    acc, kernels = _litert(blob, x, y)
    return {
        "name": name,
        "format": fmt,
        "accuracy": acc,
        "file_bytes": len(blob),
        "runner": kernels,
        **extra,
    }


def compare(
    dense: Any,
    build: Callable[..., Any],
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    cal: np.ndarray,
    tune: int,
    work: Path,
    gear_row: Callable[..., dict[str, Any]],
    gs_rows: dict[str, Any],
    path: str | None = None,
    recipe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs the three TFMOT methods from ``dense``'s weights; returns their rows.

    ``build(k=tf_keras)`` rebuilds the architecture in ``tf_keras``; ``gear_row(name,
    path, gear)`` measures a ``.gear`` file as bench_train's other rows;
    ``gs_rows`` are the ``gs.train`` rows each method stands beside (by method);
    ``recipe``: the 80% row's ``gs.train.prune`` keyword arguments (:func:`plan`;
    None: the defaults for ``tune`` epochs, as the 2:4 row).
    """
    found = find(path)
    if isinstance(found, str):
        return {"skipped": found}
    tfmot, tk = found
    import gearshift as gs

    xtr, xte, ytr, yte = data
    plans = {
        "80% unstructured": plan(recipe or {"epochs": tune}, tune, len(xtr)),
        "2:4": plan({"epochs": tune}, tune, len(xtr)),
    }
    tk.utils.set_random_seed(0)
    twin = build(k=tk)
    twin.set_weights(dense.get_weights())
    agree = float(
        np.mean(twin.predict(xte, verbose=0).argmax(1) == dense.predict(xte, verbose=0).argmax(1))
    )
    rows: list[dict[str, Any]] = []
    timing: dict[str, float] = {}
    out: dict[str, Any] = {
        "versions": {"tfmot": tfmot.__version__, "tf_keras": tk.__version__},
        "dense_copy_same_argmax": agree,
        "schedules": plans,
        "rows": rows,
        "timing_s": timing,
    }
    edges = _prunable(twin)
    inner = edges[1:-1]  # gs.train.prune's default: the first and last weight layers dense
    rows.append(
        _tflite_row("TFMOT dense copy", "tflite fp32", _tflite(twin, None, False), xte, yte)
    )
    dense8 = _tflite(twin, cal, int8=True)
    rows.append(_tflite_row("TFMOT dense copy, post-training", "tflite int8", dense8, xte, yte))

    def keras3(model: Any) -> Any:
        """The Keras 3 architecture with ``model``'s (stripped) weights, for gs.convert."""
        import keras

        k3 = keras.models.clone_model(dense)
        k3.set_weights(model.get_weights())
        return k3

    def prune(label: str, kinds: tuple[str, ...], m_by_n: tuple[int, int] | None) -> None:
        t = time.perf_counter()
        where = [i for i in inner if type(twin.layers[i]).__name__ in kinds]
        p = plans[label]
        sched = _schedule(tfmot, p, 0.5 if m_by_n else 0.8)
        kw = {"sparsity_m_by_n": m_by_n} if m_by_n else {}

        def wrap(layer: Any) -> Any:
            if layer.name in names:
                return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=sched, **kw)
            return layer

        base = build(k=tk)
        base.set_weights(dense.get_weights())
        names = {base.layers[i].name for i in where}
        # wrappers around the dense layers themselves: the trained weights are kept
        net = tk.models.clone_model(base, clone_function=wrap)
        same = float(np.mean(net(xte[:200]).numpy().argmax(1) == base(xte[:200]).numpy().argmax(1)))
        cbs = [tfmot.sparsity.keras.UpdatePruningStep()]
        _fit(tk, net, xtr, ytr, _learning_rate(tk, p), p["epochs"], cbs)
        stripped = tfmot.sparsity.keras.strip_pruning(net)
        timing[f"{label}_s"] = time.perf_counter() - t
        sp = _sparsity(stripped, where)
        pruned = [
            f"{type(twin.layers[i]).__name__} {_sparsity(stripped, [i]):.3f}" for i in where
        ]  # each pruned layer and its sparsity
        common = {"pruned_layers": pruned, "sparsity": sp, "start_same_argmax": same}
        for fmt, blob in (
            ("tflite fp32", _tflite(stripped, None, int8=False)),
            ("tflite int8", _tflite(stripped, cal, int8=True)),
            ("tflite int8 + EXPERIMENTAL_SPARSITY", _tflite(stripped, cal, int8=True, sparse=True)),
        ):
            rows.append(_tflite_row(f"TFMOT {label}", fmt, blob, xte, yte, **common))
        g = work / f"tfmot_{label.replace(' ', '_').replace(':', '')}.gear"
        gs.convert(keras3(stripped), g, gears=("int8",), calibration=cal, progress=False)
        r = gear_row(f"TFMOT {label} -> gs.convert", g, "int8")
        rows.append({**r, "format": "gear int8", **common})

    prune("80% unstructured", WEIGHT_LAYERS, None)
    prune("2:4", ("Conv2D", "Dense"), (2, 4))

    t = time.perf_counter()
    base = build(k=tk)
    base.set_weights(dense.get_weights())
    q = tfmot.quantization.keras.quantize_model(base)
    _fit(tk, q, xtr, ytr, 1e-4, 1)
    timing["qat_int8_s"] = time.perf_counter() - t
    blob = _tflite(q, cal, int8=True)
    rows.append(_tflite_row("TFMOT QAT (1 epoch)", "tflite int8", blob, xte, yte))
    tfl = work / "tfmot_qat.tflite"
    tfl.write_bytes(blob)
    g = work / "tfmot_qat.gear"
    try:
        gs.convert(str(tfl), g, gears=("int8",), progress=False)
        rows.append(
            {**gear_row("TFMOT QAT (1 epoch) -> gs.convert", g, "int8"), "format": "gear int8"}
        )
    except Exception as e:  # the import's refusal is a result too: record it
        rows.append(
            {"name": "TFMOT QAT (1 epoch) -> gs.convert", "format": "gear int8", "error": str(e)}
        )
    out["beside"] = gs_rows
    return out
