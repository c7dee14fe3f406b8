"""ONNX Runtime, OpenVINO and TVM: real conversions and runs on small models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import cli_env, have, run_cli

pytestmark = pytest.mark.onnx


def _run(tmp_path: Path, cache: Path, *args: str) -> dict[tuple[str, str, int], dict]:  # type: ignore[type-arg]
    r = run_cli(
        "run", "--weights", "random", "--min-duration", "0.2", "--min-runs", "5", "--warmup", "1",
        "--calib-size", "8", "--json", "--db", str(tmp_path / "r.db"), *args,
        cwd=tmp_path, env=cli_env(cache),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return {(c["compiler"], c["precision"], c["batch_size"]): c for c in json.loads(r.stdout)}


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
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"]),
        helper.make_node(
            op, ["n"], ["y"], **({"domain": "edgebench.test"} if op == "Mystery" else {})
        ),
    ]
    dims: list[int | str] = ["N", 3, spatial or "H", spatial or "W"]
    graph = helper.make_graph(
        nodes,
        "conv_bn_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, *dims[2:]])],
        inits,
    )
    opsets = [helper.make_opsetid("", 17)] + (
        [helper.make_opsetid("edgebench.test", 1)] if op == "Mystery" else []
    )
    model = helper.make_model(graph, opset_imports=opsets)
    onnx.save(model, str(path))
    return path


@pytest.mark.skipif(not have("onnxruntime", "tf2onnx"), reason="needs edgebench[onnx]")
def test_onnxruntime_precisions_and_int8_kernels(tmp_path: Path, shared_cache: Path) -> None:
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "onnxruntime",
        "--precision", "fp32,fp16,int8-dynamic,int8",
    )  # fmt: skip
    for (_, precision, _), rec in by.items():
        assert rec["status"] == "ok", (precision, rec["error"])
        assert rec["convert_steps"][-2]["step"] == "keras_to_onnx"
    import onnx

    def op_types(rec: dict) -> set[str]:  # type: ignore[type-arg]
        return {n.op_type for n in onnx.load(rec["artifact_path"]).graph.node}

    int8 = by[("onnxruntime", "int8", 1)]
    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types(int8)
    assert int8["artifact_info"]["int8"]["activations"] == "u8"
    assert "ConvInteger" in op_types(by[("onnxruntime", "int8-dynamic", 1)])
    fp16 = onnx.load(by[("onnxruntime", "fp16", 1)]["artifact_path"])
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.graph.initializer)
    fp32 = by[("onnxruntime", "fp32", 1)]
    assert fp32["fidelity"]["snr_db"] > 60  # same weights as the TensorFlow reference
    assert by[("onnxruntime", "fp16", 1)]["model_size_mb"] < 0.6 * fp32["model_size_mb"]


@pytest.mark.skipif(not have("openvino", "nncf", "tf2onnx"), reason="needs edgebench[openvino]")
def test_openvino_fp32_is_f32_and_int8_runs_int8(tmp_path: Path, shared_cache: Path) -> None:
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "openvino",
        "--precision", "fp32,bf16,int8",
    )  # fmt: skip
    fp32, bf16, int8 = (by[("openvino", p, 1)] for p in ("fp32", "bf16", "int8"))
    assert fp32["status"] == "ok" and int8["status"] == "ok", (fp32["error"], int8["error"])
    assert fp32["artifact_info"]["inference_precision_hint"] == "f32"
    import openvino as ov

    core = ov.Core()
    if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        assert bf16["status"] == "ok"
    else:
        assert bf16["status"] == "unsupported" and "no BF16 support" in bf16["error"]

    def runtime_precisions(rec: dict) -> set[str]:  # type: ignore[type-arg]
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


@pytest.mark.skipif(not have("tvm", "onnxruntime", "tf2onnx"), reason="needs edgebench[tvm,onnx]")
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


@pytest.mark.skipif(
    not have("onnxruntime", "openvino", "tvm"), reason="needs edgebench[onnx,openvino,tvm]"
)
def test_a_users_onnx_file_on_every_onnx_compiler(tmp_path: Path, shared_cache: Path) -> None:
    model = _conv_bn_relu(tmp_path / "cbr.onnx")
    by = _run(
        tmp_path, shared_cache, "--model", str(model), "--compiler", "onnxruntime,openvino,tvm",
        "--batch", "1,3",
    )  # fmt: skip
    for key, rec in by.items():
        assert rec["status"] == "ok", (key, rec["error"])
        assert rec["outputs"][0]["shape"] == [key[2], 8, 16, 16]
        assert rec["fidelity"]["reference"] == "onnxruntime fp32"
        assert rec["fidelity"]["max_abs_diff"] < 1e-3

    dynamic = _conv_bn_relu(tmp_path / "dyn.onnx", spatial=None)
    r = run_cli("run", "--model", str(dynamic), "--compiler", "onnxruntime", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "input 'x' has a dynamic shape (3x?x?)" in r.stderr


@pytest.mark.skipif(not have("onnxruntime", "openvino"), reason="needs edgebench[onnx,openvino]")
def test_an_op_no_runtime_knows_is_a_cell_with_the_runtimes_message(
    tmp_path: Path, shared_cache: Path
) -> None:
    model = _conv_bn_relu(tmp_path / "mystery.onnx", op="Mystery")
    r = run_cli(
        "run", "--model", str(model), "--compiler", "onnxruntime,openvino", "--weights", "random",
        "--json", "--no-fidelity", "--db", str(tmp_path / "r.db"),
        cwd=tmp_path, env=cli_env(shared_cache),
    )  # fmt: skip
    if r.returncode == 2:  # the checker may already refuse the file: one clear line then
        assert "mystery.onnx" in r.stderr and "Traceback" not in r.stderr
        return
    for rec in json.loads(r.stdout):
        assert rec["status"] in ("failed", "unsupported")
        assert "Mystery" in rec["error"] and "\n" not in rec["error"]
