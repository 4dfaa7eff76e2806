"""Training-aware compression on the host (TensorFlow/Keras): importance scores,
gradual pruning with fine-tuning, quantization-aware training, distillation.

The public entry points are ``gearshift.train.prune``, ``gearshift.train.qat``
and ``gearshift.distill`` (thin wrappers in ``python/gearshift/train.py``);
this package holds the work. TensorFlow is imported inside the modules that
need it, so importing this package alone stays cheap.
"""

from __future__ import annotations

__all__: list[str] = []
