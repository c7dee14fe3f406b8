"""The model registry: names, per-model metadata, and the builder each entry names.

Entries describe models without importing a framework; the builder (a "module:function" string)
is imported only when a model is materialized, inside a worker process.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from edgebench.errors import UnknownName


@dataclass(frozen=True)
class InputSpec:
    """One model input, as the model declares it. None marks a dynamic size.

    `batched`: the model's first dimension is a batch of any size (dynamic, as a Keras model's,
    or an ONNX graph's symbolic `N`), and `shape` is one sample's. Otherwise `shape` is the
    whole tensor, fed exactly so: a static first dimension (an image model exported for batch
    1, a recurrent state [2, 1, 128]), a scalar (a sample rate). `value` fills the input with
    one number (`--input-value sr=16000`) instead of random data.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    value_range: tuple[float, float] = (-1.0, 1.0)
    batched: bool = True
    value: float | None = None

    @property
    def is_static(self) -> bool:
        return all(d is not None for d in self.shape)

    def full_shape(self, batch: int) -> tuple[int | None, ...]:
        """The tensor's shape for a batch of `batch` (its declared shape when not batched)."""
        return (batch, *self.shape) if self.batched else tuple(self.shape)

    def feed_shape(self, batch: int) -> tuple[int, ...]:
        """The shape fed for a batch of `batch`, a dynamic size that nothing gave taken as 1."""
        return tuple(d if d is not None else 1 for d in self.full_shape(batch))

    @property
    def image_shape(self) -> tuple[int | None, ...] | None:
        """One image's shape, where the input is an image (three dimensions per sample, or a
        static first dimension of 1 before them); None otherwise."""
        if self.batched and len(self.shape) == 3:
            return tuple(self.shape)
        if not self.batched and len(self.shape) == 4 and self.shape[0] == 1:
            return tuple(self.shape[1:])
        return None

    def shown(self) -> str:
        """As users write it: 3x?x? per sample, or the whole [2x?x128] of an unbatched input."""
        dims = "x".join("?" if d is None else str(d) for d in self.shape) or "scalar"
        return dims if self.batched else f"[{dims}]"


@dataclass(frozen=True)
class ModelSpec:
    """What the harness needs to know about a model, besides its weights.

    Attributes:
        name: registry name, `family` or `family.tag`.
        task: `classification` or `detection`.
        inputs: the model's inputs.
        layout: `NHWC` or `NCHW`.
        preprocessing: how images become input tensors (e.g. `tf`: scaled to [-1, 1]).
        label_set: the labels of the outputs (`imagenet1000`, `coco91`, ...).
        source_format: what the builder or file provides (`keras`, `savedmodel`, `tflite`, ...).
        license: licence of the architecture and of its pretrained weights.
        builder: `module:function` that writes the model to a path, for zoo models.
        weights: weight names the builder accepts besides `random`.
        path: the file or folder of a user's own model.
        fixed_batch: exports for runtimes with static shapes are made per batch size (the
            detector's in-graph NMS runs once per image).
        description: one line for `edgebench list`.
        requires: Python modules needed to materialize the model.
        digest: a model file's content digest (None for the zoo).
    """

    name: str
    task: str
    inputs: tuple[InputSpec, ...]
    layout: str = "NHWC"
    preprocessing: str = "tf"
    label_set: str = "imagenet1000"
    source_format: str = "keras"
    license: str = ""
    builder: str | None = None
    builder_kwargs: dict[str, Any] = field(default_factory=dict)
    weights: tuple[str, ...] = ()
    path: str | None = None
    fixed_batch: bool = False
    description: str = ""
    requires: tuple[str, ...] = ()
    num_classes: int | None = None  # outputs of a classifier; None when unknown
    # The same architecture in plain PyTorch, for the PyTorch-family compilers: `module:function`
    # writing a torch.export program; it takes PyTorch checkpoints or random weights.
    torch_builder: str | None = None
    torch_builder_kwargs: dict[str, Any] = field(default_factory=dict)
    # A model file's content digest (cache.model_file_digest, 16 hex digits): what tells two
    # files of one name apart in cells, reports, compare and resume; None for a zoo model.
    digest: str | None = None
    # Where `preprocessing` came from, for a model file: the file's own metadata, the corpus's
    # record, --input-range / --input-mean, or edgebench's default (said in the run's notes)
    preprocessing_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        data = dict(data)
        data["inputs"] = tuple(
            InputSpec(
                name=i["name"],
                shape=tuple(i["shape"]),
                dtype=i.get("dtype", "float32"),
                value_range=tuple(i.get("value_range", (-1.0, 1.0))),
                batched=i.get("batched", True),
                value=i.get("value"),
            )
            for i in data["inputs"]
        )
        for key in ("weights", "requires"):
            data[key] = tuple(data.get(key, ()))
        return cls(**data)

    def with_inputs(self, inputs: tuple[InputSpec, ...]) -> ModelSpec:
        """These inputs; a user's model file also takes the layout its image input shows."""
        layout = image_layout(inputs) if self.path is not None else None
        return replace(self, inputs=inputs, layout=layout or self.layout)

    @property
    def takes_batch(self) -> bool:
        """Whether a batch of any size can be fed: some input has a batch dimension. A model
        whose inputs fix their first dimension runs at the shape it declares (batch 1)."""
        return any(i.batched for i in self.inputs) or not self.inputs

    def describe_inputs(self) -> str:
        """One line: each input's per-sample shape and type ([whole shape] for an input with
        no batch dimension), and the layout."""
        shown = [
            f"'{i.name}' {i.shown()} {i.dtype}" + (f" = {i.value:g}" if i.value is not None else "")
            for i in self.inputs
        ]
        layout = f", {self.layout}" if image_layout(self.inputs) else ""
        return f"{self.name}: input {', '.join(shown)}{layout}"


_CHANNELS = (1, 3, 4)  # grey, RGB, RGBA


def image_layout(inputs: tuple[InputSpec, ...]) -> str | None:
    """`NCHW` or `NHWC` when the first input is an image (per sample: channels first or last,
    1, 3 or 4 of them, the other end not a channel count), else None."""
    image = inputs[0].image_shape if inputs else None
    if image is None:
        return None
    first, last = image[0], image[2]
    if first in _CHANNELS and last not in _CHANNELS:
        return "NCHW"
    if last in _CHANNELS and first not in _CHANNELS:
        return "NHWC"
    return None


_MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Adds a model to the registry; a second entry with the same name is an error."""
    if spec.name in _MODELS:
        raise ValueError(f"model {spec.name!r} is registered twice")
    _MODELS[spec.name] = spec
    return spec


def get_model(name: str) -> ModelSpec:
    """Returns a registered model, or raises UnknownName listing the valid names."""
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownName("model", name, _MODELS) from None


def list_models(pattern: str = "*") -> list[ModelSpec]:
    """Registered models whose name matches a shell-style wildcard, sorted by name."""
    return [_MODELS[n] for n in sorted(_MODELS) if fnmatch.fnmatchcase(n, pattern)]
