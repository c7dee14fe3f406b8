"""LiteRT's GPU and NPU accelerators, for real: the GPU on Mesa's software Vulkan (lavapipe,
fetched by `edgebench tools install vulkan-cpu`), the NPU through Intel's plugin on OpenVINO's
CPU device (`tools install litert-intel-npu`); and every silent fallback planted on purpose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_env, run_cli

TINY = ("--model", "mobilenet_v2_035_96", "--weights", "random", "--compiler", "tflite")


def _tool(cache: Path, name: str) -> None:
    """`edgebench tools install NAME` into the session's cache, once."""
    marker = cache / "tools" / f".{name}.ok"
    if marker.exists():
        return
    r = run_cli("tools", "install", name, cwd=cache, env=cli_env(cache), timeout=900)
    if r.returncode != 0:
        pytest.skip(f"tools install {name} failed here: {r.stderr.strip().splitlines()[-1:]}")
    marker.write_text("ok")


def _cells(r: subprocess.CompletedProcess[str]) -> dict[tuple[str, str], dict[str, Any]]:
    assert r.returncode in (0, 3), r.stderr[-3000:]
    return {(c["accelerator"], c["precision"]): c for c in json.loads(r.stdout)}


# --- what LiteRT says, read right ------------------------------------------------------------
def test_the_adapter_line_says_which_gpu_and_whether_it_is_software() -> None:
    from edgebench.compilers.tflite.accelerated import adapter_of

    line = ("I0000 00:00:1733330000.000000 1 environment.cc:532] Selected adapter: llvmpipe "
            "(LLVM 15.0.6, 256 bits), arch=software, vendor=mesa, backend=Vulkan, "
            "adapterType=CPU / Software")  # fmt: skip
    found = adapter_of(["other", line])
    assert found == {"device": "llvmpipe (LLVM 15.0.6, 256 bits)", "adapter_type": "CPU / Software",
                     "backend": "Vulkan", "software": True}  # fmt: skip
    real = line.replace("llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA H200").replace(
        "CPU / Software", "Discrete GPU"
    )
    assert adapter_of([real])["software"] is False


# --- silent fallbacks, planted ----------------------------------------------------------------
@pytest.mark.tflite
def test_a_0_byte_or_op_less_compiled_model_is_no_npu_model(tmp_path: Path) -> None:
    from edgebench.compilers.tflite.npu import dispatch_ops
    from edgebench.errors import ConversionError

    empty = tmp_path / "model_Qualcomm_SM8650_apply_plugin.tflite"
    empty.write_bytes(b"")  # what a failed plugin leaves behind
    with pytest.raises(ConversionError, match="empty \\(0 bytes\\): the plugin failed"):
        dispatch_ops(empty)
    (tmp_path / "junk.tflite").write_bytes(os.urandom(64))
    with pytest.raises(ConversionError, match="not a .tflite model"):
        dispatch_ops(tmp_path / "junk.tflite")


def _plain_tflite(cache: Path, tmp_path: Path) -> Path:
    r = run_cli("run", *TINY, "--min-duration", "0", "--min-runs", "2", "--no-fidelity",
                "--json", "--db", "r.db", cwd=tmp_path, env=cli_env(cache))  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    return Path(json.loads(r.stdout)[0]["artifact_path"])


@pytest.mark.tflite
def test_an_npu_model_that_never_reaches_the_dispatch_is_not_measured_as_an_npu(
    tmp_path: Path, shared_cache: Path
) -> None:
    """Loaded for the NPU, a model no plugin compiled runs on XNNPACK, bit for bit, while
    LiteRT's is_fully_accelerated() says True: it must not read `ok` on the NPU."""
    from edgebench.compilers.tflite.accelerated import CompiledModelRuntime
    from edgebench.errors import ConversionError
    from edgebench.models import get_model

    plain = _plain_tflite(shared_cache, tmp_path)
    with pytest.raises(ConversionError, match="fell back to the CPU \\(XNNPACK\\): it holds no"):
        CompiledModelRuntime(plain, get_model("mobilenet_v2_035_96"), 1, 2, "npu", "fp32",
                             {"npu_target": "SM8650"})  # fmt: skip


def _fake_sdk(folder: Path, files: dict[str, bytes]) -> Path:
    """A Qualcomm SDK package as `pip install ai-edge-litert-sdk-qualcomm` leaves it offline
    (nothing inside), or with the given files in its data folder."""
    package = folder / "ai_edge_litert_sdk_qualcomm"
    (package / "data" / "lib" / "x86_64-linux-clang").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import pathlib\n"
        "def path_to_sdk_libs():\n"
        "    p = pathlib.Path(__file__).parent / 'data' / 'lib' / 'x86_64-linux-clang'\n"
        "    return p if any(p.iterdir()) else None\n"
    )
    for name, data in files.items():
        (package / "data" / "lib" / "x86_64-linux-clang" / name).write_bytes(data)
    return folder


def _first_on_path(folder: Path) -> str:
    return os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))


@pytest.mark.tflite
def test_an_empty_sdk_or_a_failed_plugin_is_said_never_an_npu_cell(
    tmp_path: Path, shared_cache: Path
) -> None:
    run = ("run", *TINY, "--accelerator", "npu", "-o", "npu_target=SM8650", "--min-duration",
           "0", "--no-fidelity", "--json", "--db", "r.db")  # fmt: skip
    empty = _fake_sdk(tmp_path / "empty", {})
    env = cli_env(
        shared_cache, PYTHONPATH=os.pathsep.join([str(empty), os.environ.get("PYTHONPATH", "")])
    )
    cell = _cells(run_cli(*run, cwd=tmp_path, env=env))["npu", "fp32"]
    assert cell["status"] == "skipped", cell
    assert "the qualcomm SDK is installed with nothing inside" in cell["error"]
    assert "ai-edge-litert-sdk-qualcomm" in cell["error"]
    # An SDK whose library is there but broken: aot_compile does not raise (the failure is
    # in failed_backends, beside a 0-byte file); the cell fails with the plugin's reason.
    broken = _fake_sdk(tmp_path / "broken", {"libQnnHtp.so": b"not an ELF file"})
    env = cli_env(
        shared_cache, PYTHONPATH=os.pathsep.join([str(broken), os.environ.get("PYTHONPATH", "")])
    )
    cell = _cells(run_cli(*run, cwd=tmp_path, env=env))["npu", "fp32"]
    assert cell["status"] == "failed" and "SM8650" in cell["error"], cell
    assert cell["latency_ms"] is None and "npu" not in cell["artifact_info"]


# --- the Intel NPU pipeline, on OpenVINO's CPU device -----------------------------------------
@pytest.mark.tflite
def test_intels_npu_pipeline_runs_on_openvinos_cpu_device_as_a_software_npu(
    tmp_path: Path, shared_cache: Path
) -> None:
    _tool(shared_cache, "litert-intel-npu")
    r = run_cli("run", *TINY, "--accelerator", "cpu,npu", "-o", "npu_target=LNL", "-o",
                "npu_graph_backend=cpu", "--min-duration", "0.2", "--json", "--db", "r.db",
                cwd=tmp_path, env=cli_env(shared_cache), timeout=900)  # fmt: skip
    cells = _cells(r)
    npu = cells["npu", "fp32"]
    assert npu["status"] == "ok", npu["error"]
    placed = npu["artifact_info"]["npu"]
    assert placed["ops_offloaded"] == placed["ops_total"] > 50 and placed["partitions"] == 1
    assert placed["dispatch_ops"] == 1 and placed["cpu_ops"] == 0
    assert npu["accelerator_info"]["software"] is True
    assert npu["accelerator_info"]["device"].startswith("CPU")
    assert any(w.startswith("software device: the NPU") for w in npu["warnings"])
    assert [s["step"] for s in npu["convert_steps"]][-1] == "npu_compile"
    assert cells["cpu", "fp32"]["accelerator_info"] is None  # a plain CPU cell
    assert "npu (software) fp32" in r.stderr  # the run line says so too


# --- the GPU, on Mesa's software Vulkan -------------------------------------------------------
@pytest.mark.tflite
def test_without_vulkan_gpu_cells_are_skipped_with_the_way_to_get_one(tmp_path: Path) -> None:
    if os.path.exists("/usr/share/vulkan/icd.d") and any(Path("/usr/share/vulkan/icd.d").iterdir()):
        pytest.skip("this host has a Vulkan driver")
    r = run_cli("run", "--model", "mobilenet_v2_035_96", "--weights", "random", "--compiler",
                "null,tflite", "--accelerator", "gpu", "--min-duration", "0", "--json",
                "--db", "r.db", cwd=tmp_path, env=cli_env(tmp_path / "empty-cache"))  # fmt: skip
    cells = {c["compiler"]: c for c in json.loads(r.stdout)}
    assert cells["tflite"]["status"] == "skipped"
    assert "edgebench tools install vulkan-cpu" in cells["tflite"]["error"]
    assert cells["null"]["status"] == "unsupported"  # null has no GPU at all


@pytest.mark.tflite
def test_litert_gpu_on_a_software_vulkan_device_agrees_with_the_cpu_and_is_marked(
    tmp_path: Path, shared_cache: Path
) -> None:
    _tool(shared_cache, "vulkan-cpu")
    r = run_cli("run", *TINY, "--accelerator", "cpu,gpu", "--precision", "fp32,fp16",
                "--min-duration", "0.2", "--min-runs", "5", "--json", "--db", "r.db",
                cwd=tmp_path, env=cli_env(shared_cache), timeout=900)  # fmt: skip
    cells = _cells(r)
    for precision in ("fp32", "fp16"):
        gpu = cells["gpu", precision]
        assert gpu["status"] == "ok", gpu["error"]
        info = gpu["accelerator_info"]
        assert info["software"] is True and info["backend"] == "Vulkan", info
        assert info["fully_accelerated"] is True and info["precision"] == precision
        assert any(w.startswith("software device: the GPU is llvmpipe") for w in gpu["warnings"])
    assert cells["gpu", "fp32"]["fidelity"]["snr_db"] >= 80  # fp32 enforced on the GPU
    assert cells["gpu", "fp16"]["fidelity"]["snr_db"] >= 15  # the GPU's fp16 arithmetic
    r = run_cli("report", "--db", "r.db", "--format", "md", "-o", "r.md", cwd=tmp_path)
    text = (tmp_path / "r.md").read_text()
    assert "CPU delegate against GPU and NPU delegates" in text and "a software device" in text
    assert "| mobilenet_v2_035_96 | tflite | fp32 | 1 | local |" in text


# LiteRT's GPU accelerator is loaded in a process of its own, as a measured cell is: in a pytest
# worker that has imported TensorFlow for earlier tests, CompiledModel.from_file on the GPU can
# crash the whole worker (seen in CI: a segmentation fault that took the rest of the file along).
GPU_WINDOW_SCRIPT = """
import sys, time
import numpy as np
from edgebench.compilers.tflite.accelerated import CompiledModelRuntime
from edgebench.harness.timing import StopRule, time_split_runs
from edgebench.models import get_model
from edgebench.models.synthetic_inputs import make_inputs

model = get_model("mobilenet_v2_035_96")
runtime = CompiledModelRuntime(sys.argv[1], model, 1, 2, "gpu", "fp32", {})
read = runtime._read

def slow_to_finish(buffer, detail):  # the GPU's work takes 50 ms more
    time.sleep(0.05)
    return read(buffer, detail)

runtime._read = slow_to_finish
window = time_split_runs(runtime, make_inputs(model, 1),
                         StopRule(warmup_runs=1, min_runs=5, min_duration_s=0))
assert np.isfinite(runtime.fetch()[0]).all()
runtime.close()
print(min(window.samples_ms))
"""


@pytest.mark.tflite
def test_a_gpu_inference_is_timed_until_its_output_is_ready(
    tmp_path: Path, shared_cache: Path
) -> None:
    """LiteRT's run_by_index returns once the work is queued (0.3 ms on llvmpipe); only the
    output read waits for it. A window that ended before the read would time a launch."""
    _tool(shared_cache, "vulkan-cpu")
    plain = _plain_tflite(shared_cache, tmp_path)
    r = subprocess.run([sys.executable, "-c", GPU_WINDOW_SCRIPT, str(plain)], cwd=tmp_path,
                       env=cli_env(shared_cache), capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert float(r.stdout.split()[-1]) >= 50.0, r.stdout
