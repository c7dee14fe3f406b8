"""`samples`: real photographs that installed packages ship, labelled by hand with ImageNet-1k
classes, for smoke runs and demos. ImageNet has no class for some subjects (a motorcycle, a
person), so each photo lists the classes a person would accept; a prediction counts as right
when it is any of them. Seven photos: figures from it are a sanity check, not a benchmark.

`photos`: the same seven and three more (a person, a printed page, a street sign), unlabelled:
real inputs for fidelity and INT8 calibration of any image model (faces, poses, text), where
random tensors make an output that barely moves (a text detector's map is blank on noise)."""

from __future__ import annotations

from importlib import util
from pathlib import Path

from edgebench.datasets.base import Dataset, DatasetError, Item

# (package, path inside the package, main label, other acceptable labels)
SAMPLES: tuple[tuple[str, str, int, tuple[int, ...]], ...] = (
    ("skimage", "data/chelsea.png", 281, (282, 285)),  # tabby cat; tiger cat, Egyptian cat
    ("skimage", "data/coffee.png", 967, (968, 504)),  # espresso; cup, coffee mug
    ("skimage", "data/rocket.jpg", 812, (657, 744)),  # space shuttle; missile, projectile
    ("skimage", "data/motorcycle_left.png", 665, (670,)),  # moped; motor scooter
    ("skimage", "data/camera.png", 872, (759, 732)),  # tripod; reflex camera, Polaroid camera
    ("sklearn", "datasets/images/china.jpg", 698, (663, 442)),  # palace; monastery, bell cote
    (
        "matplotlib",
        "mpl-data/sample_data/grace_hopper.jpg",
        652,
        (457, 834),
    ),  # uniform; bow tie, suit
)
# Unlabelled extras for `photos`: subjects the ImageNet samples lack.
EXTRA_PHOTOS: tuple[tuple[str, str], ...] = (
    ("skimage", "data/astronaut.png"),  # a person, face and upper body
    ("skimage", "data/page.png"),  # a printed page of text
    ("skimage", "data/text.png"),  # lettering on a sign
)
PACKAGES = {"skimage": "scikit-image", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}


def _package_dir(module: str) -> Path | None:
    spec = util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _shipped(
    kind: str, entries: tuple[tuple[str, str, int | None, tuple[int, ...]], ...]
) -> list[Item]:
    items = []
    missing = set()
    for module, rel, label, also in entries:
        root = _package_dir(module)
        if root is None or not (root / rel).is_file():
            missing.add(PACKAGES[module])
            continue
        items.append(Item(root / rel, label, also))
    if not items:
        raise DatasetError(
            f"the {kind} set needs images from {', '.join(sorted(missing))}: "
            f"pip install {' '.join(sorted(missing))}"
        )
    return items


def load_samples(spec: str) -> Dataset:
    return Dataset(spec, "samples", "classification", "imagenet1000", _shipped("samples", SAMPLES))


def load_photos(spec: str) -> Dataset:
    extras = tuple((module, rel, None, ()) for module, rel in EXTRA_PHOTOS)
    items = [Item(i.path) for i in _shipped("photos", SAMPLES + extras)]
    return Dataset(spec, "photos", "none", "none", items)
