"""A cached Debian bookworm arm64 root file system for the emulated ARM64 board.

``build_rootfs`` makes it once (python3, venv, pip, openssh-server) and ``ensure_emulation``
sets up qemu-user through binfmt_misc so its aarch64 programs run here. Needs root.
Used by ``arm64_board.Arm64Board``; ``python tests/support/arm64_board.py build`` builds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from .host import apt_install, run, safe_rmtree
except ImportError:  # run as a script
    from host import apt_install, run, safe_rmtree  # type: ignore[no-redef]

BINFMT = Path("/proc/sys/fs/binfmt_misc")
SUITE = "bookworm"
PACKAGES = (
    *("python3", "python3-venv", "python3-pip", "openssh-server", "ca-certificates"),
    "libstdc++6",  # manylinux wheels (onnxruntime, numpy) need it; with no apt, nothing pulls it in
)
EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
RECIPE = 4  # bump whenever _finish_rootfs changes: it is part of the cache key
MARKER = ".edgebench-rootfs"
DEFAULT_CACHE = Path.home() / ".cache" / "edgebench-test" / "arm64-bookworm"


def ensure_emulation() -> None:
    """Install qemu-user-static, binfmt-support and mmdebstrap; enable the qemu-aarch64 handler.

    Raises:
        RuntimeError: Not root, apt failed, or the kernel refuses the binfmt_misc handler.
    """
    if os.geteuid() != 0:
        raise RuntimeError("the arm64 board needs root (binfmt_misc, mount, chroot)")
    if not (BINFMT / "register").exists():
        # Not mounted on these VMs. Mount it before installing: qemu's postinst registers then.
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], "mount binfmt_misc")
    need = {"qemu-user-static": "qemu-aarch64-static", "binfmt-support": "update-binfmts"}
    need["mmdebstrap"] = "mmdebstrap"
    if missing := [pkg for pkg, exe in need.items() if not shutil.which(exe)]:
        apt_install(missing)
    entry = BINFMT / "qemu-aarch64"
    if not entry.exists() and shutil.which("update-binfmts"):  # postinst skips containers
        subprocess.run(["update-binfmts", "--import", "qemu-aarch64"], capture_output=True)
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True)
    try:
        if not entry.exists():  # last resort: systemd-binfmt's own line, written by hand
            (BINFMT / "register").write_text(
                Path("/usr/lib/binfmt.d/qemu-aarch64.conf").read_text()
            )
        if not entry.read_text().startswith("enabled"):
            entry.write_text("1")
    except OSError as exc:
        raise RuntimeError(f"cannot register the qemu-aarch64 binfmt handler: {exc}") from exc
    status = entry.read_text()
    interp = re.search(r"^interpreter (\S+)", status, re.M)
    if not status.startswith("enabled") or not interp or not Path(interp.group(1)).exists():
        raise RuntimeError(f"the qemu-aarch64 binfmt handler is unusable:\n{status}")


def mirror_sources() -> list[str]:
    """One-line apt sources for bookworm from this host's deb822 Debian sources (deb.debian.org)."""
    lines = []
    for src in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in src.read_text().split("\n\n"):
            pairs = [ln.split(":", 1) for ln in stanza.splitlines() if re.match(r"^\w[\w-]*:", ln)]
            f = {k.strip(): v.strip() for k, v in pairs}
            uri, comps = f.get("URIs", "").split()[:1], f.get("Components", "main")
            if (
                "deb" in f.get("Types", "").split()
                and uri
                and re.search(r"/debian(-security)?/?$", uri[0])
            ):
                lines += [
                    f"deb {uri[0]} {s} {comps}"
                    for s in f.get("Suites", "").split()
                    if s.startswith(SUITE)
                ]
    return lines or [f"deb http://deb.debian.org/debian {SUITE} main"]


def _finish_rootfs(root: Path) -> None:
    """Do by hand, natively, what the skipped maintainer scripts would have done."""
    share = root / "usr/share/base-passwd"
    sshd_user = "sshd:*:100:65534::/run/sshd:/usr/sbin/nologin\n"  # privilege separation user
    (root / "etc/passwd").write_text((share / "passwd.master").read_text() + sshd_user)
    (root / "etc/group").write_text((share / "group.master").read_text())
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    # base-files' and libc-bin's postinst: dotfiles, /etc/profile, nsswitch.conf, usual dirs.
    files = {"etc/profile": "profile", "root/.profile": "dot.profile", "root/.bashrc": "dot.bashrc"}
    for dst, src in files.items():
        shutil.copy(root / "usr/share/base-files" / src, root / dst)
    shutil.copy(root / "usr/share/libc-bin/nsswitch.conf", root / "etc/nsswitch.conf")
    for d in ("opt", "srv", "mnt", "media", "etc/opt", "var/opt", "var/mail", "run/lock"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for d in ("bin", "sbin", "lib", "include", "share", "src", "etc"):
        (root / "usr/local" / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "run/lock", 0o1777)
    for log in ("lastlog", "wtmp", "btmp"):  # sshd records logins with a terminal (ssh -t)
        (root / "var/log" / log).touch()
    shutil.copy(root / "usr/share/openssh/sshd_config", root / "etc/ssh/sshd_config")
    run(["ssh-keygen", "-A", "-f", str(root)], "ssh-keygen -A")  # host keys are arch-neutral
    certs = sorted((root / "usr/share/ca-certificates").glob("*/*.crt"))
    (root / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssl/certs/ca-certificates.crt").write_text("".join(c.read_text() for c in certs))
    run(["chroot", str(root), "/sbin/ldconfig"], "ldconfig in the chroot")  # emulated, ~1 s
    # py3compile never ran: with no .pyc every emulated python compiles the stdlib again (and
    # PYTHONDONTWRITEBYTECODE is often set), making `python3 -m venv` 64 s instead of 42 s.
    # .pyc files are arch-neutral, so a host python of the same minor version compiles them.
    pyver = max(p.name for p in (root / "usr/lib").glob("python3.*"))
    mine = f"python{sys.version_info.major}.{sys.version_info.minor}"
    host_python = sys.executable if mine == pyver else shutil.which(pyver)
    if host_python:
        dirs = [str(root / "usr/lib" / pyver), str(root / "usr/lib/python3/dist-packages")]
        cmd = [host_python, "-m", "compileall", "-q", "-j", "0", "-s", str(root), "-p", "/"]
        run([*cmd, *dirs], "compileall")


def build_rootfs(cache_dir: Path | None = None) -> Path:
    """Return a complete arm64 bookworm rootfs, building it on first use.

    mmdebstrap ``--variant=extract`` downloads and unpacks the packages natively (no emulated
    dpkg, no maintainer scripts: 40 s instead of 5 min), ``_finish_rootfs`` does the rest, and
    the folder is renamed into place only when complete, with a marker holding the content key.

    Args:
        cache_dir: Folder for rootfs builds; default ``~/.cache/edgebench-test/arm64-bookworm``.

    Raises:
        RuntimeError: Emulation cannot be set up, or mmdebstrap failed (output in the message).
    """
    ensure_emulation()
    cache = Path(cache_dir or DEFAULT_CACHE).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    recipe = [RECIPE, SUITE, "arm64", "?essential", *PACKAGES, *EXCLUDES]
    key = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()
    final = cache / f"rootfs-{key[:12]}"
    with open(cache / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder waits here, then reuses ours
        if (final / MARKER).is_file() and (final / MARKER).read_text() == key:
            return final
        for stale in [*cache.glob(".build-*"), final]:  # interrupted or unmarked builds
            safe_rmtree(stale)
        scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
        try:
            opts = ["--mode=root", "--variant=extract", "--arch=arm64", "--format=directory"]
            opts += ['--aptopt=Acquire::Languages "none"', "--include=?essential"]
            opts += [
                f"--include={','.join(PACKAGES)}",
                *(f"--dpkgopt=path-exclude={p}" for p in EXCLUDES),
            ]
            # mmdebstrap inherits the lock: if we are killed, it runs on, and a new builder
            # must wait for it rather than delete the folder it still writes to.
            argv = ["mmdebstrap", *opts, SUITE, str(scratch), *mirror_sources()]
            run(argv, "mmdebstrap", pass_fds=(lock.fileno(),))
            _finish_rootfs(scratch)
            (scratch / MARKER).write_text(key)
            os.rename(scratch, final)  # atomic within one file system: complete or absent
        except BaseException:
            safe_rmtree(scratch)
            raise
    return final
