"""A drop-in for LiteRT's ``Interpreter`` (``ai_edge_litert`` / ``tflite_runtime``).

A script written for LiteRT keeps working when its import line changes::

    from gearshift import Interpreter          # was: from ai_edge_litert.interpreter import ...
    it = Interpreter(model_path="model.tflite")  # or a .gear file
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], frame)   # uint8 in, as LiteRT
    it.invoke()
    scores = it.get_tensor(it.get_output_details()[0]["index"])

Over a ``.gear`` file it needs only numpy and the runtime. A ``.tflite`` is
converted on first use into a ``.gear`` (``fp32``, plus the file's own ``int8``
gear for an integer model) kept in the user cache folder under the SHA-256 of
its bytes, so the next start opens that directly. Converting reads the
flatbuffer with the TFLite schema module of ``ai-edge-litert`` or TensorFlow
where one is installed, else with ``converters/tflite_reader.py`` (numpy only).

Behaviour, where it differs from LiteRT:

- Delegates (``experimental_delegates``) are ignored with a warning: gearshift
  picks its own kernels for the CPU it runs on.
- Only graph inputs are writable. Intermediate tensors are readable with
  ``experimental_preserve_all_tensors=True`` (the runtime then keeps every
  tensor, ``Runtime(keep_tensors=True)``): ``get_tensor`` returns a node's
  output as float32 real values in every gear (an integer gear's dequantized)
  and ``get_tensor_details`` lists them; without it ``get_tensor`` of one
  raises ``ValueError``. There are no variables: ``reset_all_variables`` does
  nothing.
- ``resize_tensor_input`` changes the batch (dimension 0) only.
- A model without a SignatureDef (a ``.gear`` from Keras) gets one
  ``serving_default`` signature named after its inputs and outputs.

On top: ``gear``/``gears`` switch precision between invokes, and ``runner``
puts a :class:`gearshift.Shifter` or :class:`gearshift.Cascade` (built on
``interpreter.runtime``) behind ``invoke``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import FormatError
from .runtime import Runtime

__all__ = ["Interpreter", "SignatureRunner", "cache_folder"]

_GEAR_MAGIC = b"GEAR"
_TFLITE_ID = b"TFL3"
_SIGNATURES_KEY = "gearshift.tflite.signatures"
_SOURCE_KEY = "gearshift.interpreter.source_sha256"
# Bumped when what a cached conversion holds changes, so old entries are not reused.
_CACHE_VERSION = 1


class _Unset:
    """LiteRT's ``OpResolverType.AUTO`` default, without importing LiteRT."""

    def __repr__(self) -> str:
        return "AUTO"


_AUTO = _Unset()


def cache_folder() -> Path:
    """Where converted ``.tflite`` files are kept: ``$GEARSHIFT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/gearshift``, else ``~/.cache/gearshift``; then ``interpreter/``."""
    from .costs import cache_dir

    return cache_dir() / "interpreter"


class Interpreter:
    """LiteRT's ``Interpreter`` over a ``.gear`` or ``.tflite`` file (see the module doc).

    Args:
        model_path: a ``.gear`` or ``.tflite`` file.
        model_content: the bytes of one instead (exactly one of the two).
        experimental_delegates: ignored, with a warning (gearshift has its own kernels).
        num_threads: worker threads (None: 1).
        experimental_op_resolver_type: accepted for compatibility; the integer gears
            always compute what LiteRT's reference kernels compute.
        gear: gear to start in. Default: ``int8`` where the model's interface is
            integer and the file has it (LiteRT's arithmetic), else the file's first.
        **kwargs: LiteRT's other ``experimental_*`` keywords, accepted and ignored.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        model_content: bytes | None = None,
        experimental_delegates: Sequence[Any] | None = None,
        num_threads: int | None = None,
        experimental_op_resolver_type: Any = _AUTO,
        experimental_preserve_all_tensors: bool = False,
        *,
        gear: str | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = [k for k in kwargs if not k.startswith("experimental_")]
        if unknown:
            raise TypeError(f"Interpreter() got unexpected keyword argument(s) {unknown}")
        self._keep = bool(experimental_preserve_all_tensors)
        if experimental_delegates:
            warnings.warn(
                "gearshift.Interpreter ignores experimental_delegates: it runs its own "
                "kernels, chosen for this CPU (pick a precision with interpreter.gear)",
                RuntimeWarning,
                stacklevel=2,
            )
        threads = 1 if num_threads is None or num_threads == -1 else num_threads
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"num_threads must be an integer >= 1 (or -1), got {num_threads!r}")
        path, rebuild, digest = _model_file(model_path, model_content)
        try:
            manifest, self._rt = _open(path, gear, threads, digest, self._keep)
        except FormatError:
            if rebuild is None:  # the user's own .gear: report, never rewrite
                raise
            path = rebuild()  # a corrupt or stale cache entry is never trusted
            manifest, self._rt = _open(path, gear, threads, digest, self._keep)
        self._path = path
        self._tensor_index = (
            [int(t) for t in manifest["inputs"]],
            [int(t) for t in manifest["outputs"]],
        )
        self._num_tensors = len(manifest["tensors"])
        self._tensors = manifest["tensors"]  # name, shape, const, per index
        self._signatures = _signatures(manifest, self._rt)
        self._in_specs = self._rt.inputs
        self._out_specs = self._rt.outputs
        # Current input shapes: the batch placeholder -1 is 1 until resized (as LiteRT).
        self._shapes = [tuple(1 if d == -1 else d for d in s.shape) for s in self._in_specs]
        self._in_bufs: list[np.ndarray] = []
        self._out_bufs: list[np.ndarray] = []
        self._allocated = False
        self._runner: Any = None
        self._run = self._rt._rt.run  # the extension's run: invoke's whole cost

    # -- LiteRT's API -------------------------------------------------------------------
    def allocate_tensors(self) -> None:
        """Fixes the input shapes and makes the input and output buffers."""
        shapes = [list(s) for s in self._shapes]
        out_shapes = self._rt._rt.output_shapes(shapes)
        self._in_bufs = [
            np.zeros(s, np.dtype(spec.dtype)) for s, spec in zip(self._shapes, self._in_specs)
        ]
        self._out_bufs = [
            np.zeros(tuple(s), np.dtype(spec.dtype)) for s, spec in zip(out_shapes, self._out_specs)
        ]
        self._allocated = True

    def get_input_details(self) -> list[dict[str, Any]]:
        return [self._details(i, True) for i in range(len(self._in_specs))]

    def get_output_details(self) -> list[dict[str, Any]]:
        return [self._details(i, False) for i in range(len(self._out_specs))]

    def get_tensor_details(self) -> list[dict[str, Any]]:
        """The inputs' and outputs' details; with ``experimental_preserve_all_tensors``
        also every intermediate tensor's (float32, by index)."""
        details = self.get_input_details() + self.get_output_details()
        if self._keep:
            seen = {d["index"] for d in details}
            for i, t in enumerate(self._tensors):
                if i not in seen and not t.get("const"):
                    details.append(self._intermediate_details(i))
            details.sort(key=lambda d: d["index"])
        return details

    def set_tensor(self, tensor_index: int, value: Any) -> None:
        """Copies ``value`` into input ``tensor_index``: its dtype and shape must match."""
        k = self._input_position(tensor_index)
        if not self._allocated:
            raise ValueError(
                "Cannot set tensor: Tensor is unallocated. Try calling allocate_tensors() first"
            )
        value = np.asarray(value)
        buf = self._in_bufs[k]
        spec = self._in_specs[k]
        if value.dtype != buf.dtype:
            raise ValueError(
                f"Cannot set tensor: Got value of type {_type_name(value.dtype)} but expected "
                f"type {_type_name(buf.dtype)} for input {k}, name: {spec.name} "
            )
        if value.shape != buf.shape:
            if value.ndim != buf.ndim:
                msg = f"Got {value.ndim} but expected {buf.ndim} for input {k}."
            else:
                d = next(i for i, (a, b) in enumerate(zip(value.shape, buf.shape)) if a != b)
                msg = (
                    f"Got {value.shape[d]} but expected {buf.shape[d]} for dimension {d} of "
                    f"input {k}."
                )
            raise ValueError(f"Cannot set tensor: Dimension mismatch. {msg}")
        np.copyto(buf, value)

    def get_tensor(self, tensor_index: int, subgraph_index: int = 0) -> np.ndarray:
        """A copy of input or output ``tensor_index``."""
        return self._buffer(tensor_index, subgraph_index).copy()

    def tensor(self, tensor_index: int) -> Callable[[], np.ndarray]:
        """A function returning the live buffer of input or output ``tensor_index``:
        writing into an input's view feeds the next ``invoke``, an output's view shows
        the last one's result. Call it again after ``allocate_tensors``."""
        self._check_index(tensor_index)

        def view() -> np.ndarray:
            return self._buffer(tensor_index, 0)

        return view

    def invoke(self) -> None:
        """Runs the model on the inputs set, into the output buffers."""
        if not self._allocated:
            raise RuntimeError("Invoke called on model that is not ready.")
        if self._runner is not None:
            self._invoke_runner()
            return
        self._run(self._in_bufs, self._out_bufs, True)

    def resize_tensor_input(
        self, input_index: int, tensor_size: Sequence[int], strict: bool = False
    ) -> None:
        """Sets input ``input_index``'s shape; only the batch (dimension 0) may change.
        Call ``allocate_tensors`` before the next ``invoke``."""
        k = self._input_position(input_index)
        size = tuple(int(d) for d in np.asarray(tensor_size).reshape(-1))
        declared = self._in_specs[k].shape
        if len(size) != len(declared) or any(a != b for a, b in zip(size[1:], declared[1:])):
            raise ValueError(
                f"resize_tensor_input: input {k} ({self._in_specs[k].name}) has shape "
                f"{_shape_str(declared)}; gearshift resizes only the batch (dimension 0), "
                f"got {list(size)}"
            )
        if not size or size[0] < 1:
            raise ValueError(f"resize_tensor_input: the batch must be >= 1, got {list(size)}")
        if strict and declared[0] != -1 and size[0] != declared[0]:
            raise ValueError(
                f"resize_tensor_input: input {k} has a fixed batch {declared[0]} (strict=True)"
            )
        if size != self._shapes[k]:
            self._shapes[k] = size
            self._allocated = False

    def get_signature_list(self) -> dict[str, dict[str, list[str]]]:
        return {
            key: {"inputs": list(sig["inputs"]), "outputs": list(sig["outputs"])}
            for key, sig in self._signatures.items()
        }

    def get_signature_runner(self, signature_key: str | None = None) -> SignatureRunner:
        if signature_key is None:
            if len(self._signatures) != 1:
                raise ValueError(
                    "SignatureDef signature_key is None and model has "
                    f"{len(self._signatures)} Signatures. None is only allowed when the "
                    "model has 1 SignatureDef"
                )
            signature_key = next(iter(self._signatures))
        if signature_key not in self._signatures:
            raise ValueError(
                f"SignatureDef signature_key {signature_key!r} not found; the model has "
                f"{list(self._signatures)}"
            )
        return SignatureRunner(self, signature_key)

    def reset_all_variables(self) -> None:
        """Nothing to reset: gearshift graphs hold no variables (no state between invokes)."""

    # -- gears ----------------------------------------------------------------------------
    @property
    def runtime(self) -> Runtime:
        """The :class:`gearshift.Runtime` underneath (for a Shifter or a Cascade)."""
        return self._rt

    @property
    def gears(self) -> tuple[str, ...]:
        return self._rt.gears

    @property
    def gear(self) -> str:
        return self._rt.gear

    @gear.setter
    def gear(self, name: str) -> None:
        self._rt.gear = name

    @property
    def runner(self) -> Any:
        """None (``invoke`` runs the current gear), or an object whose ``run(x)`` runs
        ``interpreter.runtime``, such as ``gs.Shifter(it.runtime, ...)`` or
        ``gs.Cascade(it.runtime, ...)``: ``invoke`` then calls it, so it picks the gear."""
        return self._runner

    @runner.setter
    def runner(self, obj: Any) -> None:
        if obj is not None and not callable(getattr(obj, "run", None)):
            raise ValueError(
                f"runner must have a run(x) method (a gs.Shifter or gs.Cascade), got {obj!r}"
            )
        if obj is not None and getattr(obj, "runtime", self._rt) is not self._rt:
            raise ValueError("runner must be built on this interpreter's runtime (it.runtime)")
        self._runner = obj

    @property
    def path(self) -> str:
        """The ``.gear`` file this interpreter runs (a cache entry for a ``.tflite``)."""
        return self._path

    # -- internals --------------------------------------------------------------------------
    def _invoke_runner(self) -> None:
        x: Any = self._in_bufs[0] if len(self._in_bufs) == 1 else list(self._in_bufs)
        y = self._runner.run(x)
        ys = [y] if len(self._out_bufs) == 1 else [y[s.name] for s in self._out_specs]
        for buf, v in zip(self._out_bufs, ys):
            np.copyto(buf, np.asarray(v).astype(buf.dtype, copy=False))

    def _details(self, k: int, is_input: bool) -> dict[str, Any]:
        spec = (self._in_specs if is_input else self._out_specs)[k]
        if is_input:
            shape = self._shapes[k]
        elif self._allocated:
            shape = self._out_bufs[k].shape
        else:
            shape = tuple(1 if d == -1 else d for d in spec.shape)
        scale, zp = self._rt.quantization(spec.name)
        integer = spec.dtype != "float32"
        return {
            "name": spec.name,
            "index": self._tensor_index[0 if is_input else 1][k],
            "shape": np.array(shape, np.int32),
            "shape_signature": np.array(spec.shape, np.int32),
            "dtype": np.dtype(spec.dtype).type,
            "quantization": (scale, zp) if integer else (0.0, 0),
            "quantization_parameters": {
                "scales": np.array([scale] if integer else [], np.float32),
                "zero_points": np.array([zp] if integer else [], np.int32),
                "quantized_dimension": 0,
                "block_size": 0,
            },
            "sparsity_parameters": {},
        }

    def _intermediate_details(self, index: int) -> dict[str, Any]:
        t = self._tensors[index]
        shape = [1 if d == -1 else int(d) for d in t["shape"]]
        return {
            "name": t["name"],
            "index": index,
            "shape": np.array(shape, np.int32),
            "shape_signature": np.array(t["shape"], np.int32),
            "dtype": np.float32,
            "quantization": (0.0, 0),
            "quantization_parameters": {
                "scales": np.array([], np.float32),
                "zero_points": np.array([], np.int32),
                "quantized_dimension": 0,
                "block_size": 0,
            },
            "sparsity_parameters": {},
        }

    def _check_index(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError(f"tensor index must be an integer, got {index!r}")
        if not 0 <= index < self._num_tensors:
            raise ValueError(
                f"Invalid tensor index {index} exceeds max tensor index {self._num_tensors - 1}"
            )

    def _input_position(self, index: int) -> int:
        self._check_index(index)
        if index not in self._tensor_index[0]:
            raise ValueError(
                f"tensor {index} is not an input of the model (inputs: "
                f"{self._tensor_index[0]}); gearshift sets graph inputs only"
            )
        return self._tensor_index[0].index(index)

    def _buffer(self, index: int, subgraph_index: int) -> np.ndarray:
        self._check_index(index)
        if subgraph_index != 0:
            raise ValueError(f"subgraph_index must be 0, got {subgraph_index}")
        if not self._allocated:
            raise ValueError("Tensor data is null. Run allocate_tensors() first")
        ins, outs = self._tensor_index
        if index in outs:
            return self._out_bufs[outs.index(index)]
        if index in ins:
            return self._in_bufs[ins.index(index)]
        if self._keep and not self._tensors[index].get("const"):
            try:
                return self._rt.read_tensor(self._tensors[index]["name"])
            except ValueError as e:
                raise ValueError(f"tensor {index}: {e} (call invoke() first)") from None
        raise ValueError(
            f"tensor {index} is an intermediate tensor: open the Interpreter with "
            f"experimental_preserve_all_tensors=True to read it, or read the outputs {outs} "
            f"or the inputs {ins}"
        )

    def __repr__(self) -> str:
        return f"Interpreter({self._path!r}, gear={self.gear!r}, gears={self.gears})"


class SignatureRunner:
    """LiteRT's ``SignatureRunner``: ``runner(name=array, ...)`` returns ``{name: array}``."""

    def __init__(self, interpreter: Interpreter, key: str) -> None:
        self._it = interpreter
        self._key = key
        sig = interpreter._signatures[key]
        self._inputs: dict[str, int] = sig["inputs"]
        self._outputs: dict[str, int] = sig["outputs"]

    def get_input_details(self) -> dict[str, dict[str, Any]]:
        return {n: self._it._details(k, True) for n, k in self._inputs.items()}

    def get_output_details(self) -> dict[str, dict[str, Any]]:
        return {n: self._it._details(k, False) for n, k in self._outputs.items()}

    def __call__(self, **kwargs: Any) -> dict[str, np.ndarray]:
        it = self._it
        unknown = [n for n in kwargs if n not in self._inputs]
        if unknown:
            raise ValueError(f"Invalid Input name ({unknown[0]}) for SignatureDef")
        missing = [n for n in self._inputs if n not in kwargs]
        if missing:
            raise ValueError(f"Missing input(s) {missing} for SignatureDef {self._key!r}")
        arrays = {self._inputs[n]: np.asarray(v) for n, v in kwargs.items()}
        # As LiteRT: an input of another shape resizes (the batch) and reallocates.
        for k, v in arrays.items():
            if v.shape != it._shapes[k]:
                it.resize_tensor_input(it._tensor_index[0][k], v.shape)
        if not it._allocated:
            it.allocate_tensors()
        for k, v in arrays.items():
            it.set_tensor(it._tensor_index[0][k], v)
        it.invoke()
        return {n: it._out_bufs[k].copy() for n, k in self._outputs.items()}


# ---------------------------------------------------------------------------------------
# Model files: .gear as is, .tflite converted once into the cache
# ---------------------------------------------------------------------------------------
def _open(
    path: str, gear: str | None, threads: int, digest: str | None, keep: bool = False
) -> tuple[dict[str, Any], Runtime]:
    """The manifest and a Runtime of ``path``; a converted file must name its source's
    SHA-256 ``digest`` (a cache entry holds what its name says)."""
    manifest = _read_manifest(path)
    if digest is not None:
        got = manifest.get("metadata", {}).get(_SOURCE_KEY)
        if got != digest:
            raise FormatError(f"{path}: cache entry made from {got!r}, expected {digest!r}")
    rt = Runtime(path, gear=gear or _default_gear(manifest), threads=threads, keep_tensors=keep)
    return manifest, rt


def _model_file(
    model_path: Any, model_content: bytes | None
) -> tuple[str, Callable[[], str] | None, str | None]:
    """The ``.gear`` to open; for a converted ``.tflite`` also the function that makes
    it again and the SHA-256 of the source."""
    if (model_path is None) == (model_content is None):
        raise ValueError("Interpreter needs exactly one of model_path and model_content")
    if model_path is not None:
        path = os.fspath(model_path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model file: {path!r}")
        if os.path.isdir(path):
            raise ValueError(f"expected a .gear or .tflite file, got a directory: {path!r}")
        with open(path, "rb") as f:
            head = f.read(8)
        if head[:4] == _GEAR_MAGIC:
            return path, None, None
        with open(path, "rb") as f:
            content = f.read()
    else:
        content = bytes(model_content)  # type: ignore[arg-type]
        head = content[:8]
        path = "<model_content>"
    if head[:4] == _GEAR_MAGIC:  # .gear bytes: the runtime maps a file, so write one
        return _write_temp_gear(content), None, None
    if head[4:8] != _TFLITE_ID:
        raise ValueError(
            f"{path}: neither a .gear file (magic {_GEAR_MAGIC!r}) nor a .tflite flatbuffer "
            f"(identifier {_TFLITE_ID!r}); found {head[:8]!r}"
        )
    from . import __version__

    digest = hashlib.sha256(content).hexdigest()
    # the converter's version in the name: a newer gearshift converts again
    entry = cache_folder() / f"tflite-{__version__}-v{_CACHE_VERSION}-{digest}.gear"

    def make() -> str:
        def convert(out: str) -> None:
            _convert_tflite(content, path, digest, out)

        try:
            _make_entry(entry, convert)
        except OSError as e:  # a read-only or broken cache folder: convert, keep nothing
            warnings.warn(
                f"cannot write the cache entry {entry} ({e.strerror or e}); converting {path} "
                "without caching it (set GEARSHIFT_CACHE_DIR to a writable folder)",
                RuntimeWarning,
                stacklevel=4,
            )
            tmp = _write_temp_gear(b"")
            convert(tmp)
            return tmp
        return str(entry)

    if not entry.exists():
        return make(), make, digest
    return str(entry), make, digest


def _write_temp_gear(content: bytes) -> str:
    """``.gear`` bytes into a private temporary file (removed at exit)."""
    import atexit

    fd, tmp = tempfile.mkstemp(prefix="gearshift-", suffix=".gear")
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    atexit.register(lambda: os.path.exists(tmp) and os.unlink(tmp))
    return tmp


def _make_entry(entry: Path, make: Callable[[str], None]) -> None:
    """Writes a cache entry atomically (a temporary file renamed over it)."""
    folder = entry.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{entry.stem[:40]}-", suffix=".gear", dir=folder)
    os.close(fd)
    try:
        make(tmp)
        os.replace(tmp, entry)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _convert_tflite(content: bytes, label: str, digest: str, out: str) -> None:
    """``.tflite`` bytes -> a ``.gear``: fp32 (weights kept exactly), plus the file's own
    int8 gear for an integer model. Needs numpy only (``converters/tflite_reader.py``
    where neither LiteRT's nor TensorFlow's schema module is installed)."""
    from .converters.tflite_convert import tflite_to_gear

    tflite_to_gear(content, out, label=label, metadata={_SOURCE_KEY: digest})


def _read_manifest(path: str) -> dict[str, Any]:
    """The manifest JSON of a ``.gear`` without reading its data (the runtime validates
    the file; this only needs the names, indices and metadata)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != _GEAR_MAGIC:
            raise FormatError(f"{path}: not a .gear file (magic {head[:4]!r})")
        count, table = struct.unpack_from("<I", head, 12)[0], struct.unpack_from("<Q", head, 24)[0]
        if not 1 <= count <= 1024:
            raise FormatError(f"{path}: header.section_count {count} out of range")
        f.seek(table)
        entries = f.read(32 * count)
        for i in range(len(entries) // 32):
            kind, _, off, size, _, _ = struct.unpack_from("<IIQQII", entries, 32 * i)
            if kind == 1:
                if size > 64 << 20:
                    raise FormatError(f"{path}: manifest of {size} bytes exceeds 64 MiB")
                f.seek(off)
                text = f.read(size)
                try:
                    m = json.loads(text)
                except ValueError as e:
                    raise FormatError(f"{path}: manifest: invalid JSON ({e})") from None
                if not isinstance(m, dict):
                    raise FormatError(f"{path}: manifest is not a JSON object")
                return m
    raise FormatError(f"{path}: no MANIFEST section")


def _default_gear(manifest: dict[str, Any]) -> str | None:
    """int8 for an integer model (an integer interface, or a fully-int8 ``.tflite`` with
    float32 I/O): LiteRT computes in int8 there. Else the file's first gear."""
    tensors = manifest.get("tensors", [])
    io = [tensors[t] for t in manifest.get("inputs", []) + manifest.get("outputs", [])]
    names = [g.get("name") for g in manifest.get("gears", [])]
    kind = manifest.get("metadata", {}).get("gearshift.tflite.kind")
    if "int8" in names and (any("io" in t for t in io) or kind in ("int8", "uint8")):
        return "int8"
    return None


def _signatures(manifest: dict[str, Any], rt: Runtime) -> dict[str, dict[str, dict[str, int]]]:
    """``{key: {"inputs": {name: input position}, "outputs": {name: output position}}}``:
    the source's SignatureDefs, or one ``serving_default`` named after the tensors."""
    text = manifest.get("metadata", {}).get(_SIGNATURES_KEY)
    n_in, n_out = len(rt.inputs), len(rt.outputs)
    if text:
        try:
            sigs = json.loads(text)
            ok = all(
                0 <= k < n
                for sig in sigs.values()
                for part, n in (("inputs", n_in), ("outputs", n_out))
                for k in sig[part].values()
            )
            if ok:
                return sigs
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # unreadable metadata: fall back to the tensor names
    return {
        "serving_default": {
            "inputs": {s.name: k for k, s in enumerate(rt.inputs)},
            "outputs": {s.name: k for k, s in enumerate(rt.outputs)},
        }
    }


def _type_name(dtype: np.dtype) -> str:
    return {"float32": "FLOAT32", "int8": "INT8", "uint8": "UINT8"}.get(
        np.dtype(dtype).name, np.dtype(dtype).name.upper()
    )


def _shape_str(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join("N" if d == -1 else str(d) for d in shape) + "]"
