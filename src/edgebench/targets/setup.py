"""`edgebench target setup NAME --runtime tflite,onnxruntime`: the agent's Python on a device.

Boards are often offline, and often too small or too slow to resolve packages: the host
downloads the wheels built for the device (its architecture, glibc and Python, read from the
device), copies them over, and the device installs them into a venv of its own with pip, from
those files only. The device needs Python 3 with its `venv` module; nothing else is installed
system-wide, and never TensorFlow or torch unless a torch-family runtime is asked for.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import UsageError
from edgebench.targets.base import RemoteTarget, TargetError

NUMPY = "numpy>=1.26,<2.5"


@dataclass(frozen=True)
class SetupReport:
    python: str  # the venv's python on the device
    packages: list[str]
    wheels_mb: float  # what was copied
    installed_mb: float  # the venv on the device
    runtimes: dict[str, str]
    seconds: float


def platform_tags(arch: str, libc: str | None) -> list[str]:
    """pip `--platform` tags a device with this architecture and glibc can install: pip does
    not widen an explicit --platform to older manylinux tags, so every one is listed."""
    match = re.search(r"(\d+)\.(\d+)", libc or "")
    minor = int(match.group(2)) if match and match.group(1) == "2" else 17
    tags = [f"manylinux_2_{m}_{arch}" for m in range(17, minor + 1)]
    return [*tags, f"manylinux2014_{arch}", f"linux_{arch}"]


def requirements(compilers: list[str]) -> list[str]:
    """numpy and the pinned runtime packages the chosen compilers measure with."""
    from edgebench.compilers import get_compiler

    wanted = [NUMPY]
    for name in compilers:
        compiler = get_compiler(name)
        if not compiler.device_packages and compiler.runtime_modules:
            raise UsageError(f"{name} cannot be set up on a device (it needs {compiler.extra})")
        wanted += [p for p in compiler.device_packages if p not in wanted]
    return wanted


def download_wheels(
    packages: list[str], arch: str, libc: str | None, python: str, dest: Path
) -> list[Path]:
    """The wheels of `packages` and their dependencies for the device, into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    version = ".".join(python.split(".")[:2])
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--quiet",
           "--python-version", version, "--implementation", "cp", "-d", str(dest)]  # fmt: skip
    for tag in platform_tags(arch, libc):
        cmd += ["--platform", tag]
    done = subprocess.run([*cmd, *packages], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if "ERROR" in ln] or [done.stderr.strip()]
        raise TargetError(f"pip could not download {' '.join(packages)} for {arch}: {lines[-1]}")
    return sorted(dest.glob("*.whl"))


def setup_target(
    target: RemoteTarget,
    compilers: list[str],
    cache_dir: Path,
    on_progress: Callable[[str], None] = lambda s: None,
) -> SetupReport:
    """Makes the device's venv, installs numpy and the runtimes offline, and checks them."""
    started = time.perf_counter()
    info = target.info()
    device = info.device
    packages = requirements(compilers)
    arch, libc, python = device["arch"], device.get("libc"), device["python"]
    on_progress(f"downloading wheels for {arch} Python {python}")
    folder = cache_dir / "device-wheels" / f"{arch}-{libc}-py{python.rsplit('.', 1)[0]}"
    wheels = download_wheels(packages, arch, libc, python, folder)
    venv = f"{target.workdir}/venv"
    on_progress(f"making {venv} on {target.name}")
    base_python = device.get("python_path") or "python3"
    _run(target, f"test -x {venv}/bin/python || {shlex.quote(base_python)} -m venv {venv}", 600)
    on_progress(f"copying {len(wheels)} wheels to {target.name}")
    remote = f"{target.workdir}/wheels"
    _run(target, f"mkdir -p {remote}", 60)
    have = set(_run(target, f"ls {remote}", 60).split())
    for wheel in wheels:
        if wheel.name not in have:
            target.put(wheel, f"{remote}/{wheel.name}")
    on_progress(f"installing {', '.join(packages)} on {target.name}")
    quoted = " ".join(shlex.quote(p) for p in packages)
    # --no-compile: pip would byte-compile every module of every package (15 of 51 s of the
    # emulated ARM board's setup); the agent's first import compiles the few it uses.
    _run(
        target,
        f"{venv}/bin/pip install --no-index --no-compile --find-links {remote} -q {quoted}",
        3600,
    )
    target.use_python(f"{venv}/bin/python")
    after = target.info()
    size_kb = _run(target, f"du -sk {venv} | cut -f1", 120).strip() or "0"
    return SetupReport(
        python=f"{venv}/bin/python",
        packages=packages,
        wheels_mb=round(sum(w.stat().st_size for w in wheels) / 2**20, 1),
        installed_mb=round(int(size_kb) / 1024, 1),
        runtimes=after.device.get("runtimes", {}),
        seconds=round(time.perf_counter() - started, 1),
    )


def _run(target: RemoteTarget, command: str, timeout_s: float) -> str:
    rc, out, err = target.run(command, timeout_s)
    if rc != 0:
        lines = [ln for ln in (err or out).strip().splitlines() if ln.strip()]
        hint = " (install python3-venv there)" if "venv" in command and "venv" in err else ""
        raise TargetError(
            f"on {target.name}: `{command}` failed: {lines[-1] if lines else rc}{hint}"
        )
    return out


__all__ = ["SetupReport", "download_wheels", "platform_tags", "requirements", "setup_target"]
