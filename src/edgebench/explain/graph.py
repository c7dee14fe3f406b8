"""Graphs before and after a compiler, and what it fused.

`OpGraph` is a framework-neutral graph: nodes with an op type, input and output tensor names,
and (for a compiled graph) the names of the source nodes each node was made from, where the
compiler records them (TFLite's fused tensor names, OpenVINO's `originalLayersNames`, ONNX
Runtime's derived node names). `find_fusions` maps each compiled node back onto the source
graph and reports every compiled node that stands for two or more source ops as a
before -> after pattern.

The readers import their framework inside the function: this module stays light.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.explain.taxonomy import CATEGORIES, category, is_plumbing


@dataclass
class Node:
    """One op. `origins` (compiled graphs only) names the source nodes or tensors it came from;
    `engine` is where it runs (XNNPACK, CPUExecutionProvider, an OpenVINO kernel)."""

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    depthwise: bool = False
    origins: tuple[str, ...] = ()
    engine: str = ""
    precision: str = ""
    label: str = ""  # how a report shows the op, e.g. CONV_2D+RELU6 for a fused activation

    @property
    def category(self) -> str:
        return category(self.op, self.depthwise)

    @property
    def shown(self) -> str:
        return self.label or self.op


@dataclass
class OpGraph:
    """A graph in one format. `constants` holds the names of weight and constant tensors."""

    format: str
    nodes: list[Node]
    constants: set[str] = field(default_factory=set)

    def constant_nodes(self) -> set[str]:
        """Nodes whose every input is a constant: a constant subgraph any compiler folds away
        (shape arithmetic, a batch norm's scale computed from its weights)."""
        known = set(self.constants)
        folded: set[str] = set()
        for node in self.nodes:  # nodes are in topological order in every format read here
            if node.inputs and all(i in known for i in node.inputs):
                folded.add(node.name)
                known.update(node.outputs)
        return folded

    def compute_nodes(self) -> list[Node]:
        """The nodes that do work: no plumbing (constants, identities, inputs) and no constant
        subgraphs."""
        folded = self.constant_nodes()
        return [n for n in self.nodes if not is_plumbing(n.op) and n.name not in folded]

    def summary(self) -> dict[str, Any]:
        """Node count, counts by op type (most first) and by taxonomy category."""
        nodes = self.compute_nodes()
        ops = Counter(n.shown for n in nodes)
        cats = Counter(n.category for n in nodes)
        return {
            "format": self.format,
            "nodes": len(nodes),
            "constant_nodes": len(self.constant_nodes()),
            "ops": dict(ops.most_common()),
            "categories": {c: cats[c] for c in CATEGORIES if cats[c]},
        }


def _strip_port(tensor: str) -> str:
    """`name:0` -> `name` (TensorFlow's first output); other ports keep their number."""
    return tensor[:-2] if tensor.endswith(":0") else tensor


class _SourceIndex:
    """Finds source nodes by a name a compiler recorded: a node name, an output tensor name,
    a trailing part of a scoped name (`model/conv/Conv2D` for
    `StatefulPartitionedCall/model/conv/Conv2D`), or a name with suffixes the compiler added
    (`conv_quant`, `r_nchwc`)."""

    def __init__(self, nodes: list[Node]) -> None:
        self.exact: dict[str, Node] = {}
        suffixes: dict[str, list[Node]] = defaultdict(list)
        for node in nodes:
            for key in (node.name, *(_strip_port(o) for o in node.outputs)):
                self.exact.setdefault(key, node)
                parts = key.split("/")
                for k in range(1, len(parts)):
                    suffixes["/".join(parts[k:])].append(node)
        # A trailing part that names one node only.
        self.suffix = {k: v[0] for k, v in suffixes.items() if len({n.name for n in v}) == 1}

    def find(self, name: str) -> Node | None:
        name = name.strip()
        while name:
            name = _strip_port(name)  # `Relu6:0_nchwc` -> `Relu6:0` -> `Relu6`
            found = self.exact.get(name) or self.suffix.get(name)
            if found is not None:
                return found
            head, sep, _ = name.rpartition("_")
            if not sep:
                return None
            name = head
        return None


def find_fusions(before: OpGraph, after: OpGraph) -> dict[str, Any]:
    """What the compiler fused and removed, from the compiled nodes' recorded origins.

    Each compiled node takes the source nodes it names. A source node no compiled node names
    was fused: an activation or elementwise op into the kernel that produced its input (a
    Conv's BatchNorm and ReLU), anything else into the compiled node downstream that took its
    consumer (a Pad or Transpose before a Conv). A compiled node that stands for two or more
    source ops is a fusion.

    Returns:
        `fusions`: [{"before": "Conv+BatchNormalization+Relu", "after": "Conv", "count": n}],
        most frequent first; `removed`: source ops that no compiled node stands for (folded or
        eliminated), by op type; `mapped`: how many source nodes were traced.
    """
    sources = before.compute_nodes()
    compiled = after.compute_nodes()
    index = _SourceIndex(sources)
    by_name = {n.name: n for n in sources}
    order = {n.name: i for i, n in enumerate(sources)}
    producer = {o: n for n in sources for o in n.outputs}
    owner: dict[str, int] = {}  # source node -> compiled node index
    for i, node in enumerate(compiled):
        for origin in node.origins:
            found = index.find(origin)
            if found is not None:
                owner.setdefault(found.name, i)
    # Epilogues: an activation or elementwise op no compiled node names (a BatchNorm, a ReLU,
    # a residual Add) was fused into the kernel that produced its input: the nearest one.
    for node in sources:
        if node.name in owner or node.category not in ("activation", "elementwise"):
            continue
        ups = [producer[t] for t in node.inputs if t in producer and producer[t].name in owner]
        if ups:
            owner[node.name] = owner[max(ups, key=lambda n: order[n.name]).name]
    # Prologues: what is left upstream of a named node (padding, a layout change, an unnamed
    # Conv under the BatchNorm and ReLU it was fused with) went into that node.
    anchors = list(owner.items())
    for name, i in anchors:
        stack = [name]
        while stack:
            node = by_name[stack.pop()]
            for tensor in node.inputs:
                up = producer.get(tensor)
                if up is not None and up.name not in owner:
                    owner[up.name] = i
                    stack.append(up.name)
    groups: dict[int, list[Node]] = defaultdict(list)
    for name, i in owner.items():
        groups[i].append(by_name[name])
    patterns: Counter[tuple[str, str]] = Counter()
    for i, members in groups.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda n: order[n.name])
        patterns["+".join(n.op for n in members), compiled[i].shown] += 1
    removed = Counter(n.op for n in sources if n.name not in owner)
    return {
        "fusions": [{"before": b, "after": a, "count": c} for (b, a), c in patterns.most_common()],
        "removed": dict(removed.most_common()),
        "mapped": len(owner),
        "source_nodes": len(sources),
    }


# --- readers ---------------------------------------------------------------------------------
def read_onnx(path: Path) -> OpGraph:
    """An ONNX file's graph (weights are not loaded)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return onnx_graph(model.graph)


def onnx_graph(graph: Any, engines: dict[str, str] | None = None) -> OpGraph:
    """An OpGraph from an `onnx.GraphProto`; `engines` maps node names to where they ran."""
    constants = {i.name for i in graph.initializer}
    nodes = []
    for k, n in enumerate(graph.node):
        name = n.name or (n.output[0] if n.output else f"{n.op_type}_{k}")
        if n.op_type == "Constant":
            constants.update(n.output)
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        activation = next((a.s.decode() for a in n.attribute if a.name == "activation" and a.s), "")
        # Layout changes ONNX Runtime inserts (NCHWc reorders) stand for no source node, though
        # they take over the name of the tensor they restore.
        inserted = n.domain == "com.microsoft.nchwc" and n.op_type.startswith("Reorder")
        nodes.append(
            Node(
                name,
                n.op_type,
                tuple(i for i in n.input if i),
                tuple(n.output),
                depthwise=group > 1,
                origins=() if inserted else (name, *n.output),
                engine=(engines or {}).get(name, ""),
                label=f"{n.op_type}+{activation}" if activation else "",
            )
        )
    return OpGraph("onnx", nodes, constants)


def read_savedmodel(path: Path) -> OpGraph:
    """The TensorFlow graph of a SavedModel's serving signature, with its variables frozen to
    constants and its function calls inlined (what TFLite's converter and tf2onnx start from)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    loaded = tf.saved_model.load(str(path))
    signature = next(iter(loaded.signatures.values()))
    graph_def = convert_variables_to_constants_v2(signature).graph.as_graph_def()
    constants = {n.name for n in graph_def.node if n.op == "Const"}
    nodes = [
        Node(
            n.name,
            n.op,
            tuple(_strip_port(i) for i in n.input if not i.startswith("^")),
            (n.name,),
            depthwise=n.op.startswith("DepthwiseConv"),
        )
        for n in graph_def.node
    ]
    return OpGraph("savedmodel", nodes, constants)


def read_tflite(path: Path) -> OpGraph:
    """A .tflite flatbuffer's main subgraph, read with LiteRT's schema (no TensorFlow).

    TFLite names each op's output tensor after the TensorFlow ops fused into it
    (`model/relu/Relu6;model/conv/Conv2D`): those are the op's origins. A fused activation is
    shown in the label (`CONV_2D+RELU6`)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    codes = _enum_names(schema.BuiltinOperator)
    option_types = _enum_names(schema.BuiltinOptions)
    activations = _enum_names(schema.ActivationFunctionType)

    def tensor(i: int) -> str:
        return f"t{i}:{graph.Tensors(i).Name().decode(errors='replace')}"

    constants = set()
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        if t.Buffer() > 0 and model.Buffers(t.Buffer()).DataLength() > 0:
            constants.add(tensor(i))
    nodes = []
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = codes.get(builtin, str(builtin))
        if name == "CUSTOM" and code.CustomCode():
            name = code.CustomCode().decode()
        outputs = tuple(tensor(int(i)) for i in op.OutputsAsNumpy() if i >= 0)
        act = _fused_activation(schema, op, option_types, activations)
        origins = tuple(
            part
            for o in op.OutputsAsNumpy()
            if o >= 0
            for part in graph.Tensors(int(o)).Name().decode(errors="replace").split(";")
        )
        nodes.append(
            Node(
                outputs[0] if outputs else f"{name}_{k}",
                name,
                tuple(tensor(int(i)) for i in op.InputsAsNumpy() if i >= 0),
                outputs,
                origins=origins,
                label=f"{name}+{act}" if act else "",
            )
        )
    return OpGraph("tflite", nodes, constants)


def _enum_names(enum: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def _fused_activation(
    schema: Any, op: Any, option_types: dict[int, str], activations: dict[int, str]
) -> str:
    table = op.BuiltinOptions()
    cls = getattr(schema, option_types.get(op.BuiltinOptionsType(), ""), None)
    if table is None or cls is None:
        return ""
    options = cls()
    options.Init(table.Bytes, table.Pos)
    if not hasattr(options, "FusedActivationFunction"):
        return ""
    act = activations.get(options.FusedActivationFunction(), "NONE")
    return "" if act == "NONE" else act


def read_torch_program(path: Path) -> OpGraph:
    """The ATen graph of a saved `torch.export` program (`.pt2`); parameters and buffers are
    its constants."""
    from edgebench.models.torch_program import load_program

    program = load_program(path)
    return torch_graph(program.graph, program.graph_signature)


def torch_graph(graph: Any, signature: Any = None, fmt: str = "torch") -> OpGraph:
    """An OpGraph from a torch.fx graph (of an exported or an ExecuTorch edge program)."""
    constants: set[str] = set()
    if signature is not None:
        constants.update(signature.inputs_to_parameters, signature.inputs_to_buffers)
        constants.update(getattr(signature, "inputs_to_lifted_tensor_constants", {}))
    nodes = []
    for n in graph.nodes:
        if n.op == "get_attr":
            constants.add(n.name)
        args = [a for a in n.all_input_nodes]
        op = _torch_op_name(n.target) if n.op == "call_function" else n.op
        # groups: argument 6 of aten::conv2d, 8 of aten::convolution
        slot = 6 if op.endswith("conv2d") else 8 if op.endswith("convolution") else None
        groups = n.args[slot] if slot is not None and len(n.args) > slot else 1
        nodes.append(
            Node(
                n.name,
                op,
                tuple(a.name for a in args),
                (n.name,),
                depthwise=isinstance(groups, int) and groups > 1,
                origins=(n.name,),
            )
        )
    return OpGraph(fmt, nodes, constants)


def _torch_op_name(target: Any) -> str:
    """`aten::convolution`, `aten::mean.dim`, `getitem`, `executorch_call_delegate`."""
    if hasattr(target, "name") and callable(target.name):
        return str(target.name())  # ATen and edge op overloads
    return str(getattr(target, "__name__", target))


def read_graph(path: Path, fmt: str) -> OpGraph:
    """The graph of a model file in one of the formats the explainers read."""
    readers = {
        "onnx": read_onnx,
        "savedmodel": read_savedmodel,
        "tflite": read_tflite,
        "torch": read_torch_program,
    }
    if fmt == "keras":
        raise ValueError("a .keras file is read through its SavedModel")
    if fmt not in readers:
        raise ValueError(f"edgebench cannot read the graph of a {fmt} model")
    return readers[fmt](path)


def engines_summary(nodes: Iterable[Node]) -> dict[str, int]:
    """How many compute nodes ran on each engine."""
    return dict(Counter(n.engine or "unknown" for n in nodes).most_common())
