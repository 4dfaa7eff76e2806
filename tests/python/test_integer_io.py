"""Integer inputs and outputs (format 1.4 ``io``): a fully-int8 ``.tflite`` with int8 or
uint8 inputs/outputs converts into a file that takes and returns those integers, the
int8 gear bit-exact with LiteRT's reference kernels, every gear on the same arrays."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from gear_bytes import pack
from int8_tflite import classifier, to_tflite

import gearshift as gs
from gearshift import gear_format as gf
from gearshift.converters.write_gear import repack

tf = pytest.importorskip("tensorflow")
litert = pytest.importorskip("ai_edge_litert.interpreter")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{iface: (tflite path, gear path)} for int8 and uint8 interfaces."""
    folder = tmp_path_factory.mktemp("intio")
    model = classifier()
    out = {}
    for iface in ("int8", "uint8"):
        src = to_tflite(model, folder / f"{iface}.tflite", iface)
        gear = folder / f"{iface}.gear"
        gs.convert(src, gear, gears=("fp32", "fp16", "int8"), progress=False)
        out[iface] = (src, gear)
    return out


def _litert(src, x: np.ndarray) -> np.ndarray:
    """LiteRT's reference kernels on a batch, one sample at a time (the file's batch is 1)."""
    it = litert.Interpreter(
        model_path=str(src),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
    )
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    ys = []
    for k in range(x.shape[0]):
        it.set_tensor(d["index"], x[k : k + 1])
        it.invoke()
        ys.append(it.get_tensor(o["index"]))
    return np.concatenate(ys)


def _inputs(dtype: str, n: int = 6, seed: int = 1) -> np.ndarray:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    return rng.integers(info.min, info.max + 1, (n, 12, 12, 3)).astype(dtype)


@pytest.mark.parametrize("iface", ["int8", "uint8"])
def test_int8_gear_bit_exact_with_litert(models, iface):
    src, gear = models[iface]
    rt = gs.Runtime(gear, gear="int8")
    assert [s.dtype for s in rt.inputs] == [iface] and [s.dtype for s in rt.outputs] == [iface]
    it = litert.Interpreter(model_path=str(src))
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    assert rt.quantization(rt.inputs[0].name) == pytest.approx(d["quantization"], rel=0, abs=0)
    assert rt.quantization(rt.outputs[0].name) == pytest.approx(o["quantization"], rel=0, abs=0)
    x = _inputs(iface)
    got = rt.run(x)
    ref = _litert(src, x)
    assert got.dtype == np.dtype(iface) and got.shape == ref.shape
    assert len(np.unique(ref)) > 10  # a real spread of values, not a saturated output
    np.testing.assert_array_equal(got, ref)
    # the caller's buffer: out= of the interface dtype
    buf = np.empty_like(ref)
    rt.run(x, out=buf)
    np.testing.assert_array_equal(buf, ref)
    with pytest.raises(ValueError, match=f"{iface} array"):
        rt.run(x, out=np.empty(ref.shape, np.float32))


@pytest.mark.parametrize("iface", ["int8", "uint8"])
def test_every_gear_takes_the_same_integers(models, iface):
    """Float gears dequantize the integer inputs with the interface parameters and
    quantize their outputs: the same dtypes, values close to LiteRT's."""
    src, gear = models[iface]
    x = _inputs(iface)
    ref = _litert(src, x).astype(np.int32)
    rt = gs.Runtime(gear)
    (s_in, z_in), (s_out, z_out) = (rt.quantization(t.name) for t in (*rt.inputs, *rt.outputs))
    for g in rt.gears:
        rt.gear = g
        got = rt.run(x)
        assert got.dtype == np.dtype(iface), g
        # float arithmetic vs LiteRT's int8: close (random inputs reach beyond the
        # calibrated ranges, so a few outputs move by more than a unit)
        diff = np.abs(got.astype(np.int32) - ref)
        assert diff.mean() <= 2 and diff.max() <= 0.15 * (ref.max() - ref.min()), g
        # the same as running on the real values and quantizing the result (LiteRT's
        # QUANTIZE: round half away from zero, clamped)
        real = rt.run((x.astype(np.float64) - z_in) * s_in, io="float")
        assert real.dtype == np.float32
        info = np.iinfo(iface)
        q = np.clip(
            np.sign(real / s_out) * np.floor(np.abs(real / s_out) + 0.5) + z_out, info.min, info.max
        )
        np.testing.assert_array_equal(got, q.astype(iface))


def test_float_inputs_still_accepted(models):
    """float32 (real values) for an integer input: float32 out, as before 1.4 files."""
    _, gear = models["int8"]
    rt = gs.Runtime(gear, gear="int8")
    x = _inputs("int8")
    s, z = rt.quantization(rt.inputs[0].name)
    q = rt.run(x)
    real = rt.run(((x.astype(np.float64) - z) * s).astype(np.float32))
    assert real.dtype == np.float32
    so, zo = rt.quantization(rt.outputs[0].name)
    np.testing.assert_array_equal(real, ((q.astype(np.float64) - zo) * so).astype(np.float32))


def test_wrong_integer_dtype_refused(models):
    _, gear = models["uint8"]
    rt = gs.Runtime(gear)
    with pytest.raises(ValueError, match="expected dtype uint8"):
        rt.run(_inputs("int8"))
    with pytest.raises(ValueError, match="expected dtype uint8"):
        rt.run(_inputs("uint8").astype(np.int32))
    with pytest.raises(ValueError, match="expected dtype uint8"):
        rt.run(np.zeros((1, 12, 12, 3), np.float32), io="native")
    with pytest.raises(ValueError, match='io must be "auto"'):
        rt.run(_inputs("uint8"), io="int")


def test_file_records_the_interface(models):
    src, gear = models["uint8"]
    f = gf.read_gear(gear)
    assert f.version == (1, 6)  # binary params; the JSON form is a 1.4 file
    json_form = gear.with_name("uint8-json.gear")
    repack(gear, json_form, binary=False)
    assert gf.read_gear(json_form).version == (1, 4)
    m = f.manifest
    io = {m["tensors"][t]["name"]: m["tensors"][t].get("io") for t in m["inputs"] + m["outputs"]}
    d = litert.Interpreter(model_path=str(src)).get_input_details()[0]
    assert io[f.manifest["tensors"][m["inputs"][0]]["name"]] == {
        "dtype": "u8",
        "scale": float(np.float32(d["quantization"][0])),
        "zero_point": d["quantization"][1],
    }
    assert all(v is not None and v["dtype"] == "u8" for v in io.values())
    assert sum("io" in t for t in m["tensors"]) == len(io)  # nowhere else


def _rewrite(gear, tmp_path, edit) -> str:
    f = gf.read_gear(gear)
    m = copy.deepcopy(f.manifest)  # params references read: the JSON form
    edit(m)
    data = next(s for s in f.sections if s.kind == gf.SECTION_TENSOR_DATA)
    for e in m["storage"]:  # pack() lays out TENSOR_DATA as section 1
        if "section" in e:
            e["section"] = 1
    path = tmp_path / "edited.gear"
    path.write_bytes(pack(m, bytes(f.section_bytes(data.index)), minor=4))
    return str(path)


def _input_io(m):
    return m["tensors"][m["inputs"][0]]["io"]


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda m: _input_io(m).update(dtype="i16"), '"i8" or "u8"'),
        (lambda m: _input_io(m).update(zero_point=256), "zero_point"),
        (lambda m: _input_io(m).update(zero_point=-1), "zero_point"),
        (lambda m: _input_io(m).update(scale=-0.5), "scale"),
        (lambda m: _input_io(m).update(scale=1e40), "scale"),
        (lambda m: _input_io(m).pop("scale"), "scale"),
        (lambda m: _input_io(m).update(zero_point=1.5), "zero_point"),
        (lambda m: m["tensors"][m["inputs"][0]].update(io=[1]), "io"),
        (lambda m: m["tensors"][m["nodes"][0]["outputs"][0]].update(io=_input_io(m)), "io"),
    ],
)
def test_hostile_io_refused_by_both_readers(models, tmp_path, edit, message):
    path = _rewrite(models["uint8"][1], tmp_path, edit)
    with pytest.raises(gs.FormatError, match=message):
        gs.Runtime(path)
    with pytest.raises(gs.FormatError, match=message):
        gf.read_gear(path)


def test_a_13_file_without_io_keeps_float(models, tmp_path):
    """A reader of 1.4 reads the same graph without ``io`` as a float interface."""
    path = _rewrite(
        models["int8"][1], tmp_path, lambda m: [t.pop("io", None) for t in m["tensors"]]
    )
    rt = gs.Runtime(path, gear="int8")
    assert [s.dtype for s in rt.inputs + rt.outputs] == ["float32", "float32"]
    assert rt.run(np.zeros((1, 12, 12, 3), np.float32)).dtype == np.float32
    assert json.loads(json.dumps(gf.read_gear(path).manifest))  # valid for the Python reader too


def test_two_integer_inputs(tmp_path):
    """A model with an int8 image and a uint8 side input: rt.run takes both by name,
    and the Interpreter by index, giving LiteRT's reference integers."""
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from keras import layers

    keras.utils.set_random_seed(3)
    img = keras.Input((8, 8, 3), name="image")
    side = keras.Input((5,), name="side")
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(img)
    x = layers.Flatten()(layers.AveragePooling2D(8)(x))
    y = layers.Concatenate()([x, layers.Dense(4, activation="relu")(side)])
    model = keras.Model([img, side], layers.Dense(3, name="out")(y))
    rng = np.random.default_rng(0)
    data = [rng.uniform(-1, 1, (16, 8, 8, 3)), rng.uniform(0, 1, (16, 5))]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    # keyed by input name: the converter's own input order is not the model's
    conv.representative_dataset = lambda: (
        {
            "image": data[0][i : i + 1].astype(np.float32),
            "side": data[1][i : i + 1].astype(np.float32),
        }
        for i in range(16)
    )
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    src = tmp_path / "two.tflite"
    src.write_bytes(conv.convert())

    ref = Interpreter(model_path=str(src), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    ref.allocate_tensors()
    ours = gs.Interpreter(model_path=str(src))
    ours.allocate_tensors()
    gear = tmp_path / "two.gear"
    gs.convert(src, gear, gears=("fp32", "int8"), progress=False)
    rt = gs.Runtime(gear, gear="int8")
    assert [s.dtype for s in rt.inputs] == ["int8", "int8"]
    for _ in range(8):
        feed = {}
        for it in (ref, ours):
            for d in it.get_input_details():
                if d["name"] not in feed:
                    feed[d["name"]] = rng.integers(-128, 128, d["shape"], dtype=np.int8)
                it.set_tensor(d["index"], feed[d["name"]])
            it.invoke()
        want = ref.get_tensor(ref.get_output_details()[0]["index"])
        got = ours.get_tensor(ours.get_output_details()[0]["index"])
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, want)
        by_name = rt.run({s.name: feed[s.name] for s in rt.inputs})
        np.testing.assert_array_equal(by_name, want)
