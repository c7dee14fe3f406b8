"""`ssh://user@host[:port]`: a device reached over SSH, through paramiko.

Keys come from `--key`/the target's `key`, an SSH agent, or the usual files in ~/.ssh; a host
alias in ~/.ssh/config works (its HostName, User, Port and IdentityFile are read). A host's key
is trusted the first time it is seen and kept in edgebench's own known_hosts file; a key that
changes later is refused. Passwords are never taken: edgebench stores and prints no secret.
"""

from __future__ import annotations

import importlib.util
import logging
import shlex
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgebench.errors import redact
from edgebench.harness.process import CellFailure, timed_out
from edgebench.targets.base import RemoteTarget, TargetError, check_url

DEFAULT_WORKDIR = ".cache/edgebench-agent"  # under the login's home
CONNECT_TIMEOUT_S = 15.0


def known_hosts_file() -> Path:
    from edgebench.targets.config import config_dir

    return config_dir() / "known_hosts"


class SshTarget(RemoteTarget):
    kind = "ssh"

    def __init__(
        self,
        name: str,
        url: str,
        python: str | None = None,
        workdir: str | None = None,
        key: str | None = None,
    ) -> None:
        check_url(url)
        parts = urlsplit(url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise TargetError(f"'{redact(url)}' is not an ssh://[user@]host[:port] URL")
        self.host_alias = parts.hostname
        self.user = parts.username
        self.port = parts.port
        self.key = key
        address = f"ssh://{self.user + '@' if self.user else ''}{self.host_alias}" + (
            f":{self.port}" if self.port else ""
        )
        super().__init__(name, address, python or "", workdir or DEFAULT_WORKDIR)
        self._client: Any = None
        self._sftp: Any = None

    # --- the transport ------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        """Host, port, user and keys, from the URL over ~/.ssh/config (for aliases)."""
        import paramiko

        config_file = Path.home() / ".ssh" / "config"
        entry: dict[str, Any] = {}
        if config_file.is_file():
            entry = paramiko.SSHConfig.from_path(str(config_file)).lookup(self.host_alias)
        keys = [self.key] if self.key else list(entry.get("identityfile", []))
        return {
            "hostname": entry.get("hostname", self.host_alias),
            "port": self.port or int(entry.get("port", 22)),
            "username": self.user or entry.get("user"),
            "key_filename": [str(Path(k).expanduser()) for k in keys] or None,
        }

    def connect(self) -> None:
        transport = self._client.get_transport() if self._client is not None else None
        if transport is not None and transport.is_active():
            return
        if importlib.util.find_spec("paramiko") is None:
            raise TargetError("SSH targets need paramiko: pip install 'edgebench[remote]'")
        import paramiko

        # paramiko's reader thread logs what it sees (a banner cut off when SIGTERM or SIGHUP
        # stops the command) through Python's last-resort handler, after edgebench's own last
        # line; every failure that matters reaches the user as a TargetError instead.
        quiet = logging.getLogger("paramiko")
        if not quiet.handlers:
            quiet.addHandler(logging.NullHandler())
        client = paramiko.SSHClient()
        hosts = known_hosts_file()
        hosts.parent.mkdir(parents=True, exist_ok=True)
        hosts.touch(exist_ok=True)
        client.load_host_keys(str(hosts))  # unknown keys are added (and saved) on first use
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        options = self._options()
        try:
            client.connect(
                **options,
                timeout=CONNECT_TIMEOUT_S,
                banner_timeout=CONNECT_TIMEOUT_S,
                auth_timeout=CONNECT_TIMEOUT_S,
                allow_agent=True,
                look_for_keys=True,
            )
        except paramiko.BadHostKeyException as exc:
            raise TargetError(
                f"target {self.name}: the host key of {exc.hostname} changed since it was "
                f"first seen (remove its line from {hosts} if that is expected)"
            ) from None
        except paramiko.AuthenticationException as exc:
            raise TargetError(f"target {self.name}: SSH login refused ({exc})") from None
        except (OSError, paramiko.SSHException) as exc:
            where = f"{options['hostname']}:{options['port']}"
            raise TargetError(f"target {self.name} is unreachable at {where}: {exc}") from None
        self._client = client
        self._sftp = None

    def run(self, command: str, timeout_s: float) -> tuple[int, str, str]:
        import paramiko

        self.connect()
        try:
            channel = self._client.get_transport().open_session()
            channel.exec_command(command)
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout_s
            while not channel.exit_status_ready() or channel.recv_ready():
                if channel.recv_ready():
                    out += channel.recv(1 << 16)
                elif channel.recv_stderr_ready():
                    err += channel.recv_stderr(1 << 16)
                elif time.monotonic() > deadline:
                    channel.close()  # the agent sees its stdin close and stops
                    raise CellFailure(timed_out(timeout_s))
                else:
                    time.sleep(0.01)
                if not self._client.get_transport().is_active():
                    raise ConnectionError("the SSH connection dropped")
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(1 << 16)
            code = channel.recv_exit_status()
            channel.close()
        except (OSError, paramiko.SSHException) as exc:
            raise ConnectionError(f"the SSH connection dropped ({exc})") from None
        return code, out.decode(errors="replace"), err.decode(errors="replace")

    def _sftp_client(self) -> Any:
        """The SFTP session, or None where the server has no SFTP subsystem (Dropbear and
        BusyBox boards often have none): files then go over the exec channel, as Ansible and
        rsync do."""
        import paramiko

        self.connect()
        if self._sftp is None:
            try:
                self._sftp = self._client.open_sftp()
                self.copy_via = "sftp"
            except (paramiko.SSHException, EOFError):  # "Channel closed." without a subsystem
                self._sftp = False
                self.copy_via = "exec (the server has no SFTP subsystem)"
        return self._sftp or None

    def copy_method(self) -> str:
        self._sftp_client()
        return self.copy_via

    def put(self, local: Path, remote: str) -> None:
        import paramiko

        try:
            sftp = self._sftp_client()
            if sftp is not None:
                sftp.put(str(local), remote)
            else:
                self._exec_copy(f"cat > {shlex.quote(remote)}", send=local)
        except paramiko.SSHException as exc:
            raise ConnectionError(f"copy to {self.name} failed ({exc})") from None
        except OSError as exc:
            raise OSError(f"copy of {local.name} to {self.name} failed: {exc}") from None

    def get(self, remote: str, local: Path) -> None:
        import paramiko

        try:
            sftp = self._sftp_client()
            if sftp is not None:
                sftp.get(remote, str(local))
            else:
                self._exec_copy(f"cat {shlex.quote(remote)}", receive=local)
        except paramiko.SSHException as exc:
            raise ConnectionError(f"copy from {self.name} failed ({exc})") from None

    def _exec_copy(
        self, command: str, send: Path | None = None, receive: Path | None = None
    ) -> None:
        """Streams a file into `command`'s standard input (`cat > REMOTE`) or out of its
        standard output (`cat REMOTE`) over an exec channel; OSError when it fails there."""
        channel = self._client.get_transport().open_session()
        try:
            channel.exec_command(command)
            if send is not None:
                with open(send, "rb") as f:
                    for block in iter(lambda: f.read(1 << 16), b""):
                        channel.sendall(block)
                channel.shutdown_write()
            if receive is not None:
                with open(receive, "wb") as f:
                    for block in iter(lambda: channel.recv(1 << 16), b""):
                        f.write(block)
            code = channel.recv_exit_status()
            err = bytearray()
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(1 << 16)
        finally:
            channel.close()
        if code != 0:
            if receive is not None:
                receive.unlink(missing_ok=True)
            reason = err.decode(errors="replace").strip() or f"exit code {code}"
            raise OSError(f"`{command}` failed there: {reason}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = self._sftp = None


__all__ = ["DEFAULT_WORKDIR", "SshTarget", "known_hosts_file"]
