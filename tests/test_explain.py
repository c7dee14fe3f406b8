"""`edgebench explain`: the taxonomy, fusion tracing and time shares on hand-made graphs, then
real compilers (TFLite, ONNX Runtime, OpenVINO) on a small Conv+BatchNorm+ReLU6 model made
here."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_env, run_cli
from edgebench.explain.graph import Node, OpGraph, find_fusions
from edgebench.explain.profile import UNATTRIBUTED, OpTime, time_shares
from edgebench.explain.taxonomy import category, category_of_kernel


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("Conv", "conv"),
        ("QLinearConv", "conv"),
        ("CONV_2D", "conv"),
        ("Convolution (NHWC, QC8) IGEMM", "conv"),
        ("DEPTHWISE_CONV_2D", "depthwise conv"),
        ("GroupConvolution", "depthwise conv"),
        ("Convolution (NHWC, F32) DWConv", "depthwise conv"),
        ("FULLY_CONNECTED", "matmul/dense"),
        ("FullyConnectedQuantizedLegacy", "matmul/dense"),
        ("aten::addmm", "matmul/dense"),
        ("GlobalAveragePool", "pool"),
        ("MEAN", "pool"),
        ("Relu6", "activation"),
        ("Clip", "activation"),
        ("HardSwish", "activation"),
        ("AddV2", "elementwise"),
        ("FusedBatchNormV3", "elementwise"),
        ("Convert", "elementwise"),
        ("Transpose", "reshape/transpose"),
        ("ExpandDims", "reshape/transpose"),
        ("ResizeBilinear", "reshape/transpose"),
        ("ReorderOutput", "reshape/transpose"),
        ("QuantizeLinear", "quantize/dequantize"),
        ("DEQUANTIZE", "quantize/dequantize"),
        ("NON_MAX_SUPPRESSION_V4", "nms/post-processing"),
        ("NonMaxSuppressionV4", "nms/post-processing"),
        ("Subgraph", "other"),
    ],
)
def test_one_taxonomy_for_every_framework(op: str, expected: str) -> None:
    assert category(op) == expected


def test_fused_kernels_count_as_their_heaviest_op() -> None:
    assert category_of_kernel("fused_conv2d_add_relu") == "conv"
    assert category_of_kernel("cpp_fused_convolution_relu_3") == "conv"
    assert category_of_kernel("fused_reshape_transpose") == "reshape/transpose"
    assert category("Conv", depthwise=True) == "depthwise conv"


def _conv_bn_relu_before() -> OpGraph:
    return OpGraph(
        "onnx",
        [
            Node("conv", "Conv", ("x", "w"), ("c",)),
            Node("bn", "BatchNormalization", ("c", "s", "b", "m", "v"), ("n",)),
            Node("relu", "Relu", ("n",), ("r",)),
            Node("pool", "GlobalAveragePool", ("r",), ("y",)),
            Node("shape", "Shape", ("w",), ("sh",)),  # a constant subgraph: folded, not work
        ],
        constants={"w", "s", "b", "m", "v"},
    )


def test_a_fused_node_takes_the_unnamed_ops_upstream_of_the_one_it_names() -> None:
    before = _conv_bn_relu_before()
    # OpenVINO-style: the fused convolution names the ReLU (and the BatchNorm) it absorbed.
    after = OpGraph(
        "openvino",
        [
            Node("Multiply_1", "Convolution", ("x",), ("r",), origins=("n", "r")),
            Node("y", "Reduce", ("Multiply_1",), ("y",), origins=("y",)),
        ],
    )
    traced = find_fusions(before, after)
    assert traced["fusions"] == [
        {"before": "Conv+BatchNormalization+Relu", "after": "Convolution", "count": 1}
    ]
    assert traced["removed"] == {}
    assert before.summary()["nodes"] == 4  # the Shape of a constant is not counted
    assert before.summary()["constant_nodes"] == 1


def test_names_with_compiler_suffixes_and_scopes_are_traced() -> None:
    before = _conv_bn_relu_before()
    after = OpGraph(
        "onnx",
        [
            # ONNX Runtime names the NCHWc conv after the tensor it replaces; TFLite lists
            # the TensorFlow ops it fused in the output tensor's name, under a scope.
            Node("r:0_nchwc", "Conv", ("x",), ("t1",), origins=("r:0_nchwc",)),
            Node("t2", "MEAN", ("t1",), ("t2",), origins=("model/pool",)),
        ],
    )
    before.nodes[3] = Node("model/pool", "GlobalAveragePool", ("r",), ("y",))
    traced = find_fusions(before, after)
    assert {"before": "Conv+BatchNormalization+Relu", "after": "Conv", "count": 1} in traced[
        "fusions"
    ]
    assert traced["mapped"] == 4


def test_time_shares_add_up_to_the_measured_latency() -> None:
    ops = [
        OpTime("a", "Conv", 0.5),
        OpTime("b", "Relu", 0.1),
        OpTime("c", "Conv", 0.2),
        OpTime("d", "QuantizeLinear", 0.05),
    ]
    shares = time_shares(ops, measured_ms=1.0, source="test", runs=10)
    by = {c["category"]: c for c in shares["categories"]}
    assert by["conv"]["ms"] == pytest.approx(0.7)
    assert by[UNATTRIBUTED]["ms"] == pytest.approx(0.15)
    assert sum(c["share"] for c in shares["categories"]) == pytest.approx(1.0)
    assert shares["top_ops"][0]["name"] == "a"
    # Overlapping ops (parallel streams) add up past the wall time: shares of their sum.
    overlap = time_shares(ops, measured_ms=0.5, source="test", runs=10)
    assert overlap["unattributed_ms"] == 0.0 and "overlap" in overlap["note"]
    assert sum(c["share"] for c in overlap["categories"]) == pytest.approx(1.0)


def test_xnnpack_partitions_are_read_from_the_delegate_nodes() -> None:
    from edgebench.compilers.tflite.explain import delegated_nodes

    ops = [
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 1], "outputs": [2]},
        {"index": 1, "op_name": "MEAN", "inputs": [2, 3], "outputs": [4]},
        {"index": 2, "op_name": "CUMSUM", "inputs": [4, 5], "outputs": [6]},
        {"index": 3, "op_name": "SOFTMAX", "inputs": [6], "outputs": [7]},
        {"index": 4, "op_name": "DELEGATE", "inputs": [0, 1, 3], "outputs": [4]},
        {"index": 5, "op_name": "DELEGATE", "inputs": [6], "outputs": [7]},
    ]
    assert delegated_nodes(ops) == {1: 0, 0: 0, 3: 1}


# --- real compilers ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Conv+BatchNorm+ReLU6, a depthwise block, a dense head and a cumulative sum (an op
    XNNPACK does not take, so TFLite runs it on its own kernels)."""
    pytest.importorskip("tensorflow")
    import keras

    inp = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8)(x)
    out = keras.ops.cumsum(x, axis=-1)
    path = tmp_path_factory.mktemp("explain") / "cbr.keras"
    keras.Model(inp, out).save(path)
    return path


def _explain(tmp_path: Path, cache: Path, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
    r = run_cli(
        "explain", "--json", "--db", str(tmp_path / "e.db"), "--min-runs", "5",
        "--min-duration", "0.2", "--warmup", "2", "--runs", "10", "--calib-size", "8", *args,
        cwd=tmp_path, env=cli_env(cache),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return {(c["compiler"], c["precision"]): c for c in json.loads(r.stdout)}


def _check_shares(profile: dict[str, Any]) -> None:
    assert "error" not in profile, profile
    total = sum(c["share"] for c in profile["categories"])
    assert total == pytest.approx(1.0, abs=1e-6)
    if "note" not in profile:  # op time plus the unattributed part is the measured latency
        measured = profile["op_total_ms"] + profile["unattributed_ms"]
        assert math.isclose(measured, profile["measured_ms"], rel_tol=1e-6)


@pytest.mark.tflite
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_each_compiler_fuses_conv_batchnorm_relu6(
    tmp_path: Path, shared_cache: Path, keras_model: Path
) -> None:
    cells = _explain(
        tmp_path, shared_cache, "--model", str(keras_model),
        "--compiler", "tflite,onnxruntime,openvino", "--precision", "fp32",
    )  # fmt: skip
    for compiler in ("tflite", "onnxruntime", "openvino"):
        cell = cells[compiler, "fp32"]
        assert cell["status"] == "ok", cell["error"]
        ex = cell["explain"]
        assert ex["after"]["nodes"] < ex["before"]["nodes"], (compiler, ex)
        # The convolution and its activation became one node.
        fused = [f for f in ex["fusions"] if "Relu6" in f["before"] or "Clip" in f["before"]]
        assert any("Conv" in f["before"] for f in fused), (compiler, ex["fusions"])
        _check_shares(ex["profile"])
    tfl = cells["tflite", "fp32"]["explain"]
    assert "CONV_2D+RELU6" in tfl["after"]["ops"]
    assert "BatchNormalization" not in json.dumps(tfl["after"])
    # XNNPACK took the network; the cumulative sum fell back to TFLite's kernels.
    assert tfl["placement"]["fallback_ops"] == {"CUMSUM": 1}
    assert tfl["placement"]["engines"]["XNNPACK"] >= 4
    assert tfl["profile"]["source"] == "LiteRT profiler"
    ort = cells["onnxruntime", "fp32"]["explain"]
    assert set(ort["placement"]["engines"]) == {"CPUExecutionProvider"}
    assert "ConvActivationFusion" in ort["placement"]["graph_rewrites"]
    ov = cells["openvino", "fp32"]["explain"]
    assert ov["placement"]["runtime_precisions"].keys() == {"f32"}  # fp32 is not bf16


@pytest.mark.tflite
@pytest.mark.onnxruntime
def test_int8_graphs_hold_quantized_kernels_and_ablation_accounts_for_options(
    tmp_path: Path, shared_cache: Path, keras_model: Path
) -> None:
    cells = _explain(
        tmp_path, shared_cache, "--model", str(keras_model), "--compiler", "tflite,onnxruntime",
        "--precision", "int8", "--ablate",
    )  # fmt: skip
    ort = cells["onnxruntime", "int8"]["explain"]
    assert ort["after"]["ops"].get("QLinearConv", 0) >= 2
    assert "quantize/dequantize" in ort["after"]["categories"]
    changes = [row["change"] for row in ort["ablation"]]
    assert changes == [
        "graph optimization all -> extended",
        "graph optimization all -> basic",
        "graph optimization all -> disable",
        "int8 -> fp32 (no quantization)",
    ]
    disabled = ort["ablation"][2]
    assert disabled["status"] == "ok" and disabled["p50_ms"] > 0 and disabled["speedup"] > 0
    assert disabled["throughput_ips"] > 0 and disabled["cell_throughput_ips"] > 0
    to_fp32 = ort["ablation"][3]
    assert to_fp32["precision"] == "fp32" and to_fp32["status"] == "ok"
    cell_size = cells["onnxruntime", "int8"]["model_size_mb"]
    assert to_fp32["size_change_mb"] == pytest.approx(cell_size - to_fp32["size_mb"])
    tfl = cells["tflite", "int8"]["explain"]
    xnnpack_off = tfl["ablation"][0]
    assert xnnpack_off["change"].startswith("XNNPACK off") and xnnpack_off["status"] == "ok"
    assert "top1_agreement" in xnnpack_off["fidelity"] or "cosine" in xnnpack_off["fidelity"]


@pytest.mark.tflite
def test_a_compiler_without_an_explainer_still_shows_its_input_graph(
    tmp_path: Path, shared_cache: Path, keras_model: Path
) -> None:
    cells = _explain(
        tmp_path, shared_cache, "--model", str(keras_model), "--compiler", "tensorflow"
    )
    ex = cells["tensorflow", "fp32"]["explain"]
    assert ex["before"]["format"] == "savedmodel" and ex["before"]["nodes"] > 5
    assert ex["profile"] == {"error": "edgebench has no explainer for tensorflow"}
    r = run_cli("results", "--json", "--db", str(tmp_path / "e.db"), cwd=tmp_path)
    assert json.loads(r.stdout)[0]["explain"]["before"] == ex["before"]  # stored with the cell


def test_tensorrt_layers_name_the_onnx_nodes_they_fused() -> None:
    """The inspector JSON of an engine built with detailed verbosity (its layout as TensorRT 10
    writes it), read without TensorRT: the fused layer traces back to Conv+BN+Relu."""
    from edgebench.compilers.tensorrt_engine.explain import engine_graph

    info = {
        "Layers": [
            {
                "Name": "Conv_0 + BatchNormalization_1 + Relu_2",
                "LayerType": "CaskConvolution",
                "Inputs": [{"Name": "x", "Format/Datatype": "Row major linear FP32"}],
                "Outputs": [{"Name": "r", "Format/Datatype": "Channel major FP16 format"}],
                "TacticName": "sm80_xmma_fprop_implicit_gemm",
            },
            {
                "Name": "GlobalAveragePool_3",
                "LayerType": "CaskPooling",
                "Inputs": [{"Name": "r"}],
                "Outputs": [{"Name": "y", "Format/Datatype": "Row major linear FP16 format"}],
            },
        ]
    }
    after = engine_graph(info)
    assert [n.precision for n in after.nodes] == ["FP16", "FP16"]
    before = OpGraph(
        "onnx",
        [
            Node("Conv_0", "Conv", ("x", "w"), ("c",)),
            Node("BatchNormalization_1", "BatchNormalization", ("c",), ("n",)),
            Node("Relu_2", "Relu", ("n",), ("r",)),
            Node("GlobalAveragePool_3", "GlobalAveragePool", ("r",), ("y",)),
        ],
        constants={"w"},
    )
    traced = find_fusions(before, after)
    assert traced["fusions"] == [
        {"before": "Conv+BatchNormalization+Relu", "after": "CaskConvolution", "count": 1}
    ]
    assert after.summary()["categories"] == {"conv": 1, "pool": 1}


@pytest.mark.executorch
@pytest.mark.slow
def test_executorch_shows_what_xnnpack_took_and_what_fell_back(
    tmp_path: Path, shared_cache: Path
) -> None:
    cells = _explain(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "executorch"
    )
    ex = cells["executorch", "fp32"]["explain"]
    assert ex["before"]["format"] == "torch"
    assert ex["before"]["categories"]["depthwise conv"] == 17  # MobileNetV2's 17 blocks
    placement = ex["placement"]
    assert placement["partitions"] >= 1 and placement["engines"]["XNNPACK"] > 100
    # What the partitioner left out runs on ExecuTorch's own kernels, and is named.
    assert sum(placement["fallback_ops"].values()) == placement["engines"]["ExecuTorch kernels"]
    assert ex["after"]["nodes"] < ex["before"]["nodes"]
    assert ex["profile"]["source"] == "ExecuTorch ETDump"
    _check_shares(ex["profile"])
    assert any("IGEMM" in o["op"] or "GEMM" in o["op"] for o in ex["profile"]["top_ops"])


@pytest.mark.tflite
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_int8_mobilenet_categories_match_the_graph(tmp_path: Path, shared_cache: Path) -> None:
    """Each compiler's category counts agree with the op types of its own graph, and kernel
    time lands on the graph op it computes (XNNPACK's 1x1-conv GEMMs are conv time)."""
    cells = _explain(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--weights", "random",
        "--compiler", "tflite,onnxruntime,openvino", "--precision", "int8",
    )  # fmt: skip

    def count(ops: dict[str, int], *names: str) -> int:
        return sum(n for op, n in ops.items() for name in names if op.split("+")[0] == name)

    ort = cells["onnxruntime", "int8"]["explain"]["after"]
    ops, cats = ort["ops"], ort["categories"]
    assert cats.get("matmul/dense", 0) == count(ops, "QLinearMatMul", "MatMul", "Gemm", "QGemm")
    assert cats.get("pool", 0) == count(ops, "QLinearGlobalAveragePool", "GlobalAveragePool")
    assert cats.get("elementwise", 0) >= count(ops, "QLinearAdd", "Add") >= 10
    assert cats.get("conv", 0) + cats.get("depthwise conv", 0) == count(
        ops, "QLinearConv", "Conv", "ConvInteger"
    )
    tfl = cells["tflite", "int8"]["explain"]
    ops, cats = tfl["after"]["ops"], tfl["after"]["categories"]
    assert cats["conv"] == count(ops, "CONV_2D")
    assert cats["depthwise conv"] == count(ops, "DEPTHWISE_CONV_2D")
    assert cats.get("matmul/dense", 0) == count(ops, "FULLY_CONNECTED") == 1
    _check_shares(tfl["profile"])
    shares = {c["category"]: c["share"] for c in tfl["profile"]["categories"]}
    assert shares["conv"] > shares.get("matmul/dense", 0.0)
    assert tfl["placement"]["run_as_gemm"]["1x1 convolutions run as GEMM"] > 0
    ov = cells["openvino", "int8"]["explain"]["after"]
    ops, cats = ov["ops"], ov["categories"]
    assert cats.get("conv", 0) + cats.get("depthwise conv", 0) == count(
        ops, "Convolution", "GroupConvolution"
    )
    assert cats.get("matmul/dense", 0) == count(ops, "FullyConnected", "MatMul")
