"""`adb://SERIAL`: an Android device through the `adb` client (Debian's `adb` package).

What runs on the phone is the same agent as over SSH: edgebench's worker module under a Python
that has numpy and the runtime (ai-edge-litert or onnxruntime), e.g. Termux's python with
`pip install numpy ai-edge-litert`. Give that Python with `--python` when adding the target
(Termux: /data/data/com.termux/files/usr/bin/python). Files go to /data/local/tmp/edgebench.
Battery current and voltage are read from sysfs where the device lets a shell read them.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from edgebench.errors import redact
from edgebench.harness.process import CellFailure
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

    def _adb(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        adb = shutil.which("adb")
        if adb is None:
            raise TargetError("the adb client is not installed (apt-get install adb)")
        try:
            return subprocess.run(
                [adb, "-s", self.serial, *args],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise CellFailure(f"timed out after {timeout_s:g} s (raise --cell-timeout)") from None

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


__all__ = ["DEFAULT_WORKDIR", "AdbTarget"]
