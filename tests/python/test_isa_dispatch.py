"""Runtime CPU dispatch from Python: the ``isa`` option of ``gs.Runtime``.

A small CNN (regular, 1x1 and depthwise convolutions, a dense head) must give the same
outputs, within 1e-5 relative, on the reference kernels (``isa="ref"``) and
on the ISA the runtime picks by default; unknown ISAs are refused with the
available ones listed."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import gearshift as gs


@pytest.fixture(scope="module")
def small_cnn_gear(tmp_path_factory):
    keras = pytest.importorskip("keras")
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu6"),
            layers.Conv2D(24, 1, activation="relu"),
            layers.DepthwiseConv2D(3, padding="same", activation="relu6"),
            layers.Conv2D(8, 3, padding="valid"),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )
    path = tmp_path_factory.mktemp("isa") / "cnn.gear"
    gs.convert(model, path, gears=("fp32",))
    return path


def test_ref_and_default_isa_agree(small_cnn_gear):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 12, 12, 3)).astype(np.float32)
    ref = gs.Runtime(small_cnn_gear, isa="ref")
    best = gs.Runtime(small_cnn_gear)
    assert ref.isa == "ref"
    assert best.isa in gs.runtime_info()["isa_compiled"]
    y_ref = ref.run(x)
    y_best = best.run(x)
    np.testing.assert_allclose(y_best, y_ref, rtol=1e-5, atol=1e-5 * float(np.abs(y_ref).max()))


def test_unknown_isa_is_refused(small_cnn_gear):
    with pytest.raises(ValueError, match=r"available: .*ref"):
        gs.Runtime(small_cnn_gear, isa="sse9")


def test_masked_features_and_env_override_take_the_reference_path(small_cnn_gear):
    code = "import gearshift as gs, sys; print(gs.Runtime(sys.argv[1]).isa)"
    for env in ({"GEARSHIFT_DISABLE": "avx2,neon"}, {"GEARSHIFT_ISA": "ref"}):
        r = subprocess.run(
            [sys.executable, "-c", code, str(small_cnn_gear)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "ref", (env, r.stdout)
