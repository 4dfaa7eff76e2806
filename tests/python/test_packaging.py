"""Every Python package in the tree is listed in setup.py: an editable install finds a
forgotten one, the wheel a user installs does not."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_in_setup_py() -> None:
    setup = (ROOT / "setup.py").read_text()
    roots = {"converters": "gearshift.converters", "python/gearshift": "gearshift"}
    missing = []
    for folder, dotted in roots.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            name = ".".join([dotted, *rel.parts])
            if "__pycache__" not in rel.parts and f'"{name}"' not in setup:
                missing.append(name)
    assert not missing, f"packages missing from setup.py: {missing}"
