"""The on-disk artifact cache: converted models keyed by everything that shapes them.

A key hashes (model, weights, step, precision, options, library versions), so a new library
version or option makes a new artifact instead of reusing a stale one. Each entry folder holds
the artifact and `meta.json` with the conversion time of the run that built it, and the
artifact's size, newest modification time and content hash. An entry is checked on first use in
a process: its size, then its content's hash, against those recorded; a damaged entry
(unreadable meta.json, missing or changed artifact) is removed and counts as a miss, with a
warning, so it is rebuilt rather than measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    env = os.environ.get("EDGEBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edgebench"


def check_cache_dir(path: Path, given: bool = True) -> Path:
    """Refuses, before any work, a cache folder that is a file or cannot be written (made
    nowhere: only checked). `given`: the user named it (--cache-dir), else it is the default
    (EDGEBENCH_CACHE, or the user's cache folder).

    Raises:
        UsageError: one line naming the folder and how it was chosen.
    """
    from edgebench.errors import UsageError

    how = "--cache-dir" if given else (
        "EDGEBENCH_CACHE=" if os.environ.get("EDGEBENCH_CACHE") else "the cache folder "
    )  # fmt: skip
    shown = f"{how}{path}" if how.endswith("=") or how.endswith(" ") else f"{how} {path}"
    if path.exists() and not path.is_dir():
        raise UsageError(f"{shown}: is a file, not a folder")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise UsageError(f"{shown}: cannot be made ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{shown}: {existing} is not writable")
    return path


def cache_key(parts: dict[str, Any]) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def content_stamp(path: Path) -> tuple[int, int]:
    """A file's or folder's total size and newest modification time: cheap to read."""
    stats = [p.stat() for p in _files(path)]
    return sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)


def gzip_size(path: Path) -> int:
    """Bytes of the file (or of a folder's files, one after the other) after gzip -9: the size
    a device downloads and stores, where weights pruned to zeros or clustered to a few values
    shrink though the file on disk does not (about 0.5 s for 14 MB here)."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    total = 0
    for p in _files(path):
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                total += len(packer.compress(block))
    return total + len(packer.flush())


def content_hash(path: Path) -> str:
    """The sha256 of a file's bytes, or of a folder's file names and bytes."""
    h = hashlib.sha256()
    for p in _files(path):
        if path.is_dir():
            h.update(p.relative_to(path).as_posix().encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


_MODEL_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def model_file_digest(path: Path) -> str:
    """The content hash of a user's model file or folder, hashed once per process for as
    long as its size and newest times stay the same (the change time too: a write moves it
    even where the modification time is put back). A model file is known by it: two files of
    one name are two models, one file under two names is one."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    stats = [p.stat() for p in files]
    memo = (
        str(path.resolve()),
        sum(s.st_size for s in stats),
        max((s.st_mtime_ns for s in stats), default=0),
        max((s.st_ctime_ns for s in stats), default=0),
    )
    if memo not in _MODEL_DIGESTS:
        _MODEL_DIGESTS[memo] = content_hash(path)
    return _MODEL_DIGESTS[memo]


@dataclass(frozen=True)
class CacheEntry:
    """One cached artifact: `path` is the artifact inside the entry folder."""

    folder: Path
    path: Path
    meta: dict[str, Any]

    @property
    def convert_s(self) -> float:
        return float(self.meta.get("convert_s", 0.0))


@dataclass
class ArtifactCache:
    root: Path
    # Damaged entries found (and removed) by this instance, one line each, for the cells.
    warnings: list[str] = field(default_factory=list)
    _verified: set[tuple[str, int, int]] = field(default_factory=set, repr=False)

    def folder(self, stage: str, key: str) -> Path:
        return self.root / "artifacts" / stage / key

    def lookup(self, stage: str, key: str) -> CacheEntry | None:
        """The entry, or None when there is none or it is damaged (then removed)."""
        folder = self.folder(stage, key)
        meta_file = folder / "meta.json"
        if not folder.is_dir():
            return None
        try:
            meta = json.loads(meta_file.read_text())
            path = folder / meta["artifact"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._damaged(stage, key, f"meta.json unreadable: {type(exc).__name__}")
            return None
        problem = (
            f"{meta['artifact']} is missing"
            if not path.exists()
            else self._check(path, meta.get("content"))
        )
        if problem is not None:
            self._damaged(stage, key, problem)
            return None
        return CacheEntry(folder, path, meta)

    def _check(self, path: Path, recorded: dict[str, Any] | None) -> str | None:
        """Why the artifact differs from what was built, or None.

        Its bytes are hashed once per process (about 0.1 s per 100 MB here): a size and a
        modification time can both be kept by whatever changed the file (bytes zeroed in
        place, `touch -r`), and a damaged .tflite then failed every rerun with a flatbuffer
        error that never named the cache."""
        if recorded is None:  # built by an edgebench that recorded no content: trusted
            return None
        size, mtime = content_stamp(path)
        memo = (str(path), size, mtime)
        if memo in self._verified:
            return None
        if size != recorded.get("bytes"):
            return f"{size} bytes, built as {recorded.get('bytes')}"
        if content_hash(path) != recorded.get("sha256"):
            return "its content changed since it was built"
        self._verified.add(memo)
        return None

    def _damaged(self, stage: str, key: str, why: str) -> None:
        self.warnings.append(f"cache entry {stage}/{key} was damaged ({why}): rebuilt")
        shutil.rmtree(self.folder(stage, key), ignore_errors=True)

    def remove_stale_scratch(self) -> None:
        """Removes half-built entries left by conversions whose process is gone."""
        from edgebench.sysinfo import pid_alive

        for scratch in (self.root / "artifacts").glob("*/.*.tmp"):
            pid = scratch.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(scratch, ignore_errors=True)

    def begin(self, stage: str, key: str) -> Path:
        """A fresh scratch folder to build an entry in; `commit` moves it into place."""
        scratch = self.root / "artifacts" / stage / f".{key}.{os.getpid()}.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        return scratch

    def commit(
        self, stage: str, key: str, scratch: Path, artifact: str, meta: dict[str, Any]
    ) -> CacheEntry:
        size, mtime = content_stamp(scratch / artifact)
        content = {
            "bytes": size,
            "mtime_ns": mtime,
            "sha256": content_hash(scratch / artifact),
            "gzip_bytes": gzip_size(scratch / artifact),  # once per artifact, not per cell
        }
        meta = {**meta, "artifact": artifact, "created": time.time(), "content": content}
        (scratch / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        final = self.folder(stage, key)
        try:
            os.replace(scratch, final)  # atomic; refused when `final` is a full folder
        except OSError:
            # Another process (a second run, a fleet worker on this host) built the same
            # entry meanwhile and may be reading it: keep theirs, drop ours.
            existing = self.lookup(stage, key)
            if existing is not None:
                shutil.rmtree(scratch, ignore_errors=True)
                return existing
            shutil.rmtree(final, ignore_errors=True)
            os.replace(scratch, final)
        return CacheEntry(final, final / artifact, meta)


def size_on_disk(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
