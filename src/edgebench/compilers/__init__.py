"""The compiler registry: built-in compilers plus plugins.

Built-in compiler modules are light to import (their frameworks load inside `compile`/`load`).
Plugins register more: a module named in the `EDGEBENCH_PLUGINS` environment variable (comma
separated) or an entry point in the `edgebench.compilers` group, whose import calls `register`.
Worker processes inherit the environment, so a plugin compiler runs there too.
"""

from __future__ import annotations

import importlib
import os
from importlib import metadata

from edgebench.compilers.base import (
    ACCELERATORS,
    PRECISIONS,
    Ablation,
    Availability,
    Calibration,
    CompileOutput,
    Compiler,
    CompileRequest,
    Runtime,
)
from edgebench.compilers.registry import COMPILERS, register
from edgebench.errors import UnknownName, UsageError

__all__ = [
    "ACCELERATORS",
    "PRECISIONS",
    "Ablation",
    "Availability",
    "Calibration",
    "CompileOutput",
    "CompileRequest",
    "Compiler",
    "Runtime",
    "available_compiler_names",
    "get_compiler",
    "list_compilers",
    "register",
]

_plugins_loaded = False


def _load_builtins() -> None:
    from edgebench.compilers import (  # noqa: F401
        executorch_xnnpack,
        null,
        onnx_runtime,
        openvino_runtime,
        tensorflow_native,
        tensorrt_engine,
        tf_trt,
        tflite,
        torch_runtime,
        tvm_relax,
    )


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name in filter(
        None, (m.strip() for m in os.environ.get("EDGEBENCH_PLUGINS", "").split(","))
    ):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(
                f"EDGEBENCH_PLUGINS names the module {name!r}, which cannot be imported "
                f"({type(exc).__name__}: {exc}); install it, fix PYTHONPATH, or unset it"
            ) from None
    for ep in metadata.entry_points(group="edgebench.compilers"):
        ep.load()


def _all() -> dict[str, type[Compiler]]:
    _load_builtins()
    _load_plugins()
    return COMPILERS


def get_compiler(name: str) -> Compiler:
    """A compiler instance by name, or UnknownName listing the valid names."""
    compilers = _all()
    if name not in compilers:
        raise UnknownName("compiler", name, compilers)
    return compilers[name]()


def list_compilers() -> list[Compiler]:
    return [cls() for _, cls in sorted(_all().items())]


def available_compiler_names() -> list[str]:
    """The compilers (not `null`) whose runtime this host has, by probing without imports."""
    return [c.name for c in list_compilers() if c.name != "null" and c.probe().available]
