"""Per-layer sensitivity to pruning and to weight bit-width, and a budget-driven choice.

:func:`sensitivity` changes one layer at a time, evaluates the model on the
data, and restores the layer: its kernel pruned to each sparsity (lowest
scores of that layer first) or its weights rounded to each bit-width
(``fp16``: half precision; ``int8``: symmetric per channel; ``int4``: the q4m
view of the int8 values, the int4 gear's weights). Activations stay float:
the scan isolates the weights. The result is a table (``str``), a dict
(``to_dict``) and a plot (``plot(path)``, with matplotlib when installed).

:meth:`SensitivityReport.choose` picks a sparsity and a bit-width per layer
that meets a budget, either a weight-byte budget (``bytes=``: the kernels'
non-zero weights at their bit-width, the dense float32 size of a layer kept as
fp32) or an overall sparsity (``sparsity=``), with the least total loss
increase, assuming the layers' increases add up (the usual first-order
assumption; check the chosen model on held-out data). Greedy: from every layer
at fp32 and dense, it repeatedly takes the single layer change with the least
loss increase per byte saved until the budget holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...progress import Progress
from .data import as_dataset, default_loss
from .masks import _keep_lowest
from .qat import fake_quant_weights
from .scores import prunable_layers, weight_scores

__all__ = ["BITS", "SensitivityReport", "latency_table", "sensitivity"]

BITS = {"fp32": 32, "fp16": 16, "int8": 8, "int4": 4}


@dataclass
class SensitivityReport:
    """``rows``: one per (layer, kind, setting) with the loss and accuracy measured."""

    base_loss: float
    base_accuracy: float
    layers: dict[str, int]  # layer -> kernel size
    rows: list[dict[str, Any]] = field(default_factory=list)
    choice: dict[str, Any] | None = None

    def loss(self, layer: str, kind: str, setting: Any) -> float:
        for r in self.rows:
            if r["layer"] == layer and r["kind"] == kind and r["setting"] == setting:
                return float(r["loss"])
        raise KeyError((layer, kind, setting))

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_loss": self.base_loss,
            "base_accuracy": self.base_accuracy,
            "layers": dict(self.layers),
            "rows": list(self.rows),
            "choice": self.choice,
        }

    def __str__(self) -> str:
        from ...bench import table

        settings = []
        for r in self.rows:
            key = (r["kind"], r["setting"])
            if key not in settings:
                settings.append(key)
        head = ["layer", "weights"] + [
            f"{s:g} sparse" if k == "sparsity" else str(s) for k, s in settings
        ]
        lines = [head]
        for name, size in self.layers.items():
            cells = [name, str(size)]
            for k, s in settings:
                r = next(
                    (r for r in self.rows if (r["layer"], r["kind"], r["setting"]) == (name, k, s)),
                    None,
                )
                cells.append("" if r is None else f"{100 * r['accuracy']:.1f}% {r['loss']:.3f}")
            lines.append(cells)
        text = (
            f"sensitivity: accuracy and loss with one layer changed "
            f"(base {100 * self.base_accuracy:.2f}%, loss {self.base_loss:.4f})\n"
        )
        text += table(lines)
        if self.choice:
            text += "\n\n" + self.choice["explanation"]
        return text

    def plot(self, path: str) -> bool:
        """Loss against sparsity and against bits per layer into ``path``; False without
        matplotlib."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return False
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
        for name in self.layers:
            sp = [
                (r["setting"], r["loss"])
                for r in self.rows
                if r["layer"] == name and r["kind"] == "sparsity"
            ]
            bt = [
                (BITS[r["setting"]], r["loss"])
                for r in self.rows
                if r["layer"] == name and r["kind"] == "bits"
            ]
            if sp:
                a.plot(*zip(*sp), marker="o", label=name)
            if bt:
                b.plot(*zip(*sorted(bt)), marker="o", label=name)
        a.set_xlabel("sparsity of the layer")
        b.set_xlabel("weight bits of the layer")
        for ax in (a, b):
            ax.set_ylabel("loss")
            ax.axhline(self.base_loss, color="gray", lw=0.5)
        a.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return True

    def choose(
        self,
        bytes: int | None = None,
        sparsity: float | None = None,
        latency_ms: float | None = None,
        profile: Any = None,
    ) -> dict[str, Any]:
        """Per-layer ``(sparsity, bits)`` meeting one budget with the least loss (module doc).

        ``latency_ms`` needs ``profile``: the JSON of ``gearshift bench --profile``
        (a path, or the loaded dict) of the model's ``.gear`` file on the board, with
        the gears to choose among; see :func:`latency_table`.
        """
        given = [b for b in (bytes, sparsity, latency_ms) if b is not None]
        if len(given) != 1:
            raise ValueError("choose needs exactly one budget: bytes=, sparsity= or latency_ms=")
        table = None
        if latency_ms is not None:
            if profile is None:
                raise ValueError("a latency budget needs profile= (gearshift bench --profile JSON)")
            table = latency_table(profile, list(self.layers))
        sps = sorted({0.0} | {r["setting"] for r in self.rows if r["kind"] == "sparsity"})
        scanned = {r["setting"] for r in self.rows if r["kind"] == "bits"}
        bts = ["fp32", *[b for b in BITS if b in scanned]]
        if table is not None:
            bts = [b for b in bts if b in table["layers"]]
            if "fp32" not in bts:
                raise ValueError("the profile has no fp32 gear: it is the starting point")
        cur = {n: (0.0, "fp32") for n in self.layers}

        def dloss(n: str, s: float, b: str) -> float:
            d = 0.0
            if s > 0:
                d += self.loss(n, "sparsity", s) - self.base_loss
            if b != "fp32":
                d += self.loss(n, "bits", b) - self.base_loss
            return max(d, 0.0)

        def cost(n: str, s: float, b: str) -> float:
            if table is not None:  # a layer's time scales with the fraction it keeps
                return table["layers"][b].get(n, 0.0) * (1 - s)
            if bytes is not None:
                return self.layers[n] * (1 - s) * BITS[b] / 8
            return self.layers[n] * (1 - s)

        total = sum(self.layers.values())
        fixed = table["rest_ms"] if table is not None else 0.0
        if table is not None:
            unit, limit = "ms", float(latency_ms) - fixed  # type: ignore[arg-type]
        elif bytes is not None:
            unit, limit = "bytes", float(bytes)
        else:
            unit, limit = "weights", (1 - float(sparsity)) * total  # type: ignore[arg-type]

        def spent() -> float:
            return sum(cost(n, *cur[n]) for n in self.layers)

        while spent() > limit:
            best = None
            for n in self.layers:
                s0, b0 = cur[n]
                for s in sps:
                    for b in bts:
                        if (s, b) == (s0, b0) or s < s0 or BITS[b] > BITS[b0]:
                            continue
                        saved = cost(n, s0, b0) - cost(n, s, b)
                        if saved <= 0:
                            continue
                        rate = (dloss(n, s, b) - dloss(n, s0, b0)) / saved
                        if best is None or rate < best[0]:
                            best = (rate, n, s, b)
            if best is None:
                raise ValueError(
                    f"the budget cannot be met with the scanned settings: at best "
                    f"{spent() + fixed:.4g} {unit}"
                )
            cur[best[1]] = (best[2], best[3])
        lines = ["budget choice (least summed loss increase; one layer at a time measured):"]
        for n, (s, b) in cur.items():
            lines.append(
                f"  {n}: sparsity {s:g}, {b} weights, +{dloss(n, s, b):.4f} loss, "
                f"{cost(n, s, b):.4g} {unit}"
            )
        budget = {"bytes": bytes, "weights": f"sparsity {sparsity}", "ms": f"{latency_ms} ms"}
        predicted = self.base_loss + sum(dloss(n, *cur[n]) for n in self.layers)
        lines.append(
            f"  total {spent() + fixed:.4g} {unit} (budget {budget[unit]}"
            + (f"; {fixed:.4g} ms in the other nodes" if table is not None else "")
            + f"); predicted loss {predicted:.4f}"
        )
        if table is not None:
            lines.append(
                "  assumes a layer's time scales with the weights it keeps (true of removed "
                "channels; sparse kernels gain less below ~80% zeros)"
            )
        self.choice = {
            "layers": {n: {"sparsity": s, "bits": b} for n, (s, b) in cur.items()},
            "explanation": "\n".join(lines),
        }
        return self.choice


def latency_table(profile: Any, layers: list[str]) -> dict[str, Any]:
    """Per gear, each layer's median time (ms) from a ``gearshift bench --profile`` JSON
    (a path or the loaded dict: one result, a list of them, or ``{"results": [...]}``),
    and ``rest_ms``: the fp32 gear's time outside those layers."""
    import json
    import os

    if isinstance(profile, (str, os.PathLike)):
        with open(profile) as f:
            profile = json.load(f)
    results = profile.get("results", profile) if isinstance(profile, dict) else profile
    if isinstance(results, dict):
        results = [results]
    gears: dict[str, Any] = {}
    for r in results:
        for g, info in (r.get("gears") or {}).items():
            if isinstance(info, dict) and info.get("profile"):
                gears.setdefault(g, info["profile"])
        # the flat form: one result per (runtime, gear)
        if r.get("profile") and r.get("gear") and r.get("runtime", "gearshift") == "gearshift":
            gears.setdefault(r["gear"], r["profile"])
    if not gears:
        raise ValueError("profile has no per-node times: run gearshift bench --profile --json")
    table: dict[str, dict[str, float]] = {}
    rest = 0.0
    for g, prof in gears.items():
        times = {n["name"]: float(n["ms"]) for n in prof.get("nodes", [])}
        table[g] = {n: times[n] for n in layers if n in times}
        if g == "fp32":
            rest = sum(v for k, v in times.items() if k not in table[g]) + float(
                prof.get("other_ms", 0.0)
            )
    return {"layers": table, "rest_ms": rest}


def _evaluate(model: Any, ds: Any, loss_fn: Any) -> tuple[float, float]:
    total = hits = 0.0
    n = 0
    for x, y in ds:
        out = model(x, training=False)
        total += float(np.mean(loss_fn(y, out))) * int(x.shape[0])
        pred = np.asarray(out).argmax(-1)
        lab = np.asarray(y)
        lab = lab.argmax(-1) if lab.ndim == pred.ndim + 1 else lab.reshape(pred.shape)
        hits += float((pred == lab).sum())
        n += int(x.shape[0])
    return total / n, hits / n


def _changed_kernel(k0: np.ndarray, kind: str, what: str, setting: Any, score: Any) -> np.ndarray:
    """The kernel of one scan configuration: pruned to ``setting`` or rounded to its bits."""
    if what == "sparsity":
        return k0 * _keep_lowest(score, int(np.floor(setting * k0.size + 0.5)))
    if setting == "fp16":
        return k0.astype(np.float16).astype(np.float32)
    return fake_quant_weights(kind, k0, int4=setting == "int4")


def _scan_local(model: Any, ds: Any, loss_fn: Any, configs: list, scores: dict, bar: Any) -> list:
    by_name = {la.name: la for la in prunable_layers(model)}
    out = []
    for name, what, setting in configs:
        layer = by_name[name]
        k0 = layer.kernel.numpy()
        layer.kernel.assign(_changed_kernel(k0, type(layer).__name__, what, setting, scores[name]))
        out.append(_evaluate(model, ds, loss_fn))
        layer.kernel.assign(k0)
        bar.update()
    return out


def sensitivity(
    model: Any,
    data: Any,
    sparsities: tuple[float, ...] = (0.5, 0.75, 0.9),
    bits: tuple[str, ...] = ("fp16", "int8", "int4"),
    score: str = "magnitude",
    loss: Any = None,
    batch_size: int = 128,
    progress: bool = True,
    ray: Any = None,
) -> SensitivityReport:
    """Scans every Conv2D/DepthwiseConv2D/Dense layer of ``model`` on ``data`` (module doc).

    ``ray``: None or False runs the scan here; True runs one Ray task per
    (layer, setting) on a local Ray (started if needed), a string on the Ray
    cluster at that address (``converters/train/parallel.py``). The results are
    those of the local scan.
    """
    import keras

    for b in bits:
        if b not in BITS or b == "fp32":
            raise ValueError(f"bits must be among fp16, int8, int4, got {b!r}")
    ds = as_dataset(data, batch_size, shuffle=False)
    loss_fn = loss or getattr(model, "loss", None) or default_loss(model, ds)
    loss_fn = keras.losses.get(loss_fn) if isinstance(loss_fn, str) else loss_fn
    base_loss, base_acc = _evaluate(model, ds, loss_fn)
    layers = prunable_layers(model)
    scores = weight_scores(model, score, ds, loss_fn, progress=progress)
    rep = SensitivityReport(
        base_loss, base_acc, {la.name: int(la.kernel.numpy().size) for la in layers}
    )
    configs = [
        (la.name, what, setting)
        for la in layers
        for what, setting in [
            *(("sparsity", float(s)) for s in sparsities),
            *(("bits", b) for b in bits),
        ]
    ]
    with Progress(len(configs), "sensitivity", enabled=None if progress else False) as bar:
        if ray:
            from .parallel import scan_on_ray

            results = scan_on_ray(ray, model, ds, loss_fn, configs, scores, bar)
        else:
            results = _scan_local(model, ds, loss_fn, configs, scores, bar)
    for (name, what, setting), (lo, acc) in zip(configs, results):
        rep.rows.append(
            {"layer": name, "kind": what, "setting": setting, "loss": lo, "accuracy": acc}
        )
    return rep
