"""One validator: ``gear_format.read_gear`` (``gearshift inspect``) and ``gearshift.Runtime``
accept and refuse the same files, with the same message.

``read_gear`` has no rejection rules of its own: it runs the C++ reader through
``gearshift._core.validate_gear`` (what ``Runtime`` runs when it opens a file)
and only then decodes. This test keeps that true. Starting from the golden
files (one per format version, 1.0 to 1.6), a seeded generator applies
structured mutations to the decoded manifest (deleted keys, changed types,
out-of-range indices, duplicate keys, non-finite and huge numbers, shape
changes, attribute values at their boundaries, reordered nodes, changed ops),
re-encodes it, rebuilds the file with correct CRCs, and checks that both give
the same verdict and, on a refusal, the very same message: a rule added to the
Python side alone would refuse with a message of its own (or refuse a file the
runtime opens) and fail here. Every accepted file is then described as
``gearshift inspect`` does, so Python's decoding never crashes on a file the
validator accepted.
"""

from __future__ import annotations

import copy
import json
import random
import re
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from gearshift import FormatError, Runtime
from gearshift import gear_format as gf
from gearshift.converters.ir import FORMAT_OPS
from gearshift.describe import describe

GOLDEN = Path(__file__).parent / "data" / "golden_v1_0.gear"
SEED = 20260101
N_RANDOM = 1500

# Messages of the C++ reader (gear_reader.cc, json.cc) begin with the field.
_READER_ERROR = re.compile(
    r"^(header|section|manifest|tensors|inputs|outputs|nodes|storage|gears|producer|metadata)\b"
)
# FORMAT.md 2.3: a manifest holds at most 2^20 JSON values.
MAX_JSON_VALUES = 1 << 20


# ---------------------------------------------------------------------------
# JSON with duplicate keys and raw number tokens
# ---------------------------------------------------------------------------
class Raw:
    """A JSON token written verbatim (``1e400``, ``NaN``, a lone surrogate string)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text!r})"


class Pairs:
    """An object written from a list of pairs, so a key may repeat."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def encode(v: Any) -> str:
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(x)}" for k, x in v.pairs) + "}"
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(encode(x) for x in v) + "]"
    return json.dumps(v)


# ---------------------------------------------------------------------------
# File rebuilding
# ---------------------------------------------------------------------------
def rebuild(base: gf.GearFile, manifest: bytes) -> bytes:
    """A file with ``base``'s data sections and a new manifest, CRCs correct."""
    a = base.header.alignment
    payloads = [
        manifest if s.kind == gf.SECTION_MANIFEST else bytes(base.section_bytes(s.index))
        for s in base.sections
    ]
    n = len(base.sections)
    pos = gf.align_offset(gf.HEADER_SIZE + n * gf.SECTION_ENTRY_SIZE, a)
    table, body = b"", b""
    for i, (s, p) in enumerate(zip(base.sections, payloads)):
        table += gf.SECTION_STRUCT.pack(s.kind, 0, pos, len(p), gf.fast_crc32c(p), 0)
        if i + 1 < n:  # padding between sections, none after the last
            p += bytes(gf.align_offset(len(p), a) - len(p))
        body += p
        pos += len(p)
    start = gf.align_offset(gf.HEADER_SIZE + len(table), a)
    size = start + len(body)
    h = base.header
    head = bytearray(
        gf.HEADER_STRUCT.pack(
            gf.MAGIC,
            h.version_major,
            h.version_minor,
            a,
            n,
            size,
            gf.HEADER_SIZE,
            0,
            0,
            bytes(24),
        )
    )
    struct.pack_into("<I", head, gf.HEADER_CRC_OFFSET, gf.fast_crc32c(table, gf.fast_crc32c(head)))
    return bytes(head) + table + bytes(start - gf.HEADER_SIZE - len(table)) + body


# ---------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------
I32 = 2**31 - 1
I64 = 2**63 - 1
INTERESTING: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    -1,
    -2,
    20,
    21,
    32,
    64,
    288,
    I32,
    I32 + 1,
    I64,
    -(2**63),
    Raw("9223372036854775808"),
    Raw("-9223372036854775809"),
    Raw("1" + "0" * 400),
    1.0,
    0.5,
    -0.0,
    1e308,
    3.4028234663852886e38,
    3.4028235677973366e38,
    Raw("1e400"),
    Raw("-1e400"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1e-400"),
    Raw("4.9e-324"),
    Raw("1E2"),
    "",
    "f32",
    "f16",
    "x",
    "SAME",
    "VALID",
    "RELU",
    "NONE",
    "RELU6",
    "dense",
    "fp32",
    "image",
    [],
    {},
    [0],
    [1],
    [-1],
    [1, 1],
    [0, 0],
    [1, 2, 3],
    [[0, 0]],
    [I32, 1],
    [I32 + 1, 1],
    [-1, 32],
    [2, -1],
    [-1, -1],
    [1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1],
    Raw('"\\ud800"'),
    Raw('"\\udc00x"'),
    Raw('"\\ud83d\\ude00"'),
    Raw('"\\u0000"'),
    {"scale": 1},
]
# Op names of FORMAT.md "Nodes", for the "change an op" mutation (the IR's one list).
OPS = sorted(FORMAT_OPS)
ATTR_KEYS = [
    "stride",
    "dilation",
    "padding",
    "activation",
    "depth_multiplier",
    "filter",
    "axes",
    "keep_dims",
    "beta",
    "axis",
    "shape",
    "paddings",
    "bogus",
]


def paths(v: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) to a value inside ``v``, ``()`` excluded."""
    out = []
    items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
    for k, x in items:
        out.append((*prefix, k))
        out.extend(paths(x, (*prefix, k)))
    return out


def at(m: Any, path: tuple) -> Any:
    for k in path:
        m = m[k]
    return m


def mutate(m: dict[str, Any], rng: random.Random) -> str:
    """Applies one or two random mutations in place; returns their description."""
    done = []
    for _ in range(rng.choice((1, 1, 1, 2))):
        try:
            done.append(_mutate_once(m, rng))
        except (TypeError, KeyError, IndexError, AttributeError, ValueError):
            # a second edit that cannot apply to what the first made (a key
            # duplicated into pairs, a raw token): the first one stands
            done.append("(no second edit)")
    return "; ".join(done)


def _mutate_once(m: dict[str, Any], rng: random.Random) -> str:
    kind = rng.randrange(12)
    all_paths = paths(m)
    # Most mutations target the graph, not the long constant tables.
    p = rng.choice(all_paths)
    parent, key = at(m, p[:-1]), p[-1]
    if kind == 0:  # delete a key / element
        del parent[key]
        return f"delete {p}"
    if kind in (1, 2):  # replace with an interesting value
        v = copy.deepcopy(rng.choice(INTERESTING))
        parent[key] = v
        return f"set {p} = {v!r}"
    if kind == 3:  # integer +- small
        ints = [
            q for q in all_paths if isinstance(at(m, q), int) and not isinstance(at(m, q), bool)
        ]
        q = rng.choice(ints)
        d = rng.choice((-2, -1, 1, 2, 100))
        at(m, q[:-1])[q[-1]] += d
        return f"{q} += {d}"
    if kind == 4:  # list edits
        lists = [q for q in all_paths if isinstance(at(m, q), list)] + [("nodes",)]
        q = rng.choice(lists)
        lst = at(m, q)
        op = rng.randrange(4)
        if op == 0 and lst:
            lst.append(copy.deepcopy(rng.choice(lst)))
            return f"append duplicate to {q}"
        if op == 1 and lst:
            lst.pop(rng.randrange(len(lst)))
            return f"pop from {q}"
        if op == 2 and len(lst) > 1:
            i, j = rng.sample(range(len(lst)), 2)
            lst[i], lst[j] = lst[j], lst[i]
            return f"swap {q}[{i}] <-> [{j}]"
        lst.append(copy.deepcopy(rng.choice(INTERESTING)))
        return f"append to {q}"
    if kind == 5:  # change an op
        n = rng.randrange(len(m["nodes"]))
        op = rng.choice(OPS)
        m["nodes"][n]["op"] = op
        return f"nodes[{n}].op = {op}"
    if kind == 6:  # attribute at a boundary / unknown attribute
        n = rng.randrange(len(m["nodes"]))
        attrs = m["nodes"][n].setdefault("attrs", {})
        k = rng.choice(ATTR_KEYS)
        v = copy.deepcopy(rng.choice(INTERESTING))
        attrs[k] = v
        return f"nodes[{n}].attrs.{k} = {v!r}"
    if kind == 7:  # duplicate an object key
        objs = [q for q in all_paths if isinstance(at(m, q), dict) and at(m, q)] + [()]
        q = rng.choice(objs)
        obj = at(m, q)
        pairs = list(obj.items())
        k = rng.choice(pairs)[0]
        pairs.insert(rng.randrange(len(pairs) + 1), (k, copy.deepcopy(obj[k])))
        if q == ():
            m.clear()
            m["__pairs__"] = Pairs(pairs)
        else:
            at(m, q[:-1])[q[-1]] = Pairs(pairs)
        return f"duplicate key {k!r} in {q}"
    if kind == 8:  # tensor shape edits
        t = rng.choice(m["tensors"])
        shape = t["shape"]
        edit = rng.randrange(5)
        if edit == 0 and shape:
            shape[rng.randrange(len(shape))] = rng.choice((-1, 0, 1, 2, 3, 5, 2**40, I64))
        elif edit == 1:
            shape.insert(rng.randrange(len(shape) + 1), rng.choice((1, 2, -1)))
        elif edit == 2 and shape:
            shape.pop(rng.randrange(len(shape)))
        elif edit == 3:
            t["const"] = not t.get("const", False)
        else:
            t["shape"] = [rng.choice((1, 2, 3, 2**31)) for _ in range(rng.randrange(8))]
        return f"tensor {t['name']} edit {edit}"
    if kind == 9:  # node inputs/outputs
        n = rng.randrange(len(m["nodes"]))
        node = m["nodes"][n]
        which = rng.choice(("inputs", "outputs"))
        lst = node[which]
        v = rng.choice((-1, 0, rng.randrange(len(m["tensors"])), len(m["tensors"]), -2))
        if lst and rng.random() < 0.7:
            lst[rng.randrange(len(lst))] = v
        else:
            lst.append(v)
        return f"nodes[{n}].{which} edit -> {v}"
    if kind == 10:  # graph inputs/outputs
        which = rng.choice(("inputs", "outputs"))
        v = rng.choice((0, 1, 2, 20, 21, -1, rng.randrange(len(m["tensors"]))))
        if rng.random() < 0.5:
            m[which].append(v)
        else:
            m[which] = [v]
        return f"{which} edit -> {v}"
    # kind 11: raw-token swap of a string or number inside a node or tensor
    q = rng.choice([q for q in all_paths if q[0] in ("nodes", "tensors", "storage", "gears")])
    v = rng.choice(
        [Raw("1e400"), Raw("-0"), Raw("1.0"), Raw("1e0"), Raw('"\\ud800"'), Raw("2e-400")]
    )
    at(m, q[:-1])[q[-1]] = v
    return f"raw {q} = {v.text}"


def manifest_text(m: dict[str, Any]) -> bytes:
    if "__pairs__" in m:
        return encode(m["__pairs__"]).encode()
    return encode(m).encode()


# ---------------------------------------------------------------------------
# The two entry points
# ---------------------------------------------------------------------------
def runtime_verdict(path: Path) -> str | None:
    """None if ``gearshift.Runtime`` opens ``path``, else its error as ``Type: message``."""
    try:
        Runtime(path)
    except (FormatError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def reader_verdict(data: bytes) -> str | None:
    """None if ``read_gear`` accepts ``data``, else its error as ``Type: message``."""
    try:
        gf.read_gear(data)
    except (FormatError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


# The 1.4 golden (an int8 model with integer I/O) brings the 1.1+ manifest: storage
# entries with quant, q8 gears with activations, io. The others one format version
# each (make_golden_versions.py): int4 views, sparse storage, the 1.3 ops, float
# islands, and (1.6) params references into the PARAMS section.
GOLDENS = [GOLDEN, GOLDEN.parent / "golden_v1_4_uint8.gear"] + [
    GOLDEN.parent / f"golden_v{v}.gear" for v in ("1_1", "1_2", "1_3", "1_5", "1_6")
]


@pytest.fixture(scope="module")
def base() -> gf.GearFile:
    return gf.read_gear(GOLDEN)


@pytest.fixture(scope="module", params=GOLDENS, ids=lambda p: p.stem)
def any_base(request) -> gf.GearFile:
    return gf.read_gear(request.param)


def check_pair(base: gf.GearFile, text: bytes, tmp: Path) -> tuple[str | None, str | None]:
    """(Runtime's verdict, read_gear's verdict) on ``base`` with manifest ``text``; an
    accepted file is also described as ``gearshift inspect`` does (must not raise)."""
    data = rebuild(base, text)
    tmp.write_bytes(data)
    rt, rd = runtime_verdict(tmp), reader_verdict(data)
    if rt is None and rd is None:
        describe(tmp)
    return rt, rd


def test_rebuild_is_faithful(base, tmp_path):
    text = bytes(base.section_bytes(0))
    rt, rd = check_pair(base, text, tmp_path / "same.gear")
    assert rt is None and rd is None, (rt, rd)
    assert rebuild(base, text) == GOLDEN.read_bytes()


# Hand-written edge cases; each is (description, edit of the manifest).
Edit = Callable[[dict[str, Any]], Any]
TARGETED: list[tuple[str, Edit]] = [
    ("unknown top-level key", lambda m: m.update(future_key={"x": [1]})),
    ("producer not a string", lambda m: m.update(producer=3)),
    ("metadata not an object", lambda m: m.update(metadata=[])),
    ("softmax beta huge int", lambda m: m["nodes"][11]["attrs"].update(beta=Raw("1" + "0" * 39))),
    (
        "softmax beta float max",
        lambda m: m["nodes"][11]["attrs"].update(beta=3.4028234663852886e38),
    ),
    ("softmax beta int", lambda m: m["nodes"][11]["attrs"].update(beta=2)),
    ("softmax activation", lambda m: m["nodes"][11]["attrs"].update(activation="NONE")),
    ("tanh empty attrs dropped", lambda m: m["nodes"][9].pop("attrs")),
    ("concat -1 third input", lambda m: m["nodes"][6]["inputs"].extend([-1])),
    ("graph output repeated", lambda m: m["outputs"].append(20)),
    ("graph input repeated", lambda m: m["inputs"].append(0)),
    ("no outputs", lambda m: m.update(outputs=[])),
    ("two outputs", lambda m: m["nodes"][9]["outputs"].append(16)),
    ("reshape 5 dims", lambda m: m["nodes"][7]["attrs"].update(shape=[1, 1, 2, 4, 4])),
    ("reshape 6 dims", lambda m: m["nodes"][7]["attrs"].update(shape=[1, 1, 1, 2, 4, 4])),
    ("reshape two -1", lambda m: m["nodes"][7]["attrs"].update(shape=[-1, -1])),
    ("reshape overflow", lambda m: m["nodes"][7]["attrs"].update(shape=[2**62, 4])),
    ("pad wrong rank", lambda m: m["nodes"][0]["attrs"]["paddings"].pop()),
    ("pad 2^31", lambda m: m["nodes"][0]["attrs"]["paddings"][1].__setitem__(0, 2**31)),
    ("stride 2^31-1", lambda m: m["nodes"][1]["attrs"].update(stride=[I32, I32])),
    ("stride 2^31", lambda m: m["nodes"][1]["attrs"].update(stride=[2**31, 1])),
    ("concat axis = rank", lambda m: m["nodes"][6]["attrs"].update(axis=4)),
    ("dw multiplier 2", lambda m: m["nodes"][2]["attrs"].update(depth_multiplier=2)),
    ("conv bias wrong", lambda m: m["nodes"][1]["inputs"].__setitem__(2, 6)),
    ("conv no bias", lambda m: m["nodes"][1]["inputs"].__setitem__(2, -1)),
    ("fc weights swapped", lambda m: m["nodes"][8]["inputs"].__setitem__(1, 17)),
    ("tensor shape overflow", lambda m: m["tensors"][1].update(shape=[-1, 2**62, 2, 2])),
    ("storage rank 7", lambda m: m["storage"][0].update(shape=[1, 1, 1, 4, 3, 3, 2])),
    ("empty gear name", lambda m: m["gears"][0].update(name="")),
    ("lone surrogate name", lambda m: m["tensors"][0].update(name=Raw('"\\ud800"'))),
    ("surrogate pair name", lambda m: m["tensors"][0].update(name=Raw('"\\ud83d\\ude00"'))),
    ("1e-400 beta", lambda m: m["nodes"][11]["attrs"].update(beta=Raw("1e-400"))),
    ("subnormal beta", lambda m: m["nodes"][11]["attrs"].update(beta=Raw("4.9e-324"))),
    (
        "mean as op",
        lambda m: m["nodes"][5].update(op="MEAN", attrs={"axes": [1, 2], "keep_dims": True}),
    ),
    (
        "mean repeated axes",
        lambda m: m["nodes"][5].update(op="MEAN", attrs={"axes": [1, 1], "keep_dims": True}),
    ),
    ("max pool", lambda m: m["nodes"][4].update(op="MAX_POOL_2D")),
    ("mul", lambda m: m["nodes"][3].update(op="MUL")),
    ("deep metadata", lambda m: m.update(metadata={"d": json.loads("[" * 62 + "]" * 62)})),
    ("too deep metadata", lambda m: m.update(metadata={"d": json.loads("[" * 63 + "]" * 63)})),
]


@pytest.mark.parametrize("desc,edit", TARGETED, ids=[d for d, _ in TARGETED])
def test_targeted_parity(base, tmp_path, desc, edit):
    m = json.loads(bytes(base.section_bytes(0)))
    edit(m)
    rt, rd = check_pair(base, manifest_text(m), tmp_path / "t.gear")
    assert rt == rd, f"{desc}: Runtime: {rt or 'accepts'}; read_gear: {rd or 'accepts'}"


def test_value_count_limit_parity(base, tmp_path):
    limit = MAX_JSON_VALUES
    m = json.loads(bytes(base.section_bytes(0)))
    total = len(paths(m)) + 1
    # Fill metadata so the document holds exactly `limit` values, then one more.
    m["metadata"]["bulk"] = [0] * (limit - total - 1)
    for extra, ok in ((0, True), (1, False)):
        m["metadata"]["bulk"].extend([0] * extra)
        text = json.dumps(m, separators=(",", ":")).encode()
        rt, rd = check_pair(base, text, tmp_path / "big.gear")
        assert rt == rd, (extra, rt, rd)
        assert (rt is None) == ok, (extra, rt)
        if not ok:
            assert rt is not None and f"more than {limit} values" in rt


def test_random_mutations_parity(any_base, tmp_path):
    base = any_base
    rng = random.Random(SEED)
    original = json.loads(bytes(base.section_bytes(0)))
    tmp = tmp_path / "m.gear"
    mismatches: list[str] = []
    stats = {"both accept": 0, "both refuse": 0, "refused by the reader": 0}
    for i in range(N_RANDOM):
        m = copy.deepcopy(original)
        desc = mutate(m, rng)
        rt, rd = check_pair(base, manifest_text(m), tmp)
        if rt != rd:
            mismatches.append(
                f"#{i} {desc}: Runtime: {(rt or 'accepts')[:160]}; "
                f"read_gear: {(rd or 'accepts')[:160]}"
            )
        elif rt is None:
            stats["both accept"] += 1
        else:
            stats["both refuse"] += 1
            # a FormatError naming the field, from the C++ reader (gear_reader.cc, json.cc)
            stats["refused by the reader"] += bool(
                rt.startswith("FormatError: ") and _READER_ERROR.match(rt[len("FormatError: ") :])
            )
    assert not mismatches, f"{len(mismatches)} disagreements:\n" + "\n".join(mismatches[:20])
    # The generator must exercise both verdicts, and the refusals must be the reader's.
    assert stats["both accept"] > 50 and stats["both refuse"] > 500, stats
    assert stats["refused by the reader"] == stats["both refuse"], stats


def test_scale_must_be_exactly_a_float32(tmp_path):
    """A scale written as a decimal that is no float32 (0.1) is refused (one validator: by
    Runtime and read_gear alike); the float32 it rounds to, written exactly, is accepted
    (FORMAT.md "quant")."""
    base = gf.read_gear(GOLDENS[1])
    original = json.loads(bytes(base.section_bytes(0)))
    k = next(i for i, e in enumerate(original["storage"]) if e.get("quant"))
    n = len(original["storage"][k]["quant"]["scale"])
    for value, ok in ((0.1, False), (float(np.float32(0.1)), True)):
        m = copy.deepcopy(original)
        m["storage"][k]["quant"]["scale"] = [value] * n
        rt, rd = check_pair(base, manifest_text(m), tmp_path / "s.gear")
        assert rt == rd, (value, rt, rd)
        assert (rt is None) == ok, (value, rt)
        if not ok:
            assert rt is not None and "must be a float32 value, got 0.1" in rt
