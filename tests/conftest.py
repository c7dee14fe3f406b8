"""Shared fixtures. Tests that need a framework are marked with it and skip when it is absent."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
# Two pytest workers keep each other's cells busy: a busy cell measured again once the host
# is quiet (harness/busy_host.py) would wait in every test that runs one. Its own tests set it.
os.environ.setdefault("EDGEBENCH_BUSY_RETRIES", "0")
PLUGINS = TESTS / "plugins"


def have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


# Seconds each file kept one pytest worker busy (`pytest --durations 0`, 2026-12-05, a quick
# day). `make test` hands whole files to its two workers in collection order
# (--no-loadscope-reorder): heaviest first, so the run does not end with one worker alone on
# a long file (the emulated ARM board's one test, say) while the other has finished.
FILE_SECONDS = {
    "test_onnx_family.py": 198,
    "test_torch_family.py": 165,
    "test_explain.py": 164,
    "test_study_models.py": 155,
    "test_tune.py": 128,
    "test_hardening_second_round.py": 115,
    "test_accelerators.py": 100,
    "test_optimizations.py": 91,
    "test_tflite.py": 90,
    "test_explain_tvm_torch.py": 90,
    "test_accuracy_e2e.py": 84,
    "test_arm64_board.py": 77,
    "test_inputs_as_declared.py": 60,
    "test_model_file_security.py": 45,
    "test_targets.py": 42,
    "test_fleet.py": 39,
    "test_hardening.py": 32,
    "test_busy_host.py": 60,
    "test_paired_timing.py": 30,
    "test_harness.py": 20,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: -FILE_SECONDS.get(item.path.name, 0))  # stable: files stay whole
    needs = {
        "tflite": ("tensorflow", "ai_edge_litert"),
        "tensorflow": ("tensorflow",),
        "loadgen": ("mlperf_loadgen",),
        "onnxruntime": ("onnxruntime", "onnx"),
        "openvino": ("openvino", "nncf"),
        "tvm": ("tvm", "onnx"),
        "torch": ("torch",),
        "executorch": ("torch", "executorch"),
    }
    extras = {
        "loadgen": "loadgen",
        "onnxruntime": "onnx",
        "openvino": "openvino",
        "tvm": "tvm",
        "torch": "torch",
        "executorch": "executorch",
    }
    for item in items:
        for marker, modules in needs.items():
            if item.get_closest_marker(marker) and not have(*modules):
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"{', '.join(modules)} not installed "
                        f"(edgebench[{extras.get(marker, 'tflite')}])"
                    )
                )


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact cache for the session, so tests reuse each other's conversions; with
    pytest-xdist (`make test` runs two workers), one for all workers, in the folder their own
    temporary folders share (the cache is safe for concurrent builders)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    cache = base / "shared-cache"
    cache.mkdir(exist_ok=True)
    return cache


def cli_env(cache: Path | None = None, plugins: bool = False, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    if cache is not None:
        env["EDGEBENCH_CACHE"] = str(cache)
    if plugins:
        env["EDGEBENCH_PLUGINS"] = "edgebench_test_compilers"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Runs `edgebench ARGS` the way a user would, in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "edgebench", *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's headless Chromium, installed with apt-get when missing and we are root."""
    if not CHROMIUM.exists() and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
            try:
                subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=False)
            except (OSError, subprocess.TimeoutExpired):
                break
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed and could not be (apt-get install chromium as root)")
    return CHROMIUM


@pytest.fixture(scope="session")
def loopback_sshd() -> Iterator[Any]:
    """A real sshd (Debian's openssh-server) on 127.0.0.1 with a throwaway key, for SSH
    targets; installed with apt-get when missing and we are root."""
    from support.sshd import LoopbackSshd, ensure_openssh

    try:
        ensure_openssh()
        server = LoopbackSshd().start()
    except RuntimeError as exc:
        pytest.skip(f"no sshd on loopback here: {str(exc).splitlines()[0]}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sshd_without_sftp() -> Iterator[Any]:
    """The same loopback sshd with no SFTP subsystem, as Dropbear and BusyBox boards."""
    from support.sshd import LoopbackSshd, ensure_openssh

    try:
        ensure_openssh()
        server = LoopbackSshd(sftp=False).start()
    except RuntimeError as exc:
        pytest.skip(f"no sshd on loopback here: {str(exc).splitlines()[0]}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def arm64_board() -> Iterator[Any]:
    """An emulated arm64 Debian board (qemu-user, binfmt_misc) with its own sshd on 127.0.0.1.
    The root file system is built once (about 40 s) and cached in ~/.cache/edgebench-test."""
    from support.arm64_board import Arm64Board, build_rootfs

    try:
        board = Arm64Board(build_rootfs()).start()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"no emulated arm64 board here: {str(exc).splitlines()[0]}")
    yield board
    board.stop()
