"""Running one cell step in a worker process: the job out, the result or one-line reason back.

Each step runs in a fresh process (harness/worker.py says why) in a session of its own, so a
hang is killed with every thread and child it started. The worker watches its parent: if the
harness dies (kill -9 included) the worker kills its own session within a fraction of a second,
so no orphan keeps measuring. Scratch folders are named after the harness's pid, so a later run
can tell those of dead runs and remove them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import edgebench
from edgebench.harness.jobs import WorkerError, decode, encode
from edgebench.results import Status
from edgebench.sysinfo import pid_alive

T = TypeVar("T")
SCRATCH_PREFIX = "edgebench-"
PARENT_ENV = "EDGEBENCH_PARENT_PID"


class CellFailure(Exception):
    """A worker process failed; the message is the one-line reason recorded with the cell.

    `kind` is the worker's exception type: a compiler that finds, only once it runs, that it
    cannot build a precision (UnsupportedPrecision) or lacks its device (BackendUnavailable)
    makes an `unsupported` or `skipped` cell rather than a failed one.
    """

    def __init__(self, message: str, kind: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail  # the framework's whole message, where the line leaves some out

    @property
    def status(self) -> Status:
        statuses: dict[str, Status] = {
            "UnsupportedPrecision": "unsupported",
            "NoRoute": "unsupported",
            "BackendUnavailable": "skipped",
        }
        return statuses.get(self.kind, "failed")


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(edgebench.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env[PARENT_ENV] = str(os.getpid())
    return env


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _killed(rc: int, log: Path) -> CellFailure:
    sig = signal.Signals(-rc).name
    if sig == "SIGKILL":  # the kernel's OOM killer, or a watchdog: the log tail is unrelated
        return CellFailure("worker killed by SIGKILL (out of memory?)")
    tail = _last_line(log)
    return CellFailure(f"worker killed by {sig}" + (f": {tail}" if tail else ""))


def timed_out(timeout_s: float) -> str:
    """A cell's timeout as its error says it: whole seconds (a budget's share is 11.9997)."""
    shown = f"{timeout_s:.0f}" if timeout_s >= 1 else f"{timeout_s:.2g}"
    return f"timed out after {shown} s (raise --cell-timeout)"


def run_step(mode: str, job: Any, result_type: type[T], timeout_s: float, workdir: Path) -> T:
    """Runs one worker step and returns its typed result, or raises CellFailure."""
    fd, name = tempfile.mkstemp(dir=workdir, prefix=f"{mode}-", suffix=".json")
    os.close(fd)
    job_file = Path(name)
    result_file = job_file.with_suffix(".result.json")
    log_file = job_file.with_suffix(".log")
    job_file.write_text(json.dumps(encode(job)))
    cmd = [sys.executable, "-m", "edgebench.harness.worker", mode, str(job_file), str(result_file)]
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=worker_env(), start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_session(proc)
            raise CellFailure(timed_out(timeout_s)) from None
        except BaseException:  # Ctrl-C, SIGTERM: the worker's whole session goes too
            _kill_session(proc)
            raise
    if result_file.is_file():
        data = json.loads(result_file.read_text())
        if "error" in data:
            failure = decode(WorkerError, data)
            raise CellFailure(failure.error, failure.kind, failure.detail)
        if rc == 0:
            result: T = decode(result_type, data)
            return result
    if rc < 0:
        raise _killed(rc, log_file)
    raise CellFailure(f"worker exited with code {rc}: {_last_line(log_file)}")


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def watch_parent() -> None:
    """In a worker: kill this worker's session as soon as the harness that started it is gone
    (a daemon thread polls the parent pid; kill -9 of the harness sends no signal here)."""
    import threading
    import time

    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="edgebench-parent-watch", daemon=True).start()


def watch_stdin() -> None:
    """In a device's agent (EDGEBENCH_WATCH_STDIN set): stop this agent's session when its
    standard input closes, which is what a dropped SSH connection or a timed-out cell looks
    like from the device; no orphan keeps the device busy."""
    import threading

    if not os.environ.get("EDGEBENCH_WATCH_STDIN"):
        return

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="edgebench-stdin-watch", daemon=True).start()


def new_scratch() -> Path:
    """A scratch folder for one run, named after this process so later runs can tell it."""
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))


def remove_stale_scratch(root: Path | None = None) -> list[Path]:
    """Removes scratch folders left by runs whose process is gone (kill -9, a crash)."""
    root = root or Path(tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{SCRATCH_PREFIX}*"):
        match = re.match(rf"{SCRATCH_PREFIX}(\d+)-", folder.name)
        if not match or not folder.is_dir() or pid_alive(int(match.group(1))):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


__all__ = [
    "CellFailure",
    "new_scratch",
    "remove_stale_scratch",
    "run_step",
    "watch_parent",
    "watch_stdin",
    "worker_env",
]
