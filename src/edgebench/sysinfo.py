"""What machine a result came from: CPU, memory, OS, Python, library versions, GPUs.

Reads /proc and package metadata only; imports no framework.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import edgebench


def pid_alive(pid: int) -> bool:
    """Whether a process of this host still runs (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Distributions whose versions shape results; missing ones are left out.
TRACKED_PACKAGES = (
    "numpy",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "ai-edge-litert",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "openvino",
    "nncf",
    "apache-tvm",
    "apache-tvm-ffi",
    "torch",
    "executorch",
    "tensorrt",
    "nvidia-ml-py",
)

# CPU flags that decide which kernels an inference runtime can pick.
INTERESTING_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "asimddp",
    "fphp",
    "sve",
    "i8mm",
    "bf16",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in info:
            info[key.strip()] = value.strip()
    return info


def cpu_info() -> dict[str, Any]:
    raw = _cpuinfo()
    flags = set((raw.get("flags") or raw.get("Features") or "").split())
    physical = None
    try:
        cores = {
            (p.parent.parent.name, (p.parent / "core_id").read_text().strip())
            for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology/physical_package_id")
        }
        physical = len(cores) or None
    except OSError:
        pass
    return {
        "model": raw.get("model name") or raw.get("Model") or platform.processor() or "unknown",
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "physical_cores": physical,
        "flags": [f for f in INTERESTING_FLAGS if f in flags],
    }


def memory_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs from `nvidia-smi` when it exists; an empty list otherwise."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            found.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    cuda = _driver_cuda_version()
    for gpu in found:
        gpu["cuda"] = cuda or "unknown"
    return found


def _driver_cuda_version() -> str | None:
    """The CUDA version the driver supports, from nvidia-smi's banner ("CUDA Version: 12.4")."""
    try:
        banner = subprocess.run(
            ["nvidia-smi"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"CUDA Version:\s*([0-9.]+)", banner)
    return match.group(1) if match else None


def git_commit() -> str | None:
    """The commit of the edgebench checkout in use, when it runs from one."""
    src = Path(edgebench.__file__).resolve().parent
    if shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@lru_cache(maxsize=1)
def system_info() -> dict[str, Any]:
    """Everything that identifies the host of a run; stored once per run."""
    return {
        "hostname": platform.node(),
        "cpu": cpu_info(),
        "memory_mb": memory_total_mb(),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gpus": gpus(),
        "edgebench": edgebench.__version__,
    }
