"""SSD with a MobileNetV2 backbone at 300x300 (91 COCO classes, 1917 anchors), built in Keras.

Box decoding and non-maximum suppression live inside the graph, as in the TF detection zoo's
exported SSD: NonMaxSuppressionV4 on one image at a time converts to TFLite's
builtin NON_MAX_SUPPRESSION_V4, and `tf.map_fn` over the batch keeps batch sizes above one working.
Imported only when the model is built: it needs TensorFlow.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

NUM_CLASSES = 91  # COCO's 90 category ids plus background at index 0
IMAGE_SIZE = 300
FEATURE_MAPS = (19, 10, 5, 3, 2, 1)
MAX_DETECTIONS = 100
# Box-coder variances of the TF Object Detection API's SSD configs.
SCALE_FACTORS = (10.0, 10.0, 5.0, 5.0)


def anchor_boxes(
    feature_maps: tuple[int, ...] = FEATURE_MAPS, min_scale: float = 0.2, max_scale: float = 0.95
) -> np.ndarray:
    """SSD anchors as (ycenter, xcenter, height, width), normalised to [0, 1].

    The first map has 3 anchors per cell (scale 0.1; ratios 1, 2, 1/2) and every other map 6
    (ratios 1, 2, 1/2, 3, 1/3 and one more square anchor between this scale and the next), as
    in the TF Object Detection API's `ssd_anchor_generator` with `reduce_boxes_in_lowest_layer`.
    """
    n = len(feature_maps)
    scales = [min_scale + (max_scale - min_scale) * i / (n - 1) for i in range(n)] + [1.0]
    anchors: list[tuple[float, float, float, float]] = []
    for k, size in enumerate(feature_maps):
        if k == 0:
            shapes = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            shapes = [(scales[k], r) for r in (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)]
            shapes.append((math.sqrt(scales[k] * scales[k + 1]), 1.0))
        for y in range(size):
            for x in range(size):
                cy, cx = (y + 0.5) / size, (x + 0.5) / size
                for scale, ratio in shapes:
                    anchors.append((cy, cx, scale / math.sqrt(ratio), scale * math.sqrt(ratio)))
    return np.asarray(anchors, dtype=np.float32)


def anchors_per_cell(map_index: int) -> int:
    return 3 if map_index == 0 else 6


def build(out: Path, weights: str | None = None, image_size: int = IMAGE_SIZE) -> None:
    """Builds the detector and saves it as a `.keras` file at `out`.

    Args:
        out: where to write the `.keras` file.
        weights: a Keras weights file for the whole detector, or None for random weights.
        image_size: input height and width; 300 for the study's model.
    """
    import keras

    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), include_top=False, weights=None
    )
    if not weights:  # random weights whose features vary with the image
        from edgebench.models.random_init import lively_random_weights

        lively_random_weights(backbone)
    features = [
        backbone.get_layer("block_13_expand_relu").output,
        backbone.get_layer("out_relu").output,
    ]
    x = features[-1]
    for i, depth in enumerate((512, 256, 256, 128)):
        x = keras.layers.Conv2D(depth // 2, 1, activation="relu6", name=f"extra{i}_1x1")(x)
        x = keras.layers.Conv2D(
            depth, 3, strides=2, padding="same", activation="relu6", name=f"extra{i}_3x3"
        )(x)
        features.append(x)

    box_parts, class_parts = [], []
    for k, feature in enumerate(features):
        a = anchors_per_cell(k)
        boxes = keras.layers.Conv2D(a * 4, 1, name=f"box_head{k}")(feature)
        classes = keras.layers.Conv2D(a * NUM_CLASSES, 1, name=f"class_head{k}")(feature)
        box_parts.append(keras.layers.Reshape((-1, 4))(boxes))
        class_parts.append(keras.layers.Reshape((-1, NUM_CLASSES))(classes))
    box_encodings = keras.layers.Concatenate(axis=1, name="box_encodings")(box_parts)
    class_logits = keras.layers.Concatenate(axis=1, name="class_logits")(class_parts)

    anchors = anchor_boxes(_feature_maps(image_size))
    if anchors.shape[0] != box_encodings.shape[1]:
        raise ValueError(f"{anchors.shape[0]} anchors for {box_encodings.shape[1]} box outputs")
    outputs = decode_and_suppress_class()(anchors, name="postprocess")(
        [box_encodings, class_logits]
    )
    model = keras.Model(backbone.input, outputs, name="ssd_mobilenet_v2")
    if weights:
        model.load_weights(weights)
    model.save(out)


def _feature_maps(image_size: int) -> tuple[int, ...]:
    sizes = [math.ceil(image_size / 16), math.ceil(image_size / 32)]
    while len(sizes) < 6:
        sizes.append(math.ceil(sizes[-1] / 2))
    return tuple(sizes)


def _make_layer():
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="edgebench")
    class DecodeAndSuppress(keras.layers.Layer):
        """Decodes box encodings against the anchors and keeps the best 100 boxes per image."""

        def __init__(self, anchors, max_detections=MAX_DETECTIONS, iou_threshold=0.6, **kw):
            super().__init__(**kw)
            self.anchors = np.asarray(anchors, dtype=np.float32)
            self.max_detections = max_detections
            self.iou_threshold = iou_threshold

        def get_config(self):
            config = super().get_config()
            config.update(
                anchors=self.anchors.tolist(),
                max_detections=self.max_detections,
                iou_threshold=self.iou_threshold,
            )
            return config

        def call(self, inputs):
            encodings, logits = inputs
            anchors = tf.constant(self.anchors)
            ya, xa, ha, wa = tf.unstack(anchors, axis=-1)
            ty, tx, th, tw = tf.unstack(encodings, axis=-1)
            sy, sx, sh, sw = SCALE_FACTORS
            yc = ty / sy * ha + ya
            xc = tx / sx * wa + xa
            h = tf.exp(th / sh) * ha
            w = tf.exp(tw / sw) * wa
            boxes = tf.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)
            probs = tf.sigmoid(logits[..., 1:])  # drop the background column
            scores = tf.reduce_max(probs, axis=-1)
            classes = tf.cast(tf.argmax(probs, axis=-1), tf.float32) + 1.0

            def one_image(args):
                b, s, c = args
                # The raw op, not tf.image.non_max_suppression_padded: that wraps it in a
                # `cond` which tf2onnx cannot convert; TFLite maps both to its builtin.
                idx, valid = tf.raw_ops.NonMaxSuppressionV4(
                    boxes=b,
                    scores=s,
                    max_output_size=self.max_detections,
                    iou_threshold=self.iou_threshold,
                    score_threshold=float("-inf"),
                    pad_to_max_output_size=True,
                )
                keep = tf.cast(tf.range(self.max_detections) < valid, tf.float32)
                return (
                    tf.gather(b, idx) * keep[:, None],
                    tf.gather(c, idx) * keep,
                    tf.gather(s, idx) * keep,
                    tf.cast(valid, tf.float32),
                )

            batch = encodings.shape[0]
            if batch is None:
                # A dynamic batch needs a loop in the graph; TensorFlow runs it, but TFLite's
                # WHILE kernel fails on this body, so TFLite exports use a fixed batch (below).
                return tf.map_fn(
                    one_image,
                    (boxes, scores, classes),
                    fn_output_signature=(tf.float32, tf.float32, tf.float32, tf.float32),
                )
            per_image = [one_image((boxes[i], scores[i], classes[i])) for i in range(batch)]
            return tuple(tf.stack([r[j] for r in per_image]) for j in range(4))

        def compute_output_shape(self, input_shape):
            batch = input_shape[0][0]
            n = self.max_detections
            return ((batch, n, 4), (batch, n), (batch, n), (batch,))

    return DecodeAndSuppress


_layer_class: Any = None


def decode_and_suppress_class() -> Any:
    """The post-processing Keras layer class, created (and registered) on first use, so that
    importing this module needs no TensorFlow."""
    global _layer_class
    if _layer_class is None:
        _layer_class = _make_layer()
    return _layer_class


def register_custom_objects() -> None:
    """Registers the post-processing layer so that a saved detector loads again."""
    decode_and_suppress_class()
