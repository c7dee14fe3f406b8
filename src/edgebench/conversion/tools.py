"""Tools that cannot share edgebench's venv or the system's packages, each in a folder of its
own under the cache (`{cache}/tools/NAME`), made by `edgebench tools install NAME`.

- onnx2tf (ONNX -> TFLite, the route the LiteRT project points ONNX users to) pins TensorFlow
  2.19, onnxruntime 1.23 and numpy 1.26, which would downgrade edgebench's own: it runs as a
  separate program from its venv (about 2.6 GB), or wherever `EDGEBENCH_ONNX2TF` names it;
- vulkan-cpu: Mesa's lavapipe, a software Vulkan device for LiteRT's GPU accelerator, unpacked
  from Debian's packages (accelerators/vulkan.py);
- litert-intel-npu: the OpenVINO 2026.3.1 that LiteRT's Intel NPU plugin links
  (compilers/tflite/npu.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import BackendUnavailable, UnknownName


@dataclass(frozen=True)
class Tool:
    name: str
    requirement: str  # what it installs, for the message that offers it
    executable: str
    env: str  # a variable that names the executable instead
    size: str  # what installing it costs, for the message that offers it
    # `module:function(cache_dir) -> Path` that installs a tool that is no pip venv
    installer: str | None = None


TOOLS = {
    "onnx2tf": Tool("onnx2tf", "onnx2tf==1.29.24", "onnx2tf", "EDGEBENCH_ONNX2TF", "2.6 GB"),
    "vulkan-cpu": Tool(
        "vulkan-cpu",
        "Mesa's lavapipe and Vulkan's loader from Debian bookworm-backports (not installed on "
        "the system)",
        "",
        "",
        "12 MB",
        "edgebench.accelerators.vulkan:install",
    ),
    "litert-intel-npu": Tool(
        "litert-intel-npu",
        "openvino==2026.3.1 and ai-edge-litert-sdk-intel==2.3.0 (for LiteRT's Intel plugin)",
        "",
        "",
        "180 MB",
        "edgebench.compilers.tflite.npu:install_intel",
    ),
}


def tool(name: str) -> Tool:
    if name not in TOOLS:
        raise UnknownName("tool", name, TOOLS)
    return TOOLS[name]


def venv_of(name: str, cache_dir: Path) -> Path:
    return cache_dir / "tools" / name


def executable(name: str, cache_dir: Path) -> Path | None:
    """The tool's program, or None where it is not installed."""
    t = tool(name)
    given = os.environ.get(t.env)
    if given:
        return Path(given) if Path(given).is_file() else None
    path = venv_of(name, cache_dir) / "bin" / t.executable
    return path if path.is_file() else None


def require(name: str, cache_dir: Path) -> Path:
    found = executable(name, cache_dir)
    if found is None:
        t = tool(name)
        raise BackendUnavailable(
            f"{name} is not installed in a venv of its own: `edgebench tools install {name}` "
            f"({t.size}), or set {t.env}"
        )
    return found


def install(name: str, cache_dir: Path) -> Path:
    """Makes the tool's venv and installs it there with pip (or runs its own installer)."""
    t = tool(name)
    if t.installer is not None:
        import importlib

        module, _, function = t.installer.partition(":")
        path: Path = getattr(importlib.import_module(module), function)(cache_dir)
        return path
    venv = venv_of(name, cache_dir)
    if not (venv / "bin" / "python").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", t.requirement],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        last = lines[-1] if lines else ""
        raise BackendUnavailable(f"pip could not install {t.requirement}: {last}")
    return require(name, cache_dir)


__all__ = ["TOOLS", "executable", "install", "require", "tool", "venv_of"]
