"""Targets measured for real: a loopback sshd with a throwaway key, and faults on the way
(an unreachable device, a dropped connection, a device without the runtime, a full disk)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_env, run_cli
from edgebench.store import ResultStore

PYTHON = sys.executable  # the loopback device runs the agent with this project's Python


def _env(tmp_path: Path, cache: Path, **extra: str) -> dict[str, str]:
    return cli_env(cache, EDGEBENCH_CONFIG=str(tmp_path / "config"), **extra)


def _add(tmp_path: Path, cache: Path, name: str, sshd: Any, *extra: str) -> None:
    r = run_cli(
        "target", "add", name, sshd.url, "--key", str(sshd.key_path), "--workdir",
        str(tmp_path / f"device-{name}"), *extra, cwd=tmp_path, env=_env(tmp_path, cache),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def _run(
    tmp_path: Path, cache: Path, *args: str, timeout: float = 900, exit_code: int = 0
) -> list[dict[str, Any]]:
    """`edgebench run` on the tiny MobileNet; exit_code 3 where no cell can be measured."""
    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--weights", "random", "--min-duration", "0.2",
        "--json", "--db", "r.db", *args, cwd=tmp_path, env=_env(tmp_path, cache), timeout=timeout,
    )  # fmt: skip
    assert r.returncode == exit_code, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    cells: list[dict[str, Any]] = json.loads(r.stdout)
    return cells


def test_a_boards_cpu_is_named_from_its_part_number() -> None:
    """A Raspberry Pi 5's kernel names no CPU model, only Arm's part number (0xd0b)."""
    from edgebench.targets.device import _cpu_model

    pi5 = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n"
    assert _cpu_model(pi5) == "Cortex-A76 (part 0xd0b)"
    assert _cpu_model("model name\t: AMD EPYC\nCPU part\t: 0xd0b\n") == "AMD EPYC"
    assert _cpu_model("CPU implementer\t: 0x51\nCPU part\t: 0x802\n") == "0x802"  # not Arm's


def test_targets_are_added_checked_and_listed(tmp_path: Path, loopback_sshd: Any) -> None:
    _add(tmp_path, tmp_path / "c", "loop", loopback_sshd, "--python", PYTHON)
    env = _env(tmp_path, tmp_path / "c")
    r = run_cli("target", "check", "loop", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    for needle in ("reachable   yes", "arch        x86_64", "numpy", "meters"):
        assert needle in r.stdout, r.stdout
    r = run_cli("target", "list", cwd=tmp_path, env=env)
    assert "loop" in r.stdout and loopback_sshd.url in r.stdout
    r = run_cli("target", "check", "lopo", cwd=tmp_path, env=env)
    assert r.returncode == 2 and "unknown target 'lopo' (did you mean 'loop'?)" in r.stderr


def test_a_password_in_a_target_url_is_refused_and_never_shown(tmp_path: Path) -> None:
    env = _env(tmp_path, tmp_path / "c")
    for args in (
        ("target", "add", "x", "ssh://me:s3cret@127.0.0.1:22"),
        ("run", "--model", "mobilenet_v2_035_96", "--compiler", "null", "--target",
         "ssh://me:s3cret@127.0.0.1:22"),
    ):  # fmt: skip
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2 and "must not hold a password" in r.stderr
        assert "s3cret" not in r.stderr + r.stdout


@pytest.mark.tflite
def test_cells_measured_over_ssh_agree_with_local_ones(
    tmp_path: Path, shared_cache: Path, loopback_sshd: Any
) -> None:
    _add(tmp_path, shared_cache, "loop", loopback_sshd, "--python", PYTHON)
    cells = _run(tmp_path, shared_cache, "--compiler", "null,tflite", "--target", "local,loop")
    by = {(c["compiler"], (c["target"] or {}).get("name", "local")): c for c in cells}
    assert set(by) == {("null", "local"), ("null", "loop"), ("tflite", "local"),
                       ("tflite", "loop")}  # fmt: skip
    remote = by["tflite", "loop"]
    assert remote["status"] == "ok" and remote["n_runs"] >= 20
    assert remote["fidelity"]["top1_agreement"] == 1.0  # outputs came back and were scored
    assert remote["artifact_path"] == by["tflite", "local"]["artifact_path"]  # built once
    target = remote["target"]
    assert target["kind"] == "ssh" and target["emulated"] is False
    assert target["address"].startswith("ssh://root@127.0.0.1:") and "key" not in target
    costs = target["costs"]
    assert costs["copied_bytes"] > 1_000_000 and costs["connect_s"] >= 0 and costs["agent_s"] > 0
    assert remote["system"]["cpu"]["usable_cores"] >= 1 and remote["versions"]["ai_edge_litert"]
    # A second run copies nothing: the device holds the artifact under its content's name.
    again = _run(tmp_path, shared_cache, "--compiler", "tflite", "--target", "loop")
    assert again[0]["target"]["costs"]["copied_bytes"] == 0


def test_an_unreachable_target_fails_its_cells_and_resume_measures_them_again(
    tmp_path: Path, loopback_sshd: Any
) -> None:
    from support.sshd import free_port

    cache = tmp_path / "c"
    env = _env(tmp_path, cache)
    dead = f"ssh://root@127.0.0.1:{free_port()}"  # nothing listens there
    r = run_cli("target", "add", "board", dead, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [null]\n"
        "    weights: random\n    targets: [local, board]\n    stop_rule: {min_duration_s: 0}\n"
    )
    r = run_cli("suite", "run", str(suite), "--db", "r.db", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    by = {(c["target"] or {}).get("name", "local"): c for c in json.loads(r.stdout)}
    assert by["local"]["status"] == "ok"
    assert by["board"]["status"] == "failed" and "unreachable" in by["board"]["error"]
    with ResultStore(tmp_path / "r.db", read_only=True) as store:
        run_id = store.latest_run_id()
    assert run_id
    # The board comes back (here: the name now points at a live device); resume measures only
    # its cell.
    _add(tmp_path, cache, "board", loopback_sshd, "--python", PYTHON)
    r = run_cli("suite", "run", str(suite), "--db", "r.db", "--resume", run_id, "--json",
                cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    (again,) = json.loads(r.stdout)
    assert again["target"]["name"] == "board" and again["status"] == "ok"


def test_a_device_without_the_runtime_says_what_to_install(
    tmp_path: Path, loopback_sshd: Any
) -> None:
    bare = shutil.which("python3", path="/usr/bin")
    if bare is None or subprocess.run([bare, "-c", "import numpy"]).returncode == 0:
        pytest.skip("needs a system python3 without numpy")
    _add(tmp_path, tmp_path / "c", "bare", loopback_sshd, "--python", bare)
    cells = _run(tmp_path, tmp_path / "c", "--compiler", "null", "--target", "bare", exit_code=3)
    assert cells[0]["status"] == "failed"
    assert (
        "target bare has no numpy (edgebench target setup bare --runtime null)"
        in (cells[0]["error"])
    )


def test_a_dropped_connection_fails_the_cell_and_leaves_no_agent(tmp_path: Path) -> None:
    from support.sshd import LoopbackSshd

    with LoopbackSshd() as sshd:
        _add(tmp_path, tmp_path / "c", "flaky", sshd, "--python", PYTHON)
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgebench", "run", "--model", "mobilenet_v2_035_96",
             "--compiler", "null", "--weights", "random", "--min-duration", "60", "--target",
             "flaky,local", "--json", "--db", "r.db", "--no-fidelity"],
            cwd=tmp_path, env=_env(tmp_path, tmp_path / "c", COLUMNS="200"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not _agents(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _agents(tmp_path), "the agent never started"
        sshd.stop()  # the device goes away mid-cell
        os.kill(proc.pid, 0)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    by = {(c["target"] or {}).get("name", "local"): c for c in json.loads(out)}
    assert by["flaky"]["status"] == "failed" and "flaky" in by["flaky"]["error"]
    assert by["local"]["status"] == "ok"  # the run went on
    time.sleep(1)
    assert not _agents(tmp_path)  # the agent stopped when its connection closed


def _agents(tmp_path: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"edgebench.harness.worker" in cmd and str(tmp_path / "device-").encode() in cmd:
            found.append(int(proc.name))
    return found


@pytest.mark.tflite
def test_a_full_disk_on_the_device_fails_the_cell_with_the_figures(
    tmp_path: Path, shared_cache: Path, loopback_sshd: Any
) -> None:
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs for the device's disk needs root")
    disk = tmp_path / "device-small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        _add(tmp_path, shared_cache, "small", loopback_sshd, "--python", PYTHON)
        cells = _run(
            tmp_path, shared_cache, "--compiler", "tflite", "--target", "small", exit_code=3
        )
        assert cells[0]["status"] == "failed"
        assert "its disk is full" in cells[0]["error"] and "MB free" in cells[0]["error"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_an_adb_target_without_a_device_fails_its_cells(tmp_path: Path) -> None:
    env = _env(tmp_path, tmp_path / "c")
    r = run_cli("target", "add", "phone", "adb://emulator-5554", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    cells = _run(tmp_path, tmp_path / "c", "--compiler", "null", "--target", "phone,local")
    by = {(c["target"] or {}).get("name", "local"): c for c in cells}
    assert by["phone"]["status"] == "failed"
    assert "adb" in by["phone"]["error"] and by["local"]["status"] == "ok"


def test_sigterm_during_a_remote_cell_keeps_what_was_measured(
    tmp_path: Path, loopback_sshd: Any
) -> None:
    _add(tmp_path, tmp_path / "c", "loop", loopback_sshd, "--python", PYTHON)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgebench", "run", "--model", "mobilenet_v2_035_96",
         "--compiler", "null", "--weights", "random", "--batch", "1,2", "--min-duration", "60",
         "--target", "loop", "--db", "r.db", "--no-fidelity"],
        cwd=tmp_path, env=_env(tmp_path, tmp_path / "c"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _agents(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    time.sleep(1)
    assert not _agents(tmp_path)
