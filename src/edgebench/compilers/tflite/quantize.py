"""Quantizing a .tflite itself, with Google's `litert-quantizer` (needs no TensorFlow): how a
user who has only the .tflite gets its int8, int4 and fp16 variants, and how every TFLite cell
gets the precisions TensorFlow's converter has no recipe for.

Each precision is one recipe of litert-quantizer's (recorded with the artifact):

| precision    | recipe                                                                         |
| ------------ | ------------------------------------------------------------------------------ |
| fp16         | float casting: fp16 weights, fp32 arithmetic                                   |
| int8-weights | weight-only int8 (per channel), fp32 arithmetic                                |
| int4-weights | weight-only int4 (convolutions and fully connected layers)                     |
| int8-dynamic | dynamic-range int8 of convolutions and fully connected layers (depthwise ones  |
|              | stay float: XNNPACK takes no hybrid depthwise, which ran 2-30x slower)         |
| int8         | static int8 weights and activations, calibrated; float inputs and outputs      |
| int8x16      | static int8 weights, int16 activations, calibrated (NPUs; slow on XNNPACK)     |

Third-party files need a clean-up first, each found on a real one: op codes kept only in the
field old flatbuffers used (the quantizer read every op as ADD and changed nothing), fp16
weights behind DEQUANTIZE ops (MediaPipe: nothing to quantize, or an unloadable model), no
signature (calibration needs one). A model already quantized is refused (re-quantizing left it
unchanged, or broke it). The result must differ from its source and load in LiteRT.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgebench.errors import ConversionError, UnsupportedPrecision

# The precisions a .tflite reaches through a recipe (the TensorFlow converter makes fp32, fp16,
# int8-dynamic and int8 from a SavedModel itself)
RECIPE_PRECISIONS = ("fp16", "int8-weights", "int4-weights", "int8-dynamic", "int8", "int8x16")
CALIBRATED = ("int8", "int8x16")
RECIPE_NAMES = {
    "fp16": "float_casting (fp16 weights)",
    "int8-weights": "weight_only_wi8_afp32",
    "int4-weights": "weight_only_wi4_afp32",
    "int8-dynamic": "dynamic_wi8_afp32 on CONV_2D and FULLY_CONNECTED",
    "int8": "static_wi8_ai8, float inputs and outputs",
    "int8x16": "static_wi8_ai16, float inputs and outputs",
}


def recipe_of(precision: str) -> list[dict[str, Any]]:
    from litert_quantizer import qtyping, recipe, recipe_manager

    if precision == "fp16":
        return [{
            "regex": ".*", "operation": "*", "algorithm_key": "float_casting",
            "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
                          "compute_precision": "FLOAT", "explicit_dequantize": True},
        }]  # fmt: skip
    if precision == "int8-weights":
        return list(recipe.weight_only_wi8_afp32())
    if precision == "int4-weights":
        return list(recipe.weight_only_wi4_afp32())
    if precision == "int8-dynamic":
        manager = recipe_manager.RecipeManager()
        for op in (qtyping.TFLOperationName.CONV_2D, qtyping.TFLOperationName.FULLY_CONNECTED):
            manager.add_dynamic_config(regex=".*", operation_name=op, num_bits=8)
        return list(manager.get_quantization_recipe())
    static = recipe.static_wi8_ai8() if precision == "int8" else recipe.static_wi8_ai16()
    # Later entries win: the graph's inputs and outputs stay float32
    keep_float: list[dict[str, Any]] = [
        {"regex": ".*", "operation": op, "algorithm_key": "no_quantize", "op_config": {}}
        for op in ("INPUT", "OUTPUT")
    ]
    return [*static, *keep_float]


def quantize(model: bytes, precision: str, calibration: Iterator[list[np.ndarray]] | None) -> bytes:
    """The .tflite `model` at `precision`, through its recipe.

    Raises:
        UnsupportedPrecision: the model is already quantized, or has nothing the recipe takes.
        ConversionError: the quantizer failed, or its result does not load in LiteRT.
    """
    from ai_edge_litert.interpreter import Interpreter
    from litert_quantizer import calibrator, quantizer
    from litert_quantizer.utils import tfl_flatbuffer_utils

    clean = fold_fp16_weights(normalize_opcodes(model))
    if not tfl_flatbuffer_utils.is_float_model(tfl_flatbuffer_utils.read_model(bytearray(clean))):
        raise UnsupportedPrecision(
            f"the .tflite is already quantized (its tensors carry scales): {precision} needs a "
            "float model"
        )
    steps = recipe_of(precision)
    results = None
    if precision in CALIBRATED:
        clean = ensure_signature(clean)
    q = quantizer.Quantizer(bytearray(clean))
    q.load_quantization_recipe(steps)
    try:
        if precision in CALIBRATED:
            assert calibration is not None
            results = q.calibrate(
                _calibration_data(clean, calibration),
                num_threads=2,
                mode=calibrator.CalibrationMode.CALIBRATION_PROFILER_BASED,
            )
        with contextlib.redirect_stdout(io.StringIO()):
            out = bytes(
                q.quantize(calibration_result=results, enable_progress_report=False).quantized_model
            )
    except (ValueError, RuntimeError, AttributeError, KeyError) as exc:
        raise ConversionError(
            f"litert-quantizer ({precision}): {str(exc).splitlines()[0][:300]}"
        ) from exc
    if out == clean:
        raise UnsupportedPrecision(
            f"litert-quantizer's {precision} recipe found nothing to quantize in this .tflite"
        )
    try:
        Interpreter(model_content=out, num_threads=1).allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ConversionError(
            f"the {precision} model litert-quantizer wrote does not load in LiteRT: "
            f"{str(exc).splitlines()[0][:300]}"
        ) from exc
    return out


def _calibration_data(model: bytes, samples: Iterator[list[np.ndarray]]) -> dict[str, Any]:
    """The calibration samples as litert-quantizer takes them: signature -> [{input: array}]."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    key = next(iter(interpreter.get_signature_list()))
    details = interpreter.get_signature_runner(key).get_input_details()
    names = list(details)
    rows = []
    for sample in samples:
        rows.append({
            name: np.asarray(x, dtype=details[name]["dtype"]).reshape(details[name]["shape"])
            for name, x in zip(names, sample, strict=True)
        })  # fmt: skip
    return {key: rows}


def normalize_opcodes(model: bytes) -> bytes:
    """Old flatbuffers keep an op's code only in `deprecated_builtin_code`; litert-quantizer
    reads `builtin_code` alone (and then took every op of MediaPipe's face detector for ADD)."""
    from ai_edge_litert.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    changed = 0
    for code in m.operatorCodes:
        best = max(code.builtinCode, code.deprecatedBuiltinCode)
        if best != code.builtinCode:
            code.builtinCode, changed = best, changed + 1
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m)) if changed else model


def fold_fp16_weights(model: bytes) -> bytes:
    """Each DEQUANTIZE of an fp16 constant replaced by the fp32 constant it makes (MediaPipe
    ships its weights so; the quantizer then saw no constant weight to quantize)."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    folded = 0
    for graph in m.subgraphs:
        kept = []
        for op in graph.operators:
            code = m.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == fb.BuiltinOperator.DEQUANTIZE:
                src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
                data = m.buffers[src.buffer].data
                if src.type == fb.TensorType.FLOAT16 and data is not None and len(data):
                    values = np.frombuffer(bytes(np.asarray(data, np.uint8)), np.float16)
                    buffer = fb.BufferT()
                    buffer.data = np.frombuffer(values.astype(np.float32).tobytes(), np.uint8)
                    m.buffers.append(buffer)
                    dst.buffer = len(m.buffers) - 1
                    m.buffers[src.buffer].data = None
                    folded += 1
                    continue
            kept.append(op)
        graph.operators = kept
        _drop_unused_tensors(m, graph)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m)) if folded else model


def _drop_unused_tensors(m: Any, graph: Any) -> None:
    used = {int(i) for i in [*graph.inputs, *graph.outputs]}
    for op in graph.operators:
        extra = list(op.intermediates) if op.intermediates is not None else []
        used.update(int(i) for i in [*op.inputs, *op.outputs, *extra] if i >= 0)
    if len(used) == len(graph.tensors):
        return
    remap: dict[int, int] = {}
    kept: list[Any] = []
    for i, tensor in enumerate(graph.tensors):
        if i in used:
            remap[i] = len(kept)
            kept.append(tensor)
    graph.tensors = kept

    def fix(indices: Any) -> np.ndarray:
        return np.array([remap[int(i)] if i >= 0 else -1 for i in indices], np.int32)

    graph.inputs, graph.outputs = fix(graph.inputs), fix(graph.outputs)
    for op in graph.operators:
        op.inputs, op.outputs = fix(op.inputs), fix(op.outputs)
        if op.intermediates is not None and len(op.intermediates):
            op.intermediates = fix(op.intermediates)
    index = m.subgraphs.index(graph)
    for signature in m.signatureDefs or []:
        if signature.subgraphIndex == index:
            for entry in (signature.inputs or []) + (signature.outputs or []):
                entry.tensorIndex = remap[entry.tensorIndex]


def ensure_signature(model: bytes, key: str = "serving_default") -> bytes:
    """A SignatureDef for a model that has none (MediaPipe's): calibration needs one."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    if m.signatureDefs:
        return model
    graph = m.subgraphs[0]

    def maps(indices: Any) -> list[Any]:
        out = []
        for i in indices:
            entry = fb.TensorMapT()
            name = graph.tensors[i].name
            entry.name = name.decode() if isinstance(name, bytes) else name
            entry.tensorIndex = int(i)
            out.append(entry)
        return out

    signature = fb.SignatureDefT()
    signature.inputs, signature.outputs = maps(graph.inputs), maps(graph.outputs)
    signature.signatureKey, signature.subgraphIndex = key, 0
    m.signatureDefs = [signature]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


__all__ = ["CALIBRATED", "RECIPE_NAMES", "RECIPE_PRECISIONS", "quantize", "recipe_of"]
