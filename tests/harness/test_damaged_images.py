"""--dataset folder: unreadable files are named once and skipped; every image mode becomes RGB."""

import numpy as np
import pytest
import torch
from PIL import Image

from wae_bench import data as datasets
from wae_bench.errors import UsageError

SIZE = 8


def solid(path, mode, value, size=(12, 10)):
    """A one-colour image of ``mode`` ('L', 'P', 'RGBA', 'RGB') saved at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


def noise_png(path, size=(64, 48)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def all_images(split):
    return torch.stack([split[i] for i in range(len(split))])


def test_every_damaged_file_is_named_once_and_skipped(tmp_path, capsys):
    good = [noise_png(tmp_path / f"ok{i}.png") for i in range(3)]
    (tmp_path / "notes.jpg").write_text("shopping list: milk, eggs\n")
    cut_in_half(noise_png(tmp_path / "half.png"))
    jpeg = tmp_path / "sub" / "half.jpeg"
    jpeg.parent.mkdir()
    Image.open(good[0]).save(jpeg, quality=90)
    cut_in_half(jpeg)
    (tmp_path / "empty.webp").write_bytes(b"")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 50)  # no image suffix
    (tmp_path / "readme.txt").write_text("not looked at")

    data = datasets.load("folder", str(tmp_path), size=SIZE)

    assert len(data.train) + len(data.test) == 3
    assert sorted(p.name for p in data.train.paths + data.test.paths) == [p.name for p in good]
    assert all_images(data.train).shape == (len(data.train), 3, SIZE, SIZE)
    err = capsys.readouterr().err
    assert err == (
        f"wae-bench: warning: folder: skipping 4 unreadable image files under {tmp_path}: "
        "empty.webp, half.png, notes.jpg, sub/half.jpeg\n"
    )


def test_the_warning_names_the_first_few_and_counts_the_rest(tmp_path, capsys):
    for i in range(2):
        noise_png(tmp_path / f"ok{i}.png")
    for i in range(8):
        (tmp_path / f"bad{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 20)
    datasets.load("folder", str(tmp_path), size=SIZE)
    assert capsys.readouterr().err.endswith(
        ": bad0.png, bad1.png, bad2.png, bad3.png, bad4.png and 3 more\n"
    )


def test_a_cut_jpeg_passes_verify_but_not_decoding(tmp_path):
    """Why the check decodes: PIL's verify() accepts a JPEG whose second half is missing."""
    path = tmp_path / "a.jpg"
    Image.open(noise_png(tmp_path / "a.png")).save(path, quality=90)
    assert datasets.decodes(path)
    cut_in_half(path)
    with Image.open(path) as image:
        image.verify()  # no complaint
    assert not datasets.decodes(path)


def test_fewer_than_two_readable_images_is_a_usage_error(tmp_path):
    noise_png(tmp_path / "only.png")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(UsageError) as err:
        datasets.load("folder", str(tmp_path), size=SIZE)
    assert str(err.value) == (
        f"folder: expected image files (.bmp, .jpeg, .jpg, .png, .webp) under {tmp_path}, "
        "found 1 readable (2 needed); pass --data-root DIR of images"
    )


@pytest.mark.parametrize(
    ("mode", "value", "rgb"),
    [
        ("L", 128, (128, 128, 128)),
        ("LA", (200, 50), (200, 200, 200)),
        ("RGBA", (10, 20, 30, 0), (10, 20, 30)),  # alpha dropped, colour kept
        ("RGB", (255, 0, 64), (255, 0, 64)),
        ("I;16", 40000, (255, 255, 255)),
        ("1", 1, (255, 255, 255)),
    ],
)
def test_every_image_mode_becomes_rgb(tmp_path, mode, value, rgb):
    for i in range(2):
        solid(tmp_path / f"{i}.png", mode, value)
    data = datasets.load("folder", str(tmp_path), size=SIZE)
    images = torch.cat([all_images(data.train), all_images(data.test)])
    expected = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 255
    assert images.shape == (2, 3, SIZE, SIZE)
    torch.testing.assert_close(images, expected.expand_as(images), atol=1 / 255, rtol=0)


def test_palette_images_become_rgb_with_their_palette_colours(tmp_path):
    palette = [255, 0, 0, 0, 0, 255] + [0] * 762  # index 0 red, index 1 blue
    for i in range(2):
        image = Image.new("P", (10, 10), 0)
        image.putpalette(palette)
        image.paste(1, (0, 0, 10, 5))  # top half blue
        image.save(tmp_path / f"{i}.png")
    data = datasets.load("folder", str(tmp_path), size=10)
    image = data.train[0]
    assert image[:, :5].reshape(3, -1).T.unique(dim=0).tolist() == [[0.0, 0.0, 1.0]]
    assert image[:, 5:].reshape(3, -1).T.unique(dim=0).tolist() == [[1.0, 0.0, 0.0]]
