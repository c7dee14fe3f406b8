"""A throwaway OpenSSH server on 127.0.0.1 for tests and benchmark scripts.

``LoopbackSshd`` runs the host's own ``/usr/sbin/sshd`` with a generated config, host key and
client key, so code under test talks to a real SSH server (ssh client, paramiko) instead of a
mock. Only the loopback address is ever used.

Try it: ``python tests/support/sshd.py`` prints the URL and an ssh command, then waits.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

try:
    from .host import apt_install, stop_process_tree
except ImportError:  # run as a script: python tests/support/sshd.py
    from host import apt_install, stop_process_tree  # type: ignore[no-redef]

SSHD = "/usr/sbin/sshd"
LOOPBACK = "127.0.0.1"
# The host key is new on every start: never record or check it.
_OPTS = ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR")
SSH_CLIENT_OPTS = tuple(
    a for o in (*_OPTS, "BatchMode=yes", "IdentitiesOnly=yes") for a in ("-o", o)
)


def ensure_openssh() -> None:
    """Install Debian's openssh-server and openssh-client when sshd, ssh or ssh-keygen is missing.

    Raises:
        RuntimeError: They are missing and cannot be installed (not root, apt failure).
    """
    if Path(SSHD).exists() and shutil.which("ssh") and shutil.which("ssh-keygen"):
        return
    apt_install(["openssh-server", "openssh-client"])
    if not Path(SSHD).exists():
        raise RuntimeError(f"openssh-server is installed but {SSHD} is still missing")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_for_ssh(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until 127.0.0.1:``port`` sends an SSH banner; fail fast if ``proc`` exits.

    The banner, not a bare TCP accept, proves that this sshd answers.

    Raises:
        RuntimeError: sshd exited or sent no banner in ``timeout`` s (its log is in the message).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"sshd exited ({proc.returncode}):\n{log.read_text(errors='replace')}"
            )
        try:
            with socket.create_connection((LOOPBACK, port), timeout=2) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no sshd banner on port {port} in {timeout} s:\n{log.read_text()}")


def make_keypair(path: Path) -> Path:
    """Create an ed25519 key pair without passphrase at ``path`` and ``path``.pub."""
    cmd = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgebench-test", "-f", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


class SshTarget:
    """What every SSH test target exposes; a context manager that starts and stops it.

    Attributes:
        host: Always "127.0.0.1".
        port: The port its sshd listens on (picked free at start).
        user: The user who may log in with ``key_path``.
    """

    host: str = LOOPBACK
    port: int = 0
    user: str = ""
    _dir: Path | None = None  # the target's temp dir, set while started

    @property
    def key_path(self) -> Path:
        """The client's private ed25519 key (exists while started)."""
        if self._dir is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._dir / "id_ed25519"

    @property
    def url(self) -> str:
        """The target as "ssh://user@127.0.0.1:PORT"."""
        return f"ssh://{self.user}@{self.host}:{self.port}"

    def ssh_command(self, command: str) -> list[str]:
        """The argv of an ``ssh`` client call that runs ``command`` on this target."""
        opts = [*SSH_CLIENT_OPTS, "-p", str(self.port)]
        return ["ssh", "-i", str(self.key_path), *opts, f"{self.user}@{self.host}", command]

    def start(self) -> Self:
        """Start the server and wait until it answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server and remove what it created; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class LoopbackSshd(SshTarget):
    """The host's sshd on 127.0.0.1 with throwaway keys; ``user`` is the current user.

    Args:
        start_timeout: Seconds to wait for sshd's banner.
        sftp: Whether it offers the SFTP subsystem (Dropbear and BusyBox boards often do not).
    """

    def __init__(self, start_timeout: float = 10.0, sftp: bool = True) -> None:
        # The effective user, not $USER (which su or sudo may leave pointing at someone else).
        self.user, self._timeout = pwd.getpwuid(os.geteuid()).pw_name, start_timeout
        self.sftp = sftp
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Create keys and config, start sshd in its own process group and wait for it.

        Raises:
            RuntimeError: sshd is missing or did not come up (its log is in the message).
        """
        if not Path(SSHD).exists():
            raise RuntimeError(f"{SSHD} is missing: call ensure_openssh() first")
        self._dir = d = Path(tempfile.mkdtemp(prefix="edgebench-sshd-"))
        try:
            make_keypair(self.key_path)
            make_keypair(d / "host_ed25519")
            shutil.copy(d / "id_ed25519.pub", d / "authorized_keys")
            if os.geteuid() == 0:  # as root, sshd needs its privilege separation dir
                Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
            log = d / "sshd.log"
            for attempt in range(3):  # another process may take the port before sshd binds it
                self.port = free_port()
                self._write_config()
                with open(log, "wb") as err:
                    argv = [SSHD, "-D", "-e", "-f", str(d / "sshd_config")]
                    self._proc = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=err,
                        stderr=err,
                        start_new_session=True,
                    )
                try:
                    wait_for_ssh(self.port, self._proc, log, self._timeout)
                    return self
                except RuntimeError:
                    if attempt == 2 or "Address already in use" not in log.read_text():
                        raise
                    stop_process_tree(self._proc)
            return self
        except BaseException:
            self.stop()
            raise

    def _write_config(self) -> None:
        assert self._dir is not None
        d = self._dir
        (d / "sshd_config").write_text(
            f"ListenAddress {LOOPBACK}\nPort {self.port}\nHostKey {d / 'host_ed25519'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\n"
            # StrictModes would refuse keys in a temp dir or a home not owned by the user.
            "StrictModes no\n" + ("Subsystem sftp internal-sftp\n" if self.sftp else "")
        )

    def stop(self) -> None:
        """Kill sshd and its open sessions, delete the temp dir; safe to call twice."""
        if self._proc is not None:
            stop_process_tree(self._proc)
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def serve_forever(target: SshTarget) -> None:
    """Print ``target``'s URL and an ssh command, then wait for Ctrl-C or SIGTERM."""
    print(target.url)
    print(" ".join(target.ssh_command("uname -m")), flush=True)
    # SIGTERM too, and SIGINT explicitly: a shell's background job starts with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(0))  # SystemExit unwinds the `with`: cleanup
    signal.pause()


if __name__ == "__main__":
    ensure_openssh()
    with LoopbackSshd() as server:
        serve_forever(server)
