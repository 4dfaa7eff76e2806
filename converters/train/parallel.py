"""Sensitivity scans on Ray: one task per (layer, setting), the same results as the local scan.

A scan changes one layer, evaluates the whole model and restores the layer:
its configurations are independent. ``scan_on_ray`` starts one actor per CPU
Ray offers (at most one per configuration); each actor loads the model once
(from Keras' own ``.keras`` bytes, put in Ray's object store with the data
and the importance scores) and then evaluates the configurations it is given
with the very functions the local scan uses (``sensitivity._changed_kernel``
and ``_evaluate``), on the same batches in the same order, so the numbers are
the local scan's. Ray is optional: ``pip install "gearshift[ray]"``.

``address``: ``True`` uses the Ray already initialised in this process or
starts a local one (shut down again afterwards); a string is a cluster
address for ``ray.init`` (e.g. ``"ray://head:10001"`` or ``"auto"``). The
workers need gearshift and TensorFlow installed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ray_session", "scan_on_ray"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(
            'ray=... needs Ray: pip install "gearshift[ray]" (or pip install ray), '
            "or leave ray unset to scan in this process"
        ) from None
    return ray


@contextlib.contextmanager
def ray_session(address: Any) -> Iterator[Any]:
    """The ``ray`` module, initialised: the Ray already running in this process, or
    one started for the block (``address`` True: local; a string: that cluster)
    and shut down after it."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    ray.init(
        address=None if address is True else str(address),
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def _model_bytes(model: Any) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


class _Scanner:
    """The actor's state: the model loaded once, the batches, the scores."""

    def __init__(self, model_bytes: bytes, loss: Any, batches: list, scores: dict) -> None:
        import keras

        fd, path = tempfile.mkstemp(suffix=".keras")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(model_bytes)
            self.model = keras.saving.load_model(path, compile=False)
        finally:
            os.unlink(path)
        self.loss = keras.losses.deserialize(loss) if isinstance(loss, dict) else loss
        self.batches = batches
        self.scores = scores

    def run(self, config: tuple[str, str, Any]) -> tuple[float, float]:
        from .scores import prunable_layers
        from .sensitivity import _changed_kernel, _evaluate

        name, what, setting = config
        layer = next(la for la in prunable_layers(self.model) if la.name == name)
        k0 = layer.kernel.numpy()
        kernel = _changed_kernel(k0, type(layer).__name__, what, setting, self.scores[name])
        layer.kernel.assign(kernel)
        try:
            return _evaluate(self.model, self.batches, self.loss)
        finally:
            layer.kernel.assign(k0)


def scan_on_ray(
    address: Any, model: Any, ds: Any, loss_fn: Any, configs: list, scores: dict, bar: Any
) -> list[tuple[float, float]]:
    """``(loss, accuracy)`` per configuration, in ``configs`` order, computed on Ray."""
    import keras

    with ray_session(address) as ray:
        loss = (
            keras.losses.serialize(loss_fn) if isinstance(loss_fn, keras.losses.Loss) else loss_fn
        )
        batches = [(np.asarray(x), np.asarray(y)) for x, y in ds]
        shared = [
            ray.put(_model_bytes(model)),
            ray.put(loss),
            ray.put(batches),
            ray.put({k: np.asarray(v) for k, v in scores.items()}),
        ]
        cpus = int(ray.available_resources().get("CPU", 1)) or 1
        actor = ray.remote(num_cpus=1)(_Scanner)
        pool = ray.util.ActorPool([actor.remote(*shared) for _ in range(min(cpus, len(configs)))])
        results = []
        for r in pool.map(lambda a, c: a.run.remote(c), configs):
            results.append((float(r[0]), float(r[1])))
            bar.update()
        return results
