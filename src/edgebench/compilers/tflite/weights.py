"""What a .tflite's weights hold: how many are zeros, and how many distinct values each output
channel keeps. Pruning and clustering show here (they leave the graph as it was), and so do
int8 and int4 weights. Read from the flatbuffer with LiteRT's schema: no interpreter, no
TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# The ops whose second input is a weight tensor, and that tensor's output-channel axis
_WEIGHTED = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0, "TRANSPOSE_CONV": 0}
_DTYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8, "UINT8": np.uint8,
           "INT4": np.int8}  # fmt: skip


def weight_summary(path: Path, top: int = 5) -> dict[str, Any]:
    """Over the weight tensors of convolutions and fully connected layers: how many there are,
    the share of zeros, the most distinct values any output channel holds, and the largest
    tensors one by one."""
    from ai_edge_litert import schema_py_generated as fb

    model = fb.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    ops = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
    rows: list[dict[str, Any]] = []
    zeros = total = distinct = 0
    seen: set[int] = set()
    for graph in model.subgraphs or []:
        for op in graph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            name = ops.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
            if name not in _WEIGHTED or len(op.inputs) < 2 or op.inputs[1] in seen:
                continue
            seen.add(op.inputs[1])
            tensor = graph.tensors[op.inputs[1]]
            data = model.buffers[tensor.buffer].data
            dtype = _DTYPES.get(types.get(tensor.type, ""))
            if data is None or not len(data) or dtype is None or tensor.type == fb.TensorType.INT4:
                continue  # computed at run time, or packed int4 (two to a byte)
            w = np.frombuffer(bytes(np.asarray(data, np.uint8)), dtype)
            shape = [int(d) for d in tensor.shape]
            if int(np.prod(shape)) != w.size:
                continue
            w = np.moveaxis(w.reshape(shape), _WEIGHTED[name], -1).reshape(
                -1, shape[_WEIGHTED[name]]
            )
            most = max(len(np.unique(w[:, c])) for c in range(w.shape[1]))
            n_zero = int(np.count_nonzero(w == 0))
            zeros, total, distinct = zeros + n_zero, total + w.size, max(distinct, most)
            label = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
            rows.append({
                "tensor": label[-60:],
                "values": int(w.size),
                "zeros": round(n_zero / w.size, 4),
                "distinct_per_channel": most,
            })  # fmt: skip
    rows.sort(key=lambda r: -int(r["values"]))
    return {
        "tensors": len(rows),
        "values": total,
        "zeros": round(zeros / total, 4) if total else None,
        "max_distinct_per_channel": distinct or None,
        "largest": rows[:top],
    }


__all__ = ["weight_summary"]
