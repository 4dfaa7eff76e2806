"""converters/tflite_reader.py (no TensorFlow, no LiteRT) against the schema module:
every MediaPipe model and the test models import to the same graph, constants and
int8 parameters; hostile bytes fail cleanly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gearshift.converters import tflite_file
from gearshift.converters.import_tflite import import_tflite
from gearshift.converters.tflite_file import TFLiteFormatError, read_tflite

DATA = Path(__file__).parent / "data"


def _files() -> list[Path]:
    files = sorted(DATA.glob("*.tflite"))
    spec = importlib.util.find_spec("mediapipe")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            files += sorted(Path(root).glob("modules/*/*.tflite"))
    return files


def _schema_or_skip() -> None:
    try:
        tflite_file.load_schema()
    except ImportError as e:
        pytest.skip(f"no schema module to compare with: {e}")


def _summary(tf: tflite_file.TFLiteFile) -> dict:
    model = tf.model
    sg = tf.subgraph
    return {
        "ops": tf.op_names,
        "tensors": [
            (
                t.name,
                t.shape,
                t.type_name,
                t.scale.tolist(),
                t.zero_point.tolist(),
                t.quantized_dimension,
                t.buffer,
            )
            for t in tf.tensors
        ],
        "io": (list(np.asarray(sg.inputs)), list(np.asarray(sg.outputs))),
        "signatures": [
            (d.signatureKey, [(m.name, m.tensorIndex) for m in d.inputs or []])
            for d in (getattr(model, "signatureDefs", None) or [])
        ],
        "options": [
            sorted(
                (k, np.asarray(v).tolist() if isinstance(v, np.ndarray) else v)
                for k, v in vars(op.builtinOptions).items()
                if isinstance(v, (int, float, bool, np.ndarray))
            )
            if op.builtinOptions is not None
            else None
            for op in sg.operators or []
        ],
    }


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_builtin_reader_matches_the_schema_module(path: Path) -> None:
    _schema_or_skip()
    a = read_tflite(path, reader="schema")
    b = read_tflite(path, reader="builtin")
    sa, sb = _summary(a), _summary(b)
    for key in sa:
        assert sa[key] == sb[key], key
    for t in a.tensors:
        va, vb = a.value(t), b.value(b.tensors[t.index])
        if va is None:
            assert vb is None
        else:
            np.testing.assert_array_equal(va, vb, err_msg=t.name)


def test_builtin_reader_imports_the_same_graph() -> None:
    """The whole import (ops, attributes, constants, an int8 file's parameters) through
    each reader, on the golden int8 model and a float MediaPipe model."""
    _schema_or_skip()
    paths = [DATA / "golden_v1_4_uint8.tflite"] + [
        p for p in _files() if p.stem in ("face_detection_short_range", "selfie_segmentation")
    ]
    for path in paths:
        ga = import_tflite(read_tflite(path, reader="schema"))
        gb = import_tflite(read_tflite(path, reader="builtin"))
        assert [(n.op, n.inputs, n.outputs, n.attrs) for n in ga.graph.nodes] == [
            (n.op, n.inputs, n.outputs, n.attrs) for n in gb.graph.nodes
        ]
        for name, t in ga.graph.tensors.items():
            if t.data is not None:
                np.testing.assert_array_equal(t.data, gb.graph.tensors[name].data)
        if ga.qplan is not None:
            assert sorted(ga.qplan.activations) == sorted(gb.qplan.activations)


def test_builtin_reader_refuses_hostile_bytes() -> None:
    good = (DATA / "golden_v1_4_uint8.tflite").read_bytes()
    rng = np.random.default_rng(0)
    refused = 0
    for cut in (8, 16, 64, len(good) // 2):
        with pytest.raises(TFLiteFormatError):
            read_tflite(good[:cut], reader="builtin")
    for _ in range(300):
        data = bytearray(good)
        for i in rng.integers(8, len(good), 4):
            data[i] = int(rng.integers(0, 256))
        try:
            read_tflite(bytes(data), reader="builtin")
        except TFLiteFormatError:
            refused += 1
    assert refused > 0
