"""Downloads with checksum verification, written atomically into a cache folder.

Used for pretrained weights. Tested against a local HTTP server: no hub is reachable in CI.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from edgebench.errors import EdgebenchError, redact


class DownloadError(EdgebenchError):
    """A download failed, was cut short, or did not match its checksum."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checksum(path: Path, checksum: str | None) -> None:
    """Checks `path` against `checksum` written as `sha256:HEX` or `md5:HEX`; None skips."""
    if not checksum:
        return
    algorithm, _, expected = checksum.partition(":")
    actual = file_digest(path, algorithm)
    if actual != expected.lower():
        raise DownloadError(
            f"{path.name}: {algorithm} is {actual}, expected {expected} (corrupt or wrong file)"
        )


def download(url: str, dest: Path, checksum: str | None = None, timeout_s: float = 30.0) -> Path:
    """Fetches `url` to `dest`, verifying `checksum`; `dest` appears only when all is well.

    Raises:
        DownloadError: on a network error, a short read, or a checksum mismatch.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as resp:
            expected_len = resp.headers.get("Content-Length")
            received = 0
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
                received += len(chunk)
        if expected_len is not None and received != int(expected_len):
            raise DownloadError(
                f"{redact(url)}: connection closed after {received} of {expected_len} bytes"
            )
        verify_checksum(tmp, checksum)
        os.replace(tmp, dest)
        return dest
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{redact(url)}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"{redact(url)}: {reason}") from exc
    except Exception as exc:
        # http.client.IncompleteRead and friends are not OSErrors.
        if isinstance(exc, DownloadError):
            raise
        raise DownloadError(f"{redact(url)}: {type(exc).__name__}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
