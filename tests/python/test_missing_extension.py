"""Without the compiled extension gearshift says how to build it; it never reads a
``.gear`` file unvalidated (the extension is the format's one validator)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gearshift
from gearshift import gear_format as gf

GOLDEN = Path(__file__).parent / "data" / "golden_v1_0.gear"


def test_read_gear_refuses_to_go_on_without_the_extension(monkeypatch):
    monkeypatch.setitem(sys.modules, "gearshift._core", None)  # import -> ImportError
    with pytest.raises(ImportError, match=r"gearshift\._core\) is missing.*`make dev`"):
        gf.read_gear(GOLDEN.read_bytes())
    with pytest.raises(ImportError, match="make dev"):
        gf.read_gear(GOLDEN)


def test_import_gearshift_from_an_unbuilt_checkout_says_how_to_build(tmp_path):
    """A copy of the package's Python files without _core, imported by a fresh
    interpreter that sees numpy but neither the editable install's path hooks (-S: no
    .pth files) nor a built extension."""
    pkg = Path(gearshift.__file__).parent
    dest = tmp_path / "gearshift"
    dest.mkdir()
    for f in pkg.glob("*.py"):
        shutil.copy2(f, dest / f.name)
    numpy_home = Path(np.__file__).parent.parent  # wherever numpy lives (venv, Debian's)
    code = "import gearshift"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{numpy_home}"}
    r = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "make dev" in r.stderr, r.stderr[-2000:]
