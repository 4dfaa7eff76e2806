"""An int8 .tflite whose CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED is followed by a
separate RELU or RELU6 with its own quantization parameters: LiteRT rounds twice (the
producer into its output's scale, then the activation's requantization), so the importer
must keep the activation separate, and the int8 gear then equals LiteRT's reference
kernels bit for bit. Fusing it (as the pass did for every such pair) rounds once."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from tflite_edit import edit, tflite_from_fn

import gearshift as gs

tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

RNG = np.random.default_rng(11)
W_CONV = RNG.normal(0, 0.3, (3, 3, 4, 8)).astype(np.float32)
W_DW = RNG.normal(0, 0.5, (3, 3, 4, 1)).astype(np.float32)
W_FC = RNG.normal(0, 0.3, (64, 16)).astype(np.float32)
BIAS = np.linspace(-0.5, 0.5, 16).astype(np.float32)


def _producer(kind: str, x):
    if kind == "conv":
        return tf.nn.conv2d(x, W_CONV, 1, "SAME") + BIAS[:8]
    if kind == "depthwise":
        return tf.nn.depthwise_conv2d(x, W_DW, [1, 1, 1, 1], "SAME") + BIAS[:4]
    return tf.matmul(tf.reshape(x, (-1, 64)), W_FC) + BIAS  # FULLY_CONNECTED


def _model(kind: str, act: str) -> bytes:
    """TF's int8 model of producer -> LEAKY_RELU (never fused, so it keeps its own output
    parameters), with the LEAKY_RELU then turned into ``act``: a separate activation whose
    output scale and zero point differ from the producer's."""
    shape = (1, 4, 4, 4)

    def fn(x):
        return tf.nn.leaky_relu(_producer(kind, x), alpha=0.3)

    rng = np.random.default_rng(0)

    def reps():
        for _ in range(16):
            yield [rng.uniform(-1, 1, shape).astype(np.float32)]

    src = tflite_from_fn(fn, [shape], "int8", reps, io_type=tf.int8)

    def to_act(s, m):
        code = s.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = getattr(s.BuiltinOperator, act)
        code.version = 2
        m.operatorCodes.append(code)
        codes = [c.builtinCode for c in m.operatorCodes]
        sg = m.subgraphs[0]
        (op,) = [o for o in sg.operators if codes[o.opcodeIndex] == s.BuiltinOperator.LEAKY_RELU]
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.builtinOptionsType, op.builtinOptions = 0, None

    return edit(src, to_act)


def _io(path) -> tuple[np.ndarray, float, int]:
    """64 float inputs that are exact int8 values of the model's input (every code from
    -128 to 127), and the output's scale and zero point. The runtime takes and returns
    float32; the int8 codes are compared."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]
    s_in, z_in = d_in["quantization"]
    q = np.random.default_rng(5).integers(-128, 128, (64, *d_in["shape"][1:]))
    s_out, z_out = d_out["quantization"]
    return ((q - z_in) * np.float32(s_in)).astype(np.float32), float(s_out), int(z_out)


def _codes(y: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return np.round(y / scale).astype(np.int64) + zp


@pytest.mark.parametrize("act", ["RELU", "RELU6"])
@pytest.mark.parametrize("kind", ["conv", "depthwise", "fc"])
def test_separate_activation_is_bit_exact(kind: str, act: str, tmp_path) -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from gearshift.converters.import_tflite import import_tflite
    from gearshift.converters.litert_runner import run_tflite

    path = tmp_path / "m.tflite"
    path.write_bytes(_model(kind, act))
    ops = [o["op_name"] for o in Interpreter(model_path=str(path))._get_ops_details()]
    producer = {"conv": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D", "fc": "FULLY_CONNECTED"}
    assert producer[kind] in ops and act in ops  # separate in the file
    imp = import_tflite(path)
    act_node = next(n for n in imp.graph.nodes if n.op == act)
    x_qp = imp.qplan.activations[act_node.inputs[0]]
    y_qp = imp.qplan.activations[act_node.outputs[0]]
    assert float(x_qp.scale) != float(y_qp.scale)  # its own parameters

    gear = tmp_path / "m.gear"
    report = gs.convert(path, gear, gears=("fp32", "int8"), progress=False)
    assert act in [row.op for row in report.layers]  # kept as its own node
    xs, scale, zp = _io(path)
    ref = run_tflite(path, [xs], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)[0]
    got = gs.Runtime(gear, gear="int8").run(xs)
    assert len(np.unique(_codes(ref, scale, zp))) > 16  # a real spread of values
    np.testing.assert_array_equal(_codes(got, scale, zp), _codes(ref, scale, zp))


def test_fusing_would_round_once(tmp_path) -> None:
    """What the test above guards against: the same file with the activation fused (the
    pass without the file's parameters) misses LiteRT's values."""
    from ai_edge_litert.interpreter import OpResolverType

    from gearshift.converters.import_tflite import import_tflite
    from gearshift.converters.litert_runner import run_tflite
    from gearshift.converters.passes import run_passes
    from gearshift.converters.quantize import refit_plan
    from gearshift.converters.write_gear import write_gear

    path = tmp_path / "m.tflite"
    path.write_bytes(_model("conv", "RELU"))
    imp = import_tflite(path)
    plan = copy.deepcopy(imp.qplan)
    fused = run_passes(imp.graph)  # no qact: fuses regardless of the parameters
    assert any("fused RELU" in c for r in fused for c in r.changes)
    out = tmp_path / "fused.gear"
    write_gear(imp.graph, out, ("fp32", "int8"), qplan=refit_plan(imp.graph, plan))
    xs, scale, zp = _io(path)
    ref = run_tflite(path, [xs], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)[0]
    diff = _codes(gs.Runtime(out, gear="int8").run(xs), scale, zp) - _codes(ref, scale, zp)
    assert np.mean(diff != 0) > 0.01
