"""Format 1.6: per-channel quantization parameters and a gear's activation parameters as
binary values in the PARAMS section (docs/FORMAT.md 2.4).

The writer marks only files with a PARAMS section as 1.6; such a file and its JSON-form
repack load to the same model and run to the same outputs bit for bit; both readers (the
C++ runtime and ``gear_format.read_gear``) refuse the same corrupted parameters with a
message that names the field.
"""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import gearshift as gs
from gearshift import FormatError
from gearshift import gear_format as gf
from gearshift.converters.write_gear import binary_params, repack

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden_v1_6.gear"


def rebuild(base: gf.GearFile, payloads: dict[int, bytes]) -> bytes:
    """``base`` with the payloads of some sections replaced, laid out again, CRCs correct."""
    parts = [
        (s.kind, payloads.get(s.index, bytes(base.section_bytes(s.index)))) for s in base.sections
    ]
    return pack(parts, base.header.version_minor, base.header.alignment)


def pack(parts: list[tuple[int, bytes]], minor: int, a: int = 64) -> bytes:
    """A file of the sections ``(kind, payload)`` in this order, CRCs correct."""
    n = len(parts)
    pos = gf.align_offset(gf.HEADER_SIZE + n * gf.SECTION_ENTRY_SIZE, a)
    start, table, body = pos, b"", b""
    for i, (kind, p) in enumerate(parts):
        table += gf.SECTION_STRUCT.pack(kind, 0, pos, len(p), gf.fast_crc32c(p), 0)
        if i + 1 < n:
            p += bytes(gf.align_offset(len(p), a) - len(p))
        body += p
        pos += len(p)
    head = bytearray(
        gf.HEADER_STRUCT.pack(
            gf.MAGIC, 1, minor, a, n, start + len(body), gf.HEADER_SIZE, 0, 0, bytes(24)
        )
    )
    struct.pack_into("<I", head, gf.HEADER_CRC_OFFSET, gf.fast_crc32c(table, gf.fast_crc32c(head)))
    return bytes(head) + table + bytes(start - gf.HEADER_SIZE - len(table)) + body


def verdicts(data: bytes, tmp: Path) -> tuple[str | None, str | None]:
    """(C++ error or None, Python error or None) for the file ``data``."""
    tmp.write_bytes(data)
    try:
        gs.Runtime(tmp)
        c = None
    except (FormatError, ValueError) as e:
        c = str(e)
    try:
        gf.read_gear(data)
        p = None
    except FormatError as e:
        p = str(e)
    return c, p


@pytest.fixture(scope="module")
def golden() -> gf.GearFile:
    return gf.read_gear(GOLDEN)


def raw_manifest(base: gf.GearFile) -> dict:
    return json.loads(bytes(base.section_bytes(0)))


def params_index(base: gf.GearFile) -> int:
    return next(s.index for s in base.sections if s.kind == gf.SECTION_PARAMS)


def first_scale_ref(m: dict) -> tuple[int, dict]:
    k = next(
        i for i, e in enumerate(m["storage"]) if isinstance(e.get("quant", {}).get("scale"), dict)
    )
    return k, m["storage"][k]["quant"]["scale"]


# ---------------------------------------------------------------------------
# Writer and round trip
# ---------------------------------------------------------------------------
def _small_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 6, 2))
    x = layers.Conv2D(6, 3, padding="same", activation="relu")(inp)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(4)(x))


def test_fp32_only_file_has_no_params_section_and_stays_1_0(tmp_path):
    pytest.importorskip("keras")
    out = tmp_path / "f.gear"
    gs.convert(_small_model(), out, gears=("fp32",), progress=False)
    f = gf.read_gear(out)
    assert f.version == (1, 0)
    assert gf.SECTION_PARAMS not in [s.kind for s in f.sections]


def test_binary_and_json_forms_run_bit_identically(tmp_path):
    """Convert (binary) -> repack to JSON -> every gear's outputs equal bit for bit;
    repacking back gives the converter's bytes exactly. Both forms are 1.7 here (the
    small weights' q8r8 residuals); without them the JSON form would be 1.2 (a sparse
    gear) and the binary one 1.6."""
    pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 6, 6, 2)).astype(np.float32)
    binary, jsonf, again = tmp_path / "b.gear", tmp_path / "j.gear", tmp_path / "a.gear"
    gears = ("fp32", "fp16", "int8", "int4", "int8-sparse")
    gs.convert(
        _small_model(), binary, gears=gears, calibration=x, prune=gs.Prune(0.5), progress=False
    )
    repack(binary, jsonf, binary=False)
    fb, fj = gf.read_gear(binary), gf.read_gear(jsonf)
    assert fb.version == (1, 7) and fj.version == (1, 7)
    assert [s.kind for s in fb.sections] == [1, 3, 2] and [s.kind for s in fj.sections] == [1, 2]
    assert len(fb.section_bytes(0)) < len(fj.section_bytes(0))
    for g in gears:
        ya = gs.Runtime(binary, gear=g).run(x)
        yb = gs.Runtime(jsonf, gear=g).run(x)
        np.testing.assert_array_equal(ya, yb, err_msg=g)
    repack(jsonf, again, binary=True)
    assert again.read_bytes() == binary.read_bytes()


def test_binary_params_layout(golden):
    """binary_params: arrays of two or more values become references, one-element ones
    stay JSON, identical arrays are stored once, every offset is a multiple of 4, and the
    references read back the values written."""
    m = copy.deepcopy(golden.manifest)  # the expanded (JSON) form
    before = json.dumps(m)
    out, params = binary_params(m)
    assert json.dumps(m) == before  # the input is not modified
    refs = []
    for e, o in zip(m["storage"], out["storage"]):
        q = e.get("quant")
        if not q:
            continue
        ref = o["quant"]["scale"]
        assert isinstance(ref, dict) == (len(q["scale"]) > 1)
        if isinstance(ref, dict):
            refs.append(ref)
            got = np.frombuffer(params, "<f4", ref["count"], ref["offset"])
            assert got.tolist() == q["scale"]
    for g, o in zip(m["gears"], out["gears"]):
        if "activations" in g:
            ref = o["activations"]
            refs.append(ref)
            rec = np.frombuffer(params, "<i4, <f4, <i4", ref["count"], ref["offset"])
            assert [list(r) for r in rec.tolist()] == g["activations"]
    assert refs and all(r["offset"] % 4 == 0 for r in refs)
    elem = {id(r): 12 if r in [o.get("activations") for o in out["gears"]] else 4 for r in refs}
    assert len(params) < sum(elem[id(r)] * r["count"] for r in refs)  # q4m shares its base's
    assert binary_params({"storage": [], "gears": [{"name": "fp32"}]})[1] == b""


# ---------------------------------------------------------------------------
# Corrupted parameters: both readers refuse, naming the field
# ---------------------------------------------------------------------------
def _set_scale(i: int, value: float) -> Callable[[gf.GearFile, dict, bytearray], None]:
    def edit(base: gf.GearFile, m: dict, p: bytearray) -> None:
        _, ref = first_scale_ref(m)
        struct.pack_into("<f", p, ref["offset"] + 4 * i, value)

    return edit


def _set_ref(**kv: int) -> Callable[[gf.GearFile, dict, bytearray], None]:
    def edit(base: gf.GearFile, m: dict, p: bytearray) -> None:
        _, ref = first_scale_ref(m)
        ref.update({k: (ref[k] + v if k == "count" else v) for k, v in kv.items()})

    return edit


def _truncate(base: gf.GearFile, m: dict, p: bytearray) -> None:
    del p[-4:]


def _act_record(field: int, value: int) -> Callable[[gf.GearFile, dict, bytearray], None]:
    def edit(base: gf.GearFile, m: dict, p: bytearray) -> None:
        ref = next(g["activations"] for g in m["gears"] if "activations" in g)
        struct.pack_into("<i", p, ref["offset"] + 4 * field, value)

    return edit


# (id, edit, part of the message Runtime and read_gear give: one validator, one message)
CASES = [
    ("nan-scale", _set_scale(1, float("nan")), "scale must be a finite float32 > 0, got NaN"),
    ("zero-scale", _set_scale(0, 0.0), "scale must be a finite float32 > 0, got 0"),
    ("negative-scale", _set_scale(2, -0.25), "got -0.25"),
    ("minus-zero-scale", _set_scale(0, -0.0), "got -0"),
    ("inf-scale", _set_scale(0, float("inf")), "scale must be a finite float32 > 0"),
    ("count-mismatch", _set_ref(count=-1), "values, expected"),
    ("offset-out-of-range", _set_ref(offset=1 << 40), "lie outside section 1 (PARAMS)"),
    ("offset-misaligned", _set_ref(offset=2), "offset 2 is not a multiple of 4"),
    ("truncated", _truncate, "lie outside section 1 (PARAMS)"),
    ("act-tensor-range", _act_record(0, 10_000), "tensor index 10000 out of range"),
    ("act-zero-point", _act_record(2, 128), "128 out of the i8 range"),
]


@pytest.mark.parametrize("desc,edit,part", CASES, ids=[c[0] for c in CASES])
def test_corrupted_params_refused_by_both_readers(golden, tmp_path, desc, edit, part):
    m = raw_manifest(golden)
    p = bytearray(golden.section_bytes(params_index(golden)))
    edit(golden, m, p)
    data = rebuild(golden, {0: json.dumps(m).encode(), params_index(golden): bytes(p)})
    c, py = verdicts(data, tmp_path / "c.gear")
    assert c is not None and part in c, c
    assert py == c  # read_gear refuses with the runtime's message


def test_unknown_kind_of_a_newer_minor_names_both_versions(golden):
    """A later minor's required section kind is refused; the message says the reader is
    the older party, in both readers."""
    k = params_index(golden)
    parts = [
        (4 if s.index == k else s.kind, bytes(golden.section_bytes(s.index)))
        for s in golden.sections
    ]
    data = pack(parts, minor=gf.VERSION_MINOR + 1)
    with pytest.raises(FormatError, match=rf"newer than this reader's 1\.{gf.VERSION_MINOR}"):
        gf.read_gear(data)
    with pytest.raises(FormatError, match=r"unknown section kind 4 .*1024\.\.65535\)$"):
        gf.read_gear(pack(parts, minor=gf.VERSION_MINOR))


@pytest.mark.parametrize("storage, minors", [("exact", (6, 1)), ("compact", (7, 7))])
def test_convert_json_params_for_older_runtimes(tmp_path, storage, minors):
    """``gs.convert(binary_params=False)`` and ``gearshift convert --json-params`` write the
    JSON form (no PARAMS section, the lowest minor that fits: 1.1 for exact storage, which
    1.5 runtimes read; compact storage gives this model's small weights an 8-bit residual,
    1.7 either way), which runs to the same outputs as the default binary form."""
    pytest.importorskip("keras")
    from gearshift.cli import main

    x = np.random.default_rng(1).uniform(-1, 1, (8, 6, 6, 2)).astype(np.float32)
    binary, jsonf = tmp_path / "b.gear", tmp_path / "j.gear"
    model = _small_model()
    kw = dict(gears=("fp32", "int8"), calibration=x, progress=False, storage=storage)
    gs.convert(model, binary, **kw)
    gs.convert(model, jsonf, binary_params=False, **kw)
    fb, fj = gf.read_gear(binary), gf.read_gear(jsonf)
    assert fb.version == (1, minors[0]) and fj.version == (1, minors[1])
    assert gf.SECTION_PARAMS not in [s.kind for s in fj.sections]
    np.testing.assert_array_equal(
        gs.Runtime(binary, gear="int8").run(x), gs.Runtime(jsonf, gear="int8").run(x)
    )
    keras_path, calib, cli_out = tmp_path / "m.keras", tmp_path / "x.npy", tmp_path / "c.gear"
    model.save(keras_path)
    np.save(calib, x)
    args = ["convert", str(keras_path), "-o", str(cli_out), "--gears", "fp32,int8"]
    args += ["--storage", storage]
    assert main([*args, "--calibration", str(calib), "--json-params"]) == 0
    assert gf.read_gear(cli_out).version == (1, minors[1])
