"""Host-side converters: Keras model -> IR -> passes -> ``.gear`` file.

Installed as ``gearshift.converters``. Importing this package is cheap: only
``import_keras`` (and ``convert``, through it) imports TensorFlow, and only
inside its functions.
"""

from __future__ import annotations

from ..errors import UnsupportedOpError
from .ir import Graph, IRError, Node, Tensor

__all__ = ["Graph", "IRError", "Node", "Tensor", "UnsupportedOpError"]
