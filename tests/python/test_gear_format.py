"""The pure-Python reader refuses damaged files with a clean FormatError.

Each case starts from a valid file written by the converter, damages one
thing, and (where the damage would otherwise be caught earlier by a CRC)
re-seals the checksums, so the specific check under test is the one that fires.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from gearshift import FormatError
from gearshift import gear_format as gf
from gearshift.converters.ir import Graph, Node
from gearshift.converters.write_gear import write_gear


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> bytes:
    g = Graph()
    g.add_tensor("x", (-1, 3))
    w = g.add_const("w", np.arange(6, dtype=np.float32).reshape(2, 3))
    b = g.add_const("b", np.ones(2, np.float32))
    g.add_tensor("y", (-1, 2))
    g.add_node(Node("fc", "FULLY_CONNECTED", ["x", w, b], ["y"], {"activation": "RELU"}))
    g.inputs, g.outputs = ["x"], ["y"]
    path = tmp_path_factory.mktemp("gf") / "good.gear"
    write_gear(g, path)
    return path.read_bytes()


def reseal(data: bytearray) -> bytes:
    """Recomputes every section CRC and the header CRC after an edit."""
    count = struct.unpack_from("<I", data, 12)[0]
    for i in range(count):
        at = 64 + 32 * i
        _, _, off, size, _, _ = struct.unpack_from("<IIQQII", data, at)
        struct.pack_into("<I", data, at + 24, gf.crc32c(bytes(data[off : off + size])))
    struct.pack_into("<I", data, 32, 0)
    crc = gf.crc32c(bytes(data[: 64 + 32 * count]))
    struct.pack_into("<I", data, 32, crc)
    return bytes(data)


def with_manifest(good: bytes, edit) -> bytes:
    """Rewrites the manifest (same section, size may change: data section moved)."""
    f = gf.read_gear(good)
    m = json.loads(bytes(f.section_bytes(0)))
    edit(m)
    text = json.dumps(m).encode()
    data_sec = f.sections[1]
    payload = bytes(f.section_bytes(1))
    man_off = f.sections[0].offset
    data_off = gf.align_offset(man_off + len(text))
    out = bytearray(good[:man_off]) + text + bytes(data_off - man_off - len(text)) + payload
    struct.pack_into("<Q", out, 64 + 16, len(text))
    struct.pack_into("<Q", out, 64 + 32 + 8, data_off)
    assert data_sec.size == len(payload)
    struct.pack_into("<Q", out, 16, len(out))
    return reseal(out)


def test_crc32c_known_vectors():
    assert gf.crc32c(b"123456789") == 0xE3069283
    assert gf.crc32c(b"") == 0
    data = bytes(range(256)) * 5 + b"tail"
    assert gf.crc32c(data[100:], gf.crc32c(data[:100])) == gf.crc32c(data)
    assert gf.fast_crc32c(data) == gf.crc32c(data)


def test_good_file_reads(good):
    f = gf.read_gear(good)
    np.testing.assert_array_equal(f.constants()["w"], np.arange(6).reshape(2, 3))
    assert f.gear_names == ("fp32",)
    with pytest.raises(ValueError, match="unknown gear"):
        f.constants("int8")


@pytest.mark.parametrize("n", [0, 10, 63, 64, 100])
def test_truncated(good, n):
    with pytest.raises(FormatError):
        gf.read_gear(good[:n])


def test_truncated_tail_names_file_size(good):
    with pytest.raises(FormatError, match=r"file_size.*truncated"):
        gf.read_gear(good[:-1])
    with pytest.raises(FormatError, match=r"file_size.*extended"):
        gf.read_gear(good + b"\0")


def test_bad_magic(good):
    with pytest.raises(FormatError, match="magic"):
        gf.read_gear(b"GEAX" + good[4:])


def test_newer_major_names_both_versions(good):
    data = bytearray(good)
    struct.pack_into("<HH", data, 4, 2, 3)
    with pytest.raises(FormatError, match=r"2\.3.*1\."):
        gf.read_gear(reseal(data))


def test_newer_minor_is_accepted(good):
    data = bytearray(good)
    struct.pack_into("<H", data, 6, 7)
    assert gf.read_gear(reseal(data)).version == (1, 7)


@pytest.mark.parametrize("where", ["header", "table", "manifest", "data"])
def test_bad_crc(good, where):
    f = gf.read_gear(good)
    at = {
        "header": 48,  # FileHeader.reserved: covered by the header CRC
        "table": 64 + 28,  # SectionEntry[0].reserved: covered by the header CRC
        "manifest": f.sections[0].offset + 5,
        "data": f.sections[1].offset + 3,
    }[where]
    data = bytearray(good)
    data[at] ^= 0x01
    with pytest.raises(FormatError, match="CRC32C mismatch"):
        gf.read_gear(bytes(data))


def test_data_crc_skipped_on_request(good):
    f = gf.read_gear(good)
    data = bytearray(good)
    data[f.sections[1].offset] ^= 0xFF
    gf.read_gear(bytes(data), verify_checksums=False)  # no error
    with pytest.raises(FormatError, match=r"section 1 \(TENSOR_DATA\)"):
        gf.read_gear(bytes(data))


def test_flags_and_alignment(good):
    data = bytearray(good)
    struct.pack_into("<I", data, 36, 1)
    with pytest.raises(FormatError, match="flags"):
        gf.read_gear(reseal(data))
    data = bytearray(good)
    struct.pack_into("<I", data, 8, 48)
    with pytest.raises(FormatError, match="alignment"):
        gf.read_gear(reseal(data))


def test_section_out_of_bounds(good):
    data = bytearray(good)
    struct.pack_into("<Q", data, 64 + 32 + 16, 1 << 40)  # data section size
    with pytest.raises(FormatError, match="past the end"):
        gf.read_gear(reseal(data))


def test_unknown_section_kind(good):
    data = bytearray(good)
    struct.pack_into("<I", data, 64 + 32, 7)
    with pytest.raises(FormatError, match="unknown section kind 7"):
        gf.read_gear(reseal(data))


def test_bad_json(good):
    f = gf.read_gear(good)
    data = bytearray(good)
    data[f.sections[0].offset] = ord("[")
    with pytest.raises(
        FormatError, match=r"section 0 \(MANIFEST\): invalid manifest: JSON error at byte \d+"
    ):
        gf.read_gear(reseal(data))


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m["nodes"][0].update(op="CONV_3D"), "unknown op"),
        (lambda m: m["nodes"][0]["inputs"].__setitem__(0, 99), "out of range"),
        (lambda m: m["storage"][0].update(length=4), "length"),
        (
            lambda m: m["storage"][0].update(offset=8),
            "offset 8 is not a multiple of the alignment 64",
        ),
        (lambda m: m["gears"][0].update(constants=[]), "no storage"),
        (lambda m: m["tensors"][0].update(shape=[-1, 0]), "dimension"),
        (lambda m: m.pop("gears"), 'manifest: missing required key "gears"'),
        (lambda m: m["storage"][0].update(quant={"scale": 1}), "quant"),
    ],
)
def test_bad_manifest(good, edit, match):
    with pytest.raises(FormatError, match=match):
        gf.read_gear(with_manifest(good, edit))


def test_manifest_rewrite_helper_is_sound(good):
    assert gf.read_gear(with_manifest(good, lambda m: None)).manifest == gf.read_gear(good).manifest


def test_errors_are_value_errors():
    assert issubclass(FormatError, ValueError)


def _raw_manifest(good: bytes, text: bytes) -> bytes:
    """``good`` with its manifest replaced by ``text`` verbatim (CRCs resealed)."""
    f = gf.read_gear(good)
    payload = bytes(f.section_bytes(1))
    man_off = f.sections[0].offset
    data_off = gf.align_offset(man_off + len(text))
    out = bytearray(good[:man_off]) + text + bytes(data_off - man_off - len(text)) + payload
    struct.pack_into("<Q", out, 64 + 16, len(text))
    struct.pack_into("<Q", out, 64 + 32 + 8, data_off)
    struct.pack_into("<Q", out, 16, len(out))
    return reseal(out)


@pytest.mark.parametrize(
    "old,new,match",
    [
        (b'"producer"', b'"producer":"a","producer"', None),  # duplicate key at top level
        (b'"name":"x"', b'"name": "x", "name": "x"', "duplicate object key"),
        (
            b'"activation":"RELU"',
            b'"activation": "RELU", "beta": NaN',
            "expected a value, found 'N'",
        ),
        (b'"activation":"RELU"', b'"activation": "RELU", "x": 1e400', "range of a double"),
        (b'"activation":"RELU"', b'"activation": "RELU", "x": 1' + b"0" * 400, "range"),
        (b'"name":"x"', b'"name": "\\ud800"', "surrogate"),
    ],
)
def test_strict_json(good, old, new, match):
    text = bytes(gf.read_gear(good).section_bytes(0))
    assert old in text
    data = _raw_manifest(good, text.replace(old, new, 1))
    with pytest.raises(FormatError, match=match or "duplicate object key"):
        gf.read_gear(data)


def test_tiny_number_rounds_to_zero(good):
    text = bytes(gf.read_gear(good).section_bytes(0))
    text = text.replace(b'"producer"', b'"extra": 1e-400, "producer"', 1)
    assert gf.read_gear(_raw_manifest(good, text)).manifest["extra"] == 0.0


# FORMAT.md 2.3: a manifest holds at most 2^20 JSON values.
MAX_JSON_VALUES = 1 << 20


def _json_values(obj) -> int:
    """JSON values as FORMAT.md counts them: the top-level value, every array element and
    every object member value, containers included; object keys are not values."""
    if isinstance(obj, dict):
        return 1 + sum(_json_values(v) for v in obj.values())
    if isinstance(obj, list):
        return 1 + sum(_json_values(v) for v in obj)
    return 1


def test_json_value_limit(good):
    f = gf.read_gear(good)
    m = json.loads(bytes(f.section_bytes(0)))
    m["metadata"] = {}
    count = _json_values(m)
    m["metadata"] = {"bulk": [0] * (MAX_JSON_VALUES - count - 1)}
    assert _json_values(m) == MAX_JSON_VALUES
    gf.read_gear(with_manifest(good, lambda x: x.update(metadata=m["metadata"])))
    m["metadata"]["bulk"].append(0)
    with pytest.raises(FormatError, match=rf"more than {MAX_JSON_VALUES} values"):
        gf.read_gear(with_manifest(good, lambda x: x.update(metadata=m["metadata"])))


def test_deep_json_is_a_format_error(good):
    text = bytes(gf.read_gear(good).section_bytes(0))
    text = text.replace(b'"producer"', b'"deep": ' + b"[" * 5000 + b"]" * 5000 + b', "producer"')
    with pytest.raises(FormatError, match="nesting"):
        gf.read_gear(_raw_manifest(good, text))


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m["nodes"][0]["attrs"].update(bogus=1), "unknown attribute"),
        (lambda m: m["nodes"][0]["outputs"].append(0), "exactly 1 output"),
        (lambda m: m.update(outputs=[]), "no outputs"),
        (lambda m: m["outputs"].append(m["outputs"][0]), "listed twice"),
        (lambda m: m["inputs"].append(0), "listed twice"),
        (lambda m: m.update(producer=1), "producer"),
        (lambda m: m.update(metadata=[]), "metadata"),
        (lambda m: m["gears"][0].update(name=""), "non-empty"),
        (lambda m: m["tensors"][0].update(shape=[-1, 2**62]), "overflows"),
        (
            lambda m: m["storage"][0].update(shape=[1] * 5 + [2, 3]),
            r"storage\[0\]\.shape: expected array of integers with 0\.\.6 elements, found 7",
        ),
        (
            lambda m: m["tensors"][1].update(shape=[2, 2]),  # w[1] != x[-1]
            r"FULLY_CONNECTED weights shape \[2,2\] does not match the input's last dimension 3",
        ),
        (lambda m: m["tensors"][2].update(shape=[3]), "bias"),
        (lambda m: m["tensors"][1].update(shape=[2, 3, 1]), "rank 2"),
    ],
)
def test_bad_manifest_strict_rules(good, edit, match):
    with pytest.raises(FormatError, match=match):
        gf.read_gear(with_manifest(good, edit))


def _node_file(op: str, attrs: dict, x_shape: list, y_shape: list) -> bytes:
    g = Graph()
    g.add_tensor("x", tuple(x_shape))
    g.add_tensor("y", tuple(y_shape))
    g.add_node(Node("n", op, ["x"], ["y"], attrs))
    g.inputs, g.outputs = ["x"], ["y"]
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "n.gear"
        write_gear(g, path)
        return path.read_bytes()


@pytest.mark.parametrize(
    "op,attrs,ok",
    [
        ("SOFTMAX", {"beta": 3.4028234663852886e38}, True),
        ("SOFTMAX", {"beta": 3.5e38}, False),
        ("SOFTMAX", {"beta": 2}, True),
        ("SOFTMAX", {"activation": "NONE"}, False),
        ("RESHAPE", {"shape": [1, 1, 1, 2, 4]}, True),
        ("RESHAPE", {"shape": [1, 1, 1, 1, 2, 4]}, False),
        ("RESHAPE", {"shape": [-1, -1]}, False),
        ("RESHAPE", {"shape": [0, 8]}, False),
        ("MEAN", {"axes": [1, 1], "keep_dims": True}, False),
        ("MEAN", {"axes": [2], "keep_dims": True}, False),
        ("MAX_POOL_2D", {"filter": [2**31 - 1, 1], "stride": [1, 1], "padding": "SAME"}, False),
        ("PAD", {"paddings": [[0, 0], [2**31 - 1, 0]]}, True),
        ("PAD", {"paddings": [[0, 0], [2**31, 0]]}, False),
        ("PAD", {"paddings": [[0, 0]]}, False),
        ("CONCATENATION", {"axis": 2}, False),
        ("CONCATENATION", {"axis": 2**31}, False),
    ],
)
def test_attr_ranges(op, attrs, ok):
    data = _node_file(op, attrs, [-1, 8], [-1, 8])
    if ok:
        gf.read_gear(data)
    else:
        with pytest.raises(FormatError):
            gf.read_gear(data)


# ---------------------------------------------------------------------------
# Format 1.1: hand-built files (tests/python/gear_bytes.py), no writer involved
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    from gear_bytes import tiny_model

    b, x = tiny_model()
    return b, x, b.bytes()


def _stor(m: dict, tensor: str, gear: str) -> int:
    """Storage index of ``tensor`` in ``gear`` of manifest ``m``."""
    t = next(i for i, e in enumerate(m["tensors"]) if e["name"] == tensor)
    g = next(g for g in m["gears"] if g["name"] == gear)
    return next(s for tt, s in g["constants"] if tt == t)


def _tidx(m: dict, name: str) -> int:
    return next(i for i, e in enumerate(m["tensors"]) if e["name"] == name)


def _act(m: dict, gear: str, name: str) -> list:
    g = next(g for g in m["gears"] if g["name"] == gear)
    return next(a for a in g["activations"] if a[0] == _tidx(m, name))


def test_v11_round_trip(tiny):
    from gearshift import gear_codec as codec

    b, _x, data = tiny
    f = gf.read_gear(data)
    assert f.version == (1, 1)
    assert f.gear_names == ("fp32", "fp32r", "fp16", "int8", "int4")
    m = b.manifest()
    for k, entry in enumerate(m["storage"]):
        v = f.storage_values(k)
        assert list(v.shape) == entry["shape"]
        if entry["encoding"] == "dense":
            want = np.frombuffer(b.payloads[k], gf.DTYPE_NUMPY[entry["dtype"]])
            np.testing.assert_array_equal(v.ravel(), want)
            assert v.dtype == gf.DTYPE_NUMPY[entry["dtype"]]
        base, bq = f.storage_values(entry.get("base", k)), f.storage_quant(entry.get("base", k))
        if entry["encoding"] == "q8r4":
            r = codec.unpack_nibbles(b.payloads[k], base.size).reshape(base.shape)
            assert v.dtype == np.float32
            np.testing.assert_array_equal(v, codec.q8r4_values(base, r, bq.scale, bq.axis))
        if entry["encoding"] == "q4m":
            assert v.dtype == np.int8
            np.testing.assert_array_equal(v, codec.q4m_values(base, bq.axis, entry["block"]))
            assert f.storage_quant(k).same_as(bq)
            assert len(f.storage_payload(k)) == 0
    consts = f.constants("fp32")
    np.testing.assert_array_equal(consts["conv/w"], b.graph.tensors["conv/w"].data)
    assert f.constants("int8")["conv/b"].dtype == np.int32
    acts = f.activations("int8")
    assert set(acts) == {n for n, t in b.graph.tensors.items() if not t.is_const}
    assert acts["y"] == (1 / 256, -128)
    assert f.activations("fp32") == {}
    assert f.gear()["name"] == "fp32"


def test_v11_minor_0_is_read(tiny):
    b, _x, _data = tiny
    assert gf.read_gear(b.bytes(minor=0)).version == (1, 0)


def _rebuilt(b, edit, payload_edit=None) -> bytes:
    from gear_bytes import layout, pack

    payloads = dict(b.payloads)
    if payload_edit:
        payload_edit(b.manifest(), payloads)
    m, data = layout(b.manifest(), payloads)
    edit(m)
    return pack(m, data)


def test_v11_edit_helper_is_sound(tiny):
    b, _x, data = tiny
    assert _rebuilt(b, lambda m: None) == data


def _set_const(m: dict, gear: str, tensor: str, storage: int) -> None:
    g = next(g for g in m["gears"] if g["name"] == gear)
    next(p for p in g["constants"] if p[0] == _tidx(m, tensor))[1] = storage


def _s(m, t, g):
    return m["storage"][_stor(m, t, g)]


V11_REJECTIONS = [
    (
        lambda m: m["storage"][0].update(dtype="f64"),
        r'storage\[0\]\.dtype: unknown storage dtype "f64"',
    ),
    (lambda m: m["storage"][0].update(encoding="sparse"), r"storage\[0\]\.encoding"),
    (
        lambda m: _s(m, "conv/w", "fp32r").update(dtype="i8"),
        'encoding "q8r4" yields f32 values, but dtype is "i8"',
    ),
    (
        lambda m: _s(m, "conv/w", "int4").update(dtype="f32"),
        'encoding "q4m" yields i8 values, but dtype is "f32"',
    ),
    (
        lambda m: _s(m, "conv/w", "fp32r").update(length=72),
        r"length: 72 bytes, but q8r4 f32 \[4,3,3,2\] needs 36",
    ),
    (lambda m: _s(m, "conv/w", "int4").update(section=1), "q4m entry has no payload"),
    (lambda m: _s(m, "conv/w", "int4").update(length=8), "q4m entry has no payload"),
    (
        lambda m: _s(m, "conv/w", "int4").update(block=0),
        r"block: integer 0 out of range \[1, 65536\]",
    ),
    (lambda m: _s(m, "conv/w", "int4").update(block=65537), r"block"),
    (lambda m: _s(m, "conv/w", "int4").pop("block"), 'missing required key "block"'),
    (lambda m: _s(m, "conv/w", "int4").pop("base"), 'missing required key "base"'),
    (lambda m: _s(m, "conv/w", "int4").update(base=999), r"base: integer 999 out of range"),
    (
        lambda m: _s(m, "conv/w", "fp32r").update(base=0),
        r"storage\[0\] is f32 dense; a base must be an i8 entry \(dense, bitmap, csr or 2:4\)",
    ),
    (
        lambda m: _s(m, "conv/w", "int4").update(base=_stor(m, "mul/k", "int8")),
        r"quantized per tensor \(quant\.axis null\); a base must be quantized per channel",
    ),
    (
        lambda m: _s(m, "conv/w", "int4").update(base=_stor(m, "dw/w", "int8")),
        r"has shape \[1,3,3,8\], this entry \[4,3,3,2\]; they must be equal",
    ),
    (
        lambda m: _s(m, "conv/w", "fp32").update(base=1),
        "only q8r4, q8r8 and q4m entries have a base",
    ),
    (lambda m: _s(m, "conv/w", "int8").pop("quant"), 'an i8 entry needs "quant"'),
    (lambda m: _s(m, "conv/b", "int8").update(quant=None), 'an i32 entry needs "quant"'),
    (lambda m: _s(m, "conv/w", "fp32").update(quant={"scale": [1.0]}), "absent or null for f32"),
    (lambda m: _s(m, "conv/w", "fp16").update(quant={"scale": [1.0]}), "absent or null for f16"),
    (
        lambda m: _s(m, "conv/w", "fp32r").update(quant={"scale": [1.0]}),
        "absent or null for f32",
    ),
    (
        lambda m: _s(m, "conv/w", "int8")["quant"].update(scale=[1.0]),
        r"quant\.scale: 1 values, expected 4",
    ),
    (lambda m: _s(m, "conv/w", "int8")["quant"].update(axis=4), r"quant\.axis"),
    (lambda m: _s(m, "conv/w", "int8")["quant"].update(axis=True), r"quant\.axis"),
    (
        lambda m: _s(m, "mul/k", "int8")["quant"].update(scale=[0.0]),
        r"scale\[0\]: must be > 0, got 0",
    ),
    (
        lambda m: _s(m, "mul/k", "int8")["quant"].update(scale=[-1.0]),
        r"scale\[0\]: must be > 0, got -1",
    ),
    (
        lambda m: _s(m, "mul/k", "int8")["quant"].update(scale=[1e39]),
        r"scale\[0\]: must be a finite float32",
    ),
    (
        lambda m: _s(m, "mul/k", "int8")["quant"].update(scale=[1e-50]),
        r"must be a float32 value, got 1e-50",
    ),
    (lambda m: _s(m, "mul/k", "int8")["quant"].update(scale=["1"]), r"scale\[0\]: expected number"),
    (lambda m: _s(m, "mul/k", "int8")["quant"].update(zero_point=[128]), r"\[-128, 127\]"),
    (
        lambda m: _s(m, "mul/k", "int8")["quant"].update(zero_point=[1, 2]),
        r"expected array of 1 integers, found 2",
    ),
    (
        lambda m: _s(m, "mul/k", "int8")["quant"].update(zero_point=[0.5]),
        r"zero_point: expected array of 1 integers",
    ),
    (
        lambda m: _s(m, "conv/b", "int8")["quant"].update(zero_point=[1, 0, 0, 0]),
        r"must be 0 for i32",
    ),
    (
        lambda m: _s(m, "conv/w", "int4").update(quant={"axis": 0, "scale": [1.0] * 4}),
        r"quant: differs from storage\[1\]\.quant; a q4m entry's quant is its base's",
    ),
    # gears
    (
        lambda m: m["gears"][3].update(compute="q2"),
        r'gears\[3\]\.compute: unknown compute token "q2"',
    ),
    (
        lambda m: m["gears"][0]["constants"][0].__setitem__(1, 1),
        r'"f32" takes f32 storage \(dense, q8r4 or q8r8\); storage\[1\] is i8 dense',
    ),
    (
        lambda m: m["gears"][2]["constants"][0].__setitem__(1, 1),
        r'"f16" takes f16 or f32 storage; storage\[1\] is i8 dense',
    ),
    (
        lambda m: m["gears"][3]["constants"][0].__setitem__(1, 0),
        r'"q8" takes i8 dense, bitmap, csr or 2:4 storage .*; storage\[0\] is f32 dense',
    ),
    (
        lambda m: m["gears"][3]["constants"][0].__setitem__(1, _stor(m, "conv/w", "int4")),
        r'"q8" takes i8 dense, bitmap, csr or 2:4 storage .*; storage\[\d+\] is i8 q4m',
    ),
    (
        lambda m: m["gears"][4]["constants"][0].__setitem__(1, 0),
        r'"q4" takes i8 q4m, dense, .*; storage\[0\] is f32 dense',
    ),
    (
        lambda m: _s(m, "conv/w", "int8")["quant"].update(zero_point=[1, 0, 0, 0]),
        r"symmetric per-channel quant on axis 0 .*\(its zero point 1 is not 0\)",
    ),
    (
        # [1,3,3,8]: axis 0 has 1 channel
        lambda m: _s(m, "dw/w", "int8")["quant"].update(axis=0, scale=[1.0], zero_point=[0]),
        r"symmetric per-channel quant on axis 3 .*\(its quant\.axis is 0\)",
    ),
    (
        lambda m: _set_const(m, "int8", "dw/b", _stor(m, "mul/k", "int8")),
        r"takes i32 dense storage with per-channel quant on axis 0 as bias of nodes\[1\] \(dw\); "
        r"storage\[\d+\] is i8 dense",
    ),
    (
        lambda m: _s(m, "mul/k", "int8").update(
            quant={"axis": 0, "scale": [0.125] * 8, "zero_point": [0] * 8}
        ),
        r"takes i8 dense storage with per-tensor quant \(axis null\) as an operand of nodes\[3\]",
    ),
    (lambda m: m["gears"][3].pop("activations"), 'compute "q8" needs "activations"'),
    (lambda m: m["gears"][4]["activations"].pop(), r"tensor 18 \(y\) has no activation parameters"),
    (
        lambda m: m["gears"][3]["activations"].append(m["gears"][3]["activations"][0]),
        "listed twice",
    ),
    (
        lambda m: m["gears"][3]["activations"].append([_tidx(m, "conv/w"), 1.0, 0]),
        r"tensor 1 \(conv/w\) is a constant; its parameters are its storage's quant",
    ),
    (lambda m: m["gears"][3]["activations"][0].__setitem__(1, 0.0), r"\[0\]\[1\]: must be > 0"),
    (
        lambda m: m["gears"][3]["activations"][0].__setitem__(1, 1e39),
        r"\[0\]\[1\]: must be a finite float32",
    ),
    (
        lambda m: m["gears"][3]["activations"][0].__setitem__(2, 128),
        r"\[0\]\[2\]: integer 128 out of range",
    ),
    (lambda m: m["gears"][3]["activations"][0].pop(), r"expected \[tensor, scale, zero_point\]"),
    (
        lambda m: m["gears"][0].update(activations=[[_tidx(m, "y"), 1.0, 0]]),
        "only q8 and q4 gears carry activation parameters",
    ),
    (
        lambda m: _act(m, "int8", "p").__setitem__(2, 0),
        r"nodes\[2\] \(pool\): .*; MAX_POOL_2D moves values without rescaling",
    ),
    (
        lambda m: _act(m, "int4", "r").__setitem__(1, 0.5),
        r"nodes\[8\] \(reshape\): .*; RESHAPE moves values",
    ),
    (
        lambda m: _act(m, "int8", "pd").__setitem__(1, 0.5),
        r"nodes\[9\] \(pad\): .*; PAD moves values",
    ),
    (
        lambda m: _act(m, "int8", "h").__setitem__(1, 0.5),
        r"nodes\[7\] \(cat\): .*; CONCATENATION moves",
    ),
]


@pytest.mark.parametrize("edit,match", V11_REJECTIONS)
def test_v11_rejections(tiny, edit, match):
    b, _x, _data = tiny
    with pytest.raises(FormatError, match=match):
        gf.read_gear(_rebuilt(b, edit))


def test_v11_weight_value_minus_128_refused(tiny):
    b, _x, _data = tiny

    def poke(m, payloads):
        k = _stor(m, "fc/w", "int8")
        p = bytearray(payloads[k])
        p[3] = 0x80
        payloads[k] = bytes(p)

    with pytest.raises(
        FormatError, match=r"value -128 at element 3; weights .* are symmetric, in \[-127, 127\]"
    ):
        gf.read_gear(_rebuilt(b, lambda m: None, poke))


def test_v11_q4m_length_zero_is_accepted(tiny):
    b, _x, _data = tiny
    gf.read_gear(_rebuilt(b, lambda m: _s(m, "conv/w", "int4").update(length=0)))


def test_v11_q4m_quant_equal_to_base_is_accepted(tiny):
    b, _x, _data = tiny

    def edit(m):
        _s(m, "conv/w", "int4")["quant"] = dict(_s(m, "conv/w", "int8")["quant"])

    gf.read_gear(_rebuilt(b, edit))


def test_v11_dense_f16_and_i32_lengths(tiny):
    b, _x, _data = tiny
    with pytest.raises(
        FormatError, match=r"length: 288 bytes, but dense f16 \[4,3,3,2\] needs 144"
    ):
        gf.read_gear(_rebuilt(b, lambda m: _s(m, "conv/w", "fp16").update(length=288)))
    with pytest.raises(FormatError, match=r"length: 4 bytes, but dense i32 \[4\] needs 16"):
        gf.read_gear(_rebuilt(b, lambda m: _s(m, "conv/b", "int8").update(length=4)))


# ---------------------------------------------------------------------------
# gear_codec: the encodings' value rules
# ---------------------------------------------------------------------------
def test_nibbles_layout_and_odd_counts():
    from gearshift import gear_codec as codec

    p = codec.pack_nibbles(np.array([1, -1, -8]))
    assert p.tolist() == [0xF1, 0x08]  # element 0 low, element 1 high, odd tail's high = 0
    np.testing.assert_array_equal(codec.unpack_nibbles(p, 3), [1, -1, -8])
    np.testing.assert_array_equal(codec.unpack_nibbles(bytes(p), 3), [1, -1, -8])
    v = np.arange(-8, 8)
    for n in (0, 1, 15, 16):
        np.testing.assert_array_equal(codec.unpack_nibbles(codec.pack_nibbles(v[:n]), n), v[:n])
        assert codec.pack_nibbles(v[:n]).size == (n + 1) // 2
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        codec.pack_nibbles(np.array([8]))
    with pytest.raises(ValueError, match="need 3 bytes"):
        codec.unpack_nibbles(p, 5)


def _q8r4_scalar(q: int, r: int, s: np.float32) -> np.float32:
    return np.float32(s * np.float32(np.float32(q) + np.float32(r) * np.float32(0.0625)))


def test_q8r4_values_bit_exact_and_error_bound():
    from gearshift import gear_codec as codec
    from gearshift.converters import quant_ref as qr

    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 3, 3, 5)).astype(np.float32)
    w[3] = 0.0
    q, qp = qr.quantize_weights_q8(w, 0)
    r = codec.q8r4_residual(w, q, qp.scale, 0)
    assert r.dtype == np.int8 and r.min() >= -8 and r.max() <= 7
    v = codec.q8r4_values(q, r, qp.scale, 0)
    assert v.dtype == np.float32
    want = np.array(
        [
            _q8r4_scalar(int(qq), int(rr), qp.scale[c])
            for c in range(16)
            for qq, rr in zip(q[c].ravel(), r[c].ravel())
        ],
        np.float32,
    ).reshape(w.shape)
    assert v.tobytes() == want.tobytes()
    assert np.all(v[3] == 0)  # exact zeros stay exact
    s = qp.scale[:, None, None, None].astype(np.float64)
    err = np.abs(v.astype(np.float64) - w) / s
    ulp = 2.0**-20  # the product's rounding, relative to s (|q + r/16| < 2**7)
    # Where the residual is not clamped, the error is at most s/32 (FORMAT.md's bound).
    d16 = (w / s - q) * 16
    assert np.all(err[d16 <= 7.5] <= 1 / 32 + ulp)
    # (w/s - q) can reach +1/2 (q rounds half away from zero), while r/16 stops at
    # 7/16: there the clamp leaves up to s/16. FORMAT.md's "at most s/32" misses this.
    assert np.all(err <= 1 / 16 + ulp)


def test_q8r4_clamp_case_exceeds_s_over_32():
    from gearshift import gear_codec as codec

    s = np.array([1.0], np.float32)
    w = np.array([[2.49]], np.float32)  # q = 2, (w - q) * 16 = 7.84 -> r = 7 after the clamp
    q = np.array([[2]], np.int8)
    r = codec.q8r4_residual(w, q, s, 0)
    assert r[0, 0] == 7
    assert abs(float(codec.q8r4_values(q, r, s, 0)[0, 0]) - 2.49) > 1 / 32


def _q4m_scalar_block(block: list[int]) -> tuple[list[int], int]:
    def rdiv(q: int, m: int) -> int:
        return (1 if q > 0 else -1 if q < 0 else 0) * ((2 * abs(q) + m) // (2 * m))

    best = None
    for m in range(1, 16):
        vals = [m * min(max(rdiv(q, m), -8), 7) for q in block]
        e = sum((q - v) ** 2 for q, v in zip(block, vals))
        if best is None or e < best[0]:
            best = (e, vals, m)
    assert best is not None
    return best[1], best[2]


@pytest.mark.parametrize(
    "axis,shape,block", [(0, (3, 5, 9), 32), (2, (4, 2, 7), 3), (0, (2, 70), 32)]
)
def test_q4m_matches_the_integer_rule(axis, shape, block):
    from gearshift import gear_codec as codec

    rng = np.random.default_rng(1)
    q = rng.integers(-127, 128, size=shape).astype(np.int8)
    q.reshape(-1)[:5] = [127, -127, 0, 64, -64]
    got = codec.q4m_values(q, axis, block)
    assert got.dtype == np.int8 and got.shape == q.shape
    rows = codec.channel_rows(q, axis)
    want_rows, want_m = [], []
    for row in rows.tolist():
        out, ms = [], []
        for i in range(0, len(row), block):
            vals, m = _q4m_scalar_block(row[i : i + block])
            out += vals
            ms.append(m)
        want_rows.append(out)
        want_m.append(ms)
    np.testing.assert_array_equal(codec.channel_rows(got, axis), want_rows)
    np.testing.assert_array_equal(codec.q4m_multipliers(q, axis, block), want_m)


def test_q4m_ties_and_edges():
    from gearshift import gear_codec as codec

    # [16]: m = 4 (4 * 4) and m = 8 (2 * 8) are both exact; the smaller wins.
    assert codec.q4m_multipliers(np.array([[16]], np.int8), 0, 32).tolist() == [[4]]
    assert codec.q4m_values(np.array([[16]], np.int8), 0).tolist() == [[16]]
    # an all-zero block: every m is exact -> m = 1
    assert codec.q4m_multipliers(np.zeros((1, 5), np.int8), 0).tolist() == [[1]]
    assert codec.rdiv(np.array([5, -5, 7, -3, 0]), 2).tolist() == [3, -3, 4, -2, 0]
    assert codec.rdiv(np.array([7, -7]), 3).tolist() == [2, -2]
    v = codec.q4m_values(np.array([[127, -127, 1, -1]], np.int8), 0)
    assert np.abs(v).max() <= 120
    with pytest.raises(ValueError, match="block"):
        codec.q4m_values(np.zeros((1, 4), np.int8), 0, 0)


def test_describe_v11(tiny, tmp_path):
    import json as _json

    from gearshift.describe import describe, format_description

    _b, _x, data = tiny
    path = tmp_path / "tiny.gear"
    path.write_bytes(data)
    d = describe(path)
    _json.dumps(d)  # JSON-able
    gears = {g["name"]: g for g in d["gears"]}
    assert gears["int8"]["compute"] == "q8" and gears["int8"]["activations"] > 0
    # int8 and int4 share every byte (q4m has no payload; its base is int8's weights)
    assert gears["int8"]["weight_bytes"] == gears["int4"]["weight_bytes"] > 0
    assert gears["int8"]["unique_bytes"] == gears["int4"]["unique_bytes"] == 0
    # fp32r references the int8 bases too, plus its residuals
    assert gears["fp32r"]["unique_bytes"] > 0
    assert gears["fp32r"]["weight_bytes"] > gears["fp32r"]["unique_bytes"]
    entries = d["storage"]
    assert d["storage_bytes"] == sum(e["bytes"] for e in entries)
    q4m = [e for e in entries if e["encoding"] == "q4m"]
    assert q4m and all(e["bytes"] == 0 and e["base"] is not None for e in q4m)
    assert all(0.0 <= e["sparsity"] <= 1.0 for e in entries)
    conv = next(c for c in d["constants"] if c["name"] == "conv/w")
    assert conv["gears"]["int4"]["encoding"] == "q4m"
    assert conv["gears"]["int4"]["bytes"] == conv["gears"]["int8"]["bytes"] == 72
    assert conv["gears"]["fp16"]["dtype"] == "f16"
    text = format_description(d)
    assert "q4m" in text and "unique bytes" in text and "conv/w" in text
