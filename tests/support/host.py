"""Host-side helpers for the SSH test targets: apt installs, process trees and mounts.

Stdlib only. Everything here acts on this machine; nothing reaches another address.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path


def run(
    cmd: list[str], what: str, pass_fds: tuple[int, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``, capturing its output; raise with the output's tail when it fails.

    Args:
        cmd: The argv.
        what: Names the step in the error message.
        pass_fds: File descriptors the command inherits (a lock it must hold while it runs).

    Raises:
        RuntimeError: The command exited non-zero.
    """
    proc = subprocess.run(cmd, capture_output=True, text=True, pass_fds=pass_fds)
    if proc.returncode != 0:
        out = f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        raise RuntimeError(f"{what} failed (rc {proc.returncode}):\n{out}")
    return proc


def apt_install(packages: list[str]) -> None:
    """Install Debian packages (no recommends), refreshing the package lists when needed.

    Raises:
        RuntimeError: Not root, no apt-get, or apt-get failed (its output is in the message).
    """
    if os.geteuid() != 0:
        raise RuntimeError(f"installing {packages} needs root (apt-get): install them by hand")
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"no apt-get on this machine: install {packages} by hand")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Another apt run (a parallel test) may hold the dpkg lock: wait for it, not fail.
    apt = ["apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=300"]
    install = [*apt, "install", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, capture_output=True).returncode == 0:
        return
    # A fresh machine has no lists, or stale ones (404 on a superseded version): refresh, retry.
    update = subprocess.run([*apt, "update"], env=env, capture_output=True, text=True)
    proc = subprocess.run(install, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        log = f"{update.stderr[-1500:]}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        raise RuntimeError(f"apt-get install {' '.join(packages)} failed:\n{log}")


def _descendants(pid: int) -> list[int]:
    """PIDs of every live descendant of ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile; comm may hold ')'
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def stop_process_tree(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate ``proc``, its process group and all its descendants; SIGKILL after ``grace``.

    sshd puts each connection into a session of its own (setsid): killing the group alone
    would leave the shells of open connections running, so descendants are collected first.
    """
    victims = _descendants(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in victims:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first (read from /proc/self/mountinfo)."""
    base = os.path.realpath(path)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # mountinfo escapes blanks in paths as octal (\040).
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if point == base or point.startswith(base + "/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def release(path: Path) -> None:
    """Kill every process whose root is at or below ``path``, then unmount everything there.

    A process left chrooted inside (an ssh session's shell) keeps the mounts busy, hence the
    kill first; a mount that stays busy is detached lazily (umount -l).

    Raises:
        RuntimeError: A mount survived even the lazy unmount.
    """
    base = os.path.realpath(path)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        hit = False
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                root = os.readlink(proc / "root")
                if root == base or root.startswith(base + "/"):
                    os.kill(int(proc.name), sig)
                    hit = True
            except OSError:  # gone, or a kernel thread
                pass
        if hit:
            time.sleep(0.5)
    for point in mounts_under(path):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    if left := mounts_under(path):
        raise RuntimeError(f"still mounted: {left}")


def safe_rmtree(path: Path) -> None:
    """Delete ``path`` after unmounting below it: rmtree through a bind of /dev would wipe it."""
    if path.exists():
        release(path)
        shutil.rmtree(path)
