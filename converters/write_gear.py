"""IR graph + gears -> ``.gear`` file, exactly as docs/FORMAT.md (1.0) lays it out.

File layout written here: header (64 B), section table (2 x 32 B), zero
padding, section 0 = MANIFEST (JSON), zero padding, section 1 = TENSOR_DATA
(every storage payload at an offset that is a multiple of 64). The file ends
right after the last payload. Identical constants (same shape and bytes) are
stored once.

Writing is atomic: the bytes go to a temporary file in the destination
folder, which is flushed, fsynced and ``os.replace``-d over the destination.
Any failure, including KeyboardInterrupt, removes the temporary file and
leaves a pre-existing destination untouched.

The struct packing is deliberately written out here rather than shared with
``gearshift.gear_format`` (the reader), so the round-trip tests compare two
independent implementations of the spec. Only the CRC function is shared.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from ..gear_format import fast_crc32c
from .ir import Graph, Node

__all__ = ["GEARS", "StorageEntry", "WriteResult", "build_manifest", "write_gear"]

FORMAT_MAJOR, FORMAT_MINOR = 1, 0
ALIGNMENT = 64
KIND_MANIFEST, KIND_TENSOR_DATA = 1, 2
_HEADER = struct.Struct("<4sHHIIQQII24s")  # FileHeader, FORMAT.md 2.1
_SECTION = struct.Struct("<IIQQII")  # SectionEntry, FORMAT.md 2.2
_HEADER_SIZE, _SECTION_SIZE = 64, 32

# User-facing gear name -> compute token. 1.0 writes fp32 only.
GEARS = {"fp32": "f32"}


def _align(x: int, a: int = ALIGNMENT) -> int:
    return x + (a - x % a) % a


def _producer() -> str:
    try:
        from .. import __version__
    except ImportError:  # the package __init__ is still being written
        __version__ = "0.1.0"
    return f"gearshift {__version__}"


@dataclass
class StorageEntry:
    """One stored payload: where it goes in the data section and what it holds."""

    offset: int
    data: np.ndarray  # float32, C-contiguous, exactly the stored shape
    tensors: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        return int(self.data.nbytes)


@dataclass
class WriteResult:
    """What was written: sizes for the conversion report."""

    path: str
    file_bytes: int
    manifest_bytes: int
    data_bytes: int
    gear_bytes: dict[str, int]
    tensor_bytes: dict[str, int]  # constant tensor -> bytes of its storage entry
    storage_entries: int
    deduplicated: int  # constants that share another constant's payload


def _jsonable(v: Any) -> Any:
    """attrs as plain JSON values: numpy scalars -> Python, tuples -> lists."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, str):
        return v
    raise TypeError(f"attribute value {v!r} of type {type(v).__name__} is not JSON-serialisable")


def _tensor_order(graph: Graph) -> list[str]:
    """Graph inputs, then tensors in the order the nodes first mention them."""
    order: dict[str, None] = dict.fromkeys(graph.inputs)
    for n in graph.nodes:
        order.update((t, None) for t in n.inputs if t is not None)
        order.update((t, None) for t in n.outputs)
    order.update((t, None) for t in graph.outputs)
    return list(order)


def _plan_storage(graph: Graph, names: list[str]) -> list[StorageEntry]:
    entries: list[StorageEntry] = []
    by_key: dict[tuple[tuple[int, ...], bytes], StorageEntry] = {}
    offset = 0
    for name in names:
        t = graph.tensors[name]
        if t.data is None:
            continue
        data = np.ascontiguousarray(t.data, dtype="<f4")
        key = (data.shape, hashlib.blake2b(data.tobytes(), digest_size=32).digest())
        entry = by_key.get(key)
        if entry is None:
            entry = StorageEntry(offset=offset, data=data)
            by_key[key] = entry
            entries.append(entry)
            offset = _align(offset + entry.length)
        entry.tensors.append(name)
    return entries


def build_manifest(
    graph: Graph,
    gears: tuple[str, ...] = ("fp32",),
    metadata: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[StorageEntry]]:
    """The manifest dict and the storage plan for ``graph`` (validated, format ops only)."""
    graph.validate(format_only=True)
    unknown = [g for g in gears if g not in GEARS]
    if unknown or not gears or len(set(gears)) != len(gears):
        raise ValueError(f"gears must be distinct names from {list(GEARS)}, got {list(gears)}")
    names = _tensor_order(graph)
    index = {name: i for i, name in enumerate(names)}
    storage = _plan_storage(graph, names)
    storage_index = {t: k for k, e in enumerate(storage) for t in e.tensors}

    def node_json(n: Node) -> dict[str, Any]:
        return {
            "name": n.name,
            "op": n.op,
            "inputs": [-1 if t is None else index[t] for t in n.inputs],
            "outputs": [index[t] for t in n.outputs],
            "attrs": _jsonable(n.attrs),
        }

    tensors = []
    for name in names:
        t = graph.tensors[name]
        entry: dict[str, Any] = {"name": name, "shape": list(t.shape), "dtype": t.dtype}
        if t.is_const:
            entry["const"] = True
        tensors.append(entry)
    meta = {**graph.metadata, **(metadata or {})}
    manifest = {
        "producer": _producer(),
        "metadata": {str(k): str(v) for k, v in meta.items()},
        "tensors": tensors,
        "inputs": [index[t] for t in graph.inputs],
        "outputs": [index[t] for t in graph.outputs],
        "nodes": [node_json(n) for n in graph.nodes],
        "storage": [
            {
                "section": 1,
                "offset": e.offset,
                "length": e.length,
                "dtype": "f32",
                "shape": list(e.data.shape),
                "encoding": "dense",
            }
            for e in storage
        ],
        "gears": [
            {
                "name": g,
                "compute": GEARS[g],
                "constants": [[index[t], storage_index[t]] for t in names if t in storage_index],
            }
            for g in gears
        ],
    }
    return manifest, storage


def _write_data(f: IO[bytes], storage: list[StorageEntry]) -> tuple[int, int]:
    """Writes the TENSOR_DATA payloads with zero padding; returns ``(size, crc)``."""
    crc, pos = 0, 0
    for e in storage:
        pad = e.offset - pos
        if pad:
            zeros = bytes(pad)
            f.write(zeros)
            crc = fast_crc32c(zeros, crc)
        buf = memoryview(e.data).cast("B")
        f.write(buf)
        crc = fast_crc32c(buf, crc)
        pos = e.offset + e.length
    return pos, crc


def _write_file(
    f: IO[bytes], manifest_bytes: bytes, storage: list[StorageEntry]
) -> tuple[int, int]:
    """Writes the whole file into ``f``; returns ``(file_size, data_size)``."""
    count = 2 if storage else 1
    table_end = _HEADER_SIZE + count * _SECTION_SIZE
    manifest_off = _align(table_end)
    f.write(bytes(manifest_off))  # header + table + padding, filled in at the end
    f.write(manifest_bytes)
    sections = [(KIND_MANIFEST, manifest_off, len(manifest_bytes), fast_crc32c(manifest_bytes))]
    end = manifest_off + len(manifest_bytes)
    data_size = 0
    if storage:
        data_off = _align(end)
        f.write(bytes(data_off - end))
        data_size, data_crc = _write_data(f, storage)
        sections.append((KIND_TENSOR_DATA, data_off, data_size, data_crc))
        end = data_off + data_size
    table = b"".join(_SECTION.pack(k, 0, off, size, crc, 0) for k, off, size, crc in sections)

    def header(crc: int) -> bytes:
        return _HEADER.pack(
            b"GEAR", FORMAT_MAJOR, FORMAT_MINOR, ALIGNMENT, count, end, _HEADER_SIZE, crc, 0, b""
        )

    header_crc = fast_crc32c(table, fast_crc32c(header(0)))
    f.seek(0)
    f.write(header(header_crc))
    f.write(table)
    f.seek(end)
    return end, data_size


def write_gear(
    graph: Graph,
    path: str | os.PathLike[str],
    gears: tuple[str, ...] = ("fp32",),
    metadata: dict[str, str] | None = None,
) -> WriteResult:
    """Writes ``graph`` with ``gears`` to ``path`` atomically; see the module docstring."""
    manifest, storage = build_manifest(graph, tuple(gears), metadata)
    manifest_bytes = json.dumps(
        manifest, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"output folder does not exist: {folder!r}")
    if os.path.isdir(path):
        raise ValueError(f"output path is a directory: {path!r}")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            file_size, data_size = _write_file(f, manifest_bytes, storage)
            f.flush()
            os.fsync(f.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)
    tensor_bytes = {t: e.length for e in storage for t in e.tensors}
    total = sum(e.length for e in storage)
    return WriteResult(
        path=path,
        file_bytes=file_size,
        manifest_bytes=len(manifest_bytes),
        data_bytes=data_size,
        gear_bytes=dict.fromkeys(gears, total),
        tensor_bytes=tensor_bytes,
        storage_entries=len(storage),
        deduplicated=sum(len(e.tensors) - 1 for e in storage),
    )


def _fsync_dir(folder: str) -> None:
    """Makes the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
