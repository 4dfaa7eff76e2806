"""Calibration data in every accepted form (converters/calibration_data.py) and
gs.calibration.from_images: each form gives the same batch as the plain array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gearshift as gs
from gearshift.converters.calibration_data import prepare_calibration

SHAPES = [(-1, 6, 5, 3)]
TWO = [(-1, 4), (-1, 2)]


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(0).uniform(size=(10, 6, 5, 3)).astype(np.float32)


def _one(data, shapes=SHAPES, **kw) -> np.ndarray:
    (b,), random = prepare_calibration(data, shapes, **kw)
    assert not random
    return b


def test_numpy_array(x) -> None:
    np.testing.assert_array_equal(_one(x), x)
    np.testing.assert_array_equal(_one(x, limit=4), x[:4])
    np.testing.assert_array_equal(_one(x[0]), x[:1])  # one sample, no batch axis


def test_generators_of_batches_samples_and_pairs(x) -> None:
    np.testing.assert_array_equal(_one(iter([x[:3], x[3:]])), x)
    np.testing.assert_array_equal(_one(s for s in x), x)  # one sample per item
    labels = np.arange(10)
    np.testing.assert_array_equal(_one((s, y) for s, y in zip(x, labels)), x)  # Keras (x, y)
    np.testing.assert_array_equal(_one((s, 0, 1.0) for s in x), x)  # (x, y, weight)
    np.testing.assert_array_equal(_one([s[None]] for s in x), x)  # TFLite: yield [x]
    np.testing.assert_array_equal(_one({"img": s} for s in x), x)  # dicts, one input


def test_generator_stops_at_the_limit(x) -> None:
    pulled = []

    def endless():
        while True:
            pulled.append(1)
            yield x[:3]

    np.testing.assert_array_equal(_one(endless(), limit=7), np.concatenate([x[:3]] * 3)[:7])
    assert len(pulled) == 3


def test_callable(x) -> None:
    np.testing.assert_array_equal(_one(lambda: x), x)
    np.testing.assert_array_equal(_one(lambda: (s for s in x)), x)  # returns a generator


def test_dicts_and_tuples_for_two_inputs() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    names = ["a", "b"]

    def check(data) -> None:
        got, _ = prepare_calibration(data, TWO, input_names=names)
        np.testing.assert_allclose(got[0], a, rtol=1e-6)
        np.testing.assert_allclose(got[1], b, rtol=1e-6)

    check({"b": b, "a": a})  # by name, any order
    check((a, b))
    check({"b": b[i], "a": a[i]} for i in range(6))  # a generator of dicts
    check((a[i : i + 2], b[i : i + 2]) for i in range(0, 6, 2))  # of tuples
    check(((a[i], b[i]), i) for i in range(6))  # Keras ((x1, x2), y)
    with pytest.raises(ValueError, match="2 inputs: each item must be a dict"):
        prepare_calibration(iter([a]), TWO, input_names=names)
    with pytest.raises(ValueError, match="different batch sizes"):
        prepare_calibration(iter([(a, b[:2])]), TWO, input_names=names)
    with pytest.raises(ValueError, match="key it by input name"):
        prepare_calibration({"a": a}, TWO, input_names=names)


def test_tf_data_dataset(x) -> None:
    tf = pytest.importorskip("tensorflow")
    ds = tf.data.Dataset.from_tensor_slices(x)
    np.testing.assert_allclose(_one(ds), x)  # one sample per element
    np.testing.assert_allclose(_one(ds.batch(4)), x)  # batches
    pairs = tf.data.Dataset.from_tensor_slices((x, np.arange(10))).batch(3)
    np.testing.assert_allclose(_one(pairs), x)  # (x, y) batches, as for fit()
    np.testing.assert_allclose(_one(ds.repeat().batch(4), limit=6), x[:6])  # endless


def test_errors(x) -> None:
    with pytest.raises(ValueError, match="calibration is empty"):
        prepare_calibration(iter([]), SHAPES)
    with pytest.raises(ValueError, match=r"calibration item 1: expected shape \(N, 6, 5, 3\)"):
        prepare_calibration(iter([x[:2], x[:2, :3]]), SHAPES)
    with pytest.raises(ValueError, match=r"tf\.data\.Dataset"):
        prepare_calibration(3.0, SHAPES)


# -- a folder of images -------------------------------------------------------------------
def _write_images(folder: Path, n: int) -> list[np.ndarray]:
    # Pillow is an optional extra (board images may lack it): skip without it.
    Image = pytest.importorskip("PIL.Image")

    rng = np.random.default_rng(2)
    images = []
    for i in range(n):
        img = rng.integers(0, 256, size=(9 + i, 7, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"img{i:02d}.png")
        images.append(img)
    (folder / "notes.txt").write_text("not an image")
    Image.fromarray(images[0][..., 0]).save(folder / "zz_gray.bmp")  # grayscale -> RGB
    return images


def _center(img: np.ndarray) -> np.ndarray:
    return img[:6, :5].astype(np.float32) / 127.5 - 1.0


def test_from_images_with_preprocess(tmp_path) -> None:
    images = _write_images(tmp_path, 5)
    data = gs.calibration.from_images(tmp_path, preprocess=_center)
    assert len(data) == 6
    got = _one(data)
    np.testing.assert_array_equal(got[:5], np.stack([_center(i) for i in images]))
    gray = images[0][..., 0]
    np.testing.assert_array_equal(got[5], _center(np.stack([gray] * 3, axis=-1)))
    limited = gs.calibration.from_images(tmp_path, preprocess=_center, limit=2)
    np.testing.assert_array_equal(_one(limited), got[:2])


def test_from_images_default_resize(tmp_path) -> None:
    _write_images(tmp_path, 3)
    got = _one(gs.calibration.from_images(tmp_path, size=(6, 5), scale=(-1.0, 1.0)))
    assert got.shape == (4, 6, 5, 3) and got.dtype == np.float32
    assert got.min() >= -1.0 and got.max() <= 1.0


def test_from_images_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="calibration image folder not found"):
        gs.calibration.from_images(tmp_path / "nope", size=(4, 4))
    with pytest.raises(ValueError, match=r"no images in .*recursive=True"):
        gs.calibration.from_images(tmp_path, size=(4, 4))
    _write_images(tmp_path, 1)
    with pytest.raises(ValueError, match="needs preprocess="):
        gs.calibration.from_images(tmp_path)
    with pytest.raises(ValueError, match="limit must be at least 1"):
        gs.calibration.from_images(tmp_path, size=(4, 4), limit=0)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read calibration image .*broken\.png"):
        list(gs.calibration.from_images(tmp_path, size=(4, 4)))


def test_convert_takes_an_image_folder(tmp_path) -> None:
    """The int8 gear from a folder of images equals the one from the same inputs as an array."""
    keras = pytest.importorskip("keras")
    images = _write_images(tmp_path, 12)
    model = keras.Sequential(
        [
            keras.Input((6, 5, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    x = np.stack([_center(i) for i in images])
    folder = gs.calibration.from_images(tmp_path, preprocess=_center, limit=12)
    outs = []
    for name, cal in (("array", x), ("folder", folder)):
        path = tmp_path / f"{name}.gear"
        gs.convert(model, path, gears=("fp32", "int8"), calibration=cal, progress=False)
        rt = gs.Runtime(path, gear="int8")
        outs.append(rt.run(x))
    np.testing.assert_array_equal(outs[0], outs[1])
