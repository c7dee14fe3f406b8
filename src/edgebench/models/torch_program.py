"""Loading a `torch.export` program (`.pt2`) without running anything the file chooses.

`torch.export.load` has no safe mode, and a `.pt2` is a zip of JSON and tensor records that can
make it run code: weights and constants marked `use_pickle` and opaque constants are unpickled
with full pickle; sample inputs and legacy blobs fall back to `weights_only=False`; an
AOTInductor record makes it dlopen a shared library; symbolic sizes go to `sympy.sympify` (an
eval); guard strings and argument names are pasted into Python source that is exec'd; a pytree
context can import any module; and graph ops such as `aten.from_file` write files when the
program runs. So the archive is checked first, through torch's own zip reader, and only then
deserialized, by torch's deserializer, from tensors read raw: nothing is unpickled except the
sample inputs, by torch's `weights_only` unpickler with no fallback. Anything outside what
`torch.export.save` writes for a plain program is refused with one line.

Only torch's private serialization API can deserialize a program from parts, so this follows
torch 2.13 (edgebench's pin); another torch that lacks a piece is refused, never loaded unsafely.
"""

from __future__ import annotations

import ast
import functools
import io
import json
import math
import re
from pathlib import Path
from typing import Any

from edgebench.errors import ModelLoadError, error_line

# fullmatch throughout: `$` in re.match also matches before a trailing newline.
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FQN = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
# A weight's or constant's name: torch sets it with setattr and, in a get_attr, writes each part
# that is no identifier as getattr(self, "part"): anything but quotes, backslashes, newlines
# and empty parts is inert there. Programs traced from onnx2torch modules keep ONNX's names
# (`p2o/Conv/60.bias_fused_mul`, `model_1/model/re_lu/Relu6;...`).
_PART = r"[A-Za-z0-9_ ,:;/+\-=<>()\[\]{}@#%&*!?|~^$]+"
_TENSOR_FQN = re.compile(rf"{_PART}(\.{_PART})*")
# Strings that end up inside generated source: no quotes, backslashes or newlines.
_PLAIN = re.compile(r"[A-Za-z0-9_ .,:;/+\-=<>()\[\]{}@#%&*!?|~^$]*")
_NUMBER = re.compile(r"[0-9.eE+\-]+")
_SYMBOL = re.compile(r"[a-z]+[0-9]+")  # s0, u3: the names torch gives symbolic sizes
_MAX_EXPR = 4096
_MODEL = "model"  # the one program torch.export.save writes

# fmt: off
# Records every archive has; beyond them only the program's own records are accepted.
_FIXED_RECORDS = {"archive_format", "archive_version", "byteorder", ".data/version",
                  ".data/serialization_id"}
_WEIGHTS = f"data/weights/{_MODEL}_weights_config.json"
_CONSTANTS = f"data/constants/{_MODEL}_constants_config.json"
_SAMPLE_INPUTS = f"data/sample_inputs/{_MODEL}.pt"
_PAYLOADS = ((_WEIGHTS, "data/weights/", re.compile(r"weight_[0-9]+")),
             (_CONSTANTS, "data/constants/", re.compile(r"tensor_[A-Za-z0-9_]+")))

# Graph ops: ATen and prims (less the two that touch files), the Python operators and sym
# functions symbolic shapes use, and the control-flow higher-order ops. A graph op is resolved
# by name, so any other name could be any function in torch (torch.save, say).
_OP = re.compile(r"torch\.ops\.(aten|prims)\.(?!__)[A-Za-z0-9_]+\.(?!__)[A-Za-z0-9_]+")
_FILE_OPS = {"torch.ops.aten.from_file", "torch.ops.aten.save"}
_OTHER_OPS = {
    *(f"_operator.{name}" for name in (
        "getitem", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos", "eq",
        "ne", "lt", "le", "gt", "ge", "and_", "or_", "lshift", "rshift")),
    "math.trunc", "math.floor", "math.ceil", "torch._sym_sqrt",
    *(f"torch.{name}" for name in (
        "sym_int", "sym_float", "sym_ite", "sym_max", "sym_min", "sym_not", "sym_sqrt", "sym_sum",
        "_C._set_grad_enabled", "autograd.grad_mode.set_grad_enabled",
        "amp.autocast_mode._enter_autocast", "amp.autocast_mode._exit_autocast")),
    *(f"torch.ops.higher_order.{name}" for name in (
        "cond", "while_loop", "map_impl", "scan", "wrap_with_set_grad_enabled",
        "wrap_with_autocast", "invoke_subgraph")),
}

# sympify is eval: an expression may only build sympy numbers, symbols and functions (not S,
# which is sympify again, nor bare names, which reach Python's builtins).
_SYMPY_NAMES = {
    "Symbol", "Integer", "Float", "Rational", "Add", "Mul", "Pow", "Mod", "Max", "Min", "Abs",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality", "StrictLessThan",
    "StrictGreaterThan", "LessThan", "GreaterThan", "And", "Or", "Not", "floor", "ceiling",
    "Piecewise", "ITE", "Tuple", "oo", "zoo", "nan", "true", "false", "Infinity",
    "NegativeInfinity", "NegativeOne", "One", "Zero", "Half", "pi", "E",
}
_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_UNARY = (ast.USub, ast.UAdd, ast.Not)
# Guards are exec'd on every call: only sizes of inputs (L['x'].size()[0]) and arithmetic.
_SIZE_METHODS = {"size", "stride", "storage_offset", "dim", "numel"}
_GUARD_TORCH = {"sym_max", "sym_min", "sym_float", "sym_int", "sym_sqrt", "sym_ite", "sym_not"}
# Pytree node types by name; any other type (a namedtuple, a dataclass) is imported by name.
# torch's own immutable containers (torch.fx, imported with torch) are what programs traced
# from an onnx2torch module hold (MediaPipe's face detector through ONNX -> torch -> ExecuTorch).
_SPEC_TYPES = {
    None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict",
    "torch.fx.immutable_collections.immutable_list",
    "torch.fx.immutable_collections.immutable_dict",
}
# Keys of model.json whose values become names in generated code.
_NAME_KEYS = {"name", "arg_name", "custom_obj_name", "input_name"}
# Keys whose values name weights and constants (see _TENSOR_FQN): never pasted bare.
_TENSOR_KEYS = {"fqn", "parameter_name", "buffer_name", "tensor_constant_name", "target_fqn"}
# fmt: on


class _Refused(Exception):
    """Why a program is not loaded; load_program adds the file's name."""


def load_program(path: Path) -> Any:
    """A `torch.export` program from `path`, as `torch.export.load` would give it, or a refusal.

    Args:
        path: a `.pt2` written by `torch.export.save`.

    Returns:
        The `torch.export.ExportedProgram`.

    Raises:
        ModelLoadError: the archive holds something that could run code or touch files when it
            is loaded or run (one line naming the file and what), or is no `.pt2` at all.
    """
    try:
        return _load(path)
    except _Refused as exc:
        raise ModelLoadError(f"{path}: {exc}; edgebench runs no code from a model file") from None
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed JSON or records: torch's many types
        raise ModelLoadError(f"{path}: cannot read as torch ({error_line(exc)})") from None


def _load(path: Path) -> Any:
    import torch

    try:
        from torch._export.serde import schema
        from torch._export.serde.serialize import ExportedProgramDeserializer, _bytes_to_dataclass
        from torch.export.pt2_archive._package import PT2ArchiveReader
    except ImportError as exc:
        raise _Refused(f"torch {torch.__version__} cannot be read safely ({exc})") from None
    try:
        reader = PT2ArchiveReader(str(path))
    except Exception:  # noqa: BLE001 - not a zip, or not the pt2 layout (a legacy one)
        raise ModelLoadError(
            f"{path}: cannot read as torch (not a .pt2 in the layout torch.export.save writes "
            "since torch 2.8; older layouts hold pickles, which edgebench does not load)"
        ) from None
    with reader:
        names = set(reader.get_file_names())
        _check_records(names, reader)
        program = json.loads(reader.read_string(f"models/{_MODEL}.json"))
        _check_program(program)
        state_dict = _tensors(reader, _WEIGHTS, "data/weights/")
        constants = _tensors(reader, _CONSTANTS, "data/constants/")
        inputs = _sample_inputs(reader, names)
        serialized = _bytes_to_dataclass(
            schema.ExportedProgram, reader.read_bytes(f"models/{_MODEL}.json")
        )
    return ExportedProgramDeserializer().deserialize(serialized, state_dict, constants, inputs)


def _check_records(names: set[str], reader: Any) -> None:
    """Only the records torch.export.save writes for one plain program: no AOTInductor
    library, no legacy pickle blob, no pickled custom or opaque object."""
    if reader.read_string("archive_version") != "0":
        raise _Refused("an archive version other than 0")
    if f"models/{_MODEL}.json" not in names:
        raise _Refused(f"no models/{_MODEL}.json (one program, as torch.export.save writes)")
    allowed = _FIXED_RECORDS | {f"models/{_MODEL}.json", _WEIGHTS, _CONSTANTS, _SAMPLE_INPUTS}
    for name in sorted(names):
        if name in allowed or name.startswith("extra/"):
            continue
        if any(name.startswith(d) and p.fullmatch(name[len(d) :]) for _, d, p in _PAYLOADS):
            continue
        if name.startswith("data/aotinductor/"):
            raise _Refused(f"it holds AOTInductor native code ({name}), which loading runs")
        if "custom_obj_" in name or "opaque_obj_" in name:
            raise _Refused(f"it holds a pickled Python object ({name})")
        raise _Refused(f"unexpected record {name!r} (a legacy pickle or an unknown payload)")
    for config, folder, pattern in _PAYLOADS:
        if config not in names:
            raise _Refused(f"no {config}")
        for fqn, meta in json.loads(reader.read_string(config)).get("config", {}).items():
            if not _TENSOR_FQN.fullmatch(fqn):
                raise _Refused(f"{config}: name {fqn[:60]!r} is not a plain name")
            if meta.get("use_pickle") is not False:
                raise _Refused(
                    f"'{fqn}' is stored as a Python pickle (use_pickle), which can run code"
                )
            file = meta.get("path_name")
            if (
                not isinstance(file, str)
                or not pattern.fullmatch(file)
                or folder + file not in names
            ):
                raise _Refused(f"{config}: '{fqn}' points at {str(file)[:60]!r}")
            if meta.get("tensor_meta") is None:
                raise _Refused(f"{config}: '{fqn}' has no tensor_meta")


def _name_ok(key: str, value: str) -> bool:
    """Whether a name under `key` is one torch can hold without pasting it into code bare."""
    if key in _NAME_KEYS:  # pasted bare (a placeholder's target is a parameter of forward)
        return bool(_FQN.fullmatch(value))
    if key in _TENSOR_KEYS:
        return bool(_TENSOR_FQN.fullmatch(value))
    return True


def _check_program(program: dict[str, Any]) -> None:
    """Every string of models/model.json that torch evals, execs, imports or pastes into
    generated code holds only what torch itself writes there."""
    module = program.get("graph_module")
    if not isinstance(module, dict):
        raise _Refused("models/model.json has no graph_module")
    for guard in program.get("guards_code") or []:
        _check_expression(guard, "guard", _guard_node)
    for key, value in _entries(module):
        if key == "expr_str":
            _check_expression(value, "symbolic size", _sympy_node)
        elif key == "nodes" and isinstance(value, list):
            for node in value:
                _check_op(node)
        elif isinstance(value, str) and value and not _name_ok(key, value):
            raise _Refused(f"{key} {value[:60]!r} is not a plain name")
        elif key == "as_string" and not (isinstance(value, str) and _PLAIN.fullmatch(value)):
            raise _Refused(f"string constant {str(value)[:60]!r} has quotes or escapes")
        elif key == "as_strings" and not (
            isinstance(value, list)
            and all(isinstance(s, str) and _PLAIN.fullmatch(s) for s in value)
        ):
            raise _Refused("a string constant has quotes or escapes")
        elif key == "as_int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise _Refused(f"as_int {str(value)[:40]!r} is not an integer")
    for entry in module.get("module_call_graph") or []:
        signature = entry.get("signature") if isinstance(entry, dict) else None
        if not signature:
            continue
        # Pasted into `def forward(self, <names>)` as they are.
        for name in signature.get("forward_arg_names") or []:
            if not isinstance(name, str) or not _IDENT.fullmatch(name):
                raise _Refused(f"argument name {str(name)[:60]!r} is not an identifier")
        _check_spec(signature.get("in_spec"), kwargs_at_top=True)
        _check_spec(signature.get("out_spec"), kwargs_at_top=False)


def _entries(tree: Any) -> Any:
    """Every (key, value) of every dict in a JSON tree."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                yield key, value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _check_op(node: Any) -> None:
    target = node.get("target") if isinstance(node, dict) else None
    if not isinstance(target, str):
        raise _Refused("a graph node without an op name")
    if _OP.fullmatch(target):
        if target.rsplit(".", 1)[0] in _FILE_OPS:
            raise _Refused(f"op {target} reads or writes files")
        return
    if target not in _OTHER_OPS:
        raise _Refused(f"op {target[:80]!r} is not an ATen op (torch resolves it by name)")


def _check_expression(text: Any, what: str, allowed: Any) -> None:
    if not isinstance(text, str) or len(text) > _MAX_EXPR or not text.isascii():
        raise _Refused(f"a {what} that is not a short ASCII string")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise _Refused(f"{what} {text[:80]!r} does not parse") from None
    if not all(allowed(n) for n in ast.walk(tree.body)):
        raise _Refused(f"{what} {text[:80]!r} is more than arithmetic")


def _arithmetic(n: ast.AST) -> bool | None:
    """The nodes both grammars share; None for any other node (a string among them)."""
    if isinstance(n, ast.BinOp):
        return isinstance(n.op, _ARITH)
    if isinstance(n, ast.UnaryOp):
        return isinstance(n.op, _UNARY)
    if isinstance(n, ast.Compare):
        return all(isinstance(op, _COMPARE) for op in n.ops)
    if isinstance(n, ast.BoolOp | ast.operator | ast.unaryop | ast.cmpop | ast.boolop):
        return True
    if isinstance(n, ast.Constant) and not isinstance(n.value, str):
        value = n.value
        return isinstance(value, bool | float) or (isinstance(value, int) and abs(value) < 2**64)
    return None


def _sympy_node(n: ast.AST) -> bool:
    """sympify's input: sympy constructors by name, bare symbols, numbers, and the
    `Symbol('s0', positive=True)` arguments torch writes."""
    if (shared := _arithmetic(n)) is not None:
        return shared
    if isinstance(n, ast.Constant):  # sympify parses a string again: a name or a number only
        return isinstance(n.value, str) and bool(
            _IDENT.fullmatch(n.value) or _NUMBER.fullmatch(n.value)
        )
    if isinstance(n, ast.Name):
        return n.id in _sympy_names() or bool(_SYMBOL.fullmatch(n.id))
    if isinstance(n, ast.Call):
        return isinstance(n.func, ast.Name) and n.func.id in _sympy_names()
    if isinstance(n, ast.keyword):
        return bool(n.arg and _IDENT.fullmatch(n.arg)) and isinstance(n.value, ast.Constant)
    return isinstance(n, ast.Load)


@functools.cache
def _sympy_names() -> set[str]:
    """sympy's names above and torch's sympy functions (FloorDiv, ...), which sympify sees."""
    import sympy
    import torch.utils._sympy.functions as functions

    return _SYMPY_NAMES | {
        name
        for name, value in vars(functions).items()
        if name[:1].isupper() and isinstance(value, type) and issubclass(value, sympy.Basic)
    }


def _guard_node(n: ast.AST) -> bool:
    """A guard: sizes of inputs (`L['x'].size()[0]`), math and torch.sym_* calls, arithmetic."""
    if (shared := _arithmetic(n)) is not None:
        return shared
    if isinstance(n, ast.Constant):  # a key of L['x']; quotes could end the string early
        return isinstance(n.value, str) and bool(_PLAIN.fullmatch(n.value))
    if isinstance(n, ast.Name):
        return n.id in ("L", "math", "torch", "inf")
    if isinstance(n, ast.Subscript):  # L['x'], L['x'][0], size()[1]
        key = n.slice
        return isinstance(key, ast.Constant) and (
            (isinstance(key.value, int) and not isinstance(key.value, bool))
            or (isinstance(key.value, str) and bool(_PLAIN.fullmatch(key.value)))
        )
    if isinstance(n, ast.Attribute):
        owner = n.value.id if isinstance(n.value, ast.Name) else None
        if owner == "math":
            return not n.attr.startswith("_") and hasattr(math, n.attr)
        if owner == "torch":
            return n.attr in _GUARD_TORCH
        return n.attr in _SIZE_METHODS and owner is None
    if isinstance(n, ast.Call):
        return not n.keywords and isinstance(n.func, ast.Attribute)
    return isinstance(n, ast.Load)


def _check_spec(serialized: Any, kwargs_at_top: bool) -> None:
    """A pytree spec: only built-in containers (others are imported by name), and keys that are
    plain strings (a dict in a context can name an enum, whose module is imported)."""
    if serialized is None:
        return
    try:
        protocol, root = json.loads(serialized)
    except (TypeError, ValueError):
        raise _Refused("a malformed pytree spec") from None
    if protocol != 1:
        raise _Refused(f"pytree spec protocol {protocol!r}")
    stack = [(root, 0, False)]
    while stack:
        node, depth, kwargs = stack.pop()
        if depth > 64 or not isinstance(node, dict):
            raise _Refused("a malformed pytree spec")
        if node.get("type") not in _SPEC_TYPES:
            raise _Refused(f"pytree type {str(node.get('type'))[:60]!r}, which torch imports")
        context = json.loads(node["context"]) if node.get("context") is not None else None
        if context is not None:
            plain = isinstance(context, list) and all(
                (isinstance(k, int) and not isinstance(k, bool))
                or (
                    isinstance(k, str)
                    and _PLAIN.fullmatch(k)
                    and (not kwargs or _IDENT.fullmatch(k))
                )
                for k in context
            )
            if not plain:
                raise _Refused(f"pytree keys {node['context'][:60]!r} are not plain names")
        for i, child in enumerate(node.get("children_spec") or []):
            # The top of an in_spec is ((args...), {kwargs}): keyword names go into code.
            stack.append((child, depth + 1, kwargs_at_top and depth == 0 and i == 1))


def _tensors(reader: Any, config: str, folder: str) -> dict[str, Any]:
    """The weights or constants, read raw (as torch's _load_state_dict does for every entry
    not marked use_pickle, which _check_records refused)."""
    import torch
    from torch._export.serde.serialize import (
        deserialize_size,
        deserialize_storage_offset,
        deserialize_stride,
    )
    from torch.export.pt2_archive._package import _build_file_map, _load_payload_config

    payload = _load_payload_config(reader, config)
    files = _build_file_map(reader, payload, folder)
    out: dict[str, Any] = {}
    for fqn, meta in payload.config.items():
        assert not meta.use_pickle and meta.tensor_meta is not None  # _check_records
        tm = meta.tensor_meta
        tensor = torch.as_strided(
            files[meta.path_name],
            size=deserialize_size(tm.sizes),
            stride=deserialize_stride(tm.strides),
            storage_offset=deserialize_storage_offset(tm.storage_offset),
        )
        out[fqn] = torch.nn.Parameter(tensor, tm.requires_grad) if meta.is_param else tensor
    return out


def _sample_inputs(reader: Any, names: set[str]) -> Any:
    """The example inputs (their paths name the inputs in guards), by torch's weights_only
    unpickler and never, as torch.export.load would, by full pickle when that fails."""
    import torch

    if _SAMPLE_INPUTS not in names or not reader.read_bytes(_SAMPLE_INPUTS):
        return None
    try:
        inputs = torch.load(io.BytesIO(reader.read_bytes(_SAMPLE_INPUTS)), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler refuses with many types
        raise _Refused(f"sample inputs that are not plain tensors ({type(exc).__name__})") from None
    if not (isinstance(inputs, tuple) and len(inputs) == 2):
        raise _Refused("sample inputs that are not (args, kwargs)")
    for keys, _ in torch.utils._pytree.tree_flatten_with_path(inputs)[0]:
        for key in keys:  # each becomes part of a guard's source
            value = getattr(key, "key", getattr(key, "idx", getattr(key, "name", None)))
            if isinstance(value, str) and not _PLAIN.fullmatch(value):
                raise _Refused(f"sample-input key {value[:40]!r} is not a plain name")
    return inputs
