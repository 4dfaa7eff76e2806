"""``gearshift inspect model.tflite``: what a TFLite model needs, before converting it.

Lists the model's inputs, outputs and operators (count, and whether gearshift
imports each), then tries the import itself, which also catches what the op
list cannot show (an op that would reshape the batch away, a non-constant
weight): the verdict says whether ``gearshift convert`` will take the file and,
if so, what kind of model it is (float32, float16 weights, dynamic-range, int8).
Needs the TFLite schema module (ai-edge-litert or tensorflow), not TensorFlow.
"""

from __future__ import annotations

import os
from typing import Any

from gearshift.bench import table

__all__ = ["describe_tflite", "format_tflite_description"]


def _tensor(t: Any) -> dict[str, Any]:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.type_name}


def describe_tflite(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Ops, inputs, outputs and the import verdict of a ``.tflite`` file, JSON-able."""
    from gearshift.converters.import_tflite import TFLiteImportError, import_tflite, op_usage
    from gearshift.converters.tflite_file import read_tflite

    tf = read_tflite(path)
    sg = tf.subgraph
    usage = op_usage(tf)
    unsupported = {op: n for op, n, ok in usage if not ok}
    verdict: dict[str, Any] = {"importable": False, "kind": None, "error": None, "notes": []}
    if unsupported:
        verdict["error"] = f"{sum(unsupported.values())} operator(s) outside the supported set"
    else:
        try:
            imp = import_tflite(path)
            verdict.update(importable=True, kind=imp.kind, notes=imp.notes)
        except TFLiteImportError as e:
            verdict["error"] = str(e)
    return {
        "file": os.fspath(path),
        "file_bytes": len(tf.data),
        "subgraphs": len(tf.model.subgraphs),
        "operators": len(tf.op_names),
        "inputs": [_tensor(tf.tensors[i]) for i in (sg.inputs if sg.inputs is not None else [])],
        "outputs": [_tensor(tf.tensors[i]) for i in (sg.outputs if sg.outputs is not None else [])],
        "ops": [{"op": op, "count": n, "supported": ok} for op, n, ok in usage],
        "unsupported": unsupported,
        **verdict,
    }


def format_tflite_description(d: dict[str, Any]) -> str:
    def io(ts: list[dict[str, Any]]) -> str:
        return ", ".join(f"{t['name']} {t['shape']} {t['dtype']}" for t in ts)

    lines = [
        f"{d['file']}: TFLite model, {d['file_bytes']:,} bytes, {d['operators']} operators"
        + (f" (first of {d['subgraphs']} subgraphs)" if d["subgraphs"] > 1 else ""),
        f"inputs:  {io(d['inputs'])}",
        f"outputs: {io(d['outputs'])}",
        "",
    ]
    rows = [[o["op"], str(o["count"]), "yes" if o["supported"] else "NO"] for o in d["ops"]]
    lines += table([["op", "count", "supported"], *rows]).splitlines()
    lines.append("")
    if d["importable"]:
        lines.append(f"verdict: gearshift can convert this model ({d['kind']})")
        lines += [f"  note: {n}" for n in d["notes"]]
    else:
        listed = ", ".join(f"{op} x{n}" for op, n in d["unsupported"].items())
        lines.append(f"verdict: gearshift cannot convert this model: {listed or d['error']}")
        if listed:
            lines.append("  re-export the model without these ops (or run that part outside it)")
    return "\n".join(lines)
