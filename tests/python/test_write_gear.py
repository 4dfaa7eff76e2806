"""The writer checked through the independent reader (gearshift.gear_format).

Round trip: manifest content, payload bytes, alignment, every CRC recomputed
with the pure-Python CRC-32C; atomic write under failures. No TensorFlow.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

from gearshift import gear_format as gf
from gearshift.converters import reference, write_gear
from gearshift.converters.ir import Graph, Node

RNG = np.random.default_rng(1)


def small_graph() -> Graph:
    """x[-1,6,6,3] -> CONV_2D(+RELU) -> MEAN -> FC -> SOFTMAX, plus a shared weight."""
    g = Graph(metadata={"gearshift.source": "test"})
    g.add_tensor("x", (-1, 6, 6, 3))
    g.inputs = ["x"]
    w = g.add_const("conv/filter", RNG.standard_normal((4, 3, 3, 3)))
    b = g.add_const("conv/bias", RNG.standard_normal(4))
    g.add_tensor("conv", (-1, 3, 3, 4))
    attrs = {"stride": [2, 2], "dilation": [1, 1], "padding": "SAME", "activation": "RELU"}
    g.add_node(Node("conv", "CONV_2D", ["x", w, None], ["conv"], attrs))
    g.add_tensor("gap", (-1, 4))
    g.add_node(Node("gap", "MEAN", ["conv"], ["gap"], {"axes": [1, 2], "keep_dims": False}))
    fw = g.add_const("fc/weights", RNG.standard_normal((5, 4)))
    g.add_tensor("fc", (-1, 5))
    g.add_node(Node("fc", "FULLY_CONNECTED", ["gap", fw, None], ["fc"], {"activation": "NONE"}))
    # a second constant with the same bytes as conv/bias: stored once
    b2 = g.add_const("add/const", g.tensors[b].data.copy()[:4])
    g.add_tensor("fc4", (-1, 4))
    g.add_node(Node("add", "ADD", ["gap", b2], ["fc4"], {"activation": "NONE"}))
    g.add_tensor("prob", (-1, 5))
    g.add_node(Node("softmax", "SOFTMAX", ["fc"], ["prob"], {"beta": 1.0}))
    g.outputs = ["prob", "fc4"]
    g.nodes[0].inputs[2] = b
    g.validate(format_only=True)
    return g


def test_round_trip(tmp_path):
    g = small_graph()
    path = tmp_path / "m.gear"
    res = write_gear.write_gear(g, path)
    raw = path.read_bytes()
    assert res.file_bytes == len(raw)
    f = gf.read_gear(path)
    assert f.version == (1, 0) and f.header.alignment == 64
    assert [s.kind for s in f.sections] == [gf.SECTION_MANIFEST, gf.SECTION_TENSOR_DATA]
    for s in f.sections:
        assert s.offset % 64 == 0
        # independent CRC: the pure-Python one, not the one the writer used
        assert gf.crc32c(raw[s.offset : s.offset + s.size]) == s.crc32c
    hdr = bytearray(raw[:64])
    hdr[32:36] = b"\0\0\0\0"
    assert gf.crc32c(bytes(hdr) + raw[64 : 64 + 32 * len(f.sections)]) == f.header.header_crc32c
    assert struct.unpack_from("<4sHHIIQQ", raw) == (b"GEAR", 1, 0, 64, 2, len(raw), 64)
    # padding bytes between sections are zero
    end_table = 64 + 32 * 2
    assert raw[end_table : f.sections[0].offset] == bytes(f.sections[0].offset - end_table)

    m = f.manifest
    assert m["producer"].startswith("gearshift ")
    assert m["metadata"]["gearshift.source"] == "test"
    names = [t["name"] for t in m["tensors"]]
    assert names[m["inputs"][0]] == "x"
    assert [names[i] for i in m["outputs"]] == ["prob", "fc4"]
    assert m["tensors"][m["inputs"][0]]["shape"] == [-1, 6, 6, 3]
    conv = m["nodes"][0]
    assert conv["op"] == "CONV_2D" and conv["attrs"]["activation"] == "RELU"
    assert [names[i] for i in conv["inputs"]] == ["x", "conv/filter", "conv/bias"]
    fc = next(n for n in m["nodes"] if n["name"] == "fc")
    assert fc["inputs"][2] == -1  # absent bias
    assert [ge["name"] for ge in m["gears"]] == ["fp32"] and m["gears"][0]["compute"] == "f32"

    # every constant's bytes come back exactly; identical payloads are stored once
    consts = f.constants("fp32")
    assert set(consts) == {"conv/filter", "conv/bias", "fc/weights", "add/const"}
    for name, arr in consts.items():
        np.testing.assert_array_equal(arr, g.tensors[name].data)
        assert arr.dtype == np.dtype("<f4")
    assert res.storage_entries == 3 and res.deduplicated == 1
    for entry in m["storage"]:
        assert entry["offset"] % 64 == 0 and entry["encoding"] == "dense"
    stored = {tuple(p) for p in m["gears"][0]["constants"]}
    assert len({s for _, s in stored}) == 3


def test_written_graph_runs_like_the_ir(tmp_path):
    g = small_graph()
    path = tmp_path / "m.gear"
    write_gear.write_gear(g, path)
    g2 = reference.graph_from_gear(path)
    x = RNG.standard_normal((3, 6, 6, 3)).astype(np.float32)
    a, b = reference.run_graph(g, x), reference.run_graph(g2, x)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_manifest_is_compact_strict_json(tmp_path):
    path = tmp_path / "m.gear"
    write_gear.write_gear(small_graph(), path)
    f = gf.read_gear(path)
    text = bytes(f.section_bytes(0)).decode("utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == f.manifest


def test_refuses_ir_only_ops_and_unknown_gears(tmp_path):
    g = small_graph()
    g.nodes[2].op = "IDENTITY"
    with pytest.raises(ValueError, match="cannot be written"):
        write_gear.write_gear(g, tmp_path / "a.gear")
    with pytest.raises(ValueError, match="gears"):
        write_gear.write_gear(small_graph(), tmp_path / "a.gear", gears=("int8",))
    assert os.listdir(tmp_path) == []


def test_graph_without_constants_has_no_data_section(tmp_path):
    g = Graph()
    g.add_tensor("x", (-1, 4))
    g.add_tensor("y", (-1, 4))
    g.add_node(Node("relu", "RELU", ["x"], ["y"]))
    g.inputs, g.outputs = ["x"], ["y"]
    path = tmp_path / "r.gear"
    write_gear.write_gear(g, path)
    f = gf.read_gear(path)
    assert len(f.sections) == 1 and f.manifest["storage"] == []
    assert f.manifest["gears"][0]["constants"] == []


def _left_files(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch, exc):
    path = tmp_path / "m.gear"
    path.write_bytes(b"old contents")
    real = write_gear._write_data

    def failing(f, storage):
        real(f, storage[:1])  # some bytes really hit the temp file
        raise exc

    monkeypatch.setattr(write_gear, "_write_data", failing)
    with pytest.raises(type(exc)):
        write_gear.write_gear(small_graph(), path)
    assert _left_files(tmp_path) == ["m.gear"]
    assert path.read_bytes() == b"old contents"


def test_atomic_write_failure_at_rename(tmp_path, monkeypatch):
    path = tmp_path / "m.gear"

    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(write_gear.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_gear.write_gear(small_graph(), path)
    assert _left_files(tmp_path) == []


def test_overwrite_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / "m.gear"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    write_gear.write_gear(small_graph(), path)
    assert gf.read_gear(path).manifest["gears"][0]["name"] == "fp32"
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert _left_files(tmp_path) == ["m.gear"]


def test_missing_output_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder"):
        write_gear.write_gear(small_graph(), tmp_path / "nope" / "m.gear")


def _float32_numbers(m: dict) -> list[float]:
    """Every number FORMAT.md says is a float32: quant scales, activation and io scales."""
    out = [v for e in m["storage"] if e.get("quant") for v in e["quant"]["scale"]]
    out += [a[1] for g in m["gears"] for a in g.get("activations") or []]
    out += [t["io"]["scale"] for t in m["tensors"] if "io" in t]
    return out


def test_json_scales_are_exactly_float32(tmp_path):
    """FORMAT.md 1: a JSON number that stands for a float32 must be one exactly (the reader
    refuses 0.1); the writer prints the float32's value, which round-trips."""
    from gearshift.converters.calibrate import calibrate
    from gearshift.converters.quant_ref import QParams
    from gearshift.converters.quantize import quantize_graph

    q = write_gear._quant_json(QParams(np.float32(0.1), np.int64(3)))
    assert q["scale"] == [0.10000000149011612] and q["scale"][0] != 0.1

    g = small_graph()
    x = RNG.standard_normal((8, 6, 6, 3)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [x], progress=False, warn=False))
    path = tmp_path / "q.gear"
    write_gear.write_gear(g, path, gears=("fp32", "int8"), qplan=plan, binary=False)
    f = gf.read_gear(path)  # the validator (the C++ reader) accepts it
    assert gf.SECTION_PARAMS not in [s.kind for s in f.sections]  # JSON numbers, not binary
    values = _float32_numbers(json.loads(bytes(f.section_bytes(0))))
    assert len(values) > 10
    assert all(float(np.float32(v)) == v for v in values)
