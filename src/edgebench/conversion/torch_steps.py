"""Converters that need PyTorch. Imported only inside a worker process."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.conversion.routes import NoRoute
from edgebench.errors import BackendUnavailable, ConversionError, error_line
from edgebench.models import ModelSpec
from edgebench.models.torchscript_check import check_torchscript
from edgebench.models.weights import ResolvedWeights


def materialize_torch_twin(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> str:
    """Builds a zoo model's PyTorch twin as a torch.export program (`model.pt2`).

    The twin takes PyTorch checkpoints; a zoo model's Keras weights cannot be carried over, so
    those cells are unsupported rather than silently run with other weights."""
    assert model.torch_builder is not None
    if weights.path is not None and not weights.path.endswith((".pth", ".pt")):
        raise NoRoute(
            f"the PyTorch twin of {model.name} cannot load {weights.name} Keras weights; "
            "use --weights random, or a model with PyTorch weights (mobilenet_v2.tv_in1k)"
        )
    module, _, func = model.torch_builder.partition(":")
    build = getattr(importlib.import_module(module), func)
    build(out_dir / "model.pt2", weights=weights.path, **model.torch_builder_kwargs)
    return "model.pt2"


def onnx_to_torch(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> tuple[str, dict[str, Any]]:
    """An ONNX graph to a torch.export program (`model.pt2`) for one batch size, so that
    torch.compile and ExecuTorch take ONNX models.

    onnx2torch turns the graph into PyTorch modules after onnxslim has fixed its input shapes
    and folded its shape arithmetic. Its modules read shapes from tensors (a Reshape's target),
    which torch.export cannot trace, so the module is traced by TorchScript with real inputs,
    frozen (those values become constants), and converted to a torch.export program with
    static shapes. The program is checked against the onnx2torch module on the same input.
    """
    import onnx
    import torch

    from edgebench.conversion.onnx_cleanup import cleanup_note, slimmed, static_shapes

    assert source is not None
    convert = _onnx2torch()
    onnx_model = onnx.load(str(source))
    shapes = static_shapes(onnx_model, model, batch or 1, "ONNX -> PyTorch (onnx2torch)")
    clean = slimmed(onnx_model, shapes)
    prelus = _prelu_slopes_per_channel(clean)
    try:
        module = convert(clean).eval()
    except Exception as exc:  # noqa: BLE001 - onnx2torch raises bare KeyError/NotImplementedError
        raise ConversionError(f"onnx2torch: {error_line(exc)}") from exc
    dtypes = {i.name: i.type.tensor_type.elem_type for i in clean.graph.input}
    to_numpy = onnx.helper.tensor_dtype_to_np_dtype
    example = _example_inputs([(shape, to_numpy(dtypes[name])) for name, shape in shapes.items()])
    program = traced_program(module, example, "onnx2torch")
    torch.export.save(program, str(out_dir / "model.pt2"))
    from importlib.metadata import version

    info = {
        "torch_route": (
            f"onnx2torch {version('onnx2torch')}, traced by TorchScript at batch {batch or 1} "
            "and converted to torch.export (static shapes)"
        ),
        "onnx_cleanup": cleanup_note(onnx_model, clean, "before onnx2torch")
        + (f"; {prelus} PRelu slopes [1, C, 1, 1] -> [C, 1, 1]" if prelus else ""),
    }
    return "model.pt2", info


def _prelu_slopes_per_channel(onnx_model: Any) -> int:
    """Drops the leading 1s of PRelu slopes (tf2onnx writes [1, C, 1, 1]), which broadcast
    the same way without them, and returns how many changed. onnx2torch maps a [C, 1, 1] slope
    to torch's prelu; any other shape becomes masked indexing (`out[x >= 0] = x[x >= 0]`),
    whose data-dependent sizes torch.compile cannot compile (KeyError: u0) and ExecuTorch runs
    outside XNNPACK."""
    from onnx import numpy_helper

    graph = onnx_model.graph
    weights = {init.name: init for init in graph.initializer}
    changed = 0
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in weights:
            continue
        slope = numpy_helper.to_array(weights[node.input[1]])
        if slope.ndim < 2 or slope.shape[0] != 1:
            continue
        while slope.ndim > 1 and slope.shape[0] == 1:
            slope = slope[0]
        name = f"{node.input[1]}__per_channel"  # a new weight: another node may share the old
        if name not in weights:
            weights[name] = numpy_helper.from_array(slope, name)
            graph.initializer.append(weights[name])
        node.input[1] = name
        changed += 1
    return changed


def _example_inputs(inputs: list[tuple[Any, Any]]) -> tuple[Any, ...]:
    """Seeded inputs in [0, 1) of each (shape, dtype), as tensors: what a conversion traces
    and checks its program with."""
    import torch

    rng = np.random.default_rng(0)
    return tuple(torch.from_numpy(rng.random(shape).astype(dtype)) for shape, dtype in inputs)


def traced_program(module: Any, example: tuple[Any, ...], origin: str) -> Any:
    """A torch.export program of `module` (an nn.Module or a TorchScript module) with static
    shapes: TorchScript traces it with `example`, freezing folds its attributes and the values
    read from them into constants, and torch's TorchScript converter writes the program.

    Raises:
        ConversionError: a step that fails, or a program whose outputs differ from the module's.
    """
    import torch

    # torch's TorchScript -> torch.export converter: the one route from a traced module to a
    # program that exists in PyTorch itself (private, so every failure is caught and named).
    from torch._export.converter import TS2EPConverter

    class _StaticShapes(TS2EPConverter):
        """Static shapes: the default marks every size dynamic (Dim.AUTO), and sympy then
        fails on sizes such as PaddleOCR's (width/4)//2."""

        def retrace_as_exported_program(self, gm: Any, name_to_constant: Any) -> Any:
            return torch.export.export(gm, tuple(self.sample_args), strict=False)

    sizes = ", ".join("x".join(map(str, x.shape)) for x in example)
    step = f"a run on an input of {sizes}"
    try:
        with torch.no_grad():
            expected = module(*example)
            step = "TorchScript trace"
            if not isinstance(module, torch.jit.ScriptModule):
                module = torch.jit.trace(module, example, check_trace=False)
            step = "TorchScript freeze"
            frozen = torch.jit.freeze(module.eval())
            step = "TorchScript -> torch.export"
            program = _StaticShapes(frozen, example).convert()
            got = program.module()(*example)
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - each step has its own error types
        raise ConversionError(f"{origin}: {step} failed: {error_line(exc)}") from exc
    flat_expected = expected if isinstance(expected, (list, tuple)) else [expected]
    flat_got = got if isinstance(got, (list, tuple)) else [got]
    for i, (a, b) in enumerate(zip(flat_expected, flat_got, strict=True)):
        scale = float(a.abs().max()) or 1.0
        err = float((a.float() - b.float()).abs().max()) / scale
        if err > 1e-3:
            raise ConversionError(
                f"{origin}: the exported program's output {i} differs from the module's "
                f"(max error {err:.2g} of its range)"
            )
    return program


def _onnx2torch() -> Any:
    """onnx2torch's `convert`.

    onnx2torch imports torchvision for two of its converters (NonMaxSuppression, RoiAlign).
    The torchvision wheels the Python registry serves are CUDA builds whose C++ ops do not load
    beside a CPU build of PyTorch (`operator torchvision::nms does not exist`), and the CPU
    builds live off the registry. Where torchvision does not import, onnx2torch is imported
    with those two ops answering, when a graph uses them, that they need torchvision; every
    other converter is onnx2torch's own.
    """
    import importlib.util
    import sys

    if importlib.util.find_spec("onnx2torch") is None:
        raise BackendUnavailable(
            "onnx2torch is not installed (pip install --no-deps onnx2torch==1.5.15: its "
            "dependencies would replace the CPU PyTorch)"
        )
    if "onnx2torch" in sys.modules:
        return sys.modules["onnx2torch"].convert
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - absent, or C++ ops that do not match torch
        reason = error_line(exc)
        stand_ins = _torchvision_ops_unavailable(reason)
        sys.modules.update(stand_ins)
        try:
            import onnx2torch
        finally:
            for name in stand_ins:
                sys.modules.pop(name, None)
        return onnx2torch.convert
    import onnx2torch

    return onnx2torch.convert


def _torchvision_ops_unavailable(reason: str) -> dict[str, Any]:
    """Modules named `torchvision` and `torchvision.ops` whose three functions (the ones
    onnx2torch calls) raise ConversionError naming the ONNX op and why torchvision is out."""
    import types

    ops = types.ModuleType("torchvision.ops")
    needs = {
        "nms": "NonMaxSuppression",
        "box_convert": "NonMaxSuppression",
        "roi_align": "RoiAlign",
    }
    for name, onnx_op in needs.items():

        def unavailable(*args: Any, _op: str = onnx_op, **kwargs: Any) -> Any:
            raise ConversionError(
                f"onnx2torch: {_op} needs torchvision's C++ ops, which cannot load here ({reason})"
            )

        setattr(ops, name, unavailable)
    package = types.ModuleType("torchvision")
    package.ops = ops  # type: ignore[attr-defined]
    return {"torchvision": package, "torchvision.ops": ops}


def torchscript_to_torch(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> tuple[str, dict[str, Any]]:
    """A TorchScript program (`torch.jit.save`, `.pt`) to a torch.export program for one batch
    size: frozen, then converted by torch's own TorchScript converter and checked against the
    TorchScript module on the same input."""
    import torch

    assert source is not None
    batch = batch or 1
    check_torchscript(source)  # the input inspection did too, unless --input-shape skipped it
    module = torch.jit.load(str(source), map_location="cpu")
    example = _example_inputs([(spec.feed_shape(batch), spec.dtype) for spec in model.inputs])
    program = traced_program(module, example, "TorchScript")
    torch.export.save(program, str(out_dir / "model.pt2"))
    info = {
        "torch_route": (
            f"TorchScript frozen at batch {batch} and converted to torch.export (static shapes)"
        )
    }
    return "model.pt2", info
