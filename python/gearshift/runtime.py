"""The board-side facade over the C++ runtime: numpy in, numpy out."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Union

import numpy as np

from gearshift._extension import load_core

_core = load_core()  # the one place `import gearshift` needs it: a clear error if missing

ArrayOrArrays = Union[np.ndarray, Sequence[np.ndarray], Mapping[str, np.ndarray]]


class TensorSpec(NamedTuple):
    """A graph input or output: name, shape (-1 = batch, set per run), dtype.

    ``dtype`` is ``"float32"``, or ``"int8"``/``"uint8"`` where the source model
    exchanged the tensor as integers (a fully-int8 ``.tflite``); its scale and
    zero point: :meth:`Runtime.quantization`.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str


class Runtime:
    """Loads a ``.gear`` file and runs it in one of its gears.

    The file is memory-mapped and fully validated on open (every offset,
    length, index and checksum); a bad file raises :class:`gearshift.FormatError`.
    Switching ``gear`` does not reload anything: a gear's weights are prepared
    once (derived from the file and packed for the kernels), after which a
    switch costs microseconds.

    A ``Runtime`` may be shared between threads: runs from several threads
    take turns, and setting ``gear`` while another thread runs is safe (that
    run finishes in the gear it started with).

    Args:
        path: the ``.gear`` file.
        gear: gear to start in; default the file's most precise gear.
        threads: worker threads for the kernels (results do not depend on it).
        prepare: ``"lazy"`` prepares a gear's weights at the first switch to it
            (or its first run); ``"all"`` prepares every gear now, so that no
            later switch has to.
        memory_budget_mb: cap on the memory prepared weights may take (see
            ``prepared_bytes``), in MiB; ``None`` = no cap. Over it, the least
            recently used gears other than the current one are dropped and
            prepared again when next used; a gear that does not fit alone
            raises ``ValueError``.
        verify_checksums: check the data sections' CRC at load (the manifest's
            is always checked). Turn off only for trusted files on slow storage.
        isa: kernel instruction set: ``None`` picks the best the CPU offers
            (or ``$GEARSHIFT_ISA`` when set); ``"ref"`` runs the reference
            kernels only; else one of ``runtime_info()["isa_compiled"]`` the
            CPU supports, e.g. ``"avx2"``, ``"avx512"``, ``"avx512vnni"``, ``"neon"``,
            ``"neon_dot"`` or ``"neon_i8mm"``. An unavailable one
            raises ``ValueError`` listing those available.
        keep_tensors: keep every tensor the graph computes readable after a
            run (:meth:`read_tensor`): no activation memory is reused, so the
            arena holds all activations at once. For calibration and
            debugging (layer-by-layer comparisons), not for deployment.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        gear: str | None = None,
        threads: int = 1,
        prepare: str = "lazy",
        memory_budget_mb: float | None = None,
        *,
        verify_checksums: bool = True,
        isa: str | None = None,
        keep_tensors: bool = False,
    ) -> None:
        path = os.fspath(path)
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such .gear file: {path!r}")
        if os.path.isdir(path):
            raise ValueError(f"expected a .gear file, got a directory: {path!r}")
        self._path = path
        if isa is not None and not isinstance(isa, str):
            raise ValueError(f"isa must be a string or None, got {isa!r}")
        if prepare not in ("lazy", "all"):
            raise ValueError(
                f'prepare must be "lazy" (at the first switch to a gear) or "all" '
                f"(every gear now), got {prepare!r}"
            )
        budget = _budget_bytes(memory_budget_mb)
        self._rt = _core.Runtime(
            path,
            gear or "",
            threads,
            verify_checksums,
            isa=isa or "",
            prepare=prepare,
            memory_budget_bytes=budget,
            keep_tensors=bool(keep_tensors),
        )
        self._gear_info: dict[str, dict[str, Any]] | None = None
        specs = [*self._rt.inputs, *self._rt.outputs]
        self._inputs = [TensorSpec(n, tuple(s), d) for n, s, d, _, _ in self._rt.inputs]
        self._outputs = [TensorSpec(n, tuple(s), d) for n, s, d, _, _ in self._rt.outputs]
        self._quant = {n: (float(sc), int(z)) for n, _, _, sc, z in specs}
        self._integer_inputs = any(spec.dtype != "float32" for spec in self._inputs)
        self._integer_io = self._integer_inputs or any(
            spec.dtype != "float32" for spec in self._outputs
        )

    # -- description ---------------------------------------------------------
    @property
    def path(self) -> str:
        return self._path

    @property
    def inputs(self) -> list[TensorSpec]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorSpec]:
        return list(self._outputs)

    def quantization(self, name: str) -> tuple[float, int]:
        """``(scale, zero_point)`` of an int8/uint8 input or output (``real = scale *
        (q - zero_point)``); ``(0.0, 0)`` for float32 ones, as LiteRT reports them."""
        if name not in self._quant:
            known = [s.name for s in (*self._inputs, *self._outputs)]
            raise ValueError(f"no graph input or output named {name!r}; expected one of {known}")
        return self._quant[name]

    @property
    def gears(self) -> tuple[str, ...]:
        """Gear names the file carries, highest precision first."""
        return tuple(self._rt.gears)

    @property
    def gear(self) -> str:
        return self._rt.gear

    @gear.setter
    def gear(self, name: str) -> None:
        if not isinstance(name, str):
            raise ValueError(f"gear must be a string, one of {self.gears}, got {name!r}")
        self._rt.gear = name

    @property
    def threads(self) -> int:
        return self._rt.threads

    @property
    def isa(self) -> str:
        """Kernel instruction set selected at open: ``"ref"``, ``"avx2"``, ``"avxvnni"``,
        ``"avx512vnni"``, ``"neon"``, ``"neon_dot"``, ``"neon_i8mm"``, ..."""
        return self._rt.isa

    def read_tensor(self, name: str) -> np.ndarray:
        """Values of tensor ``name`` (a node's output) after the last :meth:`run`,
        as float32; an integer gear's values dequantized with its activation
        parameters. Needs ``keep_tensors=True``; raises ``ValueError`` for an
        unknown name, a constant, a float gear's graph input, or before a run."""
        return self._rt.read_tensor(name)

    @property
    def last_latency_ms(self) -> float:
        """Wall time of the last :meth:`run`, in milliseconds (kernels only)."""
        return self._rt.last_latency_ms

    @property
    def profiling(self) -> bool:
        """Per-node timing of every run (off by default): a clock read per node,
        tens of nanoseconds each. See :attr:`last_profile`."""
        return bool(self._rt.profiling)

    @profiling.setter
    def profiling(self, on: bool) -> None:
        self._rt.profiling = bool(on)

    @property
    def last_profile(self) -> list[tuple[str, str, float]]:
        """``[(node name, op, ms)]`` of the last run made with :attr:`profiling`
        on, in execution order (empty before one). The rest of
        :attr:`last_latency_ms` is graph input quantization and output copies."""
        return [(str(n), str(o), float(ms)) for n, o, ms in self._rt.last_profile]

    @property
    def arena_bytes(self) -> int:
        """Activation memory of the current plan, in bytes."""
        return self._rt.arena_bytes

    @property
    def gear_info(self) -> dict[str, dict[str, Any]]:
        """Per gear: ``compute`` and, where convert measured them and stored
        them in the file, ``accuracy`` (on its validation data) and
        ``max_rel_error`` (against the source model); None where absent."""
        if self._gear_info is not None:  # the file's manifest does not change: read once
            return self._gear_info
        from .gear_format import read_gear

        m = read_gear(self._path, verify_checksums=False).manifest
        meta = m.get("metadata", {})

        def number(key: str) -> float | None:
            try:
                return float(meta[key]) if key in meta else None
            except ValueError:
                return None

        self._gear_info = {
            g["name"]: {
                "compute": g.get("compute", "f32"),
                "accuracy": number(f"gearshift.accuracy.{g['name']}"),
                "max_rel_error": number(f"gearshift.max_rel_error.{g['name']}"),
            }
            for g in m["gears"]
        }
        return self._gear_info

    @property
    def gear_costs(self) -> dict[str, dict[str, Any]]:
        """Each gear's median latency (ms) measured on this machine, and
        ``dominated_by`` where a more precise gear is at most 5% slower (the
        shifter never takes such a gear here). Cached per file, CPU, threads
        and ISA path in the user cache folder (``gearshift.costs``); measured
        on the first use (a short probe of every gear on random inputs)."""
        from . import costs

        return costs.gear_costs(self)

    @property
    def prepared_bytes(self) -> int:
        """Bytes the runtime allocated for prepared weights of the gears it holds.

        Values derived from the file (fp16 rounding, int4 views, q8r4 / q8r8 decodes)
        plus copies packed for the kernels; weights used in place from the
        mapped file count nothing. Bounded by ``memory_budget_mb``.
        """
        return self._rt.prepared_bytes

    # -- inference -------------------------------------------------------------
    def run(
        self,
        x: ArrayOrArrays,
        out: np.ndarray | Sequence[np.ndarray] | None = None,
        *,
        io: str = "auto",
    ) -> Any:
        """Runs the current gear.

        ``x`` is one array for a one-input model, or a list (in ``inputs``
        order) or dict (by input name) for several. The batch dimension is
        taken from the input. float32 C-contiguous inputs are used in place;
        other float dtypes or non-contiguous arrays are copied once (to
        float32, C order). Integer, bool or complex inputs are refused, except
        int8/uint8 arrays for inputs whose ``dtype`` says so.

        Integer interfaces (``inputs``/``outputs`` dtype ``int8``/``uint8``, a
        model converted from a fully-int8 ``.tflite``): ``io="auto"`` takes
        those inputs as integers of their dtype and returns such outputs as
        integers, as LiteRT does; the int8 gear uses them directly, float gears
        dequantize/quantize with :meth:`quantization`. Passing float32 for all
        of them instead (or ``io="float"``) runs on real values: float32 in,
        float32 out, in every gear. ``io="native"`` demands the integers.

        Returns one array for a one-output model, else a dict by output name.
        Outputs are fresh arrays unless ``out`` gives arrays (of the output
        dtypes) to write into.
        """
        if io not in ("auto", "native", "float"):
            raise ValueError(f'io must be "auto", "native" or "float", got {io!r}')
        items = self._input_items(x)
        native = self._native_io(items, io)
        arrays = [_as_input(a, spec, native) for a, spec in zip(items, self._inputs)]
        outs = None
        if out is not None:
            outs = [out] if isinstance(out, np.ndarray) else list(out)
        results = self._rt.run(arrays, outs, native)
        if len(self._outputs) == 1:
            return results[0]
        return {spec.name: r for spec, r in zip(self._outputs, results)}

    __call__ = run

    def _native_io(self, items: list[Any], io: str) -> bool:
        """Whether this run exchanges integer-interface tensors as integers."""
        if not self._integer_io or io == "float":
            return False
        if io == "native" or not self._integer_inputs:
            return True
        # "auto": float arrays for every integer input mean real values.
        kinds = {
            np.asarray(a).dtype.kind == "f"
            for a, spec in zip(items, self._inputs)
            if spec.dtype != "float32"
        }
        if kinds == {True, False}:
            names = [s.name for s in self._inputs if s.dtype != "float32"]
            raise ValueError(
                f"inputs {names}: give them all as their integer dtypes or all as float32 "
                "(real values), not a mix"
            )
        return kinds == {False}

    def _input_items(self, x: ArrayOrArrays) -> list[Any]:
        specs = self._inputs
        if isinstance(x, Mapping):
            names = [s.name for s in specs]
            unknown = sorted(set(x) - set(names))
            missing = [n for n in names if n not in x]
            if unknown or missing:
                raise ValueError(
                    f"inputs by name: expected keys {names}, "
                    f"missing {missing}, unexpected {unknown}"
                )
            items = [x[n] for n in names]
        elif isinstance(x, (list, tuple)) and len(specs) > 1:
            items = list(x)
        else:
            items = [x]
        if len(items) != len(specs):
            raise ValueError(
                f"expected {len(specs)} input(s) {[s.name for s in specs]}, got {len(items)}"
            )
        return items

    def __repr__(self) -> str:
        return (
            f"Runtime({self._path!r}, gear={self.gear!r}, gears={self.gears}, "
            f"inputs={[(s.name, s.shape) for s in self._inputs]})"
        )


def _budget_bytes(memory_budget_mb: float | None) -> int:
    """MiB (None = unlimited) -> bytes for the C++ runtime (0 = unlimited)."""
    if memory_budget_mb is None:
        return 0
    if isinstance(memory_budget_mb, bool) or not isinstance(memory_budget_mb, (int, float)):
        raise ValueError(
            f"memory_budget_mb must be a number of MiB or None (no cap), got {memory_budget_mb!r}"
        )
    if not memory_budget_mb > 0 or memory_budget_mb == float("inf"):
        raise ValueError(
            f"memory_budget_mb must be a finite number > 0, or None for no cap, "
            f"got {memory_budget_mb!r}"
        )
    return max(1, int(memory_budget_mb * 1024 * 1024))


def _as_input(a: Any, spec: TensorSpec, native: bool = False) -> np.ndarray:
    arr = np.asarray(a)
    if native and spec.dtype != "float32":
        if arr.dtype != np.dtype(spec.dtype):
            raise ValueError(
                f"input {spec.name!r}: expected dtype {spec.dtype} (the model's integer "
                f"interface), got {arr.dtype}"
            )
        arr = np.ascontiguousarray(arr)
    elif arr.dtype == np.float32 and arr.flags.c_contiguous:
        pass
    elif arr.dtype.kind == "f":
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    else:
        raise ValueError(
            f"input {spec.name!r}: expected dtype float32, got {arr.dtype} "
            f"(convert with x.astype(np.float32), scaling as the model was trained)"
        )
    expected = spec.shape
    if arr.ndim != len(expected) or any(e != -1 and e != g for e, g in zip(expected, arr.shape)):
        shown = (
            "("
            + ", ".join("N" if d == -1 else str(d) for d in expected)
            + (",)" if len(expected) == 1 else ")")
        )
        hint = ""
        if arr.ndim == len(expected) - 1 and all(
            e == -1 or e == g for e, g in zip(expected[1:], arr.shape)
        ):
            hint = " (a single example needs a batch axis: x[None])"
        raise ValueError(
            f"input {spec.name!r}: expected shape {shown}, got {tuple(arr.shape)}{hint}"
        )
    if arr.ndim and arr.shape[0] == 0:
        raise ValueError(f"input {spec.name!r}: empty batch")
    return arr


def runtime_info() -> dict[str, Any]:
    """Version, format versions read, and the ISA paths compiled in and detected."""
    return dict(_core.runtime_info())
