"""``gearshift inspect``: what a .gear file holds, read with the pure-Python
reader (an implementation of docs/FORMAT.md independent of the C++ one)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gearshift.bench import table
from gearshift.gear_format import read_gear


def _shape(s: list[int]) -> str:
    return "[" + ", ".join("N" if d == -1 else str(d) for d in s) + "]"


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Graph, gears, per-tensor storage and sizes of ``path`` as a JSON-able dict."""
    gf = read_gear(path)
    m = gf.manifest
    tensors = m["tensors"]
    storage_users: dict[int, list[str]] = {}
    for g in m["gears"]:
        for _t, s in g["constants"]:
            storage_users.setdefault(s, []).append(g["name"])

    storage = []
    for i, entry in enumerate(m["storage"]):
        arr = gf.storage_array(i)
        names = sorted(
            {tensors[t]["name"] for g in m["gears"] for t, s in g["constants"] if s == i}
        )
        storage.append(
            {
                "index": i,
                "tensors": names,
                "dtype": entry["dtype"],
                "shape": entry["shape"],
                "encoding": entry["encoding"],
                "bytes": entry["length"],
                "sparsity": float(np.count_nonzero(arr == 0) / max(arr.size, 1)),
                "gears": sorted(set(storage_users.get(i, []))),
            }
        )

    gears = []
    for g in m["gears"]:
        used = {s for _, s in g["constants"]}
        gears.append(
            {
                "name": g["name"],
                "compute": g["compute"],
                "constants": len(g["constants"]),
                "weight_bytes": int(sum(m["storage"][s]["length"] for s in used)),
            }
        )

    return {
        "file": os.fspath(path),
        "file_bytes": os.path.getsize(path),
        "format_version": f"{gf.version[0]}.{gf.version[1]}",
        "producer": m.get("producer", ""),
        "metadata": m.get("metadata", {}),
        "inputs": [{"name": tensors[i]["name"], "shape": tensors[i]["shape"]} for i in m["inputs"]],
        "outputs": [
            {"name": tensors[i]["name"], "shape": tensors[i]["shape"]} for i in m["outputs"]
        ],
        "nodes": [
            {
                "name": n.get("name", ""),
                "op": n["op"],
                "inputs": [tensors[i]["name"] if i >= 0 else None for i in n["inputs"]],
                "outputs": [tensors[i]["name"] for i in n["outputs"]],
                "output_shapes": [tensors[i]["shape"] for i in n["outputs"]],
                "attrs": n.get("attrs", {}),
            }
            for n in m["nodes"]
        ],
        "gears": gears,
        "storage": storage,
        "sections": [
            {
                "index": s.index,
                "kind": s.kind_name,
                "offset": s.offset,
                "bytes": s.size,
                "crc32c": f"0x{s.crc32c:08x}",
            }
            for s in gf.sections
        ],
    }


def format_description(d: dict[str, Any]) -> str:
    out = [
        f"{d['file']}: gear format {d['format_version']}, {d['file_bytes']:,} bytes, "
        f"producer {d['producer']!r}",
        "inputs:  " + ", ".join(f"{t['name']} {_shape(t['shape'])}" for t in d["inputs"]),
        "outputs: " + ", ".join(f"{t['name']} {_shape(t['shape'])}" for t in d["outputs"]),
        "",
        f"graph: {len(d['nodes'])} nodes",
    ]
    rows = [("#", "node", "op", "output shape", "attrs")]
    for i, n in enumerate(d["nodes"]):
        attrs = " ".join(f"{k}={v}" for k, v in n["attrs"].items())
        rows.append(
            (str(i), n["name"], n["op"], " ".join(_shape(s) for s in n["output_shapes"]), attrs)
        )
    out += [table(rows), "", "gears (highest precision first):"]
    rows = [("gear", "compute", "constants", "weight bytes")]
    for g in d["gears"]:
        rows.append((g["name"], g["compute"], str(g["constants"]), f"{g['weight_bytes']:,}"))
    out += [table(rows), "", "storage:"]
    rows = [("#", "tensor", "dtype", "shape", "encoding", "bytes", "sparsity", "gears")]
    for s in d["storage"]:
        rows.append(
            (
                str(s["index"]),
                ",".join(s["tensors"]),
                s["dtype"],
                _shape(s["shape"]),
                s["encoding"],
                f"{s['bytes']:,}",
                f"{s['sparsity']:.1%}",
                ",".join(s["gears"]),
            )
        )
    out += [table(rows), "", "sections:"]
    rows = [("#", "kind", "offset", "bytes", "crc32c")]
    for s in d["sections"]:
        rows.append(
            (str(s["index"]), s["kind"], f"{s['offset']:,}", f"{s['bytes']:,}", s["crc32c"])
        )
    out.append(table(rows))
    return "\n".join(out)
