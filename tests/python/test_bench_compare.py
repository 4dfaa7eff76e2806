"""gearshift bench --compare / --validation / --duration / --json / --csv / --html.

One small model (a conv and a dense layer on 8x8 inputs) as a float .tflite,
converted to a .gear with an fp32 and an int8 gear; LiteRT runs the .tflite.
The numbers checked come from the runs: a contestant slowed through the test
hook (``GEARSHIFT_BENCH_SLOWDOWN_MS``) must come out slower everywhere, the
accuracies must equal a direct computation.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import gearshift as gs
from gearshift import peers
from gearshift.bench_compare import load_schema, parse_duration, run_bench, score
from gearshift.bench_report import pareto_front, write_csv
from gearshift.cli import main

GOLDEN = Path(__file__).parent / "data" / "golden_v1_0.gear"
litert = pytest.importorskip("ai_edge_litert.interpreter", reason="needs ai-edge-litert")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    tf = pytest.importorskip("tensorflow")
    d = tmp_path_factory.mktemp("bench")
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = tf.keras.layers.Flatten()(x)
    out = tf.keras.layers.Dense(10, activation="softmax")(x)
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its signatures
        tfl = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, out)).convert()
    (d / "m.tflite").write_bytes(tfl)
    rng = np.random.default_rng(0)
    cal = rng.uniform(0, 1, (32, 8, 8, 1)).astype(np.float32)
    gs.convert(d / "m.tflite", d / "m.gear", gears=("fp32", "int8"), calibration=cal)
    x = rng.uniform(0, 1, (60, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 10, len(x))
    np.savez(d / "xy.npz", x=x, y=labels)
    return d


def validator():
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator(load_schema())


def litert_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    it = litert.Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    ys = []
    for k in range(len(x)):
        it.set_tensor(i, x[k : k + 1])
        it.invoke()
        ys.append(it.get_tensor(o))
    return np.concatenate(ys)


def by_key(doc):
    return {(r["runtime"], r["gear"]): r for r in doc["results"]}


def test_peers_side_by_side_from_the_remembered_source(model):
    # convert wrote the .tflite's path into the file: no --tflite needed
    meta = gs.gear_format.read_gear(str(model / "m.gear")).manifest["metadata"]
    assert meta["gearshift.source_tflite"] == str((model / "m.tflite").resolve())
    doc = run_bench(str(model / "m.gear"), runs=5, warmup=1, compare=peers.PEERS, threads=1)
    validator().validate(doc)
    got = by_key(doc)
    assert set(got) == {("gearshift", "fp32"), ("gearshift", "int8"), ("litert", "fp32")}
    for r in doc["results"]:
        assert r["host"] == "local" and r["threads"] == 1 and r["runs"] == 5
        assert r["load_ms"] > 0
        # VmHWM of the fresh child: above what it held after its imports
        assert r["peak_rss_bytes"] >= r["base_rss_bytes"] > 0
        assert sum(r["histogram_ms"]["counts"]) == 5
    lrt = got[("litert", "fp32")]
    assert lrt["file_bytes"] == (model / "m.tflite").stat().st_size
    assert lrt["ratio_base_gear"] == "fp32"
    assert lrt["ratio_to_gearshift"] == pytest.approx(
        lrt["latency_ms"]["median"] / got[("gearshift", "fp32")]["latency_ms"]["median"]
    )
    assert got[("gearshift", "int8")]["arena_bytes"] > 0
    assert doc["gears"]["int8"] is not None  # older readers' view
    # every peer asked for either ran or was skipped with a reason
    skipped = {s["runtime"] for s in doc["skipped"] if s["reason"]}
    assert {r["runtime"] for r in doc["results"]} | skipped == {"gearshift", *peers.PEERS}


def test_a_slowed_contestant_shows_up_slower(model, monkeypatch):
    monkeypatch.setenv(peers.SLOWDOWN_ENV, "litert=15,gearshift:int8=25")
    doc = run_bench(str(model / "m.gear"), runs=3, warmup=0, compare=["litert"])
    got = by_key(doc)
    fp32, int8, lrt = got["gearshift", "fp32"], got["gearshift", "int8"], got["litert", "fp32"]
    assert lrt["latency_ms"]["min"] >= 15 and int8["latency_ms"]["min"] >= 25
    assert lrt["ratio_to_gearshift"] > 1  # slower than gearshift fp32, which is not slowed
    assert int8["latency_ms"]["median"] > lrt["latency_ms"]["median"] > fp32["latency_ms"]["median"]
    # the delay is outside the runtime: its own clock, which the shifter and the
    # cost table go by, does not see it
    assert int8["runtime_latency_ms"]["median"] < 25 <= int8["latency_ms"]["median"]
    assert lrt["load_ms"] >= 15 and int8["load_ms"] >= 25  # the first inference, in the child
    assert fp32["load_ms"] < int8["load_ms"]


def test_validation_accuracy_equals_a_direct_computation(model):
    with np.load(model / "xy.npz") as f:
        x, y = f["x"], f["y"]
    doc = run_bench(str(model / "m.gear"), runs=2, warmup=0, compare=["litert"],
                    validation=(x, y), memory=False)  # fmt: skip
    validator().validate(doc)
    assert doc["validation"] == {"samples": len(x), "kind": "labels"}
    got = by_key(doc)
    for g in ("fp32", "int8"):
        pred = gs.Runtime(model / "m.gear", gear=g).run(x)
        assert got["gearshift", g]["accuracy"] == np.mean(pred.argmax(1) == y)
    ref = litert_outputs(model / "m.tflite", x)
    assert got["litert", "fp32"]["accuracy"] == np.mean(ref.argmax(1) == y)
    # reference outputs instead of labels: the error against them
    doc = run_bench(str(model / "m.gear"), gears=["int8"], runs=2, warmup=0,
                    validation=(x, ref), memory=False)  # fmt: skip
    r = doc["results"][0]
    pred = gs.Runtime(model / "m.gear", gear="int8").run(x)
    assert r["max_abs_error"] == pytest.approx(float(np.abs(pred - ref).max()))
    assert r["max_rel_error"] == pytest.approx(r["max_abs_error"] / float(np.abs(ref).max()))
    assert doc["validation"]["kind"] == "reference outputs"


def test_score_labels_one_hot_and_binary():
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert score(pred, np.array([1, 0, 0]))["accuracy"] == pytest.approx(2 / 3)
    assert score(pred, np.eye(2)[[1, 0, 0]])["accuracy"] == pytest.approx(2 / 3)
    assert score(np.array([[0.9], [0.1]]), np.array([1, 1]))["accuracy"] == 0.5
    with pytest.raises(ValueError, match=r"labels .* or reference outputs"):
        score(pred, np.full((3, 5), 0.5))


def _pngs(html: str) -> list[np.ndarray]:
    import matplotlib.image as mpimg

    blobs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    return [mpimg.imread(io.BytesIO(base64.b64decode(b)), format="png") for b in blobs]


def test_cli_writes_json_csv_and_an_html_report_with_plots(model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "r"
    argv = ["bench", str(model / "m.gear"), "--compare", "litert,onnxruntime", "--tflite",
            str(model / "m.tflite"), "--validation", str(model / "xy.npz"), "--duration", "1s",
            "--json", f"{out}.json", "--csv", f"{out}.csv", "--html", f"{out}.html"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "x gearshift" in text and "accuracy" in text and "over 1 s" in text
    doc = json.loads(Path(f"{out}.json").read_text())
    validator().validate(doc)
    assert doc["duration_s"] == 1.0 and len(doc["timeline"]) >= 2
    keys = set(doc["timeline"][0]["latency_ms"])
    assert keys == {"gearshift:fp32", "gearshift:int8", "litert:fp32"}
    with open(f"{out}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["runtime"], r["gear"]) for r in rows] == [
        (r["runtime"], r["gear"]) for r in doc["results"]
    ]
    for row, r in zip(rows, doc["results"]):
        assert float(row["latency_ms.median"]) == pytest.approx(r["latency_ms"]["median"])
        assert float(row["accuracy"]) == r["accuracy"]
        assert int(row["peak_rss_bytes"]) == r["peak_rss_bytes"]
    images = _pngs(Path(f"{out}.html").read_text())
    assert len(images) == 3  # Pareto, histogram, timeline
    for img in images:
        flat = img.reshape(-1, img.shape[-1])
        assert len(np.unique(flat, axis=0)) > 10  # not a blank, single-colour picture
    assert "onnxruntime" in Path(f"{out}.html").read_text()  # skipped, with its note


def test_missing_peers_and_sources_are_notes_not_errors(model, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(peers, "_module_installed", lambda name: False)
    doc = run_bench(str(model / "m.gear"), gears=["fp32"], runs=2, warmup=0,
                    compare=list(peers.PEERS), memory=False)  # fmt: skip
    assert [r["runtime"] for r in doc["results"]] == ["gearshift"]
    assert {s["runtime"]: s["reason"] for s in doc["skipped"]} == {
        "litert": "not installed (pip install ai-edge-litert)",
        "tflite-runtime": "not installed (pip install tflite-runtime)",
        "onnxruntime": "not installed (pip install onnxruntime)",
    }
    monkeypatch.undo()
    # a file converted from Keras (the golden file) remembers no .tflite
    assert main(["bench", str(GOLDEN), "--runs", "2", "--compare", "litert"]) == 0
    assert "litert: skipped, no .tflite model: pass --tflite" in capsys.readouterr().out


def test_usage_errors_are_one_line(model, capsys, tmp_path):
    cases = [
        (["--compare", "tensorrt"], "unknown runtime(s) ['tensorrt']"),
        (["--duration", "ten minutes"], "expected a duration such as 30s"),
        (["--tflite", str(tmp_path / "none.tflite"), "--compare", "litert"], "no such .tflite"),
        (["--validation", str(model / "m.tflite")], "cannot read validation file"),
        (["--host", "pi@host:99999"], "expected USER@HOST[:PORT]"),
    ]
    for extra, message in cases:
        assert main(["bench", str(model / "m.gear"), "--runs", "1", *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_html_without_matplotlib_says_how_to_get_it(model, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    out = tmp_path / "r.html"
    argv = ["bench", str(GOLDEN), "--runs", "1", "--html", str(out), "--json", str(out) + ".json"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "pip install 'gearshift[plot]'" in err and not out.exists()
    assert Path(str(out) + ".json").exists()  # what was measured is kept


def test_parse_duration():
    assert parse_duration("30s") == 30 and parse_duration("10m") == 600
    assert parse_duration("1h") == 3600 and parse_duration("1.5m") == 90
    assert parse_duration("45") == 45 and parse_duration("500ms") == 0.5
    for bad in ("", "0s", "-3s", "10 parsecs", "m"):
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(bad)


def test_pareto_front_keeps_only_the_choices_worth_making():
    pts = [(1.0, 0.90), (2.0, 0.95), (3.0, 0.94), (0.5, 0.80), (2.0, 0.90)]
    assert pareto_front(pts, higher_is_better=True) == [3, 0, 1]
    assert pareto_front([(1.0, 5.0), (2.0, 1.0), (3.0, 2.0)], higher_is_better=False) == [0, 1]


def test_csv_of_a_gearshift_only_run(tmp_path):
    doc = run_bench(str(GOLDEN), runs=3, warmup=0, memory=False)
    validator().validate(doc)
    assert doc["results"][0]["load_ms"] is None  # no child process: unknown, not zero
    write_csv(doc, str(tmp_path / "b.csv"))
    with open(tmp_path / "b.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["runtime"] == "gearshift" and row["load_ms"] == "" and row["runs"] == "3"


def test_the_cpp_tool_writes_the_same_schema():
    import subprocess

    tool = Path(__file__).resolve().parents[2] / "build" / "gearshift-bench"
    if not tool.is_file():
        pytest.skip("gearshift-bench is not built in build/ (make test-cpp builds it)")
    r = subprocess.run(
        [str(tool), str(GOLDEN), "--runs", "3", "--warmup", "1", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(r.stdout)
    validator().validate(doc)
    (res,) = doc["results"]
    assert res["runtime"] == "gearshift" and res["gear"] == "fp32" and res["runs"] == 3
    assert res["load_ms"] > 0 and res["peak_rss_bytes"] > 0
    assert doc["gears"]["fp32"] == res and doc["tool"].endswith("(c++)")
    # the report module takes it as it takes the Python harness's document
    from gearshift.bench_report import format_results

    assert "gearshift  fp32" in format_results(doc)


def test_duration_timeline_reads_the_thermal_zones_and_skips_what_is_missing(tmp_path):
    zone = tmp_path / "sys" / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("47500\n")  # millidegrees
    hot = run_bench(str(GOLDEN), duration_s=0.3, memory=False,
                    thermal=gs.power.auto(root=tmp_path / "sys"))  # fmt: skip
    assert len(hot["timeline"]) >= 2
    assert {p["temp_c"] for p in hot["timeline"]} == {47.5}
    assert hot["timeline"][-1]["t_s"] >= 0.3
    assert hot["results"][0]["runs"] > 3  # rounds until the time is up, not --runs
    # a machine without thermal files: unknown, quietly (warnings are errors in this suite)
    bare = run_bench(str(GOLDEN), duration_s=0.2, memory=False,
                     thermal=gs.power.auto(root=tmp_path / "empty"))  # fmt: skip
    assert all(p["temp_c"] is None and p["throttled"] is None for p in bare["timeline"])
    validator().validate(bare)


def test_onnxruntime_adapter_with_a_stand_in_session(model, monkeypatch, tmp_path):
    """onnxruntime is not installed here: a stand-in module with its API (it runs
    the .gear's fp32 gear) checks the adapter's plumbing: the --onnx file, thread
    options, input/output names, and that its row is reported like any peer's."""
    import importlib.machinery
    import types

    calls = {}

    class SessionOptions:
        intra_op_num_threads = 0
        inter_op_num_threads = 0

    class Arg:
        def __init__(self, name, type_):
            self.name, self.type = name, type_

    class InferenceSession:
        def __init__(self, path, sess_options, providers):
            calls["init"] = (path, sess_options.intra_op_num_threads, providers)
            self.rt = gs.Runtime(model / "m.gear", gear="fp32")

        def get_inputs(self):
            return [Arg(s.name, "tensor(float)") for s in self.rt.inputs]

        def get_outputs(self):
            return [Arg(s.name, "tensor(float)") for s in self.rt.outputs]

        def run(self, names, feed):
            calls["run"] = (names, sorted(feed))
            return [self.rt.run(next(iter(feed.values())))]

    ort = types.ModuleType("onnxruntime")
    ort.__spec__ = importlib.machinery.ModuleSpec("onnxruntime", None)
    ort.SessionOptions, ort.InferenceSession = SessionOptions, InferenceSession
    monkeypatch.setitem(sys.modules, "onnxruntime", ort)
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"stand-in")
    with np.load(model / "xy.npz") as f:
        x, y = f["x"], f["y"]
    doc = run_bench(str(model / "m.gear"), gears=["fp32"], threads=2, runs=3, warmup=0,
                    compare=["onnxruntime"], onnx=str(onnx), validation=(x, y),
                    memory=False)  # fmt: skip
    validator().validate(doc)
    got = by_key(doc)
    r = got["onnxruntime", "fp32"]
    assert calls["init"] == (str(onnx), 2, ["CPUExecutionProvider"])
    names = [s.name for s in gs.Runtime(model / "m.gear").inputs]
    assert calls["run"][1] == sorted(names)
    assert (
        r["file_bytes"] == len(b"stand-in") and r["threads"] == 2 and r["ratio_base_gear"] == "fp32"
    )
    assert r["accuracy"] == got["gearshift", "fp32"]["accuracy"]  # the same model ran


def test_gearshift_is_fed_an_integer_interface_natively():
    """A model with uint8 inputs and outputs (format 1.4 io) is timed on its integers,
    as the peers are fed, not through the float conversion."""
    path = str(Path(__file__).parent / "data" / "golden_v1_4_uint8.gear")
    spec = gs.Runtime(path).inputs[0]
    x = np.random.default_rng(0).uniform(0, 1, (1, *spec.shape[1:])).astype(np.float32)
    c = peers.GearshiftContestant(path, "int8", 1, [x])
    assert c._x.dtype == np.uint8 and c._out[0].dtype == np.uint8
    c.run()
    scale, zp = c.rt.quantization(spec.name)
    want = np.clip(np.floor(x / scale + 0.5) + zp, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(c._x, want)
