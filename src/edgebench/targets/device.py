"""What a device says about itself: run where the measurement runs (the host, or a device's
agent), with only the standard library (and numpy's version, when numpy is there).

`device_info()` is what `edgebench target check` shows and what each cell measured there
records: CPU, cores, memory, OS, Python, the inference runtimes installed, the power meters
found, and whether the CPU is emulated (qemu-user runs aarch64 code on an x86 kernel: the
program sees aarch64, the kernel says otherwise).
"""

from __future__ import annotations

import importlib.util
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

# The runtimes a device can measure with: the module a compiler's `load` imports, and the
# distribution that carries it (for its version).
RUNTIMES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "ai_edge_litert": ("ai-edge-litert",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "openvino": ("openvino",),
    "tvm": ("apache-tvm", "tvm"),
    "executorch": ("executorch",),
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "tensorrt": ("tensorrt",),
}
_ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "armv8l": "aarch64"}


def _arch(name: str) -> str:
    name = name.strip().lower()
    return _ARCH_ALIASES.get(name, name)


def kernel_arch(root: Path = Path("/")) -> str | None:
    """The architecture the kernel runs, read where an emulator does not rewrite it."""
    try:
        text = (root / "proc/sys/kernel/arch").read_text().strip()
        if text:
            return _arch(text)
    except OSError:
        pass
    try:  # "cpu:type:x86,ven...": the kernel's own CPU type
        alias = (root / "sys/devices/system/cpu/modalias").read_text()
    except OSError:
        return None
    kind = alias.partition("cpu:type:")[2].split(",")[0].split(":")[0]
    return {"x86": "x86_64"}.get(kind, _arch(kind)) if kind else None


def emulated(root: Path = Path("/")) -> bool:
    """Whether this program's CPU is emulated (its architecture is not the kernel's)."""
    kernel = kernel_arch(root)
    return kernel is not None and kernel != _arch(platform.machine())


def installed_runtimes() -> dict[str, str]:
    """The runtimes importable here, with their versions."""
    found = {}
    for module, dists in RUNTIMES.items():
        if importlib.util.find_spec(module) is None:
            continue
        version = "?"
        for dist in dists:
            try:
                version = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
        found[module] = version
    return found


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# Arm Ltd. cores (CPU implementer 0x41) by their /proc/cpuinfo "CPU part", for boards whose
# kernel names no model (a Raspberry Pi 5 shows only "CPU part: 0xd0b").
ARM_PARTS = {
    "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
    "0xd42": "Cortex-A78AE", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710",
    "0xd48": "Cortex-X2", "0xd49": "Neoverse-N2", "0xd4b": "Cortex-A78C", "0xd4f": "Neoverse-V2",
    "0xd80": "Cortex-A520", "0xd81": "Cortex-A720",
}  # fmt: skip


def _cpu_model(text: str | None = None) -> str:
    """The CPU's name from /proc/cpuinfo (or `text`): its model name where the kernel gives
    one, else an Arm core's name from its part number."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return platform.processor() or "unknown"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware"):
        if fields.get(key):
            return fields[key]
    part = fields.get("CPU part", "").lower()
    if part:
        arm = fields.get("CPU implementer", "").lower() == "0x41"
        return f"{ARM_PARTS[part]} (part {part})" if arm and part in ARM_PARTS else part
    return platform.processor() or "unknown"


def _free_disk_mb(path: str) -> int | None:
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize // 2**20


def device_info(workdir: str | None = None) -> dict[str, Any]:
    """This device, as a target reports it."""
    from edgebench.telemetry import describe_meters

    return {
        "hostname": platform.node(),
        "arch": _arch(platform.machine()),
        "kernel_arch": kernel_arch(),
        "emulated": emulated(),
        "os": f"{platform.system()} {platform.release()}",
        "libc": "-".join(platform.libc_ver()).strip("-") or None,
        "python": platform.python_version(),
        "python_path": os.path.realpath(os.sys.executable),  # type: ignore[attr-defined]
        "cpu": {
            "model": _cpu_model(),
            "arch": _arch(platform.machine()),
            "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)),
        },
        "memory_mb": _memory_mb(),
        "free_disk_mb": _free_disk_mb(workdir or os.path.expanduser("~")),
        "runtimes": installed_runtimes(),
        "meters": [list(pair) for pair in describe_meters()],
    }


__all__ = ["RUNTIMES", "device_info", "emulated", "installed_runtimes", "kernel_arch"]
