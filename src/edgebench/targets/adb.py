"""`adb://SERIAL`: an Android device through the `adb` client (Debian's `adb` package).

What runs on the phone is the same agent as over SSH: edgebench's worker module under a Python
that has numpy and the runtime (ai-edge-litert or onnxruntime), e.g. Termux's python with
`pip install numpy ai-edge-litert`. Give that Python with `--python` when adding the target
(Termux: /data/data/com.termux/files/usr/bin/python). Files go to /data/local/tmp/edgebench.
Battery current and voltage are read from sysfs where the device lets a shell read them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

from edgebench.errors import redact
from edgebench.harness.process import CellFailure, timed_out
from edgebench.targets.base import RemoteTarget, TargetError

DEFAULT_WORKDIR = "/data/local/tmp/edgebench"


class AdbTarget(RemoteTarget):
    kind = "adb"
    watch_stdin = False  # `adb shell` gives the command no standard input to watch

    def __init__(
        self, name: str, url: str, python: str | None = None, workdir: str | None = None
    ) -> None:
        serial = url.removeprefix("adb://").strip("/")
        if not serial:
            raise TargetError(
                f"'{redact(url)}' is not an adb://SERIAL URL (`adb devices` lists them)"
            )
        self.serial = serial
        super().__init__(name, f"adb://{serial}", python or "python3", workdir or DEFAULT_WORKDIR)
        self._started_server: bool | None = None  # None: no adb command run yet
        self.copy_via = "adb push"

    def _adb(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        adb = shutil.which("adb")
        if adb is None:
            raise TargetError("the adb client is not installed (apt-get install adb)")
        if self._started_server is None:  # the first command starts a server if none runs
            self._started_server = not adb_server_running()
        try:
            return subprocess.run(
                [adb, "-s", self.serial, *args],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise CellFailure(timed_out(timeout_s)) from None

    def connect(self) -> None:
        state = self._adb("get-state", timeout_s=15)
        if state.returncode != 0 or state.stdout.strip() != "device":
            why = (state.stderr or state.stdout).strip().splitlines()
            raise TargetError(
                f"target {self.name} is unreachable: adb: {why[-1] if why else 'no device'}"
            )

    def run(self, command: str, timeout_s: float) -> tuple[int, str, str]:
        # `adb shell` returns the command's exit code (Android 7 and later).
        done = self._adb("shell", command, timeout_s=timeout_s)
        if done.returncode == 255 and "device" in done.stderr.lower():
            raise ConnectionError(f"adb lost the device: {done.stderr.strip()}")
        return done.returncode, done.stdout, done.stderr

    def put(self, local: Path, remote: str) -> None:
        done = self._adb("push", str(local), remote, timeout_s=600)
        if done.returncode != 0:
            raise OSError(f"adb push of {local.name} failed: {done.stderr.strip()[-300:]}")

    def get(self, remote: str, local: Path) -> None:
        done = self._adb("pull", remote, str(local), timeout_s=600)
        if done.returncode != 0:
            raise OSError(f"adb pull of {shlex.quote(remote)} failed: {done.stderr.strip()}")

    def close(self) -> None:
        """Stops the adb server if this target's first command started it (`adb` leaves its
        `fork-server` running otherwise, a child of init); one that already ran is left be."""
        adb = shutil.which("adb")
        if self._started_server and adb is not None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run([adb, "kill-server"], capture_output=True, timeout=15)
        self._started_server = None


def adb_server_port() -> int:
    try:
        return int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))
    except ValueError:
        return 5037


def adb_server_running() -> bool:
    """Whether an adb server listens on this host (its port, 5037 unless the environment
    says otherwise)."""
    try:
        with socket.create_connection(("127.0.0.1", adb_server_port()), timeout=0.5):
            return True
    except OSError:
        return False


__all__ = ["DEFAULT_WORKDIR", "AdbTarget"]
