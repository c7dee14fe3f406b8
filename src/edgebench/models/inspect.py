"""Reading a user's model file to find its inputs. Runs inside a worker: a corrupt file can crash
the library that reads it, and that must not take the main process down."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgebench.errors import ModelLoadError


def _dim(d: Any) -> int | None:
    try:
        v = int(d)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def declared(name: str, dims: Sequence[int | None], dtype: str) -> dict[str, Any]:
    """An input as the model declares it: `{"name", "shape", "dtype", "batched"}`.

    The first dimension is a batch when the model leaves it free (dynamic, symbolic) or fixes it
    at 1 (a model exported for one sample at a time: runtimes may resize it for a batch); the
    shape is then one sample's. A static first dimension above 1 (a recurrent state
    [2, ?, 128]) or a scalar (a sample rate) is no batch: the shape is the whole tensor, fed
    exactly so."""
    if dims and (dims[0] is None or dims[0] == 1):
        return {"name": name, "shape": list(dims[1:]), "dtype": dtype, "batched": True}
    return {"name": name, "shape": list(dims), "dtype": dtype, "batched": False}


def inspect_inputs(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Inputs as `{"name", "shape" (None for dynamic), "dtype", "batched"}` (see `declared`)."""
    try:
        if fmt == "tflite":
            return _tflite_inputs(path)
        if fmt == "keras":
            return _keras_inputs(path)
        if fmt == "savedmodel":
            return _savedmodel_inputs(path)
        if fmt == "onnx":
            return _onnx_inputs(path)
        if fmt == "torch":
            return _torch_inputs(path)
        if fmt == "torchscript":
            return _torchscript_inputs(path)
    except ModelLoadError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{path}: cannot read as {fmt} ({first[:200]})") from exc
    raise ModelLoadError(f"{path}: edgebench cannot inspect {fmt} models")


def inspect_outputs(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Outputs as `{"name", "shape" (whole, None for dynamic), "dtype"}`, for the formats that
    declare them without running (ONNX, TFLite); [] for the others."""
    try:
        if fmt == "onnx":
            import onnx

            graph = onnx.load(str(path), load_external_data=False).graph
            return [
                {
                    "name": o.name,
                    "shape": [
                        _dim(d.dim_value) if d.HasField("dim_value") else None
                        for d in o.type.tensor_type.shape.dim
                    ],
                    "dtype": onnx.helper.tensor_dtype_to_np_dtype(
                        o.type.tensor_type.elem_type
                    ).name,
                }
                for o in graph.output
            ]
        if fmt == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            details = Interpreter(model_path=str(path)).get_output_details()
            return [
                {
                    "name": d["name"],
                    "shape": [_dim(x) for x in d.get("shape_signature", d["shape"])],
                    "dtype": d["dtype"].__name__,
                }
                for d in details
            ]
    except Exception:  # noqa: BLE001 - the inputs were read; outputs are only shown
        return []
    return []


def _tflite_inputs(path: Path) -> list[dict[str, Any]]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    out = []
    for d in it.get_input_details():
        sig = d.get("shape_signature", d["shape"])
        out.append(declared(d["name"], [_dim(x) for x in sig], d["dtype"].__name__))
    return out


def _keras_inputs(path: Path) -> list[dict[str, Any]]:
    from edgebench.conversion.tensorflow_steps import load_keras_model

    model = load_keras_model(path)
    return [
        declared(
            t.name.split(":")[0],
            [_dim(x) for x in t.shape],
            str(t.dtype).replace("<dtype: '", "").rstrip("'>"),
        )
        for t in model.inputs
    ]


def _savedmodel_inputs(path: Path) -> list[dict[str, Any]]:
    import tensorflow as tf

    from edgebench.models.saved_model_check import check_saved_model

    check_saved_model(path)  # loading runs the SavedModel's initializers
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ModelLoadError(f"{path}: SavedModel has no serving_default signature")
    specs = loaded.signatures["serving_default"].structured_input_signature[1]
    return [
        declared(name, [_dim(x) for x in spec.shape], spec.dtype.name)
        for name, spec in sorted(specs.items())
    ]


def _onnx_inputs(path: Path) -> list[dict[str, Any]]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(model)
    weights = {init.name for init in model.graph.initializer}
    out = []
    for i in model.graph.input:
        if i.name in weights:
            continue
        tensor = i.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        out.append(declared(i.name, [_dim(d) for d in dims], dtype))
    return out


def _torch_inputs(path: Path) -> list[dict[str, Any]]:
    """A torch.export program's user inputs; a dimension exported as dynamic (a symbol) is
    None, to be given with --input-shape (the batch is edgebench's)."""
    import torch

    from edgebench.models.torch_program import load_program

    program = load_program(path)
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    out = []
    for name in program.graph_signature.user_inputs:
        value = nodes[str(name)].meta.get("val")
        if not isinstance(value, torch.Tensor):
            raise ModelLoadError(f"{path}: input {name} is not a tensor ({type(value).__name__})")
        shape = [d if isinstance(d, int) else None for d in value.shape]
        out.append(declared(str(name), shape, str(value.dtype).split(".")[-1]))
    return out


def _torchscript_inputs(path: Path) -> list[dict[str, Any]]:
    """A TorchScript program's inputs, by name: TorchScript records no sizes, so every shape
    is unknown (empty) until --input-shape gives it; float32 is assumed."""
    import torch

    from edgebench.models.torchscript_check import check_torchscript

    check_torchscript(path)  # loading runs the program's __setstate__ methods
    try:
        program = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - torch.jit.load raises RuntimeError for most things
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"{path}: not a TorchScript program ({first[:160]}); a checkpoint or a pickled "
            "module needs its Python code: export it with torch.export.save as .pt2"
        ) from exc
    arguments = program.forward.schema.arguments[1:]  # the first is the module itself
    return [{"name": a.name, "shape": [], "dtype": "float32", "batched": True} for a in arguments]
