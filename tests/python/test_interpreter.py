"""``gearshift.Interpreter``, the drop-in for LiteRT's Interpreter: scripts written for
LiteRT run unchanged but for the class, against both, with equal results (integer
models bit-exact against LiteRT's reference kernels, float models within float
tolerance); errors of the same types; the conversion cache."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from int8_tflite import classifier, to_tflite

import gearshift as gs
from gearshift import interpreter as gi

pytest.importorskip("tensorflow")
litert = pytest.importorskip("ai_edge_litert.interpreter")


def LiteRT(*args, **kwargs):
    """LiteRT's Interpreter on its reference kernels: the arithmetic gearshift's int8
    gear reproduces (its optimized kernels round a few sums differently)."""
    kwargs.setdefault("experimental_op_resolver_type", litert.OpResolverType.BUILTIN_REF)
    return litert.Interpreter(*args, **kwargs)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interp")
    one, two = classifier(), classifier(n_outputs=2)
    return {
        "uint8": to_tflite(one, folder / "uint8.tflite", "uint8"),
        "int8": to_tflite(one, folder / "int8.tflite", "int8"),
        "float": to_tflite(one, folder / "float.tflite", None),
        "two_int8": to_tflite(two, folder / "two.tflite", "int8"),
        "int8_float_io": to_tflite(one, folder / "int8_float_io.tflite", "float32"),
    }


def _frames(dtype, n: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return [rng.uniform(-1, 1, (1, 12, 12, 3)).astype(dtype) for _ in range(n)]
    info = np.iinfo(dtype)
    return [rng.integers(info.min, info.max + 1, (1, 12, 12, 3)).astype(dtype) for _ in range(n)]


# -- scripts written for LiteRT's Interpreter ------------------------------------------------
def classify_script(Interpreter, path, frames):
    """The usual image-classification loop of a LiteRT example."""
    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()
    output_details = interpreter.get_output_details()
    results = []
    for frame in frames:
        interpreter.set_tensor(input_details[0]["index"], frame)
        interpreter.invoke()
        results.append(interpreter.get_tensor(output_details[0]["index"]))
    return results


def detect_script(Interpreter, path, frame):
    """Several outputs, read by the order of get_output_details and dequantized."""
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    scale, zero_point = inp["quantization"]
    q = np.clip(np.round(frame / scale) + zero_point, -128, 127).astype(inp["dtype"])
    interpreter.set_tensor(inp["index"], q)
    interpreter.invoke()
    out = []
    for d in interpreter.get_output_details():
        raw = interpreter.get_tensor(d["index"])
        s, z = d["quantization"]
        out.append((d["name"], raw, (raw.astype(np.float32) - z) * s))
    return out


def signature_script(Interpreter, path, frame):
    interpreter = Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    (name,) = interpreter.get_signature_list()["serving_default"]["inputs"]
    return interpreter.get_signature_list(), runner(**{name: frame})


def resize_script(Interpreter, path, batch):
    interpreter = Interpreter(model_path=str(path))
    d = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(d["index"], [len(batch), 12, 12, 3])
    interpreter.allocate_tensors()
    interpreter.set_tensor(d["index"], batch)
    interpreter.invoke()
    o = interpreter.get_output_details()[0]
    return (
        interpreter.get_input_details()[0]["shape"],
        o["shape"],
        interpreter.get_tensor(o["index"]),
    )


@pytest.mark.parametrize("kind", ["uint8", "int8"])
def test_classifier_bit_exact(models, kind):
    frames = _frames(kind)
    ours = classify_script(gs.Interpreter, models[kind], frames)
    ref = classify_script(LiteRT, models[kind], frames)
    for a, b in zip(ours, ref):
        assert a.dtype == b.dtype == np.dtype(kind)
        np.testing.assert_array_equal(a, b)
    assert len({a.tobytes() for a in ours}) == len(frames)  # different frames, outputs


def test_float_classifier_within_tolerance(models):
    frames = _frames(np.float32)
    ours = classify_script(gs.Interpreter, models["float"], frames)
    ref = classify_script(LiteRT, models["float"], frames)
    for a, b in zip(ours, ref):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_int8_model_with_float_interface(models):
    """A fully-int8 model with float32 I/O (its own QUANTIZE/DEQUANTIZE): the int8 gear
    by default, LiteRT's int8 values (compared in output steps: both dequantize them)."""
    path = models["int8_float_io"]
    frames = _frames(np.float32, 3, seed=5)
    it = gs.Interpreter(model_path=str(path))
    assert it.gear == "int8" and it.get_input_details()[0]["dtype"] is np.float32
    ours = classify_script(gs.Interpreter, path, frames)
    ref = classify_script(LiteRT, path, frames)
    from gearshift.converters.import_tflite import import_tflite

    imp = import_tflite(str(path))
    step = float(imp.qplan.activations[imp.graph.outputs[0]].scale)
    for a, b in zip(ours, ref):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(np.round(a / step), np.round(b / step))


def test_details_match_litert(models):
    for kind in ("uint8", "float", "two_int8", "int8_float_io"):
        ours, ref = (
            gs.Interpreter(model_path=str(models[kind])),
            LiteRT(model_path=str(models[kind])),
        )
        for a, b in [
            *zip(ours.get_input_details(), ref.get_input_details()),
            *zip(ours.get_output_details(), ref.get_output_details()),
        ]:
            assert a.keys() == b.keys()
            assert a["name"] == b["name"] and a["dtype"] is b["dtype"]
            for key in ("shape", "shape_signature"):
                assert a[key].dtype == b[key].dtype and list(a[key]) == list(b[key])
            assert a["quantization"] == b["quantization"]
            qa, qb = a["quantization_parameters"], b["quantization_parameters"]
            assert qa.keys() == qb.keys()
            for key in ("scales", "zero_points"):
                assert qa[key].dtype == qb[key].dtype
                np.testing.assert_array_equal(qa[key], qb[key])
            assert qa["quantized_dimension"] == qb["quantized_dimension"]
            assert a["sparsity_parameters"] == b["sparsity_parameters"]
            assert isinstance(a["index"], int)


def test_several_outputs(models):
    frame = np.random.default_rng(4).uniform(-1, 1, (1, 12, 12, 3)).astype(np.float32)
    ours = detect_script(gs.Interpreter, models["two_int8"], frame)
    ref = detect_script(LiteRT, models["two_int8"], frame)
    assert len(ours) == len(ref) == 2
    for (na, ra, fa), (nb, rb, fb) in zip(ours, ref):
        assert na == nb
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(fa, fb)


def test_signature_runner(models):
    frame = _frames("uint8", 1)[0]
    sigs_a, out_a = signature_script(gs.Interpreter, models["uint8"], frame)
    sigs_b, out_b = signature_script(LiteRT, models["uint8"], frame)
    assert sigs_a == sigs_b
    assert out_a.keys() == out_b.keys()
    for k in out_a:
        np.testing.assert_array_equal(out_a[k], out_b[k])
    runner = gs.Interpreter(model_path=str(models["uint8"])).get_signature_runner()
    with pytest.raises(ValueError, match="Invalid Input name"):
        runner(no_such_input=frame)
    # a batch of 2 through the runner resizes, as LiteRT's does
    two = np.concatenate(_frames("uint8", 2))
    (out,) = runner(**{next(iter(sigs_a["serving_default"]["inputs"][:1])): two}).values()
    assert out.shape[0] == 2


def test_resize_tensor_input(models):
    batch = np.concatenate(_frames("int8", 3, seed=7))
    a = resize_script(gs.Interpreter, models["int8"], batch)
    b = resize_script(LiteRT, models["int8"], batch)
    assert list(a[0]) == list(b[0]) == [3, 12, 12, 3]
    assert list(a[1]) == list(b[1]) == [3, 6]
    np.testing.assert_array_equal(a[2], b[2])
    it = gs.Interpreter(model_path=str(models["int8"]))
    with pytest.raises(ValueError, match="only the batch"):
        it.resize_tensor_input(it.get_input_details()[0]["index"], [1, 10, 12, 3])


def test_tensor_views_follow_invoke(models):
    it = gs.Interpreter(model_path=str(models["uint8"]))
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    inp, out = it.tensor(i), it.tensor(o)
    seen = []
    for frame in _frames("uint8", 2, seed=3):
        inp()[...] = frame  # writing the input view feeds invoke, as in LiteRT
        it.invoke()
        seen.append(out().copy())
        np.testing.assert_array_equal(out(), it.get_tensor(o))
    assert not np.array_equal(seen[0], seen[1])
    ref = LiteRT(model_path=str(models["uint8"]))
    ref.allocate_tensors()
    ref.set_tensor(ref.get_input_details()[0]["index"], _frames("uint8", 2, seed=3)[1])
    ref.invoke()
    np.testing.assert_array_equal(seen[1], ref.get_tensor(ref.get_output_details()[0]["index"]))


def _raises(make, call):
    """The exception type each interpreter raises for the same misuse."""
    types = []
    for cls in (gs.Interpreter, LiteRT):
        it = make(cls)
        with pytest.raises(Exception) as e:
            call(it)
        types.append(e.type)
    return types


@pytest.mark.parametrize(
    "misuse,expected",
    [
        (lambda it: it.invoke(), RuntimeError),  # before allocate_tensors
        (lambda it: it.get_tensor(it.get_output_details()[0]["index"]), ValueError),
        (lambda it: it.set_tensor(0, np.zeros((1, 12, 12, 3), np.uint8)), ValueError),
    ],
)
def test_errors_before_allocate(models, misuse, expected):
    make = lambda cls: cls(model_path=str(models["uint8"]))  # noqa: E731
    assert _raises(make, misuse) == [expected, expected]


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((1, 12, 12, 3), np.float32),  # wrong dtype
        np.zeros((1, 12, 12, 3), np.int8),
        np.zeros((2, 12, 12, 3), np.uint8),  # wrong shape
        np.zeros((12, 12, 3), np.uint8),
    ],
)
def test_set_tensor_errors(models, value):
    def make(cls):
        it = cls(model_path=str(models["uint8"]))
        it.allocate_tensors()
        return it

    def misuse(it):
        it.set_tensor(it.get_input_details()[0]["index"], value)

    assert _raises(make, misuse) == [ValueError, ValueError]


def test_bad_index_and_sources(models, tmp_path):
    it = gs.Interpreter(model_path=str(models["uint8"]))
    it.allocate_tensors()
    with pytest.raises(ValueError, match="Invalid tensor index"):
        it.get_tensor(10_000)
    with pytest.raises(FileNotFoundError):
        gs.Interpreter(model_path=str(tmp_path / "missing.tflite"))
    with pytest.raises(ValueError, match="exactly one"):
        gs.Interpreter()
    (tmp_path / "x.bin").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match=r"neither a \.gear"):
        gs.Interpreter(model_path=str(tmp_path / "x.bin"))
    with pytest.warns(RuntimeWarning, match="ignores experimental_delegates"):
        gs.Interpreter(model_path=str(models["uint8"]), experimental_delegates=[object()])


def test_model_content_and_gear_files(models, tmp_path):
    """model_content (tflite or gear bytes) and a .gear path give the same results."""
    frames = _frames("uint8", 2)
    ref = classify_script(gs.Interpreter, models["uint8"], frames)
    content = models["uint8"].read_bytes()
    it = gs.Interpreter(model_content=content)
    gear_bytes = Path(it.path).read_bytes()
    gear = tmp_path / "m.gear"
    gear.write_bytes(gear_bytes)
    for make in (
        lambda: gs.Interpreter(model_content=content),
        lambda: gs.Interpreter(model_content=gear_bytes),
        lambda: gs.Interpreter(model_path=gear),
    ):
        it = make()
        it.allocate_tensors()
        d, o = it.get_input_details()[0], it.get_output_details()[0]
        for frame, want in zip(frames, ref):
            it.set_tensor(d["index"], frame)
            it.invoke()
            np.testing.assert_array_equal(it.get_tensor(o["index"]), want)


def test_gears_and_runner(models):
    it = gs.Interpreter(model_path=str(models["uint8"]))
    assert it.gears == ("fp32", "int8") and it.gear == "int8"  # LiteRT's arithmetic first
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    frame = _frames("uint8", 1)[0]
    it.set_tensor(d["index"], frame)
    it.invoke()
    q = it.get_tensor(o["index"])
    it.gear = "fp32"
    it.invoke()
    f = it.get_tensor(o["index"])
    assert f.dtype == np.uint8 and np.abs(f.astype(int) - q.astype(int)).max() <= 8
    # a cascade behind invoke: int8's answer where it is confident, else fp32's
    for threshold, want, escalated in ((1.0, f, 1), (0.0, q, 0)):
        cascade = gs.Cascade(it.runtime, gears=("int8", "fp32"), confidence=threshold)
        it.runner = cascade
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(o["index"]), want)
        assert cascade.escalated == escalated
    it.runner = None
    with pytest.raises(ValueError, match="run"):
        it.runner = object()


# -- the cache -----------------------------------------------------------------------------
def _entries() -> list[Path]:
    return sorted(gi.cache_folder().glob("tflite-*.gear"))


def test_cache_reuse_corruption_and_change(models, tmp_path):
    src = tmp_path / "m.tflite"
    src.write_bytes(models["int8"].read_bytes())
    before = set(_entries())
    it = gs.Interpreter(model_path=str(src))
    (entry,) = set(_entries()) - before
    assert Path(it.path) == entry
    stamp = entry.stat().st_mtime_ns
    assert gs.Interpreter(model_path=str(src)).path == str(entry)
    assert entry.stat().st_mtime_ns == stamp  # reused, not rebuilt
    good = entry.read_bytes()
    # a corrupt entry (one flipped byte in the weights) is rebuilt, never trusted
    bad = bytearray(good)
    bad[-10] ^= 0x55
    entry.write_bytes(bytes(bad))
    frames = _frames("int8", 1)
    out = classify_script(gs.Interpreter, src, frames)
    assert entry.read_bytes() == good
    np.testing.assert_array_equal(out[0], classify_script(LiteRT, src, frames)[0])
    # truncated: rebuilt too
    entry.write_bytes(good[:100])
    gs.Interpreter(model_path=str(src))
    assert entry.read_bytes() == good
    # a changed file is a new entry
    src.write_bytes(models["uint8"].read_bytes())
    it2 = gs.Interpreter(model_path=str(src))
    assert it2.path != str(entry) and Path(it2.path).exists()
    assert it2.get_input_details()[0]["dtype"] is np.uint8


def test_stale_entry_rebuilt_and_unwritable_cache(models, tmp_path, monkeypatch):
    """An entry whose metadata names another source is rebuilt; a cache folder that
    cannot be written still gives a working interpreter (with a warning)."""
    src = models["int8"]
    entry = Path(gs.Interpreter(model_path=str(src)).path)
    other = Path(gs.Interpreter(model_path=str(models["uint8"])).path)
    entry.write_bytes(other.read_bytes())  # a valid file, made from another model
    it = gs.Interpreter(model_path=str(src))
    assert it.get_input_details()[0]["dtype"] is np.int8
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("GEARSHIFT_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="without caching"):
        it = gs.Interpreter(model_path=str(src))
    frames = _frames("int8", 1)
    want = classify_script(LiteRT, src, frames)[0]
    with pytest.warns(RuntimeWarning, match="without caching"):
        got = classify_script(gs.Interpreter, src, frames)[0]
    np.testing.assert_array_equal(got, want)


def test_cache_folder_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GEARSHIFT_CACHE_DIR", str(tmp_path / "a"))
    assert gi.cache_folder() == tmp_path / "a" / "interpreter"
    monkeypatch.delenv("GEARSHIFT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gi.cache_folder() == tmp_path / "xdg" / "gearshift" / "interpreter"


_NO_TF = """
import sys
sys.modules["tensorflow"] = None  # importing it now fails, as on a board without it
sys.modules["keras"] = None
{extra}
import numpy as np
import gearshift as gs
try:
    it = gs.Interpreter(model_path=sys.argv[1])
except ImportError as e:
    print("ImportError:", e)
    raise SystemExit(0)
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d["index"], np.load(sys.argv[2]))
it.invoke()
np.save(sys.argv[3], it.get_tensor(it.get_output_details()[0]["index"]))
print("ran", it.gear)
"""


def _run_without_tf(models, tmp_path, extra: str = "") -> subprocess.CompletedProcess:
    frame = _frames("uint8", 1)[0]
    np.save(tmp_path / "x.npy", frame)
    env = dict(os.environ, GEARSHIFT_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(gs.__file__).parent.parent), *sys.path])
    script = textwrap.dedent(_NO_TF.format(extra=extra))
    args = [str(models["uint8"]), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")]
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_tflite_without_tensorflow(models, tmp_path):
    """A .tflite opens where TensorFlow cannot be imported: LiteRT's schema module reads it."""
    r = _run_without_tf(models, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ran int8" in r.stdout
    want = classify_script(LiteRT, models["uint8"], [np.load(tmp_path / "x.npy")])[0]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


def test_tflite_without_any_schema_module(models, tmp_path):
    """Neither TensorFlow nor LiteRT importable: the builtin flatbuffer reader
    (converters/tflite_reader.py, numpy only) opens the .tflite, same integers."""
    block = "\n".join(
        f"sys.modules[{m!r}] = None"
        for m in ("ai_edge_litert", "ai_edge_litert.schema_py_generated", "flatbuffers")
    )
    r = _run_without_tf(models, tmp_path, block)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ran int8" in r.stdout, r.stdout[-2000:]
    want = classify_script(LiteRT, models["uint8"], [np.load(tmp_path / "x.npy")])[0]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


# -- a realistic model ---------------------------------------------------------------------
def _mediapipe(name: str) -> Path | None:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / "modules" / name
    return p if p.exists() else None


def test_mediapipe_hand_landmark(tmp_path):
    """MediaPipe's hand landmark model (float32, four outputs) through a LiteRT script."""
    path = _mediapipe("hand_landmark/hand_landmark_lite.tflite")
    if path is None:
        pytest.skip("mediapipe's bundled models are not installed")

    def script(Interpreter):
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        d = it.get_input_details()[0]
        x = np.random.default_rng(0).uniform(0, 1, d["shape"]).astype(np.float32)
        it.set_tensor(d["index"], x)
        it.invoke()
        return [(o["name"], it.get_tensor(o["index"])) for o in it.get_output_details()]

    ours, ref = script(gs.Interpreter), script(litert.Interpreter)
    assert len(ours) == len(ref) == 4
    for (na, a), (nb, b) in zip(ours, ref):
        assert na == nb and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(b).max())))


def test_preserve_all_tensors_reads_intermediates_as_litert_does(models):
    """With experimental_preserve_all_tensors, every intermediate tensor is readable:
    float32 real values, equal to LiteRT's (dequantized) for the int8 model's own
    int8 gear, matched by name."""
    src = models["int8"]
    frame = _frames("int8", 1, seed=3)[0]
    ref = LiteRT(model_path=str(src), experimental_preserve_all_tensors=True)
    ref.allocate_tensors()
    ref.set_tensor(ref.get_input_details()[0]["index"], frame)
    ref.invoke()
    litert = {d["name"]: d for d in ref.get_tensor_details()}
    it = gs.Interpreter(model_path=str(src), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    ins = {d["index"] for d in it.get_input_details() + it.get_output_details()}
    inner = [d for d in it.get_tensor_details() if d["index"] not in ins]
    assert inner and all(d["dtype"] is np.float32 for d in inner)
    with pytest.raises(ValueError, match="invoke"):
        it.get_tensor(inner[0]["index"])
    it.set_tensor(it.get_input_details()[0]["index"], frame)
    it.invoke()
    compared = 0
    for d in inner:
        got = it.get_tensor(d["index"])
        assert got.dtype == np.float32 and got.shape == tuple(d["shape"])
        r = litert.get(d["name"])
        if r is None or not r["quantization"][0]:
            continue
        s, z = r["quantization"]
        want = np.float32(s) * (ref.get_tensor(r["index"]).astype(np.float32) - np.float32(z))
        np.testing.assert_array_equal(got, want.reshape(got.shape), err_msg=d["name"])
        compared += 1
    assert compared >= 2
    plain = gs.Interpreter(model_path=str(src))
    plain.allocate_tensors()
    with pytest.raises(ValueError, match="experimental_preserve_all_tensors"):
        plain.get_tensor(inner[0]["index"])
