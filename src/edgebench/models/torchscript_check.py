"""Checking a TorchScript program (`.pt`, `torch.jit.save`) before `torch.jit.load` runs any of it.

TorchScript runs no Python, but its own code runs at load: `torch.jit.load` calls the
`__setstate__` of every scripted class it unpickles, and TorchScript can write files
(`torch.save(obj, path)`, `torch.from_file(path, shared=True)`). The archive is a zip of that
code as text (`<name>/code/**/*.py`) and of pickles; both are read here without loading
anything, and a program that defines `__setstate__` or names an op that reads or writes files
is refused with one line. Pure Python, no torch.
"""

from __future__ import annotations

import ast
import pickletools
import zipfile
from pathlib import Path

from edgebench.errors import ModelLoadError

# TorchScript's ops that open files by name: aten::from_file and aten::save, torchvision's
# image::read_file and image::write_file (any image op is refused), and `load` for one to come.
_FILE_OPS = {"from_file", "save", "load", "read_file", "write_file"}
# What torch.jit.save's pickles refer to: scripted classes (`__torch__.*`), storages and
# tensor rebuilders. TorchScript's unpickler refuses anything else too; said here in one line.
_PICKLE_MODULES = {"torch", "torch._utils", "torch.jit._pickle", "collections"}


def check_torchscript(path: Path) -> None:
    """Refuses a TorchScript archive whose code runs at load or touches files.

    Args:
        path: a `.pt` written by `torch.jit.save`.

    Raises:
        ModelLoadError: one line naming the file and what it holds; also for a file that is no
            TorchScript zip.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = [(info, info.filename.split("/")) for info in archive.infolist()]
            if not any("code" in parts[:-1] for _, parts in entries):
                raise _NotTorchScript("no code in the archive")
            for info, parts in entries:
                if "code" in parts[:-1] and info.filename.endswith(".py"):
                    _check_code(archive.read(info).decode("utf-8", "replace"), info.filename)
                elif info.filename.endswith(".pkl"):
                    _check_pickle(archive.read(info), info.filename)
    except _Refused as exc:
        raise ModelLoadError(f"{path}: {exc}; edgebench runs no code from a model file") from None
    except (_NotTorchScript, OSError, zipfile.BadZipFile) as exc:
        # What inspection said before it checked: a torch.save checkpoint is a zip too.
        raise ModelLoadError(
            f"{path}: not a TorchScript program ({exc}); a checkpoint or a pickled module needs "
            "its Python code: export it with torch.export.save as .pt2"
        ) from None


class _NotTorchScript(Exception):
    """A file torch.jit.save did not write."""


class _Refused(Exception):
    """Why a program is refused; check_torchscript adds the file's name."""


def _check_code(source: str, name: str) -> None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        raise _Refused(f"{name} is not TorchScript code") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__setstate__":
            raise _Refused(f"{name} defines __setstate__, which torch.jit.load runs")
        parts = _dotted(node)  # torch.save, ops.aten.from_file, torch.ops.image.read_file
        if parts[:1] not in (["torch"], ["ops"]) or len(parts) < 2:
            continue
        if parts[-1] in _FILE_OPS or "image" in parts[1:3]:
            raise _Refused(f"{name} calls {'.'.join(parts)}, which reads or writes files")


def _dotted(node: ast.AST) -> list[str]:
    """`a.b.c` as ["a", "b", "c"]; [] for anything but names joined by dots."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    return [node.id, *parts] if isinstance(node, ast.Name) and parts else []


def _check_pickle(data: bytes, name: str) -> None:
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("STACK_GLOBAL", "INST"):
                raise _Refused(f"{name} is not a pickle torch.jit.save writes ({opcode.name})")
            if opcode.name == "GLOBAL":
                module = str(arg).split(" ")[0]
                if module not in _PICKLE_MODULES and module.split(".")[0] != "__torch__":
                    raise _Refused(f"{name} refers to {str(arg).replace(' ', '.')[:80]}")
    except ValueError as exc:
        raise _Refused(f"{name} is not a pickle ({exc})") from None
