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
    with pytest.raises(FormatError, match=r"invalid JSON|expected a JSON object"):
        gf.read_gear(reseal(data))


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m["nodes"][0].update(op="CONV_3D"), "unknown op"),
        (lambda m: m["nodes"][0]["inputs"].__setitem__(0, 99), "out of range"),
        (lambda m: m["storage"][0].update(length=4), "length"),
        (lambda m: m["storage"][0].update(offset=8), "aligned"),
        (lambda m: m["gears"][0].update(constants=[]), "no storage"),
        (lambda m: m["tensors"][0].update(shape=[-1, 0]), "dimension"),
        (lambda m: m.pop("gears"), "missing key 'gears'"),
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
        (b'"activation":"RELU"', b'"activation": "RELU", "beta": NaN', "non-standard"),
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


def test_json_value_limit(good):
    f = gf.read_gear(good)
    m = json.loads(bytes(f.section_bytes(0)))
    m["metadata"] = {}
    _, count, _ = gf._json_limits(m)
    m["metadata"] = {"bulk": [0] * (gf.MAX_JSON_VALUES - count - 1)}
    assert gf._json_limits(m)[1] == gf.MAX_JSON_VALUES
    gf.read_gear(with_manifest(good, lambda x: x.update(metadata=m["metadata"])))
    m["metadata"]["bulk"].append(0)
    with pytest.raises(FormatError, match="values, more than the limit"):
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
        (lambda m: m["storage"][0].update(shape=[1] * 5 + [2, 3]), "rank 7"),
        (lambda m: m["tensors"][1].update(shape=[2, 2]), "do not match"),  # w[1] != x[-1]
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
