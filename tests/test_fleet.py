"""A fleet on Dask distributed, on loopback only: a local cluster of worker processes, each
owning a device (this host, and a loopback SSH target); faults: kill -9 of a worker mid-suite,
and of the client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_env, have, run_cli
from edgebench.errors import StoreError
from edgebench.store import ResultStore

pytestmark = pytest.mark.skipif(not have("distributed"), reason="needs edgebench[fleet]")


def _suite(tmp_path: Path, compilers: str, seconds: float, batches: str = "[1]") -> Path:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        f"name: s\ngrids:\n  - models: [mobilenet_v2_035_96]\n    compilers: [{compilers}]\n"
        f"    weights: random\n    batch_sizes: {batches}\n"
        f"    stop_rule: {{min_duration_s: {seconds}, warmup_runs: 1}}\n"
    )
    return suite


def _env(tmp_path: Path, cache: Path) -> dict[str, str]:
    return cli_env(cache, EDGEBENCH_CONFIG=str(tmp_path / "config"))


def _loopback(tmp_path: Path, cache: Path, sshd: Any) -> None:
    r = run_cli(
        "target", "add", "loopback", sshd.url, "--key", str(sshd.key_path), "--python",
        sys.executable, "--workdir", str(tmp_path / "device"), cwd=tmp_path,
        env=_env(tmp_path, cache),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def _stored(db: Path) -> list[Any]:
    if not db.exists():
        return []
    try:
        with ResultStore(db, read_only=True) as store:
            return store.cells()
    except StoreError as exc:  # the client made the file and has yet to write its schema
        if "an empty file" in str(exc):
            return []
        raise


@pytest.mark.tflite
def test_one_suite_over_two_devices_fills_one_run(
    tmp_path: Path, shared_cache: Path, loopback_sshd: Any
) -> None:
    _loopback(tmp_path, shared_cache, loopback_sshd)
    suite = _suite(tmp_path, "null, tflite", 0.5, "[1, 2]")
    r = run_cli(
        "suite", "run", str(suite), "--cluster", "local:2", "--targets", "local,loopback",
        "--db", "r.db", "--json", cwd=tmp_path, env=_env(tmp_path, shared_cache), timeout=900,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "fleet: scheduler tcp://127.0.0.1:" in r.stderr and "dashboard" in r.stderr
    cells = json.loads(r.stdout)
    keys = Counter((c["compiler"], c["batch_size"], c["target"]["name"] if c["target"] else "local")
                   for c in cells)  # fmt: skip
    assert len(keys) == 8 and set(keys.values()) == {1}  # every cell once, on both devices
    assert all(c["status"] == "ok" for c in cells), [c["error"] for c in cells]
    stored = _stored(tmp_path / "r.db")
    assert len({c.run_id for c in stored}) == 1 and len(stored) == 8
    # One measurement at a time per device: the windows of one device never overlap.
    for device in ("local", "loopback"):
        spans = sorted(
            (c["fleet"]["started"], c["fleet"]["finished"])
            for c in cells
            if (c["target"]["name"] if c["target"] else "local") == device
        )
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
    # Converted once per artifact: the four tflite cells (two batch sizes, TFLite resizes at
    # load; two devices) measured one file, built or found by one build task.
    tflite = {c["artifact_path"] for c in cells if c["compiler"] == "tflite"}
    assert len(tflite) == 1
    assert "fleet: 8 cells, 1 artifact built or found" in r.stderr


def _spawned_workers(parent: int) -> list[int]:
    """The Dask worker processes a client's local cluster started (its nannies' children)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"multiprocessing" in cmd:
            found.append(int(proc.name))
    return found


def test_kill_9_of_a_worker_mid_suite_still_stores_every_cell_once(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "null", 4, "[1, 2, 3, 4]")
    client = subprocess.Popen(
        [sys.executable, "-m", "edgebench", "suite", "run", str(suite), "--cluster", "local:2",
         "--db", "r.db", "--json"],
        cwd=tmp_path, env=_env(tmp_path, tmp_path / "c"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(_stored(tmp_path / "r.db")) < 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        workers = _spawned_workers(client.pid)
        assert workers, "no worker processes found"
        for pid in workers:  # every worker: whichever holds the device dies mid-cell
            os.kill(pid, signal.SIGKILL)
        out, err = client.communicate(timeout=600)
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
    assert client.returncode == 0, err[-3000:]
    stored = _stored(tmp_path / "r.db")
    keys = Counter(c.batch_size for c in stored)
    assert keys == {1: 1, 2: 1, 3: 1, 4: 1}, keys  # each cell once
    assert all(c.status == "ok" for c in stored), [c.error for c in stored]


def test_a_killed_client_resumes_the_same_run(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "null", 2, "[1, 2, 3, 4, 5]")
    env = _env(tmp_path, tmp_path / "c")
    client = subprocess.Popen(
        [sys.executable, "-m", "edgebench", "suite", "run", str(suite), "--cluster", "local:2",
         "--db", "r.db"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(_stored(tmp_path / "r.db")) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    os.killpg(client.pid, signal.SIGKILL)  # the client's machine goes down, cluster and all
    client.wait()
    kept = _stored(tmp_path / "r.db")
    assert 2 <= len(kept) < 5
    run_id = kept[0].run_id
    r = run_cli("suite", "run", str(suite), "--cluster", "local:2", "--db", "r.db", "--resume",
                run_id, cwd=tmp_path, env=env, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    stored = _stored(tmp_path / "r.db")
    assert Counter(c.batch_size for c in stored if c.status == "ok") == {b: 1 for b in range(1, 6)}
    assert {c.run_id for c in stored} == {run_id}


def test_sigterm_to_the_client_says_how_to_resume_on_the_same_cluster(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "null", 2, "[1, 2, 3, 4, 5]")
    client = subprocess.Popen(
        [sys.executable, "-m", "edgebench", "suite", "run", str(suite), "--cluster", "local:2",
         "--targets", "local", "--db", "r.db"],
        cwd=tmp_path, env=_env(tmp_path, tmp_path / "c"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(_stored(tmp_path / "r.db")) < 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        client.send_signal(signal.SIGTERM)
        _, err = client.communicate(timeout=120)
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
    assert client.returncode == 143 and "Traceback" not in err, err[-3000:]
    run_id = _stored(tmp_path / "r.db")[0].run_id
    assert f"--resume {run_id} --cluster local:2 --targets local`" in err, err[-2000:]
