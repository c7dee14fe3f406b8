"""ONNX Runtime, OpenVINO and TVM: real conversions and runs on small models made here."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import cli_env, run_cli
from edgebench.harness.timing import StopRule, time_async_runs

Cells = dict[tuple[str, str, int], dict[str, Any]]

# What every ok cell of these compilers must fill (power fields need a sensor: not here).
MEASURED = (
    "latency_ms", "throughput_ips", "n_runs", "duration_s", "model_size_mb", "convert_s",
    "load_s", "first_inference_ms", "peak_rss_mb", "noise_cpu_pct", "artifact_path",
    "convert_steps", "outputs", "versions", "fidelity",
)  # fmt: skip


def _run(tmp_path: Path, cache: Path, *args: str) -> Cells:
    r = run_cli(
        "run", "--weights", "random", "--min-duration", "0.2", "--min-runs", "5", "--warmup", "1",
        "--calib-size", "8", "--json", "--db", str(tmp_path / "r.db"), *args,
        cwd=tmp_path, env=cli_env(cache),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return {(c["compiler"], c["precision"], c["batch_size"]): c for c in json.loads(r.stdout)}


def _assert_measured(rec: dict[str, Any]) -> None:
    assert rec["status"] == "ok", rec["error"]
    missing = [k for k in MEASURED if rec[k] in (None, [], {})]
    assert not missing, f"{rec['compiler']} {rec['precision']}: {missing} not filled"


def _conv_bn_relu(path: Path, spatial: int | None = 16, op: str = "Relu") -> Path:
    """A Conv+BatchNorm+ReLU model with a dynamic batch (and spatial size, when None)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "b"),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "scale"),
        numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "shift"),
        numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "mean"),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "var"),
    ]
    custom = op == "Mystery"
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"]),
        helper.make_node(op, ["n"], ["y"], **({"domain": "edgebench.test"} if custom else {})),
    ]
    dims: list[int | str] = ["N", 3, spatial or "H", spatial or "W"]
    graph = helper.make_graph(
        nodes,
        "conv_bn_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, *dims[2:]])],
        inits,
    )
    opsets = [helper.make_opsetid("", 17)]
    if custom:
        opsets.append(helper.make_opsetid("edgebench.test", 1))
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


# --- the harness's asynchronous loop, without any framework ----------------------------------


class _TwoLanes:
    """A fake runtime with two requests in flight, each run 10 ms on its own thread."""

    in_flight = 2

    def __init__(self) -> None:
        self._free = threading.Semaphore(2)
        self._threads: list[threading.Thread] = []

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        time.sleep(0.01)
        return inputs

    def wait_idle(self) -> None:
        self._free.acquire()
        self._free.release()

    def submit(self, inputs: list[np.ndarray], done: Callable[[], None]) -> None:
        self._free.acquire()

        def run() -> None:
            time.sleep(0.01)
            done()
            self._free.release()

        t = threading.Thread(target=run)
        t.start()
        self._threads.append(t)

    def wait_all(self) -> None:
        for t in self._threads:
            t.join()


def test_async_timing_counts_finished_requests_and_their_own_latency() -> None:
    rule = StopRule(warmup_runs=2, min_runs=10, min_duration_s=0.3)
    w = time_async_runs(_TwoLanes(), [], rule)
    assert len(w.samples_ms) >= 10 and w.window_s >= 0.3
    # Each sample is one request's 10 ms, not the time it waited for a free lane.
    assert 9 < float(np.median(w.samples_ms)) < 18
    # Two lanes of 10 ms runs: close to 200 runs/s, well above one lane's 100.
    assert len(w.samples_ms) / w.window_s > 130


# --- ONNX Runtime ----------------------------------------------------------------------------


@pytest.mark.onnxruntime
@pytest.mark.tensorflow
def test_onnxruntime_precisions_and_int8_kernels(tmp_path: Path, shared_cache: Path) -> None:
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "onnxruntime",
        "--precision", "fp32,fp16,int8-dynamic,int8",
    )  # fmt: skip
    for rec in by.values():
        _assert_measured(rec)
        assert [s["step"] for s in rec["convert_steps"]][-2:-1] == ["keras_to_onnx"]
    import onnx

    def op_types(rec: dict[str, Any]) -> set[str]:
        return {n.op_type for n in onnx.load(rec["artifact_path"]).graph.node}

    int8 = by[("onnxruntime", "int8", 1)]
    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types(int8)
    from edgebench.compilers.onnx_runtime.int8 import host_lacks_vnni

    # 7-bit weights where this host's int8 dot products would saturate (x86 without VNNI)
    info = dict(int8["artifact_info"]["int8"])
    # Recorded; random weights make a chaotic network (2-8 dB here; torchvision's: 16.5 dB).
    assert isinstance(info.pop("weights_alone_snr_db"), float)
    assert info == {
        "format": "QDQ", "per_channel": True, "activations": "u8",
        "weights": "s7" if host_lacks_vnni() else "s8",
    }  # fmt: skip
    assert "ConvInteger" in op_types(by[("onnxruntime", "int8-dynamic", 1)])
    fp16 = onnx.load(by[("onnxruntime", "fp16", 1)]["artifact_path"])
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.graph.initializer)
    assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # io fp32
    fp32 = by[("onnxruntime", "fp32", 1)]
    assert fp32["fidelity"]["snr_db"] > 60  # the same weights as the TensorFlow reference
    assert by[("onnxruntime", "fp16", 1)]["model_size_mb"] < 0.6 * fp32["model_size_mb"]
    # The quantized model runs as int8 kernels once ONNX Runtime has fused its QDQ pairs.
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(int8["artifact_path"], so, providers=["CPUExecutionProvider"])
    fused = {n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node}
    assert fused & {"QLinearConv", "ConvInteger"}, fused


@pytest.mark.onnxruntime
@pytest.mark.tensorflow
@pytest.mark.slow
def test_ssd_mobilenet_v2_on_onnxruntime_per_batch(tmp_path: Path, shared_cache: Path) -> None:
    # The study's detector: in-graph NMS, so its ONNX export is made per batch size.
    by = _run(
        tmp_path, shared_cache, "--model", "ssd_mobilenet_v2", "--compiler", "onnxruntime",
        "--precision", "fp32", "--batch", "1,2", "--no-fidelity",
    )  # fmt: skip
    one, two = by[("onnxruntime", "fp32", 1)], by[("onnxruntime", "fp32", 2)]
    for rec in (one, two):
        assert rec["status"] == "ok", rec["error"]
    shapes = sorted(tuple(o["shape"]) for o in two["outputs"])
    assert shapes == [(2,), (2, 100), (2, 100), (2, 100, 4)]
    assert one["artifact_path"] != two["artifact_path"]


# --- OpenVINO --------------------------------------------------------------------------------


@pytest.mark.openvino
@pytest.mark.tensorflow
def test_openvino_fp32_is_f32_and_int8_runs_int8(tmp_path: Path, shared_cache: Path) -> None:
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "openvino",
        "--precision", "fp32,bf16,fp16,int8",
    )  # fmt: skip
    fp32, int8 = by[("openvino", "fp32", 1)], by[("openvino", "int8", 1)]
    _assert_measured(fp32)
    _assert_measured(int8)
    assert fp32["artifact_info"]["inference_precision_hint"] == "f32"
    import openvino as ov

    core = ov.Core()
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    for precision, capability in (("bf16", "BF16"), ("fp16", "FP16")):
        rec = by[("openvino", precision, 1)]
        if capability in capabilities:
            assert rec["status"] == "ok", rec["error"]
        else:
            assert rec["status"] == "unsupported"
            assert f"no {capability} support" in rec["error"]

    def runtime_precisions(rec: dict[str, Any]) -> set[str]:
        compiled = core.compile_model(
            str(Path(rec["artifact_path"]) / "model.xml"),
            "CPU",
            {"INFERENCE_PRECISION_HINT": "f32"},
        )
        return {
            op.get_rt_info()["runtimePrecision"].astype(str)
            for op in compiled.get_runtime_model().get_ops()
            if op.get_rt_info()["layerType"].astype(str) == "Convolution"
        }

    assert runtime_precisions(fp32) == {"f32"}
    assert runtime_precisions(int8) & {"u8", "i8"}


# --- every ONNX compiler on a user's own .onnx file, TVM's correctness included ---------------


@pytest.mark.tvm
@pytest.mark.tensorflow
def test_tvm_untuned_matches_the_reference(tmp_path: Path, shared_cache: Path) -> None:
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "tvm",
        "--batch", "1,2", "--dataset", "synthetic:4",
    )  # fmt: skip
    for batch in (1, 2):
        rec = by[("tvm", "fp32", batch)]
        assert rec["status"] == "ok", rec["error"]
        assert rec["fidelity"]["max_abs_diff"] < 1e-4 and rec["fidelity"]["snr_db"] > 60
    # TVM's static shapes: one artifact per batch size.
    assert by[("tvm", "fp32", 1)]["artifact_path"] != by[("tvm", "fp32", 2)]["artifact_path"]


@pytest.mark.onnxruntime
@pytest.mark.openvino
@pytest.mark.tvm
def test_a_users_onnx_file_on_every_onnx_compiler(tmp_path: Path, shared_cache: Path) -> None:
    model = _conv_bn_relu(tmp_path / "cbr.onnx")
    by = _run(
        tmp_path, shared_cache, "--model", str(model), "--compiler", "onnxruntime,openvino,tvm",
        "--batch", "1,3",
    )  # fmt: skip
    for key, rec in by.items():
        _assert_measured(rec)
        assert rec["convert_steps"] == [
            {
                "step": f"{key[0]}:fp32",
                "seconds": rec["convert_steps"][0]["seconds"],
                "cached": rec["convert_steps"][0]["cached"],
            },
        ]  # fmt: skip  (the file goes straight to each compiler)
        assert rec["outputs"][0]["shape"] == [key[2], 8, 16, 16]
        # Untuned TVM (and OpenVINO) compute what ONNX Runtime computes.
        assert rec["fidelity"]["reference"] == "onnxruntime fp32"
        assert rec["fidelity"]["max_abs_diff"] < 1e-3
    # TVM's static shapes: one artifact per batch size; the others share one.
    assert by[("tvm", "fp32", 1)]["artifact_path"] != by[("tvm", "fp32", 3)]["artifact_path"]
    ov1, ov3 = by[("openvino", "fp32", 1)], by[("openvino", "fp32", 3)]
    assert ov1["artifact_path"] == ov3["artifact_path"]

    # Under the THROUGHPUT hint, OpenVINO's asynchronous requests are what is timed.
    tput = _run(
        tmp_path, shared_cache, "--model", str(model), "--compiler", "openvino",
        "--option", "ov_hint=THROUGHPUT", "--no-fidelity",
    )[("openvino", "fp32", 1)]  # fmt: skip
    assert tput["status"] == "ok" and tput["options"]["ov_hint"] == "THROUGHPUT"
    assert tput["n_runs"] >= 5 and tput["throughput_ips"] > 0

    dynamic = _conv_bn_relu(tmp_path / "dyn.onnx", spatial=None)
    r = run_cli("run", "--model", str(dynamic), "--compiler", "onnxruntime", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "input 'x' has a dynamic shape (3x?x?)" in r.stderr
    assert r.stderr.rstrip().endswith("e.g. --input-shape 3,224,224")  # its own layout: NCHW
    # With the shape given, the same file runs, on OpenVINO too (reshaped to static at load).
    shaped = _run(
        tmp_path, shared_cache, "--model", str(dynamic), "--compiler", "onnxruntime,openvino",
        "--input-shape", "x=3x20x12",
    )  # fmt: skip
    for rec in shaped.values():
        assert rec["status"] == "ok", rec["error"]
        assert rec["outputs"][0]["shape"] == [1, 8, 20, 12]


def _tiny_classifier(path: Path) -> Path:
    """Conv -> global average pool -> flatten: 8 class scores of an NCHW image of any size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(8, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("GlobalAveragePool", ["c"], ["p"]),
            helper.make_node("Flatten", ["p"], ["y"]),
        ],
        "tiny_classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [numpy_helper.from_array(w, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.onnxruntime
def test_images_reach_a_channels_first_model_laid_out_as_its_graph_says(
    tmp_path: Path, shared_cache: Path
) -> None:
    """An ONNX file takes NCHW images; edgebench reads that from the graph, says so, and
    resizes a folder of labelled photos to the input's height and width (not its channels).
    Labels on a model whose output is not class scores are refused in one line."""
    import skimage

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(Path(skimage.__file__).parent / "data" / "coffee.png", photos / "coffee.png")
    (photos / "labels.csv").write_text("coffee.png,0\n")
    common = ("--compiler", "onnxruntime", "--input-shape", "x=3x20x12", "--dataset",
              f"folder:{photos}", "--min-duration", "0.1", "--json", "--db", "r.db")  # fmt: skip
    env = cli_env(shared_cache)
    model = _tiny_classifier(tmp_path / "tiny.onnx")
    r = run_cli("run", "--model", str(model), *common, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "note: tiny: input 'x' 3x20x12 float32, NCHW" in r.stderr
    (rec,) = json.loads(r.stdout)
    assert rec["status"] == "ok", rec["error"]
    assert rec["fidelity"]["n"] == 1 and rec["accuracy"]["n"] == 1

    feature_map = _conv_bn_relu(tmp_path / "dyn.onnx", spatial=None)
    r = run_cli("run", "--model", str(feature_map), *common, cwd=tmp_path, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert (
        r.stderr.strip().splitlines()[-1].startswith("error: dataset 'folder:")
        and "first output is 1x8x20x12, not one score per class" in r.stderr
    )
    with sqlite3.connect(tmp_path / "r.db") as db:  # the refused run left no empty run
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)


@pytest.mark.onnxruntime
@pytest.mark.openvino
@pytest.mark.tvm
def test_an_op_no_compiler_knows_is_a_cell_with_the_compilers_message(
    tmp_path: Path, shared_cache: Path
) -> None:
    model = _conv_bn_relu(tmp_path / "mystery.onnx", op="Mystery")
    r = run_cli(
        "run", "--model", str(model), "--compiler", "onnxruntime,openvino,tvm",
        "--weights", "random", "--json", "--no-fidelity", "--db", str(tmp_path / "r.db"),
        cwd=tmp_path, env=cli_env(shared_cache),
    )  # fmt: skip
    assert r.returncode == 3, r.stderr[-2000:]  # no cell measured
    for rec in json.loads(r.stdout):
        assert rec["status"] in ("failed", "unsupported")
        assert "Mystery" in rec["error"] and "\n" not in rec["error"], rec["error"]
        assert len(rec["error"]) < 500


def _saturating_conv(path: Path) -> Path:
    """A 1x1 convolution over 32 channels whose weights all quantize to about 127: on an x86
    CPU without VNNI, the u8 x s8 pair sums (vpmaddubsw) overflow int16 and saturate."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.full((8, 32, 1, 1), 0.05, np.float32)
    w[:, ::2] = 0.049
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "saturating",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])],
        [numpy_helper.from_array(w, "w")],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.onnxruntime
def test_static_int8_weights_fit_the_hosts_dot_products(tmp_path: Path) -> None:
    """ONNX Runtime's docs: x86 CPUs without VNNI saturate u8 x s8 products, so int8 weights
    there are 7-bit (reduce_range). edgebench 0.1 always used 8 bits: -3.9 dB SNR on this model
    on an AVX2 host, where 7-bit weights give 41 dB."""
    from edgebench.compilers.onnx_runtime.int8 import host_lacks_vnni

    model = _saturating_conv(tmp_path / "sat.onnx")
    by = {}
    for weights in ("auto", "s8"):
        r = run_cli(
            "run", "--model", str(model), "--compiler", "onnxruntime", "--precision", "int8",
            "-o", f"ort_int8_weights={weights}", "--calib-size", "8", "--min-duration", "0.1",
            "--json", "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "cache"),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        (by[weights],) = json.loads(r.stdout)
    auto = by["auto"]
    assert auto["artifact_info"]["int8"]["weights"] == ("s7" if host_lacks_vnni() else "s8")
    assert auto["fidelity"]["snr_db"] > 30, auto["fidelity"]
    if host_lacks_vnni():  # the saturation itself, as 8-bit weights meet it here
        # How much it costs depends on the host's kernel: -3.9 dB on another AVX2 host, 15.7 dB
        # on an AMD EPYC (Zen 3, AVX2, 2026-12-07) where 7-bit weights gave 51.3 dB.
        lost = auto["fidelity"]["snr_db"] - by["s8"]["fidelity"]["snr_db"]
        assert lost > 15, (auto["fidelity"]["snr_db"], by["s8"]["fidelity"]["snr_db"])


def _opset11_convnet(path: Path) -> Path:
    """A Conv+bias, Relu, Conv+bias, GlobalAveragePool network saved at opset 11, as PaddlePaddle
    and older exporters write them (not edgebench's opset-17 exports)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
        for name, shape in (("w1", (8, 3, 3, 3)), ("b1", (8,)), ("w2", (16, 8, 1, 1)),
                            ("b2", (16,)))
    ]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"]),
        helper.make_node("GlobalAveragePool", ["c2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "opset11", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 1, 1])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.save(model, str(path))
    return path


@pytest.mark.onnxruntime
def test_static_int8_of_an_opset_11_graph_loads_and_agrees(tmp_path: Path) -> None:
    model = _opset11_convnet(tmp_path / "paddle_like.onnx")
    cells = _run(tmp_path, tmp_path / "c", "--model", str(model), "--compiler", "onnxruntime",
                 "--precision", "int8")  # fmt: skip
    cell = cells["onnxruntime", "int8", 1]
    assert cell["status"] == "ok", cell["error"]  # ORT used to refuse the quantized graph
    assert cell["artifact_info"]["opset_upgraded"] == "11 -> 13"
    assert cell["fidelity"]["snr_db"] > 10


@pytest.mark.onnxruntime
def test_a_model_whose_weights_alone_lose_it_to_int8_is_named_so(tmp_path: Path) -> None:
    """MediaPipe's pose landmarker fails int8 fidelity under ORT (-0.5 dB) and NNCF (0.8 dB) alike:
    its weights alone, rounded to int8 per channel with float activations, give 4.7 dB. Here a
    MatMul whose small weights share a channel with a huge one (which its input never meets)
    rounds to zero: the cell and the coverage matrix say the model, not the quantizer, is why."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgebench.results import CellResult, fidelity_verdict

    w = np.array([[1000.0] * 4, [0.3, 0.2, -0.3, 0.1]], np.float32)  # per column: 1000, small
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "mask"], ["m"]),
         helper.make_node("MatMul", ["m", "w"], ["y"])],
        "sensitive", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.array([0.0, 1.0], np.float32), "mask"),
         numpy_helper.from_array(w, "w")],
    )  # fmt: skip
    model = tmp_path / "sensitive.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    cells = _run(tmp_path, tmp_path / "c", "--model", str(model), "--compiler", "onnxruntime",
                 "--precision", "int8")  # fmt: skip
    cell = cells["onnxruntime", "int8", 1]
    assert cell["status"] == "ok", cell["error"]
    assert cell["artifact_info"]["int8"]["weights_alone_snr_db"] < 1
    assert any("int8-sensitive model" in w for w in cell["warnings"]), cell["warnings"]
    verdict = fidelity_verdict(CellResult.from_dict(cell))
    assert verdict is not None and "the model, not the quantizer" in verdict, verdict


@pytest.mark.tvm
def test_tvm_takes_a_graph_with_an_exporters_shape_arithmetic(tmp_path: Path) -> None:
    """PaddleOCR's classifier computes a Reshape's shape (Shape, Cast, Slice, Cast, Concat),
    which TVM's ONNX importer refused: "Reshape requires the input new shape to be Shape". The
    graph is now cleaned up by onnxslim (shapes fixed, constants folded) and imported again."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"]),
        helper.make_node("Shape", ["g"], ["s"]),
        helper.make_node("Cast", ["s"], ["s32"], to=TensorProto.INT32),
        helper.make_node("Slice", ["s32", "zero", "one"], ["n32"]),
        helper.make_node("Cast", ["n32"], ["n"], to=TensorProto.INT64),
        helper.make_node("Cast", ["minus1_32"], ["minus1"], to=TensorProto.INT64),
        helper.make_node("Concat", ["n", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["g", "shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "computed_reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w"),
         numpy_helper.from_array(np.array([0], np.int64), "zero"),
         numpy_helper.from_array(np.array([1], np.int64), "one"),
         numpy_helper.from_array(np.array([-1], np.int32), "minus1_32")],
    )  # fmt: skip
    model = tmp_path / "paddle_reshape.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    cells = _run(tmp_path, tmp_path / "c", "--model", str(model), "--compiler", "tvm")
    cell = cells["tvm", "fp32", 1]
    assert cell["status"] == "ok", cell["error"]
    cleanup = cell["artifact_info"]["onnx_cleanup"]
    assert cleanup.startswith("onnxslim") and "Reshape requires the input new shape" in cleanup
    assert cell["fidelity"]["snr_db"] > 60  # against ONNX Runtime on the file as it is


def _nhwc_image_net(path: Path) -> Path:
    """A small image classifier taking NHWC images (as tf2onnx exports a TFLite or Keras model,
    the layout that makes onnx2tf check its output on sample images)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    inits = [
        numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "b"),
        numpy_helper.from_array(rng.normal(size=(8, 10)).astype(np.float32), "fc"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("MatMul", ["f", "fc"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "nhwc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 32, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits,
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _onnx2tf_missing() -> bool:
    from edgebench.cache import default_cache_dir
    from edgebench.conversion.tools import executable

    return executable("onnx2tf", default_cache_dir()) is None


@pytest.mark.onnxruntime
@pytest.mark.tflite
@pytest.mark.skipif(_onnx2tf_missing(), reason="onnx2tf is not installed (edgebench tools install)")
def test_an_onnx_file_reaches_tflite_and_tensorflow_through_onnx2tf_offline(
    tmp_path: Path,
) -> None:
    """onnx2tf's own venv (edgebench tools install onnx2tf) carries an ONNX file to a
    SavedModel; it would download sample images from GitHub for an NHWC image input, and must
    not need to."""
    from edgebench.cache import default_cache_dir

    model = _nhwc_image_net(tmp_path / "nhwc.onnx")
    env = cli_env(tmp_path / "cache", EDGEBENCH_ONNX2TF=str(
        default_cache_dir() / "tools" / "onnx2tf" / "bin" / "onnx2tf"),
        HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")  # fmt: skip
    r = run_cli("run", "--model", str(model), "--compiler", "tflite,tensorflow", "--precision",
                "fp32,int8", "--min-duration", "0.1", "--calib-size", "8", "--json", "--db",
                "r.db", cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    by = {(c["compiler"], c["precision"]): c for c in json.loads(r.stdout)}
    for key in (("tflite", "fp32"), ("tflite", "int8"), ("tensorflow", "fp32")):
        assert by[key]["status"] == "ok", by[key]["error"]
        assert by[key]["fidelity"]["reference"] == "onnxruntime fp32"
    assert by["tflite", "fp32"]["fidelity"]["snr_db"] > 60  # the same network
    assert by["tflite", "int8"]["fidelity"]["snr_db"] > 10  # quantized, still the network
    assert [s["step"] for s in by["tflite", "fp32"]["convert_steps"]][0] == "onnx_to_savedmodel"
    # The tensorflow cell measures onnx2tf's SavedModel, not a native baseline, and says so
    tf = by["tensorflow", "fp32"]
    assert tf["artifact_info"]["route"].startswith("onnx_to_savedmodel")
    assert any(w.startswith("converted: this measures the SavedModel") for w in tf["warnings"])


@pytest.mark.onnxruntime
@pytest.mark.tflite
def test_without_onnx2tf_an_onnx_file_under_tflite_says_how_to_get_it(tmp_path: Path) -> None:
    model = _nhwc_image_net(tmp_path / "nhwc.onnx")
    env = cli_env(tmp_path / "cache", EDGEBENCH_ONNX2TF=str(tmp_path / "no-such-onnx2tf"))
    r = run_cli("run", "--model", str(model), "--compiler", "tflite,onnxruntime", "--min-duration",
                "0.1", "--json", "--db", "r.db", cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    by = {c["compiler"]: c for c in json.loads(r.stdout)}
    assert by["onnxruntime"]["status"] == "ok"  # the rest of the run goes on
    assert by["tflite"]["status"] == "skipped"
    assert by["tflite"]["error"] == (
        "unavailable: onnx2tf is not installed in a venv of its own: `edgebench tools install "
        "onnx2tf` (2.6 GB), or set EDGEBENCH_ONNX2TF"
    )


@pytest.mark.onnxruntime
def test_names_tensorflow_refuses_are_replaced_before_onnx2tf(tmp_path: Path) -> None:
    """tf2onnx keeps TFLite's fused names ('.../Relu6;.../FusedBatchNormV3;...'), and onnx2tf's
    SavedModel export of MediaPipe's pose landmarker failed on them: "Generation of saved_model
    failed because the OP name does not match the following pattern". onnx2tf now gets a graph
    whose every inner name TensorFlow takes, computing the same outputs."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from edgebench.conversion.onnx_cleanup import TF_OP_NAME, tf_safe_names

    fused = "model_1/re_lu_52/Relu6;batch_normalization_67"
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Conv", ["x:0", "w;0"], [fused], name=fused, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", [fused], ["model_1/re_lu_52/Relu6_batch_normalization_67"]),
        helper.make_node("Add", ["model_1/re_lu_52/Relu6_batch_normalization_67", fused],
                         ["_sum"], name="model_1/add;model_1/x"),
        helper.make_node("Sigmoid", ["_sum"], ["y;out"]),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "fused_names",
        [helper.make_tensor_value_info("x:0", TensorProto.FLOAT, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("y;out", TensorProto.FLOAT, [1, 4, 6, 6])],
        [numpy_helper.from_array(rng.normal(size=(4, 2, 3, 3)).astype(np.float32), "w;0")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    before = onnx.load_from_string(model.SerializeToString())
    # 4 names: the fused tensor and node name, the weight, the Add node's name and '_sum' (a
    # leading '_'); the graph's input and output keep theirs, and '_1' avoids a name in use
    assert tf_safe_names(model) == 4
    onnx.checker.check_model(model)
    inner = [n.name for n in model.graph.node] + [t.name for t in model.graph.initializer]
    inner += [name for n in model.graph.node for name in (*n.input, *n.output)]
    inner = [name for name in inner if name and name not in ("x:0", "y;out")]  # unnamed nodes
    assert all(TF_OP_NAME.fullmatch(name) for name in inner), inner
    assert model.graph.node[0].output[0] == "model_1/re_lu_52/Relu6_batch_normalization_67_1"
    x = {"x:0": rng.random((1, 2, 6, 6), dtype=np.float32)}
    outputs = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)
        for m in (before, model)
    ]
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])


def test_onnx2tf_failures_read_as_its_reason_not_its_advice() -> None:
    """onnx2tf colours its lines even into a pipe, and follows its reason with general advice:
    a square read `onnx2tf: \\x1b[31mERROR:\\x1b[0m Please convert again with the -osd option`
    (which fails the same way)."""
    from edgebench.conversion.onnx_steps import onnx2tf_reason

    red, plain = "\x1b[31m", "\x1b[0m"
    own = "\n".join([
        "W0000 00:00:1796192826.347727   29064 computation_placer.cc:177] already registered.",
        f"{red}ERROR:{plain} Generation of saved_model failed because the OP name does not match",
        f"{red}ERROR:{plain} model_1/model/re_lu_66/Relu6;model_1/model/batch_normalization_81",
        f"{red}ERROR:{plain} Please convert again with the `-osd` or `--output_signaturedefs`",
    ])  # fmt: skip
    assert onnx2tf_reason(own) == (
        "Generation of saved_model failed because the OP name does not match"
    )
    traceback = "\n".join([
        f"{red}ERROR:{plain} The trace log is below.",
        "Traceback (most recent call last):",
        '  File "tensor_shape.py", line 208, in __init__',
        '    raise ValueError("Dimension %d must be >= 0" % value)',
        "ValueError: Dimension -1 must be >= 0",
        f"{red}ERROR:{plain} input_onnx_file_path: ../cls.onnx",
        f"{red}ERROR:{plain} Read this and deal with it. https://github.com/PINTO0309/onnx2tf",
    ])  # fmt: skip
    assert onnx2tf_reason(traceback) == "ValueError: Dimension -1 must be >= 0"
    assert onnx2tf_reason("") == ""


@pytest.mark.onnxruntime
@pytest.mark.tflite
@pytest.mark.skipif(_onnx2tf_missing(), reason="onnx2tf is not installed (edgebench tools install)")
def test_paddleocrs_classifier_reaches_tflite_and_tensorflow(tmp_path: Path) -> None:
    """onnx2tf gave up on all three PaddleOCR graphs of the corpus: `conversion failed:
    onnx_to_savedmodel: onnx2tf: ValueError: Dimension -1 must be >= 0`. It now gets the graph
    after onnxslim has fixed its shapes and folded its shape arithmetic."""
    from edgebench.cache import default_cache_dir
    from edgebench.models import corpus

    try:
        model = corpus.fetch(corpus.get("ppocr-cls"), default_cache_dir())
    except corpus.CorpusUnavailable as exc:
        pytest.skip(str(exc))
    env = cli_env(tmp_path / "cache", EDGEBENCH_ONNX2TF=str(
        default_cache_dir() / "tools" / "onnx2tf" / "bin" / "onnx2tf"))  # fmt: skip
    r = run_cli("run", "--model", str(model), "--input-shape", "x=3,48,192", "--compiler",
                "tflite,tensorflow", "--precision", "fp32", "--min-duration", "0.1", "--json",
                "--db", "r.db", cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    for cell in json.loads(r.stdout):
        assert cell["status"] == "ok", cell["error"]
        assert cell["fidelity"]["reference"] == "onnxruntime fp32"
        assert cell["fidelity"]["snr_db"] > 60, cell["fidelity"]  # the same network
        assert "before onnx2tf" in cell["artifact_info"]["onnx_cleanup"]
