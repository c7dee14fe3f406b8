"""The PyTorch family: the zoo's PyTorch twins, torch (eager and torch.compile), ExecuTorch, and
the GPU compilers' reasons for being unavailable on a host without one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_env, run_cli

Cells = dict[tuple[str, str, int], dict[str, Any]]


def _run(tmp_path: Path, cache: Path, *args: str) -> Cells:
    r = run_cli(
        "run", "--min-duration", "0.2", "--min-runs", "5", "--warmup", "1", "--json",
        "--db", str(tmp_path / "r.db"), *args,
        cwd=tmp_path, env=cli_env(cache), timeout=1200,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return {(c["compiler"], c["precision"], c["batch_size"]): c for c in json.loads(r.stdout)}


@pytest.mark.torch
@pytest.mark.tensorflow
def test_torch_on_the_twin_with_random_weights(tmp_path: Path, shared_cache: Path) -> None:
    """torch keeps one program for every batch size. (ExecuTorch runs this twin in the explain
    test; its one .pte per batch size is the mechanism TVM's test checks, compiles_per_batch.)"""
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--weights", "random",
        "--compiler", "torch", "--precision", "fp32,bf16,fp16", "--batch", "1,2",
        "--option", "torch_compile=none",
    )  # fmt: skip
    for batch in (1, 2):
        rec = by[("torch", "fp32", batch)]
        assert rec["status"] == "ok", rec["error"]
        assert rec["outputs"][0]["shape"] == [batch, 1000]
        assert rec["latency_ms"]["p50"] > 0 and rec["model_size_mb"] > 1
        # The twin's random weights are not the Keras model's: no comparison is made.
        assert "built anew" in rec["fidelity"]["error"]
    assert by[("torch", "fp32", 1)]["artifact_path"] == by[("torch", "fp32", 2)]["artifact_path"]
    # Refusals found only when the runtime loads are `unsupported` cells with the reason.
    fp16 = by[("torch", "fp16", 1)]
    assert fp16["status"] == "unsupported" and "CUDA" in fp16["error"]
    bf16 = by[("torch", "bf16", 1)]
    assert bf16["status"] in ("ok", "unsupported")
    if bf16["status"] == "unsupported":
        assert "bf16" in bf16["error"]


@pytest.mark.torch
@pytest.mark.tensorflow
@pytest.mark.accuracy
def test_the_twin_with_torchvision_weights_agrees_with_the_keras_build(
    tmp_path: Path, shared_cache: Path
) -> None:
    """mobilenet_v2.tv_in1k: the same torchvision checkpoint in the Keras build (the reference)
    and in the PyTorch twin, compiled by inductor, on real photographs. (ExecuTorch's lowering
    is checked against its eager program on a user's .pt2 below: a full MobileNetV2 lowering
    here would cost this suite most of a minute.)"""
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2.tv_in1k",
        "--compiler", "torch", "--batch", "1", "--dataset", "samples",
    )  # fmt: skip
    compiled = by[("torch", "fp32", 1)]
    assert compiled["status"] == "ok", compiled["error"]
    assert compiled["accuracy"]["top1"] == 1.0, compiled["accuracy"]
    fid = compiled["fidelity"]
    assert fid["top1_agreement"] == 1.0 and fid["snr_db"] > 40, fid
    assert compiled["options"]["torch_compile"] == "default"
    # torch.compile's first-call compile is counted as conversion time, not load time.
    compile_s = compiled["runtime_metrics"]["compile_s"]
    assert compile_s > 0.5 and compiled["convert_s"] >= compile_s


def _cuda() -> bool:
    from conftest import have

    if not have("torch"):
        return False
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.torch
@pytest.mark.tensorflow
@pytest.mark.skipif(not _cuda(), reason="no CUDA device for PyTorch here")
def test_torch_on_cuda_fp32_and_fp16(tmp_path: Path, shared_cache: Path) -> None:
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--weights", "random",
        "--compiler", "torch", "--precision", "fp32,fp16", "--batch", "1,8",
        "--option", "device=cuda", "--no-fidelity",
    )  # fmt: skip
    for precision in ("fp32", "fp16"):
        for batch in (1, 8):
            rec = by[("torch", precision, batch)]
            assert rec["status"] == "ok", rec["error"]
            assert rec["outputs"][0]["shape"] == [batch, 1000]
    assert rec["system"]["gpus"] and rec["system"]["gpus"][0]["cuda"] != "unknown"


@pytest.mark.skipif(not _cuda(), reason="no CUDA device here")
def test_tensorrt_builds_an_engine_where_it_is_installed(
    tmp_path: Path, shared_cache: Path
) -> None:
    pytest.importorskip("tensorrt", reason="tensorrt is not installed (edgebench[tensorrt])")
    by = _run(
        tmp_path, shared_cache, "--model", "mobilenet_v2_035_96", "--weights", "random",
        "--compiler", "tensorrt", "--precision", "fp32,fp16", "--batch", "1,4", "--no-fidelity",
    )  # fmt: skip
    for precision in ("fp32", "fp16"):
        for batch in (1, 4):
            rec = by[("tensorrt", precision, batch)]
            assert rec["status"] == "ok", rec["error"]
            split = rec["runtime_metrics"]
            assert split["gpu_compute_ms"] > 0 and split["h2d_ms"] >= 0 and split["d2h_ms"] >= 0


def test_gpu_compilers_say_why_they_are_unavailable(tmp_path: Path) -> None:
    from edgebench.compilers import get_compiler
    from edgebench.sysinfo import gpus

    if gpus():
        pytest.skip("this host has an NVIDIA GPU")
    trt = get_compiler("tensorrt").probe()
    assert not trt.available and ("GPU" in trt.reason or "tensorrt" in trt.reason)
    tftrt = get_compiler("tf-trt").probe()
    assert not tftrt.available and "TensorRT" in tftrt.reason
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--weights", "random", "--compiler",
        "tensorrt,tf-trt", "--json", "--no-fidelity", "--db", str(tmp_path / "r.db"),
        cwd=tmp_path, env=cli_env(tmp_path / "cache"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    cells = json.loads(r.stdout)
    assert {c["status"] for c in cells} == {"skipped"}
    assert all(c["error"].startswith("unavailable: ") for c in cells)


@pytest.mark.torch
@pytest.mark.executorch
@pytest.mark.slow
def test_a_users_torch_export_program_runs_on_torch_and_executorch(tmp_path: Path) -> None:
    """A `.pt2` that torch.export.save wrote (not edgebench's twin) is a model file like any
    other: its inputs read from the program, eager PyTorch its reference."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(Net().eval(), (torch.zeros(2, 3, 24, 24),),
                                  dynamic_shapes=({0: batch},))  # fmt: skip
    torch.export.save(program, str(tmp_path / "net.pt2"))
    r = run_cli(
        "run", "--model", "net.pt2", "--compiler", "torch,executorch", "--option",
        "torch_compile=none", "--precision", "fp32,fp16", "--batch", "4", "--min-duration",
        "0.1", "--json", "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "cache"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    by = {(c["compiler"], c["precision"]): c for c in json.loads(r.stdout)}
    assert len(by) == 4
    for compiler in ("torch", "executorch"):  # batch 4 from the dynamic batch (exported at 2)
        cell = by[(compiler, "fp32")]
        assert cell["status"] == "ok", (compiler, cell["error"])
        assert cell["outputs"][0]["shape"] == [4, 10]
        assert cell["fidelity"]["reference"] == "torch fp32"
        assert cell["fidelity"]["max_abs_diff"] < 1e-4  # the same program, eager or lowered
        assert by[(compiler, "fp16")]["status"] == "unsupported"  # on a CPU
    bad = tmp_path / "broken.pt2"
    bad.write_bytes(b"PK\x03\x04 not a program")
    r = run_cli("run", "--model", str(bad), "--compiler", "torch", "--db", "r.db",
                cwd=tmp_path, env=cli_env(tmp_path / "cache"))  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith(f"error: {bad}: cannot read as torch"), r.stderr


def _paddle_style_onnx(path: Path) -> Path:
    """A small classifier as PaddlePaddle's exporter writes one (opset 11, its weights also
    listed as graph inputs, a Reshape to [0, -1]): onnx2torch turns its Reshape into a module
    that reads the target shape from a tensor, which torch.export cannot trace."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    weights = {
        # Small weights: on [0, 1] pixels, larger ones saturate the softmax (a flat reference).
        "w": rng.normal(scale=0.1, size=(8, 3, 3, 3)).astype(np.float32),
        "fc": rng.normal(scale=0.1, size=(8, 5)).astype(np.float32),
        "shape": np.array([0, -1], np.int64),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["h"]),
        helper.make_node("GlobalAveragePool", ["h"], ["g"]),
        helper.make_node("Reshape", ["g", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "fc"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])]
    inputs += [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
               for n, a in weights.items()]  # fmt: skip
    graph = helper.make_graph(
        nodes, "paddle_style", inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(a, n) for n, a in weights.items()],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.save(model, path)
    return path


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_an_onnx_model_runs_on_torch_through_onnx2torch(tmp_path: Path) -> None:
    """There was no route from ONNX to the PyTorch family ("no conversion route from onnx to
    torch"): onnx2torch now converts the graph, after onnxslim, into a torch.export program
    per batch size, checked against ONNX Runtime on the file as it is. (ExecuTorch lowers that
    program like any other `.pt2`: the test above.)"""
    model = _paddle_style_onnx(tmp_path / "paddle_style.onnx")
    by = _run(
        tmp_path, tmp_path / "cache", "--model", str(model), "--compiler", "torch",
        "--option", "torch_compile=none",
    )  # fmt: skip
    assert len(by) == 1
    for (compiler, _, batch), cell in by.items():
        assert cell["status"] == "ok", (compiler, batch, cell["error"])
        assert cell["outputs"][0]["shape"] == [batch, 5]
        assert cell["fidelity"]["reference"] == "onnxruntime fp32"
        assert cell["fidelity"]["snr_db"] > 60, (compiler, cell["fidelity"])
        assert [s["step"] for s in cell["convert_steps"]] == ["onnx_to_torch", f"{compiler}:fp32"]
        assert cell["artifact_info"]["torch_route"].startswith("onnx2torch")
        assert cell["artifact_info"]["onnx_cleanup"].startswith("onnxslim")


@pytest.mark.torch
def test_a_torchscript_program_is_a_model_file_like_any_other(tmp_path: Path) -> None:
    """A TorchScript `.pt` was refused as an unknown format. It now converts to a
    torch.export program (frozen, then torch's TorchScript converter) once its input sizes are
    given; without them, and for a `.pt` that is not TorchScript, one line each."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.conv(image))
            return y.reshape(y.shape[0], -1).softmax(dim=1)

    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(Net().eval()), str(tmp_path / "net.pt"))
    cache = tmp_path / "cache"
    by = _run(
        tmp_path, cache, "--model", "net.pt", "--input-shape", "3,8,8", "--compiler", "torch",
        "--option", "torch_compile=none", "--batch", "1,3",
    )  # fmt: skip
    for batch in (1, 3):
        cell = by["torch", "fp32", batch]
        assert cell["status"] == "ok", cell["error"]
        assert cell["outputs"][0]["shape"] == [batch, 256]
        assert [s["step"] for s in cell["convert_steps"]] == ["torchscript_to_torch", "torch:fp32"]
    # A program with static shapes per batch size.
    assert by["torch", "fp32", 1]["artifact_path"] != by["torch", "fp32", 3]["artifact_path"]
    r = run_cli("run", "--model", "net.pt", "--compiler", "torch", "--db", "r.db",
                cwd=tmp_path, env=cli_env(cache))  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "does not record its input sizes" in r.stderr and "(inputs: image)" in r.stderr
    torch.save(Net().state_dict(), str(tmp_path / "weights.pt"))
    r = run_cli("run", "--model", "weights.pt", "--input-shape", "3,8,8", "--compiler", "torch",
                "--db", "r.db", cwd=tmp_path, env=cli_env(cache))  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not a TorchScript program" in r.stderr and ".pt2" in r.stderr, r.stderr
