"""One op taxonomy for every compiler, so graphs and op times can be compared across them.

Each framework names its ops its own way (ONNX `Conv`, TFLite `CONV_2D`, TensorFlow `Conv2D`,
OpenVINO `Convolution`, TVM `fused_conv2d_add_relu`, PyTorch `aten::convolution`, XNNPACK
`Convolution (NHWC, QS8) IGEMM`). `category` maps any of them onto the ten categories below
from the op's name alone (plus a depthwise hint where the name cannot tell). Nothing here
imports a framework.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

CATEGORIES: tuple[str, ...] = (
    "conv",
    "depthwise conv",
    "matmul/dense",
    "pool",
    "activation",
    "elementwise",
    "reshape/transpose",
    "quantize/dequantize",
    "nms/post-processing",
    "other",
)

# Plumbing: ops that carry values rather than compute (weights, inputs, identities). They are
# left out of node counts so that "nodes before/after" counts work, not bookkeeping.
PLUMBING = frozenset(
    {
        "const",
        "constant",
        "identity",
        "noop",
        "placeholder",
        "parameter",
        "result",
        "input",
        "output",
        "readvariableop",
        "varhandleop",
        "statefulpartitionedcall",
        "partitionedcall",
        "getattr",
        "getitem",
        "callmodule",
        "placeholderwithdefault",
    }
)

# Checked in this order: the first category whose words occur in the normalized name wins.
# Quantization and NMS come first (QLinearConv is a conv, but QuantizeLinear is not),
# depthwise before conv, and layout before arithmetic (`Unsqueeze` is no `sub`).
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nms/post-processing", ("nonmaxsuppression", "nms", "topk", "detectionpostprocess")),
    ("quantize/dequantize", ("quantizelinear", "dequantize", "quantize", "requantize")),
    ("depthwise conv", ("depthwise", "groupconvolution", "dwconv")),
    ("conv", ("conv", "deconvolution", "igemm")),
    ("matmul/dense", ("matmul", "gemm", "fullyconnected", "dense", "linear", "dot", "bmm", "mm")),
    ("pool", ("pool", "mean", "reduce")),
    (
        "activation",
        ("relu", "clip", "clamp", "sigmoid", "tanh", "swish", "silu", "gelu", "elu", "softmax",
         "logistic", "prelu", "hardsigmoid", "mish"),
    ),
    (
        "reshape/transpose",
        ("reshape", "transpose", "permute", "squeeze", "flatten", "concat", "split", "slice",
         "gather", "pad", "reorder", "reformat", "view", "tile", "shape", "pack", "copy",
         "broadcast", "memcpy"),
    ),
    (
        "elementwise",
        ("add", "sub", "mul", "div", "batchnorm", "sqrt", "pow", "exp", "log", "neg", "abs",
         "max", "min", "eltwise", "biasadd", "scaleshift", "where", "equal", "greater", "less",
         "cast", "round", "floor", "ceil", "erf"),
    ),
)  # fmt: skip

# Names that hold another category's word: a type conversion is no convolution, a bilinear
# resize no dense layer, ExpandDims no exponential, OpenVINO's Subgraph no subtraction.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("convert", "elementwise"),
    ("resize", "reshape/transpose"),
    ("upsample", "reshape/transpose"),
    ("expand", "reshape/transpose"),
    ("subgraph", "other"),
    ("fullyconnected", "matmul/dense"),  # OpenVINO's FullyConnectedQuantized is no quantizer
)


def normalize(op: str) -> str:
    """Lower case, letters and digits only: `CONV_2D`, `Conv2D` and `conv2d` all read alike."""
    return re.sub(r"[^a-z0-9]+", "", op.lower())


def is_plumbing(op: str) -> bool:
    return normalize(op) in PLUMBING


def category(op: str, depthwise: bool = False) -> str:
    """The taxonomy category of an op, by its name.

    Args:
        op: the op's type as its framework names it.
        depthwise: the op is a convolution known to be depthwise (ONNX `Conv` with
            `group` = channels, which its name does not show).
    """
    name = normalize(op)
    if name.startswith("qlinear") and len(name) > len("qlinear"):
        # ONNX's QLinear* ops are the quantized form of the op after the prefix: QLinearAdd is
        # an add, QLinearGlobalAveragePool a pool (not a dense layer: "linear" is no matmul).
        name = name[len("qlinear") :]
    for prefix, cat in _PREFIXES:
        if name.startswith(prefix):
            return cat
    for cat, words in _RULES:
        if any(w in name for w in words):
            if cat == "conv" and depthwise:
                return "depthwise conv"
            return cat
    return "other"


def category_of_kernel(name: str) -> str:
    """The category of a fused kernel named after the ops it fuses (TVM `fused_conv2d_add_relu`,
    inductor `cpp_fused_convolution_relu_3`): the heaviest op in the name decides, so a
    convolution with its bias add and ReLU counts as conv."""
    parts = [p for p in re.split(r"[_\W]+", name.lower()) if p and not p.isdigit()]
    found = {category(p) for p in parts} - {"other"}
    for cat in CATEGORIES:  # CATEGORIES lists the heavier kinds of work first
        if cat in found:
            return cat
    return category(name)


def deciding_op(parts: Sequence[str]) -> str:
    """The op of a fused kernel that decides its category: the convolution of
    conv2d+add+relu (`parts` is not empty)."""
    heaviest = category_of_kernel("_".join(parts))
    return next((p for p in parts if category(p) == heaviest), parts[0])
