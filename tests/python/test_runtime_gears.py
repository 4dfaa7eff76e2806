"""Gear switching through gs.Runtime (issue 3): fp32/fp16 gears of one file,
prepare="lazy"/"all", memory_budget_mb, prepared_bytes, switching while other
threads run, and the fp16 gear's rounding against quant_ref.quantize_f16.

The .gear files are written by a small local format-1.1 writer (FORMAT.md
section 2), independent of converters/write_gear.py.
"""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gearshift as gs
from gearshift import _core
from gearshift.converters.quant_ref import quantize_f16

ALIGN = 64


def _align(n: int) -> int:
    return n + (ALIGN - n % ALIGN) % ALIGN


class _Writer:
    """Tensors, nodes, storage and gears of one file; write() lays it out."""

    def __init__(self) -> None:
        self.tensors: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        self.storage: list[dict[str, Any]] = []
        self.gears: list[dict[str, Any]] = []
        self.data = bytearray()
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, name: str, shape: list[int], const: bool = False) -> int:
        t: dict[str, Any] = {"name": name, "shape": shape, "dtype": "f32"}
        if const:
            t["const"] = True
        self.tensors.append(t)
        return len(self.tensors) - 1

    def store(self, array: np.ndarray, dtype: str, quant: dict[str, Any] | None = None) -> int:
        self.data.extend(b"\0" * (_align(len(self.data)) - len(self.data)))
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        entry: dict[str, Any] = {
            "section": 1,
            "offset": len(self.data),
            "length": len(raw),
            "dtype": dtype,
            "shape": list(array.shape),
            "encoding": "dense",
        }
        if quant is not None:
            entry["quant"] = quant
        self.data.extend(raw)
        self.storage.append(entry)
        return len(self.storage) - 1

    def write(self, path: Path) -> Path:
        manifest = json.dumps(
            {
                "producer": "test_runtime_gears",
                "tensors": self.tensors,
                "inputs": self.inputs,
                "outputs": self.outputs,
                "nodes": self.nodes,
                "storage": self.storage,
                "gears": self.gears,
            }
        ).encode()
        table_end = 64 + 2 * 32
        man_off = _align(table_end)
        data_off = _align(man_off + len(manifest))
        size = data_off + len(self.data)
        out = bytearray(size)
        out[man_off : man_off + len(manifest)] = manifest
        out[data_off:] = self.data
        for i, (kind, off, payload) in enumerate(
            [(1, man_off, manifest), (2, data_off, bytes(self.data))]
        ):
            struct.pack_into(
                "<IIQQII", out, 64 + 32 * i, kind, 0, off, len(payload), _core.crc32c(payload), 0
            )
        struct.pack_into("<4sHHIIQQII", out, 0, b"GEAR", 1, 1, ALIGN, 2, size, 64, 0, 0)
        crc = _core.crc32c(bytes(out[64:table_end]), _core.crc32c(bytes(out[:64])))
        struct.pack_into("<I", out, 32, crc)
        path.write_bytes(bytes(out))
        return path


def _bias(h: int) -> np.ndarray:
    """Multiples of 1/32: the same in fp32 and fp16."""
    return (np.arange(h, dtype=np.float32) / 32 - 0.5).astype(np.float32)


def _mlp(path: Path, w1: np.ndarray, w2: np.ndarray, int8: bool = False) -> Path:
    """x [-1, K] -> FC w1 (+b) RELU -> FC w2 -> y, gears fp32 and fp16 over the
    same f32 payloads (plus an int8 gear when asked)."""
    wr = _Writer()
    k, h, o = w1.shape[1], w1.shape[0], w2.shape[0]
    x = wr.tensor("x", [-1, k])
    t_w1 = wr.tensor("fc1/w", [h, k], const=True)
    t_b1 = wr.tensor("fc1/b", [h], const=True)
    hid = wr.tensor("hidden", [-1, h])
    t_w2 = wr.tensor("fc2/w", [o, h], const=True)
    y = wr.tensor("y", [-1, o])
    wr.inputs, wr.outputs = [x], [y]
    wr.nodes = [
        {"name": "fc1", "op": "FULLY_CONNECTED", "inputs": [x, t_w1, t_b1], "outputs": [hid],
         "attrs": {"activation": "RELU"}},
        {"name": "fc2", "op": "FULLY_CONNECTED", "inputs": [hid, t_w2, -1], "outputs": [y],
         "attrs": {}},
    ]  # fmt: skip
    b1 = _bias(h)
    consts = [[t_w1, wr.store(w1, "f32")], [t_b1, wr.store(b1, "f32")], [t_w2, wr.store(w2, "f32")]]
    wr.gears = [
        {"name": "fp32", "compute": "f32", "constants": consts},
        {"name": "fp16", "compute": "f16", "constants": consts},
    ]
    if int8:
        s1 = (np.abs(w1).max(axis=1) / 127).astype(np.float32)
        s2 = (np.abs(w2).max(axis=1) / 127).astype(np.float32)
        q1 = np.round(w1 / s1[:, None]).astype(np.int8)
        q2 = np.round(w2 / s2[:, None]).astype(np.int8)
        xs, hs, ys = np.float32(4 / 255), np.float32(8 / 255), np.float32(16 / 255)
        bq = np.round(b1 / (xs * s1)).astype(np.int32)
        wr.gears.append(
            {
                "name": "int8",
                "compute": "q8",
                "constants": [
                    [t_w1, wr.store(q1, "i8", {"axis": 0, "scale": s1.tolist()})],
                    [t_b1, wr.store(bq, "i32", {"axis": 0, "scale": (xs * s1).tolist()})],
                    [t_w2, wr.store(q2, "i8", {"axis": 0, "scale": s2.tolist()})],
                ],
                "activations": [[x, float(xs), 0], [hid, float(hs), -128], [y, float(ys), 0]],
            }
        )
    return wr.write(path)


@pytest.fixture()
def weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (
        rng.uniform(-1, 1, (32, 24)).astype(np.float32),
        rng.uniform(-1, 1, (6, 32)).astype(np.float32),
    )


@pytest.fixture()
def x() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (5, 24)).astype(np.float32)


def test_fp32_and_fp16_gears_switch_without_reload(tmp_path, weights, x) -> None:
    w1, w2 = weights
    rt = gs.Runtime(_mlp(tmp_path / "m.gear", w1, w2))
    assert rt.gears == ("fp32", "fp16")
    y32 = rt.run(x)
    rt.gear = "fp16"
    assert rt.gear == "fp16"
    y16 = rt.run(x)
    # fp16 is exactly fp32 over the weights rounded to half.
    r1 = quantize_f16(w1).astype(np.float32)
    r2 = quantize_f16(w2).astype(np.float32)
    want16 = gs.Runtime(_mlp(tmp_path / "r.gear", r1, r2)).run(x)
    np.testing.assert_array_equal(y16, want16)
    assert not np.array_equal(y16, y32)
    ref = np.maximum(x @ w1.T + _bias(32), 0) @ w2.T
    np.testing.assert_allclose(y32, ref, rtol=1e-5, atol=1e-5)
    rt.gear = "fp32"
    np.testing.assert_array_equal(rt.run(x), y32)


def test_fp16_rounding_equals_quant_ref(tmp_path) -> None:
    """Edge values through an identity input: y[j, o] = w[o, j] exactly."""
    vals = np.array(
        [65504, 65505, 65519, 65520, 1e6, -1e9, 3.4e38, 1e-8, 2.9802322e-8, 3e-8, 6e-5,
         -6.1e-5, 2049.0, 2051.0, 0.1, -0.0, 1 + 2**-11, 1 + 3 * 2**-11, 1023.75 * 2**-24,
         5 * 2**-25, 65488],
        dtype=np.float32,
    )  # fmt: skip
    k = vals.size
    w1 = np.zeros((3, k), np.float32)
    w1[0] = vals
    w1[1] = np.random.default_rng(2).normal(0, 100, k).astype(np.float32)
    w1[2] = -vals
    wr = _Writer()
    xt = wr.tensor("x", [-1, k])
    wt = wr.tensor("w", [3, k], const=True)
    nan_w = wr.tensor("w_nan", [1, k], const=True)
    y = wr.tensor("y", [-1, 3])
    y2 = wr.tensor("y_nan", [-1, 1])
    wr.inputs, wr.outputs = [xt], [y, y2]
    wr.nodes = [
        {"name": "fc", "op": "FULLY_CONNECTED", "inputs": [xt, wt, -1], "outputs": [y]},
        {"name": "fcn", "op": "FULLY_CONNECTED", "inputs": [xt, nan_w, -1], "outputs": [y2]},
    ]
    nan_row = np.full((1, k), np.nan, np.float32)
    consts = [[wt, wr.store(w1, "f32")], [nan_w, wr.store(nan_row, "f32")]]
    wr.gears = [{"name": "fp16", "compute": "f16", "constants": consts}]
    rt = gs.Runtime(wr.write(tmp_path / "f16.gear"))
    out = rt.run(np.eye(k, dtype=np.float32))
    np.testing.assert_array_equal(out["y"].T, quantize_f16(w1).astype(np.float32))
    assert np.isnan(out["y_nan"]).all()


def test_prepare_lazy_all_and_prepared_bytes(tmp_path, weights, x) -> None:
    path = _mlp(tmp_path / "m.gear", *weights)
    lazy = gs.Runtime(path, isa="ref")
    assert lazy.prepared_bytes == 0  # fp32 weights are used in place
    lazy.run(x)
    assert lazy.prepared_bytes == 0
    weights = 32 * 24 + 6 * 32
    lazy.gear = "fp16"  # the first switch rounds the bias; the weights stay in the file
    derived = lazy.prepared_bytes
    assert 4 * 32 <= derived < weights
    lazy.run(x)  # the plan packs the weights as half (2 bytes each, plus f32 bias rows)
    fp16_bytes = lazy.prepared_bytes
    assert 2 * weights <= fp16_bytes - derived < 3 * weights
    lazy.gear = "fp32"
    assert lazy.prepared_bytes == fp16_bytes
    eager = gs.Runtime(path, prepare="all", isa="ref")
    assert eager.prepared_bytes == derived  # before any switch; packs come with a plan
    eager.gear = "fp16"
    np.testing.assert_array_equal(eager.run(x), _run_gear(path, "fp16", x, isa="ref"))


def _run_gear(path: Path, gear: str, x: np.ndarray, isa: str | None = None) -> np.ndarray:
    return gs.Runtime(path, gear=gear, isa=isa).run(x)


def test_memory_budget_evicts_and_refuses(tmp_path, weights, x) -> None:
    path = _mlp(tmp_path / "m.gear", *weights)
    want = {g: _run_gear(path, g, x) for g in ("fp32", "fp16")}
    alone = {}
    for g in ("fp32", "fp16"):
        rt = gs.Runtime(path, gear=g)
        rt.run(x)
        alone[g] = rt.prepared_bytes
    budget = max(alone.values())
    rt = gs.Runtime(path, memory_budget_mb=budget / 2**20)
    for _ in range(3):
        for g in ("fp32", "fp16"):
            rt.gear = g
            np.testing.assert_array_equal(rt.run(x), want[g])
            assert rt.prepared_bytes == alone[g] <= budget
    tiny = gs.Runtime(path, memory_budget_mb=100 / 2**20)
    # Packed kernel copies count too: even fp32 (used in place) does not fit.
    with pytest.raises(ValueError, match=r"gear 'fp32' needs \d+ bytes .* memory budget of 100"):
        tiny.run(x)
    tiny = gs.Runtime(path, isa="ref", memory_budget_mb=100 / 2**20)
    with pytest.raises(ValueError, match=r"gear 'fp16' needs \d+ bytes .* memory budget of 100"):
        tiny.gear = "fp16"
    assert tiny.gear == "fp32"
    np.testing.assert_array_equal(tiny.run(x), _run_gear(path, "fp32", x, isa="ref"))


def test_int8_gear_uses_the_file_in_place(tmp_path, weights) -> None:
    rt = gs.Runtime(_mlp(tmp_path / "m.gear", *weights, int8=True), isa="ref")
    assert rt.gears == ("fp32", "fp16", "int8")
    rt.gear = "int8"  # i8 weights and i32 biases need no derived copy
    assert (rt.gear, rt.prepared_bytes) == ("int8", 0)


def test_bad_arguments_and_old_keywords(tmp_path, weights, x) -> None:
    path = _mlp(tmp_path / "m.gear", *weights)
    with pytest.raises(ValueError, match='prepare must be "lazy"'):
        gs.Runtime(path, prepare="eager")
    for bad in (0, -1, float("nan"), "1", True):
        with pytest.raises(ValueError, match="memory_budget_mb"):
            gs.Runtime(path, memory_budget_mb=bad)
    rt = gs.Runtime(path, "fp16", 2, "all", 64, verify_checksums=False, isa="ref")
    assert (rt.gear, rt.threads, rt.isa) == ("fp16", 2, "ref")
    with pytest.raises(ValueError, match="unknown gear 'int4'; available gears: fp32, fp16"):
        rt.gear = "int4"
    assert "1.1" in gs.runtime_info()["format_versions"]
    assert "1.0" in gs.runtime_info()["format_versions"]


def test_switching_while_other_threads_run(tmp_path, weights) -> None:
    path = _mlp(tmp_path / "m.gear", *weights)
    xb = np.random.default_rng(3).uniform(-1, 1, (64, 24)).astype(np.float32)
    want = [_run_gear(path, g, xb) for g in ("fp32", "fp16")]
    rt = gs.Runtime(path, threads=2, prepare="all")
    done = threading.Event()
    errors: list[BaseException] = []
    counts = [0, 0]

    def runner() -> None:
        try:
            for _ in range(150):
                y = rt.run(xb)
                hits = [i for i, w in enumerate(want) if np.array_equal(y, w)]
                assert len(hits) == 1, "output is neither gear's"
                counts[hits[0]] += 1
        except BaseException as e:
            errors.append(e)

    def switcher() -> None:
        i = 0
        while not done.is_set():
            rt.gear = ("fp32", "fp16")[i % 2]
            i += 1

    threads = [threading.Thread(target=runner) for _ in range(3)]
    sw = threading.Thread(target=switcher)
    sw.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    sw.join()
    assert not errors, errors
    assert sum(counts) == 450
