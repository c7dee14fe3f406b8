"""Models: the built-in zoo and the user's own files, described by `ModelSpec`."""

from __future__ import annotations

from pathlib import Path

from edgebench.errors import ModelLoadError, UsageError
from edgebench.models import zoo as _zoo  # noqa: F401 - registers the built-in models
from edgebench.models._registry import InputSpec, ModelSpec, get_model, list_models, register

__all__ = [
    "InputSpec",
    "ModelSpec",
    "get_model",
    "list_models",
    "is_zoo_name",
    "looks_like_path",
    "register",
    "resolve_model",
    "parse_input_shapes",
    "source_format_of",
]

# .pt2: a torch.export program (`torch.export.save`), what the PyTorch-family compilers take;
# .pt: a TorchScript program (`torch.jit.save`), converted to one.
_SUFFIX_FORMATS = {
    ".keras": "keras",
    ".tflite": "tflite",
    ".onnx": "onnx",
    ".pt2": "torch",
    ".pt": "torchscript",
}


def source_format_of(path: Path) -> str:
    """The format of a user's model file or folder, from its name and contents."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ModelLoadError(f"{path}: a folder, but not a SavedModel (no saved_model.pb)")
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_SUFFIX_FORMATS)) + ", or a SavedModel folder"
        raise ModelLoadError(
            f"{path}: unknown model format '{path.suffix}'; edgebench reads {known}"
        )
    return fmt


def looks_like_path(name: str) -> bool:
    """Whether a `--model` value names a file: a path, a model file's suffix, or something
    that exists here and is not a zoo name (a zoo name wins over a same-named folder; write
    ./NAME for the folder)."""
    if "/" in name or Path(name).suffix.lower() in _SUFFIX_FORMATS:
        return True
    return Path(name).exists() and not is_zoo_name(name)


def is_zoo_name(name: str) -> bool:
    return any(m.name == name for m in list_models())


def resolve_model(name_or_path: str) -> ModelSpec:
    """A zoo model by name, a real-model corpus entry (`corpus:NAME`, fetched when prepared),
    or a user's model file (its inputs still to be inspected)."""
    if name_or_path.startswith("corpus:"):
        return _corpus_spec(name_or_path)
    if not looks_like_path(name_or_path):
        return get_model(name_or_path)
    try:
        path = Path(name_or_path).expanduser().resolve(strict=True)
    except FileNotFoundError:
        raise ModelLoadError(f"{name_or_path}: no such model file or folder") from None
    except (RuntimeError, OSError) as exc:  # a symbolic link loop, a path too long
        why = "a loop of symbolic links" if "loop" in str(exc).lower() else str(exc)
        raise ModelLoadError(f"{name_or_path}: cannot be read ({why})") from None
    fmt = source_format_of(path)
    requires = {
        "keras": ("tensorflow",),
        "savedmodel": ("tensorflow",),
        "onnx": ("onnx",),
        "torch": ("torch",),
    }
    return ModelSpec(
        name=path.stem if path.is_file() else path.name,
        task="unknown",
        inputs=(),
        preprocessing="none",
        label_set="unknown",
        source_format=fmt,
        license="the user's own",
        path=str(path),
        description=f"user model {path}",
        requires=requires.get(fmt, ()),
    )


def _corpus_spec(name: str) -> ModelSpec:
    from edgebench.cache import default_cache_dir
    from edgebench.models import corpus

    entry = corpus.get(name)
    path = corpus.path_of(entry, default_cache_dir())
    return ModelSpec(
        name=entry.name,
        task="unknown",
        inputs=(),
        preprocessing=entry.preprocessing,
        label_set="unknown",
        source_format=entry.format,
        license=entry.licence,
        path=str(path),
        description=f"{entry.kind}: {entry.package}=={entry.version} ({entry.registry})",
        requires={"onnx": ("onnx",)}.get(entry.format, ()),
    )


def parse_input_shapes(text: str) -> list[tuple[str | None, tuple[int, ...]]]:
    """Parses `--input-shape`: per-sample shapes without the batch dimension.

    `224,224,3` gives one unnamed shape; `images=3,224,224;scale=1` names several inputs.
    """
    shapes: list[tuple[str | None, tuple[int, ...]]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, dims = part.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
        except ValueError:
            raise UsageError(f"--input-shape '{part}': dimensions must be whole numbers") from None
        if not shape or any(d <= 0 for d in shape):
            raise UsageError(f"--input-shape '{part}': dimensions must be positive")
        shapes.append((name or None, shape))
    if not shapes:
        raise UsageError("--input-shape is empty")
    return shapes
