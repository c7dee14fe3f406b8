"""A target: the device a cell's measurement runs on. Conversion always runs on the host.

`local` runs the measure step in a worker process here. A remote target (SSH, adb) copies the
artifact to the device once (content-addressed: a second run copies nothing), and runs the
same measure step there through edgebench's own worker module, shipped as a small zip: the
device needs only Python, numpy and the runtime. The device's agent owns the clock exactly as
a local worker does; what going remote costs (connecting, copying, starting the agent) is
recorded apart from the timed window.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shlex
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.errors import EdgebenchError, UsageError
from edgebench.harness.jobs import MeasureJob, MeasureResult, WorkerError, decode, encode
from edgebench.harness.process import CellFailure

LOCAL = "local"


class TargetError(EdgebenchError):
    """A target that cannot be reached or used; the cell that needed it fails with this."""


@dataclass
class RemoteCosts:
    """What one remote cell cost besides its timed window, in seconds (and bytes copied)."""

    connect_s: float = 0.0
    copy_s: float = 0.0
    copied_bytes: int = 0
    agent_s: float = 0.0  # the agent's whole run on the device: start, load, window, outputs

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(self).items()}


@dataclass
class TargetInfo:
    """A target as `edgebench target check` shows it and as each cell records it."""

    name: str
    kind: str
    address: str  # the URL without any secret
    device: dict[str, Any] = field(default_factory=dict)  # targets/device.py device_info()
    copy_via: str = ""  # how files reach it: sftp, exec (no SFTP subsystem), adb push

    @property
    def emulated(self) -> bool:
        return bool(self.device.get("emulated"))

    @property
    def arch(self) -> str:
        return str(self.device.get("arch", "?"))

    def record(self, costs: RemoteCosts | None = None) -> dict[str, Any]:
        """The provenance a cell keeps: which device, emulated or not, and the remote costs."""
        from edgebench.sysinfo import system_info

        host = system_info()
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "address": self.address,
            "arch": self.arch,
            "emulated": self.emulated,
            "converted_on": {"hostname": host.get("hostname"), "cpu": host["cpu"].get("model")},
        }
        if costs is not None:
            data["costs"] = costs.as_dict()
        if self.copy_via:
            data["copy_via"] = self.copy_via
        return data


class Target(ABC):
    """Where cells are measured."""

    name: str
    kind: str

    @property
    def is_local(self) -> bool:
        return False

    @abstractmethod
    def info(self) -> TargetInfo:
        """The device: reachable or TargetError; its architecture, runtimes, meters."""

    @abstractmethod
    def measure(self, job: MeasureJob, timeout_s: float, workdir: Path) -> MeasureResult:
        """Runs one measure step there; CellFailure with the reason when it cannot."""

    def last_costs(self) -> RemoteCosts | None:
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Drops connections."""


class RemoteTarget(Target):
    """The measure flow every remote target shares, over its transport's operations: run a
    command, copy a file there, copy one back.

    The Python it runs is the one given (`--python` when the target was added), else the venv
    that `edgebench target setup` made in the working folder, else `python3`."""

    watch_stdin = True  # the agent stops when its standard input closes (a dropped connection)

    def __init__(self, name: str, address: str, python: str, workdir: str) -> None:
        self.name, self.address = name, address
        self.python, self.workdir = python, workdir.rstrip("/")
        self._info: TargetInfo | None = None
        self._agent: str | None = None
        self._costs = RemoteCosts()
        self._connect_s = 0.0  # connecting time not yet counted to a cell
        self.copy_via = "?"  # how files are copied there, once one was

    # --- the transport ------------------------------------------------------------------
    @abstractmethod
    def connect(self) -> None:
        """Opens the connection (TargetError when the device cannot be reached)."""

    @abstractmethod
    def run(self, command: str, timeout_s: float) -> tuple[int, str, str]:
        """Runs a shell command there: (exit code, stdout, stderr)."""

    @abstractmethod
    def put(self, local: Path, remote: str) -> None:
        """Copies one file there (its folder exists)."""

    @abstractmethod
    def get(self, remote: str, local: Path) -> None:
        """Copies one file back."""

    def copy_method(self) -> str:
        """How files are copied there (`copy_via`, found out when first needed)."""
        return self.copy_via

    # --- the flow -------------------------------------------------------------------------
    def last_costs(self) -> RemoteCosts | None:
        return self._costs

    def use_python(self, python: str) -> None:
        """Runs the agent with this Python from now on (after `target setup`)."""
        self.python, self._info = python, None

    def _resolve_python(self) -> None:
        if self.python:
            return
        venv = f"{self.workdir}/venv/bin/python"
        rc, _, _ = self.run(f"test -x {shlex.quote(venv)}", 60)
        self.python = venv if rc == 0 else "python3"

    def info(self) -> TargetInfo:
        if self._info is None:
            self._timed_connect()
            self._resolve_python()
            agent = self.agent()
            code = f"import json, sys; sys.path.insert(0, {agent!r}); " + (
                "from edgebench.targets.device import device_info; "
                f"print(json.dumps(device_info({self.workdir!r})))"
            )
            rc, out, err = self.run(f"{shlex.quote(self.python)} -c {shlex.quote(code)}", 120)
            if rc != 0:
                raise TargetError(f"target {self.name}: its Python cannot run: {_tail(err)}")
            self._info = TargetInfo(
                self.name, self.kind, self.address, json.loads(out), self.copy_method()
            )
        return self._info

    def agent(self) -> str:
        """The agent zip's path there, copied once per content."""
        if self._agent is None:
            from edgebench.targets.bundle import agent_zip

            local = agent_zip()
            self._agent = self._place(local, "agent")
        return self._agent

    def measure(self, job: MeasureJob, timeout_s: float, workdir: Path) -> MeasureResult:
        # The connection made for this cell (in `info`, before planning) counts to it.
        self._costs = RemoteCosts(connect_s=self._connect_s)
        self._connect_s = 0.0
        try:
            self._timed_connect()
            device = self.info().device
            _check_runtime(self, job, device)
            remote_job = self._placed_job(job)
            result = self._run_step("measure", remote_job, timeout_s, workdir)
            if job.outputs_path and remote_job.outputs_path:
                started = time.perf_counter()
                self.get(remote_job.outputs_path, Path(job.outputs_path))
                self._costs.copy_s += time.perf_counter() - started
            return result
        except TargetError as exc:
            raise CellFailure(str(exc)) from None
        except (OSError, EOFError) as exc:  # the connection dropped, the disk is full
            self._drop()
            raise CellFailure(f"target {self.name}: {type(exc).__name__}: {exc}") from None

    def _timed_connect(self) -> None:
        started = time.perf_counter()
        self.connect()
        self._connect_s += time.perf_counter() - started

    def _drop(self) -> None:
        """Forgets the connection after a failure, so the next cell connects anew."""
        self.close()

    def _placed_job(self, job: MeasureJob) -> MeasureJob:
        """The job with every host path replaced by its copy on the device."""
        runtime = job.runtime
        if runtime.artifact_path:
            runtime = dataclasses.replace(
                runtime, artifact_path=self._place(Path(runtime.artifact_path), "artifacts")
            )
        eval_path = self._place(Path(job.eval_path), "data") if job.eval_path else None
        outputs = f"{self.workdir}/run/outputs-{time.monotonic_ns()}.npz" if eval_path else None
        return dataclasses.replace(job, runtime=runtime, eval_path=eval_path, outputs_path=outputs)

    def _place(self, local: Path, kind: str) -> str:
        """A file or folder's copy on the device, named by its content: copied only when the
        device does not hold it yet (the copy lands under a temporary name first)."""
        digest = content_digest(local)
        remote = f"{self.workdir}/{kind}/{digest}/{local.name}"
        rc, _, _ = self.run(f"test -e {shlex.quote(remote + '.done')}", 60)
        if rc == 0:
            return remote
        started = time.perf_counter()
        self._check_room(local)
        staging = f"{self.workdir}/{kind}/.{digest}.{time.monotonic_ns()}"
        if local.is_file():
            files, folders = [local], {staging}
        else:
            files = sorted(p for p in local.rglob("*") if p.is_file())
            folders = {f"{staging}/{local.name}"} | {
                f"{staging}/{local.name}/{p.parent.relative_to(local).as_posix()}"
                for p in files
                if p.parent != local
            }
        self._check(self.run("mkdir -p " + " ".join(shlex.quote(f) for f in sorted(folders)), 60))
        for path in files:
            rel = local.name if local.is_file() else f"{local.name}/{path.relative_to(local)}"
            self.put(path, f"{staging}/{rel}")
            self._costs.copied_bytes += path.stat().st_size
        final = f"{self.workdir}/{kind}/{digest}"
        self._check(
            self.run(
                f"rm -rf {shlex.quote(final)} && mv {shlex.quote(staging)} {shlex.quote(final)}"
                f" && touch {shlex.quote(remote + '.done')}",
                60,
            )
        )
        self._costs.copy_s += time.perf_counter() - started
        return remote

    def _check_room(self, local: Path) -> None:
        """Fails early, with the figures, when the device's disk cannot hold a copy."""
        needed = sum(p.stat().st_size for p in [local, *local.rglob("*")] if p.is_file())
        folder = shlex.quote(self.workdir)
        rc, out, _ = self.run(f"mkdir -p {folder} && df -Pk {folder} | tail -1", 60)
        fields = out.split()
        if rc == 0 and len(fields) >= 4 and fields[3].isdigit():
            free = int(fields[3]) * 1024
            if needed > free:
                raise TargetError(
                    f"target {self.name}: its disk is full: {free / 2**20:.1f} MB free in "
                    f"{self.workdir}, {local.name} needs {needed / 2**20:.1f} MB"
                )

    def _check(self, result: tuple[int, str, str]) -> None:
        rc, _, err = result
        if rc != 0:
            raise TargetError(f"target {self.name}: {_tail(err)}")

    def _run_step(
        self, mode: str, job: MeasureJob, timeout_s: float, workdir: Path
    ) -> MeasureResult:
        """Runs the worker step with the agent there and reads its typed result."""
        stamp = time.monotonic_ns()
        job_remote = f"{self.workdir}/run/{mode}-{stamp}.json"
        result_remote = f"{self.workdir}/run/{mode}-{stamp}.result.json"
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            job_file = Path(tmp) / "job.json"
            job_file.write_text(json.dumps(encode(job)))
            self._check(self.run(f"mkdir -p {shlex.quote(self.workdir + '/run')}", 60))
            self.put(job_file, job_remote)
            code = (
                f"import sys; sys.path.insert(0, {self.agent()!r}); "
                "from edgebench.harness.worker import main; sys.exit(main(sys.argv[1:]))"
            )
            watch = "EDGEBENCH_WATCH_STDIN=1 " if self.watch_stdin else ""
            command = (
                f"{watch}{shlex.quote(self.python)} -c {shlex.quote(code)} "
                f"{mode} {shlex.quote(job_remote)} {shlex.quote(result_remote)}"
            )
            started = time.perf_counter()
            rc, _, err = self.run(command, timeout_s)
            self._costs.agent_s = time.perf_counter() - started
            result_file = Path(tmp) / "result.json"
            try:
                self.get(result_remote, result_file)
            except OSError:
                raise CellFailure(f"target {self.name}: {agent_failure(rc, err)}") from None
            self.run(f"rm -f {shlex.quote(job_remote)} {shlex.quote(result_remote)}", 60)
            data = json.loads(result_file.read_text())
        if "error" in data:
            failure = decode(WorkerError, data)
            raise CellFailure(failure.error, failure.kind)
        result: MeasureResult = decode(MeasureResult, data)
        return result


def _check_runtime(target: Target, job: MeasureJob, device: dict[str, Any]) -> None:
    """Fails a cell whose runtime the device lacks, saying what to install."""
    from edgebench.compilers import get_compiler

    compiler = get_compiler(job.runtime.compiler)
    needed = ("numpy", *compiler.runtime_modules)
    missing = [m for m in needed if m not in device.get("runtimes", {})]
    if missing:
        raise TargetError(
            f"target {target.name} has no {', '.join(missing)} "
            f"(edgebench target setup {target.name} --runtime {compiler.name})"
        )


_DIGESTS: dict[tuple[str, int, int], str] = {}


def content_digest(path: Path) -> str:
    """A short digest of a file's bytes, or of a folder's file names and bytes (remembered
    for the life of the process, by path, size and time)."""
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if path.is_file() and memo in _DIGESTS:
        return _DIGESTS[memo]
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    digest = h.hexdigest()[:20]
    if path.is_file():
        _DIGESTS[memo] = digest
    return digest


# Lines a runtime logs on its own (TFLite's "INFO: Created TensorFlow Lite XNNPACK delegate",
# glog's "I1204 12:00:00.000 ..."): never the reason a process stopped.
_LOG_LINE = re.compile(r"^(INFO|WARNING|DEBUG|VERBOSE)\b|^[IWV]\d{4} |^\[?(INFO|WARN)")


def _tail(text: str) -> str:
    """The last line of a process's error output that is not a runtime's own log line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    told = [ln for ln in lines if not _LOG_LINE.match(ln)]
    return (told or lines or ["no message"])[-1][:300]


def agent_failure(rc: int, err: str) -> str:
    """Why the agent left no result: killed by a signal (SSH reports -1, a shell 128 + N; the
    log's last line then says nothing about it), or its exit code and last error line."""
    import signal

    if rc == -1 or rc > 128:
        try:
            name = signal.Signals(rc - 128).name if rc > 128 else "a signal"
        except ValueError:
            name = f"signal {rc - 128}"
        why = " (out of memory?)" if name in ("SIGKILL", "a signal") else ""
        return f"the agent was killed by {name}{why}"
    return f"the agent exited with code {rc}: {_tail(err)}"


def check_url(url: str) -> None:
    """Refuses a target URL that carries a password: edgebench never stores or prints one."""
    from urllib.parse import urlsplit

    if urlsplit(url).password:
        raise UsageError(
            "a target URL must not hold a password: use an SSH key or agent "
            "(edgebench never stores secrets)"
        )


__all__ = [
    "LOCAL",
    "RemoteCosts",
    "RemoteTarget",
    "Target",
    "TargetError",
    "TargetInfo",
    "check_url",
    "content_digest",
]
