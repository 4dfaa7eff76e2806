"""``gearshift inspect``: what a .gear file holds, read with ``gear_format.read_gear``
(validated by the C++ reader, as ``gearshift.Runtime`` validates it, then decoded)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gearshift.bench import table
from gearshift.gear_format import read_gear
from gearshift.sparse_codec import SPARSE_ENCODINGS


def _shape(s: list[int]) -> str:
    return "[" + ", ".join("N" if d == -1 else str(d) for d in s) + "]"


def _referenced(storage: list[dict[str, Any]], used: set[int]) -> set[int]:
    """``used`` plus every ``base`` they derive from: the entries a gear needs loaded."""
    out = set(used)
    for s in used:
        if "base" in storage[s]:
            out.add(storage[s]["base"])
    return out


def _encoding(storage: list[dict[str, Any]], s: int) -> str:
    """``s``'s encoding, with a sparse base's after a slash (``q8r4/csr``): the bytes a
    q8r4/q4m entry reads are its base's as much as its own."""
    e = storage[s]
    b = e.get("base")
    if b is not None and storage[b]["encoding"] in SPARSE_ENCODINGS:
        return f"{e['encoding']}/{storage[b]['encoding']}"
    return str(e["encoding"])


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Graph, gears, per-tensor storage and sizes of ``path`` as a JSON-able dict.

    Sizes count stored payload bytes. A gear's ``weight_bytes`` counts every
    entry it references, the bases of its ``q8r4``/``q4m`` entries included
    (an entry shared by several gears counts for each); ``unique_bytes`` only
    those no other gear references: what dropping the gear from the file saves.
    ``sparsity`` is the fraction of zeros in the values an entry yields (sparse
    entries densified); ``nnz`` the stored non-zeros of a sparse entry (of a
    q8r4/q4m entry's sparse base in ``constants``), else None.
    """
    gf = read_gear(path)
    m = gf.manifest
    tensors = m["tensors"]
    entries = m["storage"]
    refs = {g["name"]: _referenced(entries, {s for _, s in g["constants"]}) for g in m["gears"]}
    storage_users: dict[int, list[str]] = {}
    for gname, used in refs.items():
        for s in used:
            storage_users.setdefault(s, []).append(gname)

    storage = []
    sparsity: dict[int, float] = {}
    for i, entry in enumerate(entries):
        arr = gf.storage_values(i)
        sparsity[i] = float(np.count_nonzero(arr == 0) / max(arr.size, 1))
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
                "base": entry.get("base"),
                "bytes": entry.get("length", 0),
                "nnz": entry.get("nnz"),
                "sparsity": sparsity[i],
                "gears": sorted(set(storage_users.get(i, []))),
            }
        )

    def nbytes(ids: set[int]) -> int:
        return int(sum(entries[s].get("length", 0) for s in ids))

    gears = []
    for g in m["gears"]:
        used = refs[g["name"]]
        others = set().union(*(r for n, r in refs.items() if n != g["name"]))
        gears.append(
            {
                "name": g["name"],
                "compute": g["compute"],
                "sparse": bool(g.get("sparse", False)),
                "constants": len(g["constants"]),
                "activations": len(g.get("activations") or []),
                # 1.5: the nodes an integer gear computes in float32
                "float_nodes": [m["nodes"][k]["name"] for k in g.get("float_nodes", [])],
                "weight_bytes": nbytes(used),
                "unique_bytes": nbytes(used - others),
            }
        )

    constants = []
    for t, tensor in enumerate(tensors):
        if not tensor.get("const"):
            continue
        per_gear = {}
        for g in m["gears"]:
            s = next(s for tt, s in g["constants"] if tt == t)
            b = entries[s].get("base", s)
            per_gear[g["name"]] = {
                "storage": s,
                "dtype": entries[s]["dtype"],
                "encoding": _encoding(entries, s),
                "bytes": nbytes(_referenced(entries, {s})),
                "nnz": entries[b].get("nnz"),
                "sparsity": sparsity[s],
            }
        constants.append({"name": tensor["name"], "shape": tensor["shape"], "gears": per_gear})

    return {
        "file": os.fspath(path),
        "file_bytes": os.path.getsize(path),
        "format_version": f"{gf.version[0]}.{gf.version[1]}",
        "producer": m.get("producer", ""),
        "metadata": m.get("metadata", {}),
        "inputs": [_io_json(tensors[i]) for i in m["inputs"]],
        "outputs": [_io_json(tensors[i]) for i in m["outputs"]],
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
        "storage_bytes": nbytes(set(range(len(entries)))),
        "constants": constants,
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


def _io_json(t: dict[str, Any]) -> dict[str, Any]:
    """A graph input/output: name, shape, and (1.4) its integer interface."""
    out: dict[str, Any] = {"name": t["name"], "shape": t["shape"]}
    if "io" in t:
        io = t["io"]
        out["dtype"] = {"i8": "int8", "u8": "uint8"}[io["dtype"]]
        out["quantization"] = [io["scale"], io["zero_point"]]
    return out


def _io_text(t: dict[str, Any]) -> str:
    text = f"{t['name']} {_shape(t['shape'])}"
    if "dtype" in t:
        scale, zero_point = t["quantization"]
        text += f" {t['dtype']} (scale {scale:.6g}, zero point {zero_point})"
    return text


def format_description(d: dict[str, Any]) -> str:
    out = [
        f"{d['file']}: gear format {d['format_version']}, {d['file_bytes']:,} bytes, "
        f"producer {d['producer']!r}",
        "inputs:  " + ", ".join(_io_text(t) for t in d["inputs"]),
        "outputs: " + ", ".join(_io_text(t) for t in d["outputs"]),
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
    rows = [("gear", "compute", "constants", "weight bytes", "unique bytes")]
    for g in d["gears"]:
        rows.append(
            (
                g["name"],
                g["compute"] + (" sparse" if g.get("sparse") else ""),
                str(g["constants"]),
                f"{g['weight_bytes']:,}",
                f"{g.get('unique_bytes', 0):,}",
            )
        )
    out += [table(rows), f"weights stored: {d.get('storage_bytes', 0):,} bytes", ""]
    for g in d["gears"]:
        if g.get("float_nodes"):
            out += [f"gear {g['name']}: float islands: {', '.join(g['float_nodes'])}", ""]
    gnames = [g["name"] for g in d["gears"]]
    rows = [("tensor", "shape", *gnames)]
    for c in d.get("constants", []):
        cells = []
        for gname in gnames:
            e = c["gears"][gname]
            nnz = "" if e.get("nnz") is None else f" nnz {e['nnz']:,}"
            cells.append(
                f"#{e['storage']} {e['dtype']} {e['encoding']}{nnz} {e['bytes']:,} B "
                f"{e['sparsity']:.0%} zero"
            )
        rows.append((c["name"], _shape(c["shape"]), *cells))
    out += ["constants (per gear: storage, dtype, encoding, bytes, sparsity):", table(rows), ""]
    out += ["storage:"]
    rows = [
        ("#", "tensor", "dtype", "shape", "encoding", "base", "bytes", "nnz", "sparsity", "gears")
    ]
    for s in d["storage"]:
        rows.append(
            (
                str(s["index"]),
                ",".join(s["tensors"]),
                s["dtype"],
                _shape(s["shape"]),
                s["encoding"],
                "" if s.get("base") is None else str(s["base"]),
                f"{s['bytes']:,}",
                "" if s.get("nnz") is None else f"{s['nnz']:,}",
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
