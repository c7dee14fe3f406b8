"""`edgebench explain` for TVM and torch: the kernels each built, what they fused, where the
time goes, and which optimizations their ablations switch off. TVM runs on a small ONNX model
made here (Conv+BatchNorm+ReLU, then a depthwise Conv+ReLU); torch on the zoo's smallest
PyTorch twin."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import cli_env, run_cli


def _cbr_dw(path: Path) -> Path:
    """Conv+BatchNorm+ReLU, then a depthwise Conv+ReLU: a dynamic batch, 16x16 images."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    arrays = {
        "w": rng.normal(size=(8, 3, 3, 3)),
        "b": rng.normal(size=8),
        "scale": rng.uniform(0.5, 1.5, 8),
        "shift": rng.normal(size=8),
        "mean": rng.normal(size=8),
        "var": rng.uniform(0.5, 1.5, 8),
        "dw": rng.normal(size=(8, 1, 3, 3)),
    }
    inits = [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"]),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("Conv", ["r", "dw"], ["d"], pads=[1, 1, 1, 1], group=8),
        helper.make_node("Relu", ["d"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "cbr_dw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 16, 16])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _explain(tmp_path: Path, cache: Path, *args: str) -> dict[str, Any]:
    r = run_cli(
        "explain", "--json", "--db", str(tmp_path / "e.db"), "--min-runs", "5",
        "--min-duration", "0.2", "--warmup", "2", "--runs", "10", *args,
        cwd=tmp_path, env=cli_env(cache), timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    (cell,) = json.loads(r.stdout)
    assert cell["status"] == "ok", cell["error"]
    assert "error" not in cell["explain"], cell["explain"]
    return dict(cell["explain"])


def _check_shares(profile: dict[str, Any]) -> None:
    assert "error" not in profile, profile
    assert sum(c["share"] for c in profile["categories"]) == pytest.approx(1.0, abs=1e-6)
    if "note" not in profile:  # op time plus the unattributed part is the measured latency
        measured = profile["op_total_ms"] + profile["unattributed_ms"]
        assert math.isclose(measured, profile["measured_ms"], rel_tol=1e-6)


# --- TVM -----------------------------------------------------------------------------------------
@pytest.mark.tvm
def test_untuned_tvm_runs_each_operator_as_its_own_kernel(
    tmp_path: Path, shared_cache: Path
) -> None:
    model = _cbr_dw(tmp_path / "cbr_dw.onnx")
    ex = _explain(tmp_path, shared_cache, "--model", str(model), "--compiler", "tvm")
    assert ex["before"]["format"] == "onnx" and ex["before"]["nodes"] == 5
    after = ex["after"]
    # The default pipeline legalizes without fusing: the Conv's bias becomes its own add.
    assert after["format"] == "tvm" and after["nodes"] == 6, after
    assert after["ops"] == {"conv2d": 2, "relu": 2, "add": 1, "batch_norm": 1}, after
    assert after["categories"]["depthwise conv"] == 1 and after["categories"]["conv"] == 1
    assert ex["fusions"] == []
    placement = ex["placement"]
    assert placement["tuned"] is False and placement["tune_trials"] == 0
    (engine,) = placement["engines"]
    assert engine.startswith("llvm (") and placement["engines"][engine] == 6
    assert any("fuses nothing" in n for n in ex["notes"])
    assert "untuned: default schedules, single-threaded kernels" in ex["notes"]
    profile = ex["profile"]
    assert profile["source"].startswith("TVM VM instrument")
    _check_shares(profile)
    assert {op["name"] for op in profile["top_ops"]} <= {"conv2d", "conv2d1", "add", "batch_norm",
                                                         "relu", "relu1"}  # fmt: skip


@pytest.mark.tvm
def test_a_build_through_the_tuning_pipeline_is_explained_kernel_by_kernel(
    tmp_path: Path,
) -> None:
    """The tuning pipeline with no trials fuses as a tuned build does (its schedules aside):
    one kernel for Conv+BatchNorm+ReLU, one for the depthwise Conv+ReLU."""
    import tvm
    from tvm import relax

    from edgebench.compilers import get_compiler
    from edgebench.compilers.tvm_relax import llvm_target, relax_module
    from edgebench.explain import ExplainRequest, explain_cell
    from edgebench.models import InputSpec, ModelSpec

    source = _cbr_dw(tmp_path / "cbr_dw.onnx")
    spec = ModelSpec(
        name="cbr_dw", task="unknown", inputs=(InputSpec("x", (3, 16, 16)),),
        preprocessing="none", label_set="unknown", source_format="onnx", license="test",
    )  # fmt: skip
    target = llvm_target()
    mod = relax.pipeline.static_shape_tuning_pipeline(
        total_trials=0, target=target, work_dir=str(tmp_path / "db")
    )(relax_module(source, spec, 1))
    folder = tmp_path / "tvm"
    folder.mkdir()
    tvm.compile(mod, target=target).export_library(str(folder / "model.so"))
    info = {"target": str(target), "tune_trials": 0, "batch": 1}
    (folder / "edgebench.json").write_text(json.dumps(info))

    def clock(run: Any) -> list[float]:
        run()
        samples = []
        for _ in range(10):
            t = time.perf_counter()
            run()
            samples.append((time.perf_counter() - t) * 1e3)
        return samples

    ex = explain_cell(
        ExplainRequest(
            compiler=get_compiler("tvm"),
            artifact=folder,
            source=source,
            source_format="onnx",
            model=spec,
            precision="fp32",
            batch=1,
            threads=1,
            options={},
            inputs=[np.ones((1, 3, 16, 16), np.float32)],
            time_runs=clock,
        )  # fmt: skip
    )
    assert ex["before"]["nodes"] == 5 and ex["after"]["nodes"] == 2, ex
    assert ex["after"]["categories"] == {"conv": 1, "depthwise conv": 1}
    patterns = {f["before"]: f for f in ex["fusions"]}
    # BatchNorm is decomposed for inference, then fused into the convolution's kernel.
    full = next(p for p in patterns if p.startswith("conv2d+add+") and "multiply" in p)
    assert full.endswith("+relu") and patterns[full]["after"].startswith("fused_conv2d_add")
    assert patterns["conv2d+relu"]["count"] == 1
    assert not any("not found" in n or "fuses nothing" in n for n in ex.get("notes", []))
    _check_shares(ex["profile"])
    assert ex["profile"]["categories"][0]["category"] in ("conv", "depthwise conv",
                                                          "unattributed")  # fmt: skip


def test_tvm_ablates_tuning_only_when_tuned() -> None:
    from edgebench.compilers import get_compiler
    from edgebench.compilers.base import Compiler

    tvm = get_compiler("tvm")
    assert type(tvm).explain is not Compiler.explain  # TVM explains itself
    assert tvm.ablations("fp32", {"tvm_tune_trials": 0}) == []
    (step,) = tvm.ablations("fp32", {"tvm_tune_trials": 64})
    assert step.change == "tuning off (untuned build)" and step.options == {"tvm_tune_trials": 0}


def test_vm_calls_are_read_from_the_executable_text() -> None:
    from edgebench.compilers.tvm_relax.explain import vm_calls

    text = """@main:
  call  vm.builtin.alloc_storage in: %vm, c[2], i0 dst: %1
  call  fused_conv2d_add_relu in: %0, c[6], %2 dst: %void
  call  relu1            in: %2, %3      dst: %void
  ret   %3

@other:
  call  add in: %0, %1 dst: %void
"""
    assert vm_calls(text) == [
        ("vm.builtin.alloc_storage", ("%vm", "c[2]", "i0")),
        ("fused_conv2d_add_relu", ("%0", "c[6]", "%2")),
        ("relu1", ("%2", "%3")),
    ]


# --- torch ---------------------------------------------------------------------------------------
@pytest.mark.torch
def test_inductor_kernels_fusions_and_graph_breaks(tmp_path: Path, shared_cache: Path) -> None:
    ex = _explain(tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "torch")
    before, after = ex["before"], ex["after"]
    assert before["format"] == "torch" and before["ops"]["aten::conv2d"] == 52
    assert before["categories"]["depthwise conv"] == 17
    assert after["format"] == "inductor" and after["nodes"] < before["nodes"]
    placement = ex["placement"]
    assert placement["graph_breaks"] == 0 and placement["graphs"] == 1  # a clean program
    assert placement["freezing"] is True and placement["mode"] == "default"
    assert placement["engines"].get("inductor C++", 0) >= 1  # inductor's own kernels
    # Frozen: batch norms folded into the weights, ReLU6 fused into the convolution.
    assert not any("batch_norm" in op for op in after["ops"])
    assert any("folded" in n and "batch norm" in n for n in ex["notes"])
    fused = {f["before"]: f["count"] for f in ex["fusions"]}
    assert any("hardtanh" in b and c >= 10 for b, c in fused.items()), ex["fusions"]
    assert after["categories"].get("depthwise conv", 0) == 17
    profile = ex["profile"]
    assert profile["source"] == "torch profiler (self CPU time)"
    _check_shares(profile)
    assert profile["top_ops"][0]["category"] in ("conv", "depthwise conv")


@pytest.mark.torch
def test_eager_torch_runs_the_program_as_it_is(tmp_path: Path, shared_cache: Path) -> None:
    ex = _explain(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--compiler", "torch",
        "--option", "torch_compile=none",
    )  # fmt: skip
    before, after = ex["before"], ex["after"]
    # Every ATen op of the program ran as it is: nothing fused, nothing folded.
    assert after["nodes"] == before["nodes"] and after["categories"] == before["categories"]
    assert after["ops"]["aten::conv2d"] == before["ops"]["aten::conv2d"] == 52
    assert ex["fusions"] == []
    assert "graph_breaks" not in ex["placement"]
    assert ex["placement"]["engines"] == {"ATen (eager)": ex["after"]["nodes"]}
    _check_shares(ex["profile"])
    cats = {c["category"] for c in ex["profile"]["categories"]}
    assert {"conv", "depthwise conv", "elementwise"} <= cats


def test_torch_ablates_freezing_then_compilation() -> None:
    from edgebench.compilers import get_compiler
    from edgebench.compilers.base import Compiler

    torch = get_compiler("torch")
    assert type(torch).explain is not Compiler.explain  # torch explains itself
    assert torch.options({})["torch_freezing"] is True
    steps = torch.ablations("fp32", torch.options({}))
    assert [(s.change, s.options) for s in steps] == [
        ("inductor freezing off", {"torch_freezing": False}),
        ("torch.compile off (eager)", {"torch_compile": "none"}),
    ]
    assert torch.ablations("fp32", {"torch_compile": "none"}) == []


def test_inductor_wrapper_code_is_read_kernel_by_kernel() -> None:
    from edgebench.compilers.torch_runtime.explain import (
        fusions,
        split_kernel_name,
        wrapper_kernels,
    )

    assert split_kernel_name("cpp_fused__native_batch_norm_legit_no_training_hardtanh_13") == [
        "batch_norm",
        "hardtanh",
    ]
    assert split_kernel_name("graph_0_cpp_fused_convolution_relu_3") == ["convolution", "relu"]
    assert split_kernel_name("cpp_fused_0") == []
    code = """
class Runner:
    def call(self, args):
        buf0 = torch.ops.mkldnn._convolution_pointwise.default(reinterpret_tensor(a, (1, 3), (3, 1), 0), w, b, [1, 1], [2, 2], [1, 1], 1, 'hardtanh', [0.0, 6.0], '')
        buf2 = torch.ops.mkldnn._convolution_pointwise.default(buf1, w2, b2, [1, 1], [1, 1], [1, 1], 16, 'none', [None], '')
        torch.ops.mkldnn._convolution_pointwise_.binary(buf3, buf2, w3, b3, [0, 0], [1, 1], [1, 1], 1, 'add', 1.0, None, [None], None)
        cpp_fused__native_batch_norm_legit_no_training_hardtanh_1(buf4, arg1)
        buf5 = extern_kernels.convolution(buf4, arg2, stride=(1, 1), padding=(1, 1), groups=16, bias=None)
        return (buf5, )
"""  # noqa: E501
    kernels = wrapper_kernels(code)
    assert [(k.callee, k.parts, k.depthwise) for k in kernels] == [
        ("mkldnn::_convolution_pointwise", ("convolution", "hardtanh"), False),
        ("mkldnn::_convolution_pointwise", ("convolution",), True),
        ("mkldnn::_convolution_pointwise_", ("convolution", "add"), False),
        ("cpp_fused__native_batch_norm_legit_no_training_hardtanh_1", ("batch_norm", "hardtanh"),
         False),
        ("aten::convolution", ("convolution",), True),
    ]  # fmt: skip
    assert [f["before"] for f in fusions(kernels)] == [
        "convolution+hardtanh",
        "convolution+add",
        "batch_norm+hardtanh",
    ]
