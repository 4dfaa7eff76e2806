"""Shared helpers of the format 1.3 tests: one-op TFLite models converted with full
integer quantization and run on LiteRT's reference kernels (``BUILTIN_REF``)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from gearshift.converters import quant_ref as qr


def qp(detail: dict) -> qr.QParams:
    p = detail["quantization_parameters"]
    s, z = p["scales"], p["zero_points"]
    if s.size == 1:
        return qr.QParams.of(s[0], int(z[0]))
    return qr.QParams.of(s, z, p["quantized_dimension"])


class LiteCase:
    """A converted one-op model: its op's tensors (int8 values and params) after a run."""

    def __init__(
        self, fn: Callable[..., Any], xs: list[np.ndarray], op_name: str, ref: bool = True
    ) -> None:
        tf = pytest.importorskip("tensorflow")
        litert = pytest.importorskip("ai_edge_litert.interpreter")
        specs = [tf.TensorSpec(x.shape, tf.float32) for x in xs]
        cf = tf.function(fn, input_signature=specs).get_concrete_function()
        conv = tf.lite.TFLiteConverter.from_concrete_functions([cf])
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        rng = np.random.default_rng(99)

        def reps():
            yield list(xs)
            for _ in range(3):
                yield [(x * rng.uniform(0.5, 1.0)).astype(np.float32) for x in xs]

        conv.representative_dataset = reps
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        self.interp = litert.Interpreter(
            model_content=conv.convert(),
            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF
            if ref
            else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=True,
        )
        self.interp.allocate_tensors()
        self.ops = [o["op_name"] for o in self.interp._get_ops_details()]
        details = self.interp.get_input_details()
        # inputs are listed in signature order
        for d, x in zip(details, xs):
            self.interp.set_tensor(d["index"], qr.quantize(x, qp(d)))
        self.interp.invoke()
        found = [o for o in self.interp._get_ops_details() if o["op_name"] == op_name]
        assert len(found) == 1, self.ops
        self.op = found[0]
        td = {t["index"]: t for t in self.interp.get_tensor_details()}
        self.ins = [td.get(i) for i in self.op["inputs"]]
        self.out = td[self.op["outputs"][0]]

    def value(self, detail: dict) -> np.ndarray:
        return self.interp.get_tensor(detail["index"])

    def input(self, k: int) -> tuple[np.ndarray, qr.QParams]:
        return self.value(self.ins[k]), qp(self.ins[k])

    @property
    def y(self) -> np.ndarray:
        return self.value(self.out)

    @property
    def yp(self) -> qr.QParams:
        return qp(self.out)
