"""Loads the compiled extension, ``gearshift._core``, or says how to build it.

The extension is the runtime and the one validator of the ``.gear`` format:
wheels and editable installs always carry it. A source checkout that was never
built lacks it; then nothing that needs it (``import gearshift``,
``read_gear``, ``gearshift inspect``) goes on without it: it fails here, with
the command that builds it, rather than skipping validation.
"""

from __future__ import annotations

import importlib
from types import ModuleType

BUILD_HINT = (
    "gearshift's compiled extension (gearshift._core) is missing: it is the runtime "
    "and the .gear validator, and gearshift does not read a file it has not checked. "
    "Build it from the source tree with `make dev` (an editable install) or "
    "`make install`, or install a gearshift wheel"
)


def load_core() -> ModuleType:
    """``gearshift._core``; ImportError naming the build command when it is missing."""
    try:
        return importlib.import_module("gearshift._core")
    except ImportError as e:
        raise ImportError(f"{BUILD_HINT} ({e})") from e
