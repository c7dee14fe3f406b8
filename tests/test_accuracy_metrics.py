"""Top-k, fidelity and COCO mAP arithmetic on hand-made cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgebench.accuracy.metrics import (
    classification_accuracy,
    coco_detections,
    fidelity,
    split_detections,
    topk_hits,
)


def test_topk_counts_any_acceptable_label() -> None:
    logits = np.array([[0.1, 0.9, 0.0, 0.5], [0.8, 0.1, 0.05, 0.05], [0.0, 0.1, 0.2, 0.7]])
    labels = [(1,), (2,), (0, 3)]
    assert topk_hits(logits, labels, 1) == 2  # rows 0 and 2
    assert topk_hits(logits, labels, 3) == 3  # row 1's label 2 is third
    acc = classification_accuracy(logits, labels)
    assert acc["top1"] == pytest.approx(2 / 3) and acc["top5"] == 1.0
    # A background class in front shifts every output index by one.
    shifted = np.concatenate([np.zeros((3, 1)), logits], axis=1)
    assert topk_hits(shifted, labels, 1, offset=1) == 2


def test_fidelity_of_identical_and_perturbed_outputs() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(10, 5)).astype(np.float32)
    same = fidelity([ref.copy()], [ref], "classification")
    assert same["top1_agreement"] == 1.0 and same["max_abs_diff"] == 0.0
    assert same["cosine"] == pytest.approx(1.0) and math.isinf(same["snr_db"])
    noisy = ref + 0.1 * rng.normal(size=ref.shape).astype(np.float32)
    f = fidelity([noisy], [ref], "classification")
    expected_snr = 10 * math.log10(
        np.sum(ref.astype(np.float64) ** 2) / np.sum((noisy - ref).astype(np.float64) ** 2)
    )
    assert f["snr_db"] == pytest.approx(expected_snr, rel=1e-6)
    assert 15 < f["snr_db"] < 25  # noise at a tenth of the signal's scale: about 20 dB
    flipped = ref.copy()
    flipped[0] = -flipped[0]
    assert fidelity([flipped], [ref], "classification")["top1_agreement"] == pytest.approx(0.9)


def test_outputs_in_another_order_are_matched_by_shape() -> None:
    a, b = np.arange(6.0).reshape(2, 3), np.arange(14.0).reshape(2, 7)  # outputs that vary
    assert fidelity([b, a], [a, b], "regression")["max_abs_diff"] == 0.0
    with pytest.raises(ValueError, match="no reference output"):
        fidelity([np.ones((2, 4))], [a], "regression")


def _ssd_outputs(
    boxes: list[list[list[float]]], classes: list[list[float]], scores: list[list[float]]
):  # type: ignore[no-untyped-def]
    b = np.array(boxes, dtype=np.float32)
    return [
        np.array(scores, dtype=np.float32),
        np.array([len(x) for x in classes], dtype=np.float32),
        b,
        np.array(classes, dtype=np.float32),
    ]


def test_detections_become_coco_pixel_boxes() -> None:
    outs = _ssd_outputs([[[0.1, 0.2, 0.5, 0.6]]], [[18.0]], [[0.75]])
    boxes, classes, scores, count = split_detections(outs)
    assert classes[0, 0] == 18 and scores[0, 0] == pytest.approx(0.75) and count[0] == 1
    (det,) = coco_detections(outs, [42], [(100, 200)])
    assert det["image_id"] == 42 and det["category_id"] == 18
    assert det["bbox"] == pytest.approx([40.0, 10.0, 80.0, 40.0])  # x, y, w, h in pixels
    (det80,) = coco_detections(outs, [42], [(100, 200)], label_set="coco80")
    assert det80["category_id"] == 20  # contiguous class 18 is COCO id 20 (sheep)


def _tiny_coco(tmp_path: Path) -> Path:
    images = [{"id": i, "file_name": f"{i}.jpg", "height": 100, "width": 100} for i in (1, 2)]
    anns = [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [10, 10, 40, 40],
            "area": 1600,
            "iscrowd": 0,
        },
        {
            "id": 2,
            "image_id": 2,
            "category_id": 3,
            "bbox": [50, 50, 30, 30],
            "area": 900,
            "iscrowd": 0,
        },
    ]
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def test_map_matches_pycocotools_on_a_tiny_set(tmp_path: Path) -> None:
    pytest.importorskip("pycocotools")
    from edgebench.accuracy.metrics import coco_map

    ann = _tiny_coco(tmp_path)
    # Perfect boxes on both images (normalized ymin, xmin, ymax, xmax).
    perfect = _ssd_outputs(
        [[[0.1, 0.1, 0.5, 0.5]], [[0.5, 0.5, 0.8, 0.8]]], [[1.0], [3.0]], [[0.9], [0.8]]
    )
    dets = coco_detections(perfect, [1, 2], [(100, 100), (100, 100)])
    assert coco_map(str(ann), dets, [1, 2]) == {
        "map": pytest.approx(1.0),
        "map50": pytest.approx(1.0),
    }
    # The car predicted as a person: the person class is still perfect (AP 1), the car class
    # has no true positive (AP 0), so the mean over the two classes is 0.5.
    wrong = _ssd_outputs(
        [[[0.1, 0.1, 0.5, 0.5]], [[0.5, 0.5, 0.8, 0.8]]], [[1.0], [1.0]], [[0.9], [0.8]]
    )
    dets = coco_detections(wrong, [1, 2], [(100, 100), (100, 100)])
    got = coco_map(str(ann), dets, [1, 2])
    assert got["map50"] == pytest.approx(0.5, abs=0.01)
    # A box shifted by 5 px: IoU 1400/1800 = 0.78, a hit at the thresholds .50 to .75 (6 of the
    # 10 from .50 to .95), so mAP@[.5:.95] is 0.6 and mAP@.5 is 1.
    shifted = _ssd_outputs([[[0.1, 0.15, 0.5, 0.55]]], [[1.0]], [[0.9]])
    dets = coco_detections(shifted, [1], [(100, 100)])
    got = coco_map(str(ann), dets, [1])
    assert got["map50"] == pytest.approx(1.0) and got["map"] == pytest.approx(0.6)


def test_detection_agreement_matches_boxes_not_positions() -> None:
    from edgebench.accuracy.metrics import fidelity

    ref = _ssd_outputs([[[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]]], [[1.0, 3.0]], [[0.9, 0.8]])
    # The same detections in the other order (a tie broken differently) agree fully.
    swapped = _ssd_outputs(
        [[[0.6, 0.6, 0.9, 0.9], [0.1, 0.1, 0.5, 0.5]]], [[3.0, 1.0]], [[0.79, 0.9]]
    )
    f = fidelity(swapped, ref, "detection")
    assert f["detection_agreement"] == 1.0 and f["mean_score_diff"] == pytest.approx(0.005)
    # A fully int8 graph computes the class ids in int8 too (class 3 comes out as 3.176):
    # they are still told from the scores, and rounded.
    int8 = _ssd_outputs([[[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]]], [[0.824, 3.176]],
                        [[0.9, 0.8]])  # fmt: skip
    boxes, classes, scores, _ = split_detections(int8)
    assert classes.tolist() == [[1.0, 3.0]] and scores[0].tolist() == pytest.approx([0.9, 0.8])
    assert fidelity(int8, ref, "detection")["detection_agreement"] == 1.0
    # The second box labelled another class, and the first moved off its place: none agree.
    wrong = _ssd_outputs([[[0.5, 0.5, 0.7, 0.7], [0.6, 0.6, 0.9, 0.9]]], [[1.0, 2.0]], [[0.9, 0.8]])
    assert fidelity(wrong, ref, "detection")["detection_agreement"] == 0.0
