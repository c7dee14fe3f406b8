"""The device-side agent: edgebench's own Python source, zipped, run from the zip.

On the device the agent is `python -c "... from edgebench.harness.worker import main ..."` with
the zip first on `sys.path`: the same worker and measure step as on the host. It imports only
the standard library, numpy and the runtime a cell needs, never TensorFlow or torch (unless the
cell measures torch), typer, rich, pydantic or yaml. The zip is built once per edgebench source
and copied to a device once (its name is its content's digest).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import edgebench

# What the device never needs: the command line, reports, suites and explanations.
_LEFT_OUT = ("cli", "report", "suites", "explain")


def _sources() -> list[Path]:
    root = Path(edgebench.__file__).resolve().parent
    return sorted(
        p
        for p in root.rglob("*.py")
        if "__pycache__" not in p.parts and p.relative_to(root).parts[0] not in _LEFT_OUT
    )


def agent_zip(cache_dir: Path | None = None) -> Path:
    """The agent zip for this edgebench's source (built when missing)."""
    from edgebench.cache import default_cache_dir

    root = Path(edgebench.__file__).resolve().parent
    files = _sources()
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    folder = (cache_dir or default_cache_dir()) / "agent"
    out = folder / f"edgebench-agent-{h.hexdigest()[:16]}.zip"
    if out.is_file():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for path in files:
            # Fixed timestamps: the same source makes the same zip, byte for byte.
            info = zipfile.ZipInfo(
                f"edgebench/{path.relative_to(root).as_posix()}", (2020, 1, 1, 0, 0, 0)
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    os.replace(tmp, out)
    return out


__all__ = ["agent_zip"]
