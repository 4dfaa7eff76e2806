"""A corpus of corrupted and truncated .gear files: each must give a clean
Python error (FormatError / ValueError), never a crash or a hang.

The corpus is loaded in a child process so that a crash is seen as a failed
test rather than taking pytest down with it.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gearshift as gs

WORKER = textwrap.dedent(
    """
    import json, sys
    import gearshift as gs
    import numpy as np
    results = {}
    for path in sys.argv[1:]:
        try:
            rt = gs.Runtime(path)
            x = np.zeros([1 if d == -1 else d for d in rt.inputs[0].shape], np.float32)
            rt.run(x)
            results[path] = "ok"
        except gs.FormatError as e:
            results[path] = "FormatError: " + str(e)
        except ValueError as e:
            results[path] = "ValueError: " + str(e)
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory) -> bytes:
    keras = pytest.importorskip("keras")
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(4),
        ]
    )
    path = tmp_path_factory.mktemp("valid") / "v.gear"
    gs.convert(model, path)
    return path.read_bytes()


def _load_all(paths: list[Path]) -> dict[str, str]:
    r = subprocess.run(
        [sys.executable, "-c", WORKER, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, f"loader crashed (rc {r.returncode}): {r.stderr[-2000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_truncations(valid_file, tmp_path):
    n = len(valid_file)
    lengths = sorted(set(range(0, min(n, 300))) | set(range(0, n, max(1, n // 200))))
    paths = []
    for k in lengths:
        p = tmp_path / f"trunc_{k}.gear"
        p.write_bytes(valid_file[:k])
        paths.append(p)
    results = _load_all(paths)
    for p in paths:
        assert results[str(p)].startswith("FormatError"), (p.name, results[str(p)])


def test_extended_file(valid_file, tmp_path):
    p = tmp_path / "ext.gear"
    p.write_bytes(valid_file + b"\0" * 64)
    assert _load_all([p])[str(p)].startswith("FormatError")


def test_byte_flips(valid_file, tmp_path):
    rng = np.random.default_rng(0)
    n = len(valid_file)
    positions = sorted(set(range(0, min(n, 200))) | set(rng.integers(0, n, 300).tolist()))
    paths = []
    for pos in positions:
        b = bytearray(valid_file)
        b[pos] ^= 1 << int(rng.integers(0, 8))
        p = tmp_path / f"flip_{pos}.gear"
        p.write_bytes(bytes(b))
        paths.append(p)
    results = _load_all(paths)
    for p in paths:
        r = results[str(p)]
        # a flip in zero padding that no checksum covers may still load; all
        # else must be refused cleanly
        assert r == "ok" or r.startswith("FormatError"), (p.name, r)
    refused = sum(r.startswith("FormatError") for r in results.values())
    assert refused >= 0.9 * len(paths)


def _patch_header(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def test_newer_major_names_both_versions(valid_file, tmp_path):
    p = tmp_path / "v2.gear"
    p.write_bytes(_patch_header(valid_file, 4, "<H", 2))
    msg = _load_all([p])[str(p)]
    assert msg.startswith("FormatError")
    assert "2" in msg and "1" in msg


@pytest.mark.parametrize(
    "content", [b"", b"GEAR", b"not a gear file at all" * 10, bytes(range(256)) * 4]
)
def test_garbage(content, tmp_path):
    p = tmp_path / "g.gear"
    p.write_bytes(content)
    assert _load_all([p])[str(p)].startswith("FormatError")


def test_error_messages_are_specific(valid_file, tmp_path):
    p = tmp_path / "magic.gear"
    p.write_bytes(b"GEAX" + valid_file[4:])
    assert "magic" in _load_all([p])[str(p)].lower()
    p = tmp_path / "data.gear"
    b = bytearray(valid_file)
    b[-5] ^= 0xFF  # inside the last section: tensor data
    p.write_bytes(bytes(b))
    assert "crc" in _load_all([p])[str(p)].lower()
