"""gearshift: put a neural network on a small board.

The runtime side (``Runtime``, ``runtime_info``) needs only numpy and the
compiled extension. ``convert`` imports TensorFlow lazily, on first use, so a
board without TensorFlow can ``import gearshift``.
"""

from __future__ import annotations

from gearshift import calibration, power, train
from gearshift.cascade import Cascade
from gearshift.convert import Prune, convert
from gearshift.errors import FormatError
from gearshift.interpreter import Interpreter
from gearshift.runtime import Runtime, TensorSpec, runtime_info
from gearshift.shifter import Shifter
from gearshift.train import distill

__version__ = "0.3.0"

__all__ = [
    "Cascade",
    "FormatError",
    "Interpreter",
    "Prune",
    "Runtime",
    "Shifter",
    "TensorSpec",
    "__version__",
    "calibration",
    "convert",
    "distill",
    "power",
    "runtime_info",
    "train",
]
