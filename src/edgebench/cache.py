"""The on-disk artifact cache: converted models keyed by everything that shapes them.

A key hashes (model, weights, step, precision, options, library versions), so a new library
version or option makes a new artifact instead of reusing a stale one. Each entry folder holds
the artifact and `meta.json` with the conversion time of the run that built it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    env = os.environ.get("EDGEBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edgebench"


def cache_key(parts: dict[str, Any]) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


@dataclass(frozen=True)
class CacheEntry:
    """One cached artifact: `path` is the artifact inside the entry folder."""

    folder: Path
    path: Path
    meta: dict[str, Any]

    @property
    def convert_s(self) -> float:
        return float(self.meta.get("convert_s", 0.0))


class ArtifactCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, stage: str, key: str) -> Path:
        return self.root / "artifacts" / stage / key

    def lookup(self, stage: str, key: str) -> CacheEntry | None:
        folder = self.folder(stage, key)
        meta_file = folder / "meta.json"
        if not meta_file.is_file():
            return None
        meta = json.loads(meta_file.read_text())
        path = folder / meta["artifact"]
        if not path.exists():
            return None
        return CacheEntry(folder, path, meta)

    def begin(self, stage: str, key: str) -> Path:
        """A fresh scratch folder to build an entry in; `commit` moves it into place."""
        scratch = self.root / "artifacts" / stage / f".{key}.{os.getpid()}.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        return scratch

    def commit(
        self, stage: str, key: str, scratch: Path, artifact: str, meta: dict[str, Any]
    ) -> CacheEntry:
        meta = {**meta, "artifact": artifact, "created": time.time()}
        (scratch / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        final = self.folder(stage, key)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
        return CacheEntry(final, final / artifact, meta)


def size_on_disk(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
