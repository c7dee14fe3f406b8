"""Checking a user's SavedModel before TensorFlow loads any of it.

`tf.saved_model.load` runs graph code as it loads: the initializers of resources (a lookup
table, any `TrackableResource`) and the restore functions of saveable objects run there, and a
serving function runs on the first call. An op in any of them can write files, run Python
registered in the process, or read a file it names; asset files are read from the paths their
names give. So `saved_model.pb` is parsed (TensorFlow's protobuf classes, which run nothing) and
every op of every graph and function is checked, wherever it is; ops a serving graph has no use
for are refused with one line, as are asset names that leave the SavedModel's `assets/` folder.

Not refused, wherever they are: the checkpoint ops every SavedModel's own save and restore
functions hold (SaveV2, RestoreV2, MergeV2Checkpoints, ShardedFilename, StringJoin), and table
initializers that read text files (vocabularies; their paths normally come from the assets
checked here). A graph could call those with paths of its own: a TensorFlow checkpoint written
or read, or a text file read into a table, but nothing run.
"""

from __future__ import annotations

from pathlib import Path

from edgebench.errors import ModelLoadError

# By the name TensorFlow registers; `Experimental*` twins are matched without the prefix.
_REFUSED_OPS = {
    # run Python (py_function, numpy_function): whatever the process has registered
    **dict.fromkeys(("PyFunc", "PyFuncStateless", "EagerPyFunc"), "runs Python"),
    # write files
    **dict.fromkeys(
        (
            "WriteFile", "CreateSummaryFileWriter", "CreateSummaryDbWriter", "SummaryWriter",
            "WriteSummary", "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary",
            "WriteAudioSummary", "WriteGraphSummary", "WriteRawProtoSummary", "ImportEvent",
            "FlushSummaryWriter", "CloseSummaryWriter", "StatsAggregatorSetSummaryWriter",
            "DatasetToTFRecord", "SaveDataset", "SaveDatasetV2", "DistributedSave",
            "SnapshotDataset", "SnapshotDatasetV2", "CacheDataset", "CacheDatasetV2",
            "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount",
            "DebugNumericSummary", "DebugNumericSummaryV2", "DumpTensor",
            "CalibrationStatisticsSaver", "FileSystemSetConfiguration",
        ),
        "writes files",
    ),
    # read files or folders they name (outside the SavedModel)
    **dict.fromkeys(
        (
            "ReadFile", "MatchingFiles", "MatchingFilesDataset", "ImmutableConst", "RecordInput",
            "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
            "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader",
            "TFRecordReaderV2", "LMDBReader", "TFRecordDataset", "TFRecordDatasetV2",
            "TextLineDataset", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2",
            "LoadDataset", "LoadAndRemapMatrix",
        ),
        "reads files it names",
    ),
    # reach other machines
    **dict.fromkeys(
        ("RpcServer", "RpcClient", "RpcServerStart", "RpcCall", "RemoteCall"),
        "talks to the network",
    ),
}  # fmt: skip


def check_saved_model(path: Path) -> None:
    """Refuses a SavedModel whose graphs could write or read files, run Python, or reach the
    network as it loads or runs.

    Args:
        path: the SavedModel folder (holding `saved_model.pb`).

    Raises:
        ModelLoadError: one line naming the folder, the op (and the function it is in) or the
            asset; also for a `saved_model.pb` that does not parse.
    """
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    try:
        model.ParseFromString((path / "saved_model.pb").read_bytes())
    except (OSError, DecodeError) as exc:
        raise ModelLoadError(f"{path}: cannot read saved_model.pb ({exc})") from None
    for meta_graph in model.meta_graphs:
        graph = meta_graph.graph_def
        places = [("the graph", graph.node)]
        places += [(f"function {f.signature.name}", f.node_def) for f in graph.library.function]
        for where, nodes in places:
            for node in nodes:
                op = node.op.removeprefix("Experimental")
                if op in _REFUSED_OPS:
                    why = _REFUSED_OPS[op]
                elif op == "PrintV2" and node.attr["output_stream"].s.startswith(b"file"):
                    why = "writes files"  # tf.print(output_stream="file://...")
                else:
                    continue
                raise ModelLoadError(
                    f"{path}: op {node.op} in {where[:120]} {why}, which a model does not need; "
                    "edgebench runs no code from a model file"
                )
        for asset in meta_graph.asset_file_def:
            name = asset.filename
            if name in ("", ".", "..") or "/" in name or "\\" in name:
                raise ModelLoadError(
                    f"{path}: asset {name[:120]!r} is not a file name inside assets/ "
                    "(TensorFlow would read it from where it points)"
                )
