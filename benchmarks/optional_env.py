"""Optional comparison packages installed beside the venv (``make tfmot-env``,
``make aeq-env``): their folder onto ``sys.path`` before the import is tried.

The folder is ``path`` (a command-line option), else the environment variable,
else the default under the checkout's build folder; a copy installed in the
venv itself is found without it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def add_folder(
    path: str | os.PathLike[str] | None, env_var: str, default: Path, option: str, how_to: str
) -> str | None:
    """Appends the package folder to ``sys.path`` where it exists; returns why not
    (naming ``option`` and ``how_to``) when an explicit ``path`` is not a folder."""
    folder = Path(path or os.environ.get(env_var) or default)
    if path is not None and not folder.is_dir():
        return f"{option} {folder} is not a folder; {how_to}"
    if folder.is_dir() and str(folder) not in sys.path:
        sys.path.append(str(folder))
    return None
