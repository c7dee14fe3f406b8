"""LiteRT's NPU path: a .tflite compiled ahead of time for one vendor's SoC, run through that
vendor's dispatch library.

`ai_edge_litert.aot.aot_compile` hands the model to a vendor's compiler plugin (Qualcomm,
MediaTek, Google Tensor, Intel, Samsung ship in the wheel); each plugin needs its vendor's SDK,
which the `ai-edge-litert-sdk-*` packages download from the vendor's servers while they install
(offline they install with nothing inside and exit 0). Every way this fails quietly is checked,
never assumed away: a backend in `failed_backends` (aot_compile does not raise), a 0-byte or
op-less compiled file, a model that never reaches the dispatch at load (LiteRT then runs it on
XNNPACK and still says it is fully accelerated).

Intel's plugin links OpenVINO 2026.3.1, not edgebench's 2026.4.1: `edgebench tools install
litert-intel-npu` puts that OpenVINO (its libraries only) under the cache, and the compile and
the dispatch load it from there. With `npu_graph_backend=cpu` Intel's pipeline compiles for,
and runs on, OpenVINO's CPU device: a software NPU, marked as such (this CPU may compute it in
bf16), which exercises the whole path where no NPU is present.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgebench.errors import BackendUnavailable, ConversionError, UsageError
from edgebench.models import ModelSpec
from edgebench.models.weights import ResolvedWeights

INTEL_TOOL = "litert-intel-npu"
INTEL_OPENVINO = "openvino==2026.3.1"  # the OpenVINO libLiteRtCompilerPlugin_IntelOpenvino links
INTEL_SDK = "ai-edge-litert-sdk-intel==2.3.0"
_INTEL_LIBS = ("libopenvino.so.2631", "libopenvino_tensorflow_lite_frontend.so.2631")
RESULT = "edgebench-npu-result "


# SoC names, by vendor, as `aot_compile` takes them (ai-edge-litert 2.3.0); `edgebench list
# accelerators` reads the installed wheel's own list and each SDK's state.
VENDORS: dict[str, tuple[str, ...]] = {
    "qualcomm": ("SA8255", "SA8295", "SM8350", "SM8450", "SM8475", "SM8550", "SM8650",
                 "SM8750", "SM8845", "SM8850"),
    "mediatek": ("MT6853", "MT6877", "MT6878", "MT6879", "MT6886", "MT6893", "MT6895",
                 "MT6897", "MT6983", "MT6985", "MT6989", "MT6991", "MT6993", "MT8171",
                 "MT8188", "MT8189"),
    "google_tensor": ("Tensor_G3", "Tensor_G4", "Tensor_G5", "Tensor_G6"),
    "intel_openvino": ("LNL", "PTL"),
    "samsung": ("E9965",),
}  # fmt: skip
TARGETS: tuple[str, ...] = tuple(t for socs in VENDORS.values() for t in socs)
SDK_PACKAGES = {
    "qualcomm": "ai-edge-litert-sdk-qualcomm",
    "mediatek": "ai-edge-litert-sdk-mediatek",
    "google_tensor": "ai-edge-litert-sdk-google-tensor",
    "intel_openvino": INTEL_SDK.partition("==")[0],
    "samsung": "(none published)",
}
# What each vendor's plugin loads from its SDK when it compiles (any one will do)
_SDK_FILES = {
    "qualcomm": ("libQnnHtp.so",),
    "mediatek": ("libneuron_adapter.so", "libneuronusdk_adapter.mtk.so"),
    "google_tensor": ("liblitert_plugin_compiler.so",),
    "intel_openvino": ("libopenvino_intel_npu_compiler_loader.so",),
    "samsung": (),
}


def vendor_of(target: str) -> str:
    for vendor, socs in VENDORS.items():
        if target in socs:
            return vendor
    raise UsageError(
        f"npu_target={target}: not a SoC LiteRT compiles for; see `edgebench list accelerators`"
    )


def intel_openvino(cache_dir: Path) -> Path:
    """Where `tools install litert-intel-npu` put OpenVINO 2026.3.1 (a pip --target folder)."""
    return cache_dir / "tools" / INTEL_TOOL


def install_intel(cache_dir: Path) -> Path:
    """OpenVINO 2026.3.1 and Intel's SDK package into their own folder under the cache (not
    the venv: edgebench's OpenVINO is 2026.4.1); the SDK's own download of Intel's NPU
    compiler needs Intel's servers, and without them it installs without it."""
    folder = intel_openvino(cache_dir)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade", "--target",
         str(folder), INTEL_OPENVINO, INTEL_SDK],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise BackendUnavailable(
            f"pip could not install {INTEL_OPENVINO}: {lines[-1] if lines else ''}"
        )
    return folder


def _intel_libs(cache_dir: Path) -> Path | None:
    libs = intel_openvino(cache_dir) / "openvino" / "libs"
    return libs if all((libs / name).is_file() for name in _INTEL_LIBS) else None


def sdk_problem(vendor: str, cache_dir: Path, graph_backend: str = "npu") -> str | None:
    """Why `vendor`'s plugin cannot compile here, or None when its SDK is in place (read from
    the files it needs: no vendor library is loaded)."""
    if vendor == "samsung":
        return "Samsung's plugin in ai-edge-litert 2.3.0 does not load (an undefined symbol)"
    if vendor == "intel_openvino":
        libs = _intel_libs(cache_dir)
        if libs is None:
            return (
                f"Intel's plugin links {INTEL_OPENVINO} (edgebench runs 2026.4.1): `edgebench "
                f"tools install {INTEL_TOOL}` puts it in a folder of its own"
            )
        if graph_backend == "npu" and not (libs / _SDK_FILES[vendor][0]).is_file():
            return (
                "Intel's NPU compiler is not installed (ai-edge-litert-sdk-intel downloads it "
                "from Intel while it installs); -o npu_graph_backend=cpu compiles for "
                "OpenVINO's CPU device instead, as a software NPU"
            )
        return None
    module = SDK_PACKAGES[vendor].replace("-", "_")
    spec = importlib.util.find_spec(module)
    folders = [Path(p) / "data" for p in (spec.submodule_search_locations or [])] if spec else []
    if vendor == "google_tensor" and os.environ.get("GOOGLE_TENSOR_COMPILER_LIB"):
        folders.append(Path(os.environ["GOOGLE_TENSOR_COMPILER_LIB"]))
    found = any(
        f.name in _SDK_FILES[vendor]
        for folder in folders
        if folder.is_dir()
        for f in folder.rglob("*.so*")
    )
    if found:
        return None
    state = "is not installed" if spec is None else "is installed with nothing inside"
    return (
        f"the {vendor} SDK {state}: `pip install {SDK_PACKAGES[vendor]}` downloads it from "
        f"{vendor.split('_')[0].title()}'s servers while it installs (it needs them)"
    )


def _python_path(vendor: str, cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    if vendor == "intel_openvino":  # its OpenVINO, ahead of edgebench's own
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(intel_openvino(cache_dir)), env.get("PYTHONPATH")])
        )
    return env


def compile_for_npu(
    source: Path | None,
    out_dir: Path,
    model: ModelSpec,
    weights: ResolvedWeights,
    batch: int | None,
    options: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The conversion step after LiteRT's compile step for an NPU cell: `aot_compile` for the
    SoC `npu_target` names, in a process whose Python finds the OpenVINO Intel's plugin links;
    only a compiled file that holds the vendor's dispatch ops is kept."""
    from edgebench.cache import default_cache_dir

    assert source is not None, "an NPU compile starts from the compiled .tflite"
    target = str(options.get("npu_target") or "")
    if not target:
        raise UsageError(
            "an NPU cell needs its SoC: -o npu_target=... (`edgebench list accelerators`)"
        )
    vendor = vendor_of(target)
    backend = str(options.get("npu_graph_backend", "npu"))
    cache_dir = default_cache_dir()
    problem = sdk_problem(vendor, cache_dir, backend)
    if problem:
        raise BackendUnavailable(problem)
    work = out_dir / "aot"
    work.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "edgebench.compilers.tflite.npu",
        str(source),
        str(work),
        target,
        backend,
    ]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=_python_path(vendor, cache_dir))
    seconds = time.perf_counter() - started
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith(RESULT)), None)
    if line is None:
        tail = [ln for ln in done.stderr.splitlines() if ln.strip()][-1:] or ["no output"]
        raise ConversionError(
            f"aot_compile for {target} exited with code {done.returncode}: {tail[0][:300]}"
        )
    result = json.loads(line[len(RESULT) :])
    if result.get("failed"):
        raise ConversionError(f"{target}: {result['failed']}")
    compiled = Path(result["path"])
    n_dispatch, n_other = dispatch_ops(compiled)  # a 0-byte file raises here
    if not n_dispatch or not result.get("ops_offloaded"):
        raise ConversionError(
            f"{target}: the compiled model holds no NPU op ({n_other} ops left to the CPU): "
            "nothing was offloaded"
        )
    shutil.move(str(compiled), out_dir / "model.tflite")
    shutil.rmtree(work, ignore_errors=True)
    info = {
        "npu": {
            "target": target,
            "vendor": vendor,
            "graph_backend": backend if vendor == "intel_openvino" else None,
            "software": vendor == "intel_openvino" and backend == "cpu",
            "ops_offloaded": result["ops_offloaded"],
            "ops_total": result["ops_total"],
            "partitions": result["partitions"],
            "dispatch_ops": n_dispatch,
            "cpu_ops": n_other,
            "compile_s": round(seconds, 3),
            "size_bytes": (out_dir / "model.tflite").stat().st_size,
        }
    }
    return "model.tflite", info


def dispatch_ops(path: Path) -> tuple[int, int]:
    """(ops that run on the NPU's dispatch, other ops) of a .tflite; ConversionError for a
    file that is empty or not a flatbuffer model (a failed plugin leaves 0 bytes)."""
    from ai_edge_litert import schema_py_generated as schema

    data = path.read_bytes()
    if not data:
        raise ConversionError(
            f"{path.name}: the compiled model is empty (0 bytes): the plugin failed"
        )
    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as exc:  # noqa: BLE001 - a flatbuffer that does not parse, any error
        raise ConversionError(f"{path.name}: not a .tflite model ({type(exc).__name__})") from None
    dispatch = other = 0
    for subgraph in model.subgraphs or []:
        for op in subgraph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            if (code.customCode or b"") == b"DISPATCH_OP":
                dispatch += 1
            else:
                other += 1
    return dispatch, other


def npu_options(cpu: Any, options: dict[str, Any], info: dict[str, Any]) -> Any:
    """LiteRT's options to load an NPU-compiled model (the dispatch, and the CPU for what it
    leaves); for Intel, its OpenVINO's libraries are loaded first, from the cache."""
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import Options

    from edgebench.cache import default_cache_dir

    target = str(options.get("npu_target") or "")
    vendor = vendor_of(target) if target else ""
    info.update({"target": target, "vendor": vendor})
    extra: dict[str, Any] = {}
    if vendor == "intel_openvino":
        libs = _intel_libs(default_cache_dir())
        if libs is None:
            raise BackendUnavailable(sdk_problem(vendor, default_cache_dir(), "cpu") or "")
        for name in _INTEL_LIBS:
            ctypes.CDLL(str(libs / name), mode=ctypes.RTLD_GLOBAL)
        from ai_edge_litert.intel_openvino_options import IntelOpenVinoOptions

        if str(options.get("npu_graph_backend", "npu")) == "cpu":
            extra["intel_openvino_options"] = IntelOpenVinoOptions(
                graph_backend=IntelOpenVinoOptions.GRAPH_BACKEND.CPU
            )
    accelerators = HardwareAccelerator.NPU | HardwareAccelerator.CPU
    return Options(hardware_accelerators=accelerators, cpu_options=cpu, **extra)


def _main(argv: list[str]) -> int:
    """In its own process (its OpenVINO first on the path): compiles SOURCE for TARGET into
    OUT and prints what came out as one JSON line."""
    source, out, target, backend = argv
    import importlib

    from ai_edge_litert.aot import aot_compile as aot

    vendor = vendor_of(target)
    module = importlib.import_module(f"ai_edge_litert.aot.vendors.{vendor}.target")
    kwargs = {"intel_openvino_graph_backends": backend} if vendor == "intel_openvino" else {}
    result = aot.aot_compile(
        source, output_dir=out, target=module.Target(module.SocModel(target)), keep_going=True,
        **kwargs,
    )  # fmt: skip
    report: dict[str, Any] = {}
    failed = []
    for backend_id, error in result.failed_backends:
        log = re.search(r"See (\S+\.error)", str(error))
        lines = Path(log.group(1)).read_text(errors="replace").splitlines() if log else []
        why = [
            ln.strip()
            for ln in lines
            if re.search(r"cannot open|Cannot load|Exception|undefined symbol|Failed", ln)
        ]
        failed.append(
            f"{getattr(backend_id, 'target_id', backend_id)}: {(why or [str(error)])[-1][:300]}"
        )
    if failed:
        report["failed"] = "; ".join(failed)
    else:
        ((_, compiled),) = result.models_with_backend
        stats = compiled.partition_stats.subgraph_stats if compiled.partition_stats else []
        report.update({
            "path": str(compiled.path),
            "ops_offloaded": sum(s.num_ops_offloaded for s in stats),
            "ops_total": sum(s.num_total_ops for s in stats),
            "partitions": sum(s.num_partitions_offloaded for s in stats),
        })  # fmt: skip
    print(RESULT + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
