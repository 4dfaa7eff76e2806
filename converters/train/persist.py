"""Saving and loading the models ``gearshift.train`` returns: ``gs.train.save`` / ``load``.

A model that ``prune``, ``qat`` or ``distill`` returned carries a record of what
was done to it (``MARKS``: the pruning structure and masks, a QAT model's gear,
its fold-and-split float model and the plan of its fake quantizers), which
``gs.convert`` reads. Keras' own ``model.save`` keeps none of it, and a QAT
model's weight layers are classes made at run time, so ``.keras`` cannot hold
it either. ``save`` writes one zip archive instead:

- ``gearshift_train.json``: format name and version, the kind, the record's
  scalars and names;
- ``arrays.npz``: the record's arrays (pruning masks);
- a pruned (or plain) model: ``model.keras``, Keras' own file;
- a QAT model: ``float_model.keras`` (the folded float model, plain layers)
  and ``qat.weights.h5`` (the QAT model's weights, learned ranges included).
  ``load`` rebuilds the QAT model from the float model and the plan, exactly
  as ``qat`` built it, and loads the weights into it.

The archive is written to a temporary file beside ``path`` and renamed into
place, so an interrupted save leaves any earlier file whole.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .prune import MARKS, training_marks

__all__ = ["load", "save"]

FORMAT = "gearshift-train"
VERSION = 1
_META = "gearshift_train.json"
_ARRAYS = "arrays.npz"


def _json_scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot record {type(v).__name__} in {_META}")


def _split_masks(masks: dict[str, dict[str, np.ndarray]], prefix: str, arrays: dict) -> dict:
    """Mask arrays into ``arrays`` under keys ``prefix/i``; the names that map to them."""
    index: dict[str, dict[str, str]] = {}
    for layer, per_var in masks.items():
        index[layer] = {}
        for var, m in per_var.items():
            key = f"{prefix}/{len(arrays)}"
            arrays[key] = np.asarray(m)
            index[layer][var] = key
    return index


def _join_masks(index: dict[str, dict[str, str]], arrays: Any) -> dict:
    return {
        layer: {var: np.asarray(arrays[k]) for var, k in d.items()} for layer, d in index.items()
    }


def _prune_record(marks: dict[str, Any], prefix: str, arrays: dict) -> dict[str, Any]:
    rec = {k: v for k, v in marks.items() if k != "masks"}
    rec["masks"] = _split_masks(marks.get("masks") or {}, prefix, arrays)
    return rec


def _prune_marks(rec: dict[str, Any], arrays: Any) -> dict[str, Any]:
    marks = {k: v for k, v in rec.items() if k != "masks"}
    marks["masks"] = _join_masks(rec.get("masks") or {}, arrays)
    return marks


def _plan_record(plan: Any) -> dict[str, Any]:
    return {
        "quantized": sorted(plan.quantized),
        "group": plan.group,
        "fixed": {t: [float(s), int(z)] for t, (s, z) in plan.fixed.items()},
        "int8_layers": sorted(plan.int8_layers),
        "ranges": {t: [float(lo), float(hi)] for t, (lo, hi) in plan.ranges.items()},
    }


def _plan_of(rec: dict[str, Any]) -> Any:
    from .qat import _Plan

    return _Plan(
        quantized=set(rec["quantized"]),
        group=dict(rec["group"]),
        fixed={t: (float(s), int(z)) for t, (s, z) in rec["fixed"].items()},
        int8_layers=set(rec["int8_layers"]),
        ranges={t: (float(lo), float(hi)) for t, (lo, hi) in rec["ranges"].items()},
    )


def save(model: Any, path: str | os.PathLike) -> Path:
    """Writes ``model`` (any Keras model; one ``gearshift.train`` returned keeps its record)."""
    path = Path(path)
    marks = training_marks(model)
    kind = (marks or {}).get("kind")
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "kind": kind}
    with tempfile.TemporaryDirectory() as tmp:
        members: list[tuple[str, Path]] = []
        if kind == "qat":
            if "plan" not in marks:
                raise ValueError(
                    "this QAT model has no plan record: re-run gs.train.qat to save it"
                )
            meta["qat"] = {
                "gear": marks["gear"],
                "ema_decay": float(marks.get("ema_decay", 0.99)),
                "static_ranges": {
                    t: list(map(float, r)) for t, r in marks["static_ranges"].items()
                },
                "plan": _plan_record(marks["plan"]),
                "pruned": _prune_record(marks["pruned"], "pruned", arrays)
                if marks.get("pruned")
                else None,
            }
            fm = Path(tmp) / "float_model.keras"
            marks["float_model"].save(fm)
            wt = Path(tmp) / "qat.weights.h5"
            model.save_weights(wt)
            members += [("float_model.keras", fm), ("qat.weights.h5", wt)]
        else:
            if kind == "prune":
                meta["prune"] = _prune_record(marks, "masks", arrays)
            elif marks is not None:
                raise ValueError(f"cannot save a model marked {kind!r} by gearshift.train")
            mk = Path(tmp) / "model.keras"
            model.save(mk)
            members.append(("model.keras", mk))
        npz = Path(tmp) / _ARRAYS
        np.savez(npz, **arrays)
        members.append((_ARRAYS, npz))
        fd, part = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent or ".")
        os.close(fd)
        try:
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(_META, json.dumps(meta, indent=1, sort_keys=True, default=_json_scalar))
                for name, src in members:
                    z.write(src, name)
            os.replace(part, path)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    return path


def load(path: str | os.PathLike) -> Any:
    """The model :func:`save` wrote, with its ``gearshift.train`` record (uncompiled for QAT)."""
    import keras

    path = Path(path)
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{path}: not a file gs.train.save wrote ({e})") from None
    with z, tempfile.TemporaryDirectory() as tmp:
        try:
            meta = json.loads(z.read(_META))
        except KeyError:
            raise ValueError(f"{path}: no {_META} in it: not a file gs.train.save wrote") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        if meta.get("version") != VERSION:
            raise ValueError(
                f"{path}: gearshift-train version {meta.get('version')!r}; this gearshift reads "
                f"version {VERSION}: upgrade gearshift"
            )
        z.extractall(tmp)
        arrays = np.load(Path(tmp) / _ARRAYS)
        kind = meta.get("kind")
        if kind == "qat":
            from .qat import _build_qat

            q = meta["qat"]
            float_model = keras.saving.load_model(Path(tmp) / "float_model.keras", compile=False)
            plan = _plan_of(q["plan"])
            net = _build_qat(float_model, plan, q["gear"], q["ema_decay"])
            net.load_weights(Path(tmp) / "qat.weights.h5")
            pruned = _prune_marks(q["pruned"], arrays) if q.get("pruned") else None
            marks = {
                "kind": "qat",
                "gear": q["gear"],
                "float_model": float_model,
                "static_ranges": {t: tuple(r) for t, r in q["static_ranges"].items()},
                "pruned": pruned,
                "plan": plan,
                "ema_decay": q["ema_decay"],
            }
            object.__setattr__(net, MARKS, marks)
            return net
        model = keras.saving.load_model(Path(tmp) / "model.keras")
        if kind == "prune":
            object.__setattr__(model, MARKS, _prune_marks(meta["prune"], arrays))
        return model
