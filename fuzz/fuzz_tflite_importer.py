"""atheris (libFuzzer for Python) target for the TFLite importer: the numpy-only
flatbuffer reader (converters/tflite_reader.py), the checks of tflite_file.py and
the importer on top of them (converters/import_tflite.py).

Every input must either import or raise one of the importer's documented errors,
``TFLiteFormatError`` (not a readable TFLite file) or ``TFLiteImportError`` (valid
TFLite that gearshift cannot import, with the reason); anything else (IndexError,
KeyError, numpy errors, a hang) is a bug and stops the fuzzer with the input saved.
`make fuzz` runs it on fuzz/corpus/tflite (seeds from fuzz/make_tflite_seeds.py);
by hand:

    PYTHONPATH=python:. python fuzz/fuzz_tflite_importer.py -max_total_time=60 \\
        build-fuzz/work/tflite fuzz/corpus/tflite
"""

from __future__ import annotations

import os
import sys
import warnings

import atheris
import numpy  # noqa: F401  imported before instrumenting, as is gearshift's package:

import gearshift  # noqa: F401  only the converters are instrumented (numpy's branches would drown them)

with atheris.instrument_imports(include=["gearshift.converters"]):
    from gearshift.converters import import_tflite, tflite_file, tflite_reader  # noqa: F401

EXPECTED = (tflite_file.TFLiteFormatError, import_tflite.TFLiteImportError)


def test_one_input(data: bytes) -> None:
    try:
        tf = tflite_file.read_tflite(data, reader="builtin")
        import_tflite.import_tflite(tf)
    except EXPECTED:
        pass


def main() -> None:
    # numpy's RuntimeWarnings (overflow in a hostile scale) are not errors here.
    warnings.simplefilter("ignore")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
