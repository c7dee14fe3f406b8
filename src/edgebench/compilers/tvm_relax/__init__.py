"""`tvm`: Apache TVM (Relax): the ONNX frontend, an `llvm` target for this CPU and core count.

Builds are untuned by default, which leaves TVM's operators unscheduled and single-threaded:
honest figures for "TVM without tuning", far from what tuned TVM reaches. `tvm_tune_trials=N`
runs MetaSchedule tuning with a budget of N trials. Its database lives in the artifact cache
(`state/tvm/`, one per target), so a later build of the same operators starts from the best
schedules found so far and applies the best of every run. Tuning needs xgboost, and
apache-tvm-ffi 0.1.14 (0.1.15 crashes while tuning).

Exporters write shape arithmetic into graphs (PaddlePaddle: Shape, Cast, Slice, Concat into a
Reshape) that TVM's ONNX importer refuses ("Reshape requires the input new shape to be Shape").
A graph the importer refuses is imported again after onnxslim has fixed its input shapes and
folded such constants; the artifact's info says so (`onnx_cleanup`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers.base import (
    Ablation,
    CompileOutput,
    Compiler,
    CompileRequest,
    ExplainRequest,
    Findings,
    Runtime,
)
from edgebench.compilers.options import WEIGHT_OPTIONS, Option
from edgebench.compilers.registry import register
from edgebench.conversion.onnx_cleanup import cleanup_note, slimmed, static_shapes
from edgebench.errors import BackendUnavailable, ConversionError, UsageError
from edgebench.models import ModelSpec

# Vector extensions a virtual machine may hide although its CPU model has them, as the kernel
# names them in /proc/cpuinfo and as LLVM does. Turning off the base of a family (avx512f)
# turns off every extension that needs it.
_MASKABLE = (("avx", "avx"), ("avx2", "avx2"), ("fma", "fma"), ("avx512f", "avx512f"))


def masked_features(cpu_flags: set[str]) -> list[str]:
    """LLVM `mattr` entries that switch off what the CPU model implies but this host lacks
    (LLVM names the CPU by its family: a VM that masks AVX-512 on a Zen 4 still reads as
    znver4, and code built for it dies with SIGILL)."""
    return [f"-{llvm}" for linux, llvm in _MASKABLE if linux not in cpu_flags]


def llvm_target() -> Any:
    """An llvm target for this CPU, the features it really has, and the cores this process may
    use. TVM 0.27 rejects string targets with -mcpu: the dict form is the one that works."""
    import tvm

    from edgebench.sysinfo import cpu_info

    target: dict[str, Any] = {
        "kind": "llvm",
        "mcpu": tvm.target.codegen.llvm_get_system_cpu(),
        "num-cores": len(os.sched_getaffinity(0)),
    }
    flags = set(cpu_info()["flags"])
    if flags:  # x86 hosts list their flags; elsewhere trust the CPU name
        masked = masked_features(flags)
        if masked:
            target["mattr"] = masked
    return tvm.target.Target(target)


# A remote device's architecture -> the triple and cross compiler its shared library needs.
CROSS = {"aarch64": ("aarch64-linux-gnu", "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")}


def device_target(device: dict[str, Any]) -> tuple[Any, str | None]:
    """An llvm target for a remote device, and the cross compiler that links for it (None
    where the device is this host's architecture)."""
    import platform

    import tvm

    arch = str(device.get("arch"))
    cores = int(device.get("cpu", {}).get("usable_cores") or 1)
    if arch == platform.machine():
        return tvm.target.Target({"kind": "llvm", "num-cores": cores}), None
    if arch not in CROSS:
        raise BackendUnavailable(f"TVM: edgebench cannot cross-compile for {arch} devices")
    triple, compiler, package = CROSS[arch]
    if shutil.which(compiler) is None:
        raise BackendUnavailable(
            f"TVM needs {compiler} to link for {arch} devices (apt-get install {package})"
        )
    target = {"kind": "llvm", "mtriple": triple, "mattr": ["+neon"], "num-cores": cores}
    return tvm.target.Target(target), compiler


def unlowered_operator(message: str) -> str:
    """The operator a failed TVM build names ('CodeGenVM cannot emit this Relax operator
    directly' ends with the call, R.subtract(...)), or the message's telling line."""
    found = re.search(r"\bR\.[A-Za-z_][\w.]*", message)
    if found:
        return f"the operator {found.group(0)} ({_last_line(message)[:160]})"
    return _last_line(message)[:240] or "the model"


def _last_line(message: str) -> str:
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    telling = [ln for ln in lines if "cannot" in ln.lower() or "error" in ln.lower()]
    return (telling or lines or [""])[-1]


def relax_module(
    source: Path,
    model: ModelSpec,
    batch: int,
    info: dict[str, Any] | None = None,
    refused_by: str = "",
) -> Any:
    """The Relax module of an ONNX file, with every input's shape made static for `batch`
    (the explainer rebuilds the module the same way); a graph the importer refuses is
    cleaned up by onnxslim and imported again, which `info` records. `refused_by`: the build
    already failed on the graph as exported (say why): go straight to onnxslim's."""
    import onnx
    from tvm.relax.frontend.onnx import from_onnx

    onnx_model = onnx.load(str(source))
    shapes = static_shapes(onnx_model, model, batch, "TVM")
    refused = [f"TVM's build refused the graph as exported ({refused_by[:160]})"]
    try:
        if not refused_by:
            return from_onnx(onnx_model, shape_dict=shapes, keep_params_in_input=False)
    except Exception as exc:  # noqa: BLE001 - TVM's importer raises its own error types
        if importlib.util.find_spec("onnxslim") is None:
            raise
        line = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][-1:] or [""]
        refused = [f"after TVM's importer refused the graph as exported ({line[0][:160]})"]
    clean = slimmed(onnx_model, shapes)
    module = from_onnx(clean, shape_dict=shapes, keep_params_in_input=False)
    if info is not None:
        info["onnx_cleanup"] = cleanup_note(onnx_model, clean, refused[0])
    return module


class VMRuntime(Runtime):
    def __init__(self, folder: Path, threads: int) -> None:
        os.environ["TVM_NUM_THREADS"] = str(threads)  # read when TVM's thread pool starts
        import tvm
        from tvm import relax

        self._tvm = tvm
        self._dev = tvm.cpu()
        self.executable = tvm.runtime.load_module(str(folder / "model.so"))
        self.vm = relax.VirtualMachine(self.executable, self._dev)
        self._main = self.vm["main"]

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        args = [self._tvm.runtime.tensor(x, self._dev) for x in inputs]
        out = self._main(*args)
        # .numpy() copies to the host after the kernels are done, so the clock sees the work.
        if hasattr(out, "numpy"):
            return [out.numpy()]
        return [o.numpy() for o in out]


@register
class TVMCompiler(Compiler):
    name = "tvm"
    description = "Apache TVM Relax (llvm for this CPU; untuned unless tvm_tune_trials=N)"
    extra = "tvm"
    precisions = ("fp32",)
    input_formats = ("onnx",)
    requires = ("tvm", "onnx")
    runtime_modules = ("tvm",)
    device_packages = ("apache-tvm==0.27.0.post1", "apache-tvm-ffi==0.1.14.post0")
    packages = ("apache-tvm", "apache-tvm-ffi", "onnx", "onnxslim")
    declared_options = (
        Option(
            "tvm_tune_trials",
            0,
            "MetaSchedule tuning trials (0: untuned; the database is kept in the cache)",
            stage="conversion",
            minimum=0,
            search=(0,),
        ),
        *WEIGHT_OPTIONS,
    )
    needs_static_batch = True
    compiles_per_batch = True  # Relax builds for static shapes: one artifact per batch size
    builds_for_host = True  # machine code for this CPU's features

    def usage(self, artifact: str, precision: str, threads: int, options: dict[str, Any]) -> str:
        return (
            "import os\n"
            f"os.environ['TVM_NUM_THREADS'] = '{threads}'\n"
            "import tvm\n"
            "from tvm import relax\n"
            f"lib = tvm.runtime.load_module({str(Path(artifact) / 'model.so')!r})\n"
            "vm = relax.VirtualMachine(lib, tvm.cpu())\n"
            "y = vm['main'](tvm.runtime.tensor(x, tvm.cpu())).numpy()"
        )

    def ablations(self, precision: str, options: dict[str, Any]) -> list[Ablation]:
        """A tuned build against the untuned one (default schedules, no fusion)."""
        try:
            trials = int(options.get("tvm_tune_trials", 0))
        except (TypeError, ValueError):
            return []
        return [Ablation("tuning off (untuned build)", {"tvm_tune_trials": 0})] if trials else []

    def compile(self, request: CompileRequest) -> CompileOutput:
        import tvm
        from tvm import relax

        try:
            trials = int(request.options.get("tvm_tune_trials", 0))
        except (TypeError, ValueError):
            trials = -1
        if trials < 0:
            raise UsageError("tvm_tune_trials must be a whole number: 0 (untuned) or more")
        if trials and importlib.util.find_spec("xgboost") is None:
            raise BackendUnavailable("TVM tuning needs xgboost (pip install 'edgebench[tvm]')")
        batch = request.batch_size or 1
        info: dict[str, Any] = {}
        mod = relax_module(request.source, request.model, batch, info)
        cross = None
        target = llvm_target()
        if request.device is not None:  # a remote device: its triple, linked by its gcc
            if trials > 0:
                raise UsageError(
                    "tvm_tune_trials: MetaSchedule times its candidates where it runs, so a "
                    "remote device's build is untuned (tune on the device itself)"
                )
            target, cross = device_target(request.device)
        info.update({"target": str(target), "tune_trials": trials, "batch": batch})
        if trials > 0:
            state = request.state_dir or request.out_dir
            work_dir = state / re.sub(r"[^\w.-]+", "_", f"tuning-{target.attrs['mcpu']}-"
                                      f"{target.attrs['num-cores']}cores")  # fmt: skip
            work_dir.mkdir(parents=True, exist_ok=True)
            mod = relax.pipeline.static_shape_tuning_pipeline(
                total_trials=trials, target=target, work_dir=str(work_dir)
            )(mod)
            info["tuning_database"] = str(work_dir)
        try:
            executable = tvm.compile(mod, target=target)
        except Exception as exc:  # noqa: BLE001 - TVM raises its own error types
            operator = unlowered_operator(str(exc))
            if "onnx_cleanup" in info or trials or importlib.util.find_spec("onnxslim") is None:
                raise ConversionError(f"TVM could not build {operator}") from exc
            # onnxslim folds the constant arithmetic (an anchor grid's R.subtract) that
            # CodeGenVM cannot emit: the YOLO graph built after it.
            mod = relax_module(request.source, request.model, batch, info, refused_by=operator)
            try:
                executable = tvm.compile(mod, target=target)
            except Exception as again:  # noqa: BLE001
                raise ConversionError(
                    f"TVM could not build {unlowered_operator(str(again))}, even after onnxslim"
                ) from again
        folder = request.out_dir / "tvm"
        folder.mkdir()
        if cross is not None:
            from tvm.support import cc

            info["cross_compiler"] = cross
            executable.export_library(str(folder / "model.so"), fcompile=cc.cross_compiler(cross))
        else:
            executable.export_library(str(folder / "model.so"))
        (folder / "edgebench.json").write_text(json.dumps(info))
        return CompileOutput(folder.name, [], info)

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        built = json.loads((artifact / "edgebench.json").read_text())["batch"]
        if built != batch_size:
            raise UsageError(f"TVM artifact was built for batch {built}, not {batch_size}")
        return VMRuntime(artifact, threads)

    def explain(self, request: ExplainRequest) -> Findings:
        from edgebench.compilers.tvm_relax.explain import explain

        return explain(request)
