"""The TFLite importer on the inputs its fuzzer (fuzz/fuzz_tflite_importer.py) found
crashing it: each must now fail with the importer's own error, saying what is wrong,
with the builtin numpy reader and with the schema module alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from gearshift.converters.import_tflite import TFLiteImportError, import_tflite
from gearshift.converters.tflite_file import read_tflite

CORPUS = Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "tflite"
# file -> what the error must say (before the fixes: IRError, IndexError, ZeroDivisionError)
EXPECTED = {
    "regress_irerror_zero_dim.tflite": "tensors are inconsistent .*bad dimension 0",
    "regress_no_output.tflite": r"DEPTHWISE_CONV_2D\): the operator has no output",
    "regress_slice_empty.tflite": r"STRIDED_SLICE\): cannot compute STRIDED_SLICE",
    "regress_depthwise_op_code.tflite": r"DEPTHWISE_CONV_2D .*weights \[8, 3, 3, 3\] for an "
    r"output of 8 channels",
    "regress_mean_scalar.tflite": r"MEAN\): MEAN axis 1 does not exist in a tensor of rank 0",
    "regress_pad_float_paddings.tflite": r"PAD\): parameter .* is float32, not integers",
    "regress_depthwise_zero_channels.tflite": r"DEPTHWISE_CONV_2D\): filter depth 8 is not a "
    r"positive multiple of the 0 input channels",
    "regress_zero_bias_scale.tflite": r"the file's int8 parameters cannot be used \(scales must "
    r"be finite and > 0",
}

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="fuzz/corpus is not part of this copy of the tests"
)


def test_every_regression_seed_is_checked():
    assert sorted(p.name for p in CORPUS.glob("regress_*.tflite")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("reader", ["builtin", "auto"])
def test_fuzz_finding_fails_with_the_importers_error(name, reader):
    data = (CORPUS / name).read_bytes()
    with pytest.raises(TFLiteImportError, match=EXPECTED[name]):
        import_tflite(read_tflite(data, reader=reader))
