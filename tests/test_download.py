"""The download code against a real HTTP server on 127.0.0.1: no hub is reachable here."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgebench.download import DownloadError, download
from edgebench.errors import WeightsUnavailable
from edgebench.models import get_model
from edgebench.models.weights import resolve_weights

PAYLOAD = b"edgebench weights " * 4096


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.endswith("/broken"):
            # Promise the whole payload, send half, then close: a dropped connection.
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        if "missing" in self.path:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_with_matching_sha256(server: str, tmp_path: Path) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    dest = download(f"{server}/w.h5", tmp_path / "w.h5", f"sha256:{digest}")
    assert dest.read_bytes() == PAYLOAD


def test_wrong_checksum_leaves_no_file(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="sha256 is .* expected 00ff"):
        download(f"{server}/w.h5", tmp_path / "w.h5", "sha256:00ff")
    assert list(tmp_path.iterdir()) == []


def test_broken_connection_leaves_no_file(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError):
        download(f"{server}/broken", tmp_path / "w.h5")
    assert list(tmp_path.iterdir()) == []


def test_http_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        download(f"{server}/missing", tmp_path / "w.h5")


def test_resolve_weights_downloads_then_reuses_the_cache(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEBENCH_WEIGHTS_URL", server)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    model = get_model("mobilenet_v2")
    got = resolve_weights(model, "imagenet", tmp_path / "cache")
    assert got.name == "imagenet" and Path(got.path or "").read_bytes() == PAYLOAD
    monkeypatch.setenv("EDGEBENCH_WEIGHTS_URL", "http://127.0.0.1:9")  # nothing listens there
    assert resolve_weights(model, "imagenet", tmp_path / "cache").path == got.path


def test_resolve_weights_checks_a_cached_files_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cached = tmp_path / "keras" / "models" / "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the real weights")
    with pytest.raises(WeightsUnavailable, match="md5 is"):
        resolve_weights(get_model("resnet50_v2"), "imagenet", tmp_path / "cache")


def test_weights_file_and_unknown_names(tmp_path: Path) -> None:
    f = tmp_path / "mine.h5"
    f.write_bytes(b"x")
    model = get_model("mobilenet_v2")
    with pytest.raises(WeightsUnavailable, match="not an HDF5 file"):
        resolve_weights(model, str(f), tmp_path)
    f.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(8))  # HDF5's signature
    assert resolve_weights(model, str(f), tmp_path).path == str(f)
    assert resolve_weights(model, "random", tmp_path).is_random
    with pytest.raises(WeightsUnavailable, match="choose one of: random, imagenet, PATH"):
        resolve_weights(model, "coco", tmp_path)
