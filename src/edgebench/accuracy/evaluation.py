"""Evaluation sets: a dataset preprocessed for one model, saved once, fed to every cell.

Built in the main process before any cell is timed, so a bad dataset fails fast and every
compiler sees exactly the same input tensors. Outputs come back from the workers as .npz files
and are scored here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.accuracy.metrics import (
    classification_accuracy,
    coco_detections,
    coco_map,
    fidelity,
    label_offset,
)
from edgebench.datasets.base import Dataset, DatasetError
from edgebench.datasets.images import UnreadableImage, load_rgb, preprocess
from edgebench.models import ModelSpec
from edgebench.models.synthetic_inputs import make_samples

# Which runtime gives a model's FP32 reference outputs, by the model's source format.
REFERENCE_COMPILER = {
    "zoo": "tensorflow",
    "keras": "tensorflow",
    "savedmodel": "tensorflow",
    "tflite": "tflite",
    "onnx": "onnxruntime",
    "torch": "torch",
    # The program converted from it, run eagerly: the conversion itself checks that program
    # against the TorchScript module (conversion/torch_steps.py).
    "torchscript": "torch",
}
# The reference runs the framework as it is: PyTorch eager, not torch.compile.
REFERENCE_OPTIONS: dict[str, dict[str, str]] = {"torch": {"torch_compile": "none"}}


@dataclass
class EvalSet:
    dataset: Dataset
    path: Path  # .npz with one array per model input, N samples each
    n: int
    skipped: list[str] = field(default_factory=list)
    labels: list[tuple[int, ...]] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)
    image_sizes: list[tuple[int, int]] = field(default_factory=list)

    def load(self) -> list[np.ndarray]:
        with np.load(self.path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]


def takes_images(model: ModelSpec) -> bool:
    """One image input (three dimensions per sample, or a static batch of 1 before them):
    what image datasets can feed."""
    return len(model.inputs) == 1 and model.inputs[0].image_shape is not None


def for_model(model: ModelSpec, dataset: Dataset) -> Dataset:
    """`photos` are fidelity and calibration inputs for whichever models take images; a model
    in the same grid that does not (audio, several inputs) gets random inputs instead, said."""
    if dataset.kind != "photos" or takes_images(model):
        return dataset
    print(
        f"note: {model.name} does not take an image; random inputs stand in for '{dataset.spec}'",
        file=sys.stderr,
    )
    from edgebench.datasets.base import load_synthetic

    return load_synthetic(f"synthetic:{len(dataset.items)}", str(len(dataset.items)))


def _image_input(model: ModelSpec) -> tuple[int, int]:
    if not takes_images(model):
        raise DatasetError(
            f"{model.name} has inputs {[i.shape for i in model.inputs]}; image datasets need one "
            "image input (use --dataset synthetic for other models)"
        )
    shape = model.inputs[0].image_shape
    assert shape is not None
    h, w = (shape[1], shape[2]) if model.layout == "NCHW" else (shape[0], shape[1])
    if h is None or w is None:
        raise DatasetError(f"{model.name}: give the input size with --input-shape")
    return int(h), int(w)


def check_compatible(model: ModelSpec, dataset: Dataset) -> None:
    """Raises before any work when a dataset's labels cannot score this model."""
    if not dataset.labelled:
        return
    if dataset.task != model.task and model.task != "unknown":
        raise DatasetError(
            f"dataset '{dataset.spec}' is for {dataset.task}; {model.name} does {model.task}"
        )
    if dataset.label_set.startswith("imagenet") and not model.label_set.startswith("imagenet"):
        raise DatasetError(
            f"dataset '{dataset.spec}' has ImageNet labels; {model.name} outputs {model.label_set}"
        )
    if model.num_classes is not None:
        for item in dataset.items:
            if item.label is not None and item.label >= model.num_classes:
                raise DatasetError(
                    f"dataset '{dataset.spec}': {item.path.name} has label {item.label}, "
                    f"out of range for {model.name} ({model.num_classes} classes)"
                )


def build_eval_set(
    model: ModelSpec, dataset: Dataset, folder: Path, tag: str, seed: int = 1234
) -> EvalSet:
    """Preprocesses the dataset for `model` into `folder/<tag>.npz`.

    Unreadable images are skipped, named on stderr and counted; a set with none left fails.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{tag}.npz"
    if dataset.kind == "synthetic":
        arrays = make_samples(model, len(dataset.items), seed=seed)
        np.savez(path, *arrays)  # saved as arr_0, arr_1, ...
        return EvalSet(dataset, path, len(dataset.items))
    h, w = _image_input(model)
    result = EvalSet(dataset, path, 0)
    samples = []
    for item in dataset.items:
        try:
            img = load_rgb(item.path)
        except UnreadableImage as exc:
            result.skipped.append(item.path.name)
            print(f"warning: skipping unreadable image {exc}", file=sys.stderr)
            continue
        samples.append(preprocess(img, model.preprocessing, h, w, model.layout))
        result.labels.append(tuple(x for x in (item.label, *item.also) if x is not None))
        if item.image_id is not None:
            result.image_ids.append(item.image_id)
            result.image_sizes.append((img.shape[0], img.shape[1]))
    if not samples:
        raise DatasetError(
            f"dataset '{dataset.spec}': no readable images ({len(result.skipped)} unreadable)"
        )
    result.n = len(samples)
    stacked = np.stack(samples)  # (n, *image): a static batch of 1 keeps its axis per sample
    if not model.inputs[0].batched:
        stacked = stacked.reshape(len(samples), *model.inputs[0].feed_shape(1))
    np.savez(path, stacked)
    return result


def load_outputs(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def score(
    eval_set: EvalSet,
    model: ModelSpec,
    outputs: list[np.ndarray],
    random_weights: bool,
) -> dict[str, Any] | None:
    """Accuracy of one cell's outputs; None when the set has no labels or the weights are random."""
    ds = eval_set.dataset
    if not ds.labelled or random_weights:
        return None
    base: dict[str, Any] = {
        "dataset": ds.spec,
        "n": eval_set.n,
        "skipped_images": len(eval_set.skipped),
    }
    if ds.task == "classification":
        if outputs[0].ndim != 2:
            shape = "x".join(map(str, outputs[0].shape))
            raise DatasetError(
                f"dataset '{ds.spec}' has class labels, but {model.name}'s first output is "
                f"{shape}, not one score per class: give a dataset without labels "
                "(synthetic[:N]) to compare its outputs"
            )
        return {
            **base,
            **classification_accuracy(outputs[0], eval_set.labels, label_offset(model.label_set)),
        }
    if ds.task == "detection" and ds.annotations is not None:
        dets = coco_detections(outputs, eval_set.image_ids, eval_set.image_sizes, model.label_set)
        return {**base, **coco_map(str(ds.annotations), dets, eval_set.image_ids)}
    return None


def fidelity_of(
    eval_set: EvalSet,
    model: ModelSpec,
    outputs: list[np.ndarray],
    reference: list[np.ndarray],
    reference_name: str,
    reference_accuracy: dict[str, Any] | None,
    accuracy: dict[str, Any] | None,
) -> dict[str, Any]:
    """Fidelity to the reference outputs, plus the accuracy drop when there are labels."""
    result: dict[str, Any] = {"reference": reference_name, "dataset": eval_set.dataset.spec}
    try:
        result.update(fidelity(outputs, reference, model.task))
    except (ValueError, StopIteration) as exc:
        result["error"] = f"outputs do not match the reference's: {exc}"
        return result
    if accuracy and reference_accuracy:
        for key in ("top1", "top5", "map", "map50"):
            if key in accuracy and key in reference_accuracy:
                result[f"{key}_drop"] = reference_accuracy[key] - accuracy[key]
    return result
