"""Test-wide settings: the cost cache (gearshift.costs) lives in a temporary
folder, so tests neither read a developer's cached costs nor write to ~/.cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cost_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GEARSHIFT_CACHE_DIR", str(tmp_path_factory.mktemp("gearshift-cache")))
