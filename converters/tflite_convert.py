"""A ``.tflite`` into a ``.gear`` without TensorFlow, for ``gearshift.Interpreter``.

The flatbuffer is read with the TFLite schema module of ai-edge-litert (or
TensorFlow, whichever is installed: ``tflite_file.load_schema``); import,
passes and writer are numpy only. Unlike ``gearshift.convert`` it measures
nothing and calibrates nothing: the file gets an ``fp32`` gear with the
weights kept exactly (``storage="exact"``) and, for a fully integer model, the
``int8`` gear made of the file's own int8 numbers (what LiteRT computes). A
float model's int8 gear needs calibration data: ``gearshift convert``.
"""

from __future__ import annotations

import os

from .import_tflite import import_tflite
from .passes import run_passes
from .quantize import refit_plan
from .write_gear import WriteResult, write_gear

__all__ = ["tflite_to_gear"]


def tflite_to_gear(
    source: str | os.PathLike[str] | bytes,
    out: str | os.PathLike[str],
    label: str | None = None,
    metadata: dict[str, str] | None = None,
) -> WriteResult:
    """Writes ``source`` (a path or the file's bytes) as a ``.gear`` to ``out``."""
    imp = import_tflite(source)
    graph = imp.graph
    run_passes(graph, qact=imp.qplan.activations if imp.qplan else None)
    gears: tuple[str, ...] = ("fp32",)
    qplan = None
    if imp.qplan is not None:
        qplan = refit_plan(graph, imp.qplan)
        gears = ("fp32", "int8")
    meta = {"gearshift.storage": "exact", "gearshift.tflite.kind": imp.kind, **(metadata or {})}
    if label:
        meta["gearshift.tflite.source"] = os.path.basename(label)
    return write_gear(graph, out, gears, metadata=meta, storage="exact", qplan=qplan)
