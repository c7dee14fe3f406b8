"""torchvision's MobileNetV2, rebuilt in Keras so that every CPU compiler (TFLite included) can
run its real ImageNet weights.

Keras's own MobileNetV2 pads stride-2 convolutions asymmetrically; torchvision pads by one on
every side, so this builder uses explicit symmetric ZeroPadding2D to give the same numbers.
The weights come from a legacy PyTorch checkpoint read without PyTorch (`torch_checkpoint`).
Imported only inside a worker: needs TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgebench.models.torch_checkpoint import load_state_dict

# (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper.
MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_BN_EPS = 1e-5  # PyTorch's default, not Keras's 1e-3


def build(out: Path, weights: str | None = None, size: int = 224, num_classes: int = 1000) -> None:
    """Builds the network (logits out, as torchvision) and saves it as a `.keras` file."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3), name="input")
    x = inputs
    # features.0: stem
    x = layers.ZeroPadding2D(1)(x)
    stem = layers.Conv2D(32, 3, strides=2, use_bias=False)
    stem_bn = layers.BatchNormalization(epsilon=_BN_EPS)
    x = layers.ReLU(6.0)(stem_bn(stem(x)))
    bindings: list[tuple[Any, str]] = [(stem, "features.0.0"), (stem_bn, "features.0.1")]
    channels, index = 32, 1
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        for i in range(n):
            stride = s if i == 0 else 1
            p = f"features.{index}.conv"
            shortcut = x
            hidden = channels * t
            j = 0
            if t != 1:
                conv = layers.Conv2D(hidden, 1, use_bias=False)
                bn = layers.BatchNormalization(epsilon=_BN_EPS)
                x = layers.ReLU(6.0)(bn(conv(x)))
                bindings += [(conv, f"{p}.{j}.0"), (bn, f"{p}.{j}.1")]
                j += 1
            x = layers.ZeroPadding2D(1)(x)
            dw = layers.DepthwiseConv2D(3, strides=stride, use_bias=False)
            bn = layers.BatchNormalization(epsilon=_BN_EPS)
            x = layers.ReLU(6.0)(bn(dw(x)))
            bindings += [(dw, f"{p}.{j}.0"), (bn, f"{p}.{j}.1")]
            j += 1
            proj = layers.Conv2D(c, 1, use_bias=False)
            bn = layers.BatchNormalization(epsilon=_BN_EPS)
            x = bn(proj(x))
            bindings += [(proj, f"{p}.{j}"), (bn, f"{p}.{j + 1}")]
            if stride == 1 and channels == c:
                x = layers.Add()([shortcut, x])
            channels = c
            index += 1
    head = layers.Conv2D(1280, 1, use_bias=False)
    head_bn = layers.BatchNormalization(epsilon=_BN_EPS)
    x = layers.ReLU(6.0)(head_bn(head(x)))
    bindings += [(head, f"features.{index}.0"), (head_bn, f"features.{index}.1")]
    x = layers.GlobalAveragePooling2D()(x)
    fc = layers.Dense(num_classes, name="logits")
    outputs = fc(x)
    bindings.append((fc, "classifier.1"))
    model = keras.Model(inputs, outputs, name="mobilenet_v2_torchvision")
    if weights:
        load_torch_weights(bindings, load_state_dict(Path(weights)))
    else:
        from edgebench.models.random_init import lively_random_weights

        lively_random_weights(model, (-2.1, 2.6))  # this model's preprocessed input range
    model.save(out)


def load_torch_weights(bindings: list[tuple[Any, str]], state: dict[str, np.ndarray]) -> None:
    """Copies PyTorch tensors into Keras layers, transposing to Keras's layouts."""
    from keras import layers

    used: set[str] = set()
    for layer, prefix in bindings:
        names: tuple[str, ...]
        if isinstance(layer, layers.BatchNormalization):
            names = ("weight", "bias", "running_mean", "running_var")
            layer.set_weights([state[f"{prefix}.{n}"] for n in names])
        elif isinstance(layer, layers.DepthwiseConv2D):
            w = state[f"{prefix}.weight"]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            layer.set_weights([w.transpose(2, 3, 0, 1)])
            names = ("weight",)
        elif isinstance(layer, layers.Conv2D):
            w = state[f"{prefix}.weight"]  # (out, in, kh, kw) -> (kh, kw, in, out)
            layer.set_weights([w.transpose(2, 3, 1, 0)])
            names = ("weight",)
        elif isinstance(layer, layers.Dense):
            layer.set_weights([state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]])
            names = ("weight", "bias")
        else:
            raise TypeError(f"no weight mapping for {type(layer).__name__}")
        used.update(f"{prefix}.{n}" for n in names)
    unused = {k for k in state if k not in used and not k.endswith("num_batches_tracked")}
    if unused:
        raise ValueError(f"checkpoint tensors not used by the model: {sorted(unused)[:5]}")
