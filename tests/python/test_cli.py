"""The gearshift command line: exit codes, one-line errors, JSON shapes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


def gearshift(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gearshift.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    keras = pytest.importorskip("keras")
    layers = keras.layers
    d = tmp_path_factory.mktemp("cli")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3),
        ]
    )
    model.save(d / "m.keras")
    x = np.random.default_rng(0).standard_normal((5, 8, 8, 1)).astype(np.float32)
    np.save(d / "x.npy", x)
    ref = np.asarray(model(x))
    return d, ref


def test_convert_run_inspect_bench(model_files):
    d, ref = model_files
    r = gearshift("convert", d / "m.keras", "-o", d / "m.gear", "--calibration", d / "x.npy")
    assert r.returncode == 0, r.stderr
    assert (d / "m.gear").exists()

    r = gearshift("run", d / "m.gear", "--input", d / "x.npy", "--output", d / "y.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(d / "y.npy"), ref, rtol=1e-4, atol=1e-5)

    r = gearshift("inspect", d / "m.gear")
    assert r.returncode == 0, r.stderr
    assert "fp32" in r.stdout and "CONV_2D" in r.stdout
    r = gearshift("inspect", d / "m.gear", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["gears"][0]["name"] == "fp32"

    r = gearshift("bench", d / "m.gear", "--runs", "5", "--warmup", "1", "--json", d / "b.json")
    assert r.returncode == 0, r.stderr
    b = json.loads((d / "b.json").read_text())
    g = b["gears"]["fp32"]
    assert set(g["latency_ms"]) >= {"min", "median", "p90", "p99"}
    assert g["runs"] == 5 and g["threads"] == 1
    assert g["peak_rss_bytes"] > 0 and g["file_bytes"] == (d / "m.gear").stat().st_size


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "missing.gear", "--input", "x.npy"], "missing.gear"),
        (["inspect", "x.npy"], ""),
        (["convert", "nope.keras", "-o", "o.gear"], "nope.keras"),
    ],
)
def test_errors_are_one_line(model_files, args, needle):
    d, _ = model_files
    r = gearshift(*args, cwd=d)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


def test_wrong_input_shape(model_files, tmp_path):
    d, _ = model_files
    gearshift("convert", d / "m.keras", "-o", d / "m2.gear")
    np.save(tmp_path / "bad.npy", np.zeros((2, 7, 8, 1), np.float32))
    r = gearshift("run", d / "m2.gear", "--input", tmp_path / "bad.npy")
    assert r.returncode == 1 and r.stderr.startswith("error: ")
    assert "expected shape" in r.stderr


def test_usage_error_exit_2():
    r = gearshift("bench")
    assert r.returncode == 2
    r = gearshift("frobnicate")
    assert r.returncode == 2


@pytest.mark.parametrize("mode", ["tail", "heads"])
def test_convert_float_layers_modes(model_files, mode):
    """--float-layers takes the named modes (not a list of layer names) and the report
    says what stayed float."""
    d, _ = model_files
    out = d / f"f-{mode}.gear"
    r = gearshift(
        "convert", d / "m.keras", "-o", out, "--gears", "fp32,int8", "--calibration",
        d / "x.npy", "--float-layers", mode, "--float-budget", "1",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = gearshift("inspect", out, "--json")
    assert r.returncode == 0, r.stderr
    int8 = next(g for g in json.loads(r.stdout)["gears"] if g["name"] == "int8")
    assert int8["compute"] == "q8+f32", int8
