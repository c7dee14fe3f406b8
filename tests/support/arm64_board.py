"""An emulated ARM64 "edge board": a Debian arm64 chroot run by qemu-user, reached over SSH.

``Arm64Board`` starts the rootfs's own aarch64 sshd (``arm64_rootfs.build_rootfs`` makes the
rootfs once, cached) on 127.0.0.1 inside a throwaway overlay. Only loopback is used. Root only.

Try it: ``python tests/support/arm64_board.py build`` or ``... serve`` (prints the URL).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import IO, Self

try:
    from .arm64_rootfs import MARKER, build_rootfs, ensure_emulation
    from .host import mounts_under, release, run, safe_rmtree, stop_process_tree
    from .sshd import LOOPBACK, SshTarget, free_port, make_keypair, serve_forever, wait_for_ssh
except ImportError:  # run as a script: python tests/support/arm64_board.py
    from arm64_rootfs import MARKER, build_rootfs, ensure_emulation  # type: ignore[no-redef]
    from host import (  # type: ignore[no-redef]
        mounts_under,
        release,
        run,
        safe_rmtree,
        stop_process_tree,
    )
    from sshd import (  # type: ignore[no-redef]
        LOOPBACK,
        SshTarget,
        free_port,
        make_keypair,
        serve_forever,
        wait_for_ssh,
    )

__all__ = ["Arm64Board", "build_rootfs", "ensure_emulation"]

# qemu-user 7.2 (bookworm) shows aarch64 programs the host's x86 /proc/cpuinfo, and cpuinfo
# (in ONNX Runtime) then segfaults at import. The board shows a Cortex-A76 (Raspberry Pi 5).
_A76 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc"
_A76 += " dcpop asimddp"
CPUINFO = (
    "processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: " + _A76 + "\nCPU implementer\t: 0x41\n"
)
CPUINFO += "CPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"


class Arm64Board(SshTarget):
    """The rootfs's own aarch64 sshd on 127.0.0.1 in a throwaway overlay; ``user`` is root.

    Writes (venvs, wheels, the authorized key) land in the overlay's upper dir, deleted at
    stop: the cached rootfs stays pristine and several boards can share it at once.

    Args:
        rootfs: A folder returned by ``build_rootfs``.
        start_timeout: Seconds to wait for the emulated sshd's banner.
    """

    def __init__(self, rootfs: Path, start_timeout: float = 60.0) -> None:
        self.rootfs, self.user, self._timeout = Path(rootfs).resolve(), "root", start_timeout
        self._lock: IO[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> Path:
        """The board's file system seen from the host: copy files in here."""
        return self.key_path.parent / "merged"

    def start(self) -> Self:
        """Reap stale boards, mount overlay, /proc, /sys and a small /dev, start sshd, wait.

        Raises:
            RuntimeError: Not a complete rootfs, a mount failed, or sshd did not come up.
        """
        if not (self.rootfs / MARKER).is_file():
            raise RuntimeError(f"{self.rootfs} is not a complete rootfs: call build_rootfs()")
        ensure_emulation()
        boards = self.rootfs.parent / "boards"
        boards.mkdir(exist_ok=True)
        with open(boards / ".lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)  # no one reaps a new board before it locks itself
            for old in boards.glob("board-*"):
                with open(old / "lock", "a") as other:
                    try:  # a live board holds its lock; a crashed run's lock is free
                        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue
                safe_rmtree(old)
            if mounts_under(self.rootfs):  # boards never mount there: a manual chroot's leftovers
                release(self.rootfs)
            self._dir = Path(tempfile.mkdtemp(prefix="board-", dir=boards))
            self._lock = open(self._dir / "lock", "w")  # noqa: SIM115 - held until stop()
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            self._mount()
            make_keypair(self.key_path)
            ssh = self.root / "root/.ssh"
            ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
            (ssh / "authorized_keys").write_text(Path(f"{self.key_path}.pub").read_text())
            (self.root / "run/sshd").mkdir(parents=True, exist_ok=True)  # privsep dir
            self.port = free_port()
            opts = [f"ListenAddress={LOOPBACK}", "PermitRootLogin=prohibit-password"]
            # No pam-auth-update ran, so PAM has no config: keys only, without PAM.
            opts += ["UsePAM=no", "PasswordAuthentication=no", "KbdInteractiveAuthentication=no"]
            argv = ["chroot", str(self.root), "/usr/sbin/sshd", "-D", "-e", "-p", str(self.port)]
            argv += [a for o in opts for a in ("-o", o)]
            log = self._dir / "sshd.log"
            with open(log, "wb") as err:  # a clean env: PYTHONDONTWRITEBYTECODE etc. stay out
                env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
                self._proc = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    start_new_session=True,
                )
            wait_for_ssh(self.port, self._proc, log, self._timeout)
            return self
        except BaseException:
            with suppress(RuntimeError):  # the next start() reaps what is left: our lock is gone
                self.stop()
            raise

    def _mount(self) -> None:
        assert self._dir is not None
        d, m = self._dir, self.root
        for sub in ("upper", "work", "merged"):
            (d / sub).mkdir()
        layers = f"lowerdir={self.rootfs},upperdir={d / 'upper'},workdir={d / 'work'}"
        run(["mount", "-t", "overlay", "overlay", "-o", layers, str(m)], "mount overlay")
        # Fresh proc and sysfs instances, not rbinds: no host submounts (binfmt_misc) to undo.
        run(["mount", "-t", "proc", "proc", str(m / "proc")], "mount proc")
        run(["mount", "-t", "sysfs", "sysfs", str(m / "sys")], "mount sysfs")
        (d / "cpuinfo").write_text("".join(CPUINFO.format(n=n) for n in range(os.cpu_count() or 1)))
        run(["mount", "--bind", str(d / "cpuinfo"), str(m / "proc/cpuinfo")], "bind cpuinfo")
        # A private /dev, not a bind of the host's: rm -rf in the board cannot delete host nodes.
        run(
            ["mount", "-t", "tmpfs", "-o", "mode=755,size=8m", "tmpfs", str(m / "dev")],
            "mount /dev",
        )
        for node in ("null", "zero", "full", "random", "urandom", "tty"):
            (m / "dev" / node).touch()
            run(["mount", "--bind", f"/dev/{node}", str(m / "dev" / node)], f"bind /dev/{node}")
        (m / "dev/pts").mkdir()
        pts = ["-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=620", "devpts"]
        run(["mount", *pts, str(m / "dev/pts")], "mount devpts")  # for `ssh -t`
        (m / "dev/ptmx").symlink_to("pts/ptmx")
        (m / "dev/shm").mkdir()
        os.chmod(m / "dev/shm", 0o1777)  # POSIX semaphores (multiprocessing) live here

    def stop(self) -> None:
        """Kill sshd and every process in the board, unmount everything, delete the overlay.

        Raises:
            RuntimeError: A mount survived a lazy unmount (the board's dir is then kept).
        """
        try:
            if self._proc is not None:
                stop_process_tree(self._proc)
                self._proc = None
            if self._dir is not None:
                safe_rmtree(self._dir)  # kills what still runs chrooted there, unmounts, deletes
                self._dir = None
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None


if __name__ == "__main__":
    t0 = time.monotonic()
    built = build_rootfs()
    print(f"rootfs {built} ready in {time.monotonic() - t0:.1f} s", flush=True)
    if sys.argv[1:2] != ["build"]:
        with Arm64Board(built) as board:
            serve_forever(board)
