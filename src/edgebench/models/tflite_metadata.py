"""What a .tflite's own metadata says about feeding it: the normalization of each input (the
TFLite Support schema, `metadata_schema.fbs`, file identifier M001, in the model's metadata
entry named TFLITE_METADATA).

Read with flatbuffers' table reader, field by field, so no TFLite Support package is needed;
nothing in the file is executed. A file without that entry (MediaPipe's, most converters')
has nothing to say, and edgebench states the range it feeds instead.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

METADATA_NAME = "TFLITE_METADATA"
IDENTIFIER = b"M001"
NORMALIZATION = 1  # ProcessUnitOptions.NormalizationOptions

# Field slots, in declaration order (tensorflow/lite/schema/schema.fbs, metadata_schema.fbs)
MODEL_BUFFERS, MODEL_METADATA = 4, 6  # Model
METADATA_NAME_FIELD, METADATA_BUFFER = 0, 1  # Metadata
BUFFER_DATA = 0  # Buffer
SUBGRAPHS = 3  # ModelMetadata.subgraph_metadata
INPUT_TENSORS = 2  # SubGraphMetadata.input_tensor_metadata
TENSOR_NAME, PROCESS_UNITS, STATS = 0, 4, 5  # TensorMetadata
OPTIONS_TYPE, OPTIONS = 0, 1  # ProcessUnit
MEAN, STD = 0, 1  # NormalizationOptions
STATS_MAX, STATS_MIN = 0, 1  # Stats


class _Table:
    """One flatbuffer table: its fields by slot (absent fields read as None)."""

    def __init__(self, buf: bytes, pos: int) -> None:
        from flatbuffers.table import Table

        self.t = Table(bytearray(buf) if not isinstance(buf, bytearray) else buf, pos)

    @classmethod
    def root(cls, buf: bytes) -> _Table:
        from flatbuffers import encode
        from flatbuffers import number_types as n

        return cls(buf, encode.Get(n.UOffsetTFlags.packer_type, buf, 0))

    def _at(self, slot: int) -> int:
        return int(self.t.Offset(4 + 2 * slot))

    def table(self, slot: int) -> _Table | None:
        o = self._at(slot)
        return _Table(self.t.Bytes, self.t.Indirect(o + self.t.Pos)) if o else None

    def tables(self, slot: int) -> list[_Table]:
        o = self._at(slot)
        if not o:
            return []
        start = self.t.Vector(o)
        return [
            _Table(self.t.Bytes, self.t.Indirect(start + 4 * i)) for i in range(self.t.VectorLen(o))
        ]

    def string(self, slot: int) -> str | None:
        o = self._at(slot)
        return bytes(self.t.String(o + self.t.Pos)).decode("utf-8", "replace") if o else None

    def floats(self, slot: int) -> list[float]:
        from flatbuffers import number_types as n

        o = self._at(slot)
        if not o:
            return []
        start = self.t.Vector(o)
        return [
            float(self.t.Get(n.Float32Flags, start + 4 * i)) for i in range(self.t.VectorLen(o))
        ]

    def raw(self, slot: int) -> bytes:
        o = self._at(slot)
        if not o:
            return b""
        start = self.t.Vector(o)
        return bytes(self.t.Bytes[start : start + self.t.VectorLen(o)])

    def scalar(self, slot: int, flags: Any, default: int = 0) -> int:
        o = self._at(slot)
        return int(self.t.Get(flags, o + self.t.Pos)) if o else default


def input_normalization(path: Path) -> list[dict[str, Any]]:
    """Per input of the main subgraph: `{"name", "mean", "std", "min", "max"}` as the metadata
    gives them (an empty list where the file carries no TFLite Support metadata). A file whose
    metadata cannot be read says nothing rather than failing the run: the model still runs."""
    from flatbuffers import number_types as n

    data = path.read_bytes()
    try:
        model = _Table.root(data)
        buffers = model.tables(MODEL_BUFFERS)
        blob = b""
        for entry in model.tables(MODEL_METADATA):
            if entry.string(METADATA_NAME_FIELD) == METADATA_NAME:
                index = entry.scalar(METADATA_BUFFER, n.Uint32Flags)
                blob = buffers[index].raw(BUFFER_DATA) if index < len(buffers) else b""
        if len(blob) < 8 or blob[4:8] != IDENTIFIER:
            return []
        subgraphs = _Table.root(blob).tables(SUBGRAPHS)
        if not subgraphs:
            return []
        out = []
        for tensor in subgraphs[0].tables(INPUT_TENSORS):
            found: dict[str, Any] = {"name": tensor.string(TENSOR_NAME)}
            for unit in tensor.tables(PROCESS_UNITS):
                options = unit.table(OPTIONS)
                if unit.scalar(OPTIONS_TYPE, n.Uint8Flags) == NORMALIZATION and options:
                    found["mean"], found["std"] = options.floats(MEAN), options.floats(STD)
            stats = tensor.table(STATS)
            if stats is not None:
                found["min"], found["max"] = stats.floats(STATS_MIN), stats.floats(STATS_MAX)
            out.append(found)
        return out
    except (IndexError, ValueError, UnicodeError, TypeError, struct.error):  # malformed
        return []


__all__ = ["input_normalization"]
