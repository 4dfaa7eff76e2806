"""Fine-tuning sweeps: several ``prune``/``qat`` runs of one model, here or on Ray.

``gearshift.train.sweep(model, data, configs, validation)`` runs each
configuration (a dict: ``{"method": "prune", "sparsity": 0.8, ...}`` or
``{"method": "qat", "gear": "int4", ...}``, the other keys being that
function's keyword arguments) on a fresh copy of ``model`` from the same
random seed, evaluates the result on ``validation`` and returns a
:class:`SweepReport`: a table (``str``), rows (``to_dict``), the trained
models (``models``) and ``best()``.

The runs are independent, so ``ray=True`` (a local Ray) or ``ray="ADDRESS"``
(a cluster) runs one Ray task per configuration: the model and the returned
models travel as ``gs.train.save`` archives (their pruning/QAT records
included), the data as arrays. Each task seeds Keras with the same seed as the
local run does; training on another process (other thread counts, another
machine's math library) is not bit-reproducible in TensorFlow, so the two
paths agree to the noise of training, not bit for bit (the sensitivity scan,
which only evaluates, does agree exactly: ``parallel.py``).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...progress import Progress

__all__ = ["METHODS", "SweepReport", "sweep"]

METHODS = ("prune", "qat")


@dataclass
class SweepReport:
    """One row per configuration, in the order given; ``models`` alike."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    models: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows)}

    def best(self, metric: str = "accuracy") -> tuple[dict[str, Any], Any]:
        """The row (and model) with the highest ``metric`` (lowest for ``loss``)."""
        sign = -1.0 if metric == "loss" else 1.0
        i = max(range(len(self.rows)), key=lambda k: sign * float(self.rows[k][metric]))
        return self.rows[i], self.models[i] if self.models else None

    def __str__(self) -> str:
        from ...bench import table

        lines = [["#", "method", "settings", "accuracy", "loss", "zero weights", "seconds"]]
        for i, r in enumerate(self.rows):
            cfg = dict(r["config"])
            method = cfg.pop("method")
            lines.append(
                [
                    str(i),
                    method,
                    " ".join(f"{k}={v}" for k, v in cfg.items()),
                    f"{100 * r['accuracy']:.2f}%",
                    f"{r['loss']:.4f}",
                    f"{100 * r['zero_fraction']:.1f}%",
                    f"{r['seconds']:.1f}",
                ]
            )
        return "sweep (held-out data)\n" + table(lines)


def _check(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not configs:
        raise ValueError("configs is empty: give a list of dicts such as {'method': 'prune'}")
    out = []
    for i, c in enumerate(configs):
        if not isinstance(c, dict) or c.get("method") not in METHODS:
            raise ValueError(
                f"configs[{i}] must be a dict with 'method' one of {', '.join(METHODS)}, got {c!r}"
            )
        if "verbose" in c or "validation" in c:
            raise ValueError(f"configs[{i}]: verbose/validation are set by sweep itself")
        out.append(dict(c))
    return out


def _zero_fraction(model: Any) -> float:
    from .scores import prunable_layers

    zeros = total = 0
    for layer in prunable_layers(model):
        k = layer.kernel.numpy()
        zeros += int(np.count_nonzero(k == 0))
        total += k.size
    return zeros / total if total else 0.0


def _run_one(model: Any, x: Any, y: Any, xv: Any, yv: Any, cfg: dict, seed: int) -> tuple:
    """Trains one configuration; ``(row, trained model)``."""
    import keras

    from .data import as_dataset, default_loss
    from .prune import prune
    from .qat import qat
    from .sensitivity import _evaluate

    keras.utils.set_random_seed(seed)
    kw = {k: v for k, v in cfg.items() if k != "method"}
    t = time.perf_counter()
    fn = prune if cfg["method"] == "prune" else qat
    net = fn(model, (x, y), verbose=0, **kw)
    seconds = time.perf_counter() - t
    ds = as_dataset((xv, yv), 128, shuffle=False)
    loss_fn = getattr(net, "loss", None) or default_loss(net, ds)
    loss_fn = keras.losses.get(loss_fn) if isinstance(loss_fn, str) else loss_fn
    loss, acc = _evaluate(net, ds, loss_fn)
    row = {
        "config": cfg,
        "accuracy": float(acc),
        "loss": float(loss),
        "zero_fraction": _zero_fraction(net),
        "seconds": seconds,
    }
    return row, net


def _to_bytes(model: Any) -> bytes:
    from .persist import save

    with tempfile.TemporaryDirectory() as tmp:
        return save(model, Path(tmp) / "m.gstrain").read_bytes()


def _from_bytes(data: bytes) -> Any:
    from .persist import load

    fd, path = tempfile.mkstemp(suffix=".gstrain")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return load(path)
    finally:
        os.unlink(path)


def _remote_run(model_bytes: bytes, arrays: tuple, cfg: dict, seed: int) -> tuple:
    row, net = _run_one(_from_bytes(model_bytes), *arrays, cfg, seed)
    return row, _to_bytes(net)


def sweep(
    model: Any,
    data: Any,
    configs: list[dict[str, Any]],
    validation: Any,
    ray: Any = None,
    seed: int = 0,
    progress: bool = True,
) -> SweepReport:
    """Runs every configuration on a copy of ``model``; see the module doc."""
    from .data import _check_pair

    cfgs = _check(configs)
    x, y = _check_pair(data, "data")
    xv, yv = _check_pair(validation, "validation")
    rep = SweepReport()
    with Progress(len(cfgs), "sweep", enabled=None if progress else False) as bar:
        if not ray:
            for cfg in cfgs:
                row, net = _run_one(model, x, y, xv, yv, cfg, seed)
                rep.rows.append(row)
                rep.models.append(net)
                bar.update()
            return rep
        from .parallel import ray_session

        with ray_session(ray) as ray_mod:
            task = ray_mod.remote(num_cpus=1)(_remote_run)
            model_ref = ray_mod.put(_to_bytes(model))
            arrays_ref = ray_mod.put((x, y, xv, yv))
            futures = [task.remote(model_ref, arrays_ref, cfg, seed) for cfg in cfgs]
            for f in futures:  # in order: the rows follow the configs
                row, blob = ray_mod.get(f)
                rep.rows.append(row)
                rep.models.append(_from_bytes(blob))
                bar.update()
    return rep
