"""image_swd against a loop-by-loop transcription of swd-pytorch's ``swd()`` (koshian2/
swd-pytorch, the implementation the paper used), written from its description:

- pyramid down: 5x5 binomial blur of the zero-padded image (2 pixels each side) at every
  second pixel; pyramid up: nearest 2x upsampling, then the same padded blur;
  L_k = G_k - up(G_{k+1}), the last level G itself; levels = rint(log2(H // 16)) + 1;
- per level: positions = randperm((H-6)(W-6))[:128], top-left corners numbered row-major;
  each set's patches [N, P, 3, 7, 7] normalized per channel over (N, P, 7, 7) by the mean and
  the unbiased std + 1e-8, flattened channel-major to rows of 147;
- 128 repeats: 4 Gaussian directions [147, 4], each divided by its unbiased std; project both
  sets, sort each column, mean absolute difference; the level's value is the mean over
  repeats; the result the mean over levels x 1000.
"""

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_sample_images

from wae_bench.image_swd import image_swd

BINOMIAL = [1.0, 4.0, 6.0, 4.0, 1.0]
NP_PADDING = {"zeros": "constant", "reflect": "reflect"}


def blur(x, padding):
    """Sum of the 25 shifted copies of the padded image, weighted by the binomial kernel."""
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode=NP_PADDING[padding])
    height, width = x.shape[2:]
    out = np.zeros_like(x)
    for a in range(5):
        for b in range(5):
            weight = BINOMIAL[a] * BINOMIAL[b] / 256.0
            out += weight * padded[:, :, a : a + height, b : b + width]
    return out


def transcribed_pyramid(x, levels, padding):
    gaussians = [x]
    for _ in range(levels - 1):
        gaussians.append(blur(gaussians[-1], padding)[:, :, ::2, ::2])
    bands = []
    for fine, coarse in zip(gaussians, gaussians[1:], strict=False):
        upsampled = coarse.repeat(2, axis=2).repeat(2, axis=3)
        bands.append(fine - blur(upsampled, padding))
    return bands + [gaussians[-1]]


def normalized_patches(band, positions):
    """[147, N * P] float32 descriptors as columns (image-major), each set normalized per
    channel."""
    width = band.shape[3]
    patches = []
    for q in positions:
        row, col = divmod(int(q), width - 6)
        patches.append(band[:, :, row : row + 7, col : col + 7])
    p = np.stack(patches, axis=1)  # N x P x 3 x 7 x 7
    for c in range(3):
        values = p[:, :, c]
        mean = values.mean()
        std = math.sqrt(((values - mean) ** 2).sum() / (values.size - 1))
        p[:, :, c] = (values - mean) / (std + 1e-8)
    return np.ascontiguousarray(p.reshape(-1, 3 * 49).T, dtype=np.float32)


def repeat_means(p1, p2, directions):
    """Per repeat of 4 directions: mean |sorted projections of set 1 - those of set 2|."""
    proj1 = np.sort(directions.T @ p1, axis=1)  # 4R x M
    proj2 = np.sort(directions.T @ p2, axis=1)
    return np.abs(proj1 - proj2).reshape(-1, 4 * p1.shape[1]).mean(axis=1)


def transcribed_swd(x1, x2, generator, *, padding="zeros", n_patches=128, n_repeats=128):
    x1, x2 = (x.expand(-1, 3, -1, -1).double().numpy() for x in (x1, x2))
    levels = round(math.log2(x1.shape[2] // 16)) + 1
    pyramids = [transcribed_pyramid(x, levels, padding) for x in (x1, x2)]
    per_level = []
    for b1, b2 in zip(*pyramids, strict=True):
        n_positions = (b1.shape[2] - 6) * (b1.shape[3] - 6)
        positions = torch.randperm(n_positions, generator=generator)[:n_patches]
        p1, p2 = normalized_patches(b1, positions), normalized_patches(b2, positions)
        repeats = []
        for _ in range(n_repeats):
            directions = torch.randn(147, 4, generator=generator)
            repeats.append((directions / directions.std(dim=0, keepdim=True)).numpy())
        distances = [  # 32 repeats at a time bound the projections' memory
            repeat_means(p1, p2, np.concatenate(repeats[start : start + 32], axis=1))
            for start in range(0, n_repeats, 32)
        ]
        per_level.append(np.concatenate(distances).mean())
    return 1000.0 * np.mean(per_level)


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
@pytest.mark.parametrize(("height", "width"), [(16, 16), (32, 48), (64, 64)])
def test_image_swd_equals_the_transcription_with_the_same_draws(padding, height, width):
    g = torch.Generator().manual_seed(3)
    channel_scales = torch.tensor([1.0, 2.0, 0.5])[:, None, None]
    x1 = torch.rand(12, 3, height, width, generator=g) * channel_scales
    x2 = torch.rand(12, 3, height, width, generator=g) ** 2 + 0.3
    ours = image_swd(x1, x2, seed=5, n_directions=64, padding=padding)
    generator = torch.Generator().manual_seed(5)
    theirs = transcribed_swd(x1, x2, generator, padding=padding, n_repeats=16)
    assert ours == pytest.approx(theirs, rel=1e-4)


@pytest.fixture(scope="module")
def photo_crops():
    """Random 32x32 crops in [0, 1]: set 1 from china.jpg, set 2 from flower.jpg."""
    g = torch.Generator().manual_seed(0)

    def crops(photo, n):
        x = torch.from_numpy(np.array(photo)).permute(2, 0, 1).float() / 255.0
        rows = torch.randint(0, x.shape[1] - 31, (n,), generator=g).tolist()
        cols = torch.randint(0, x.shape[2] - 31, (n,), generator=g).tolist()
        return torch.stack([x[:, r : r + 32, c : c + 32] for r, c in zip(rows, cols, strict=True)])

    china, flower = load_sample_images().images
    return crops(china, 500), crops(flower, 500)


def test_photo_crops_equal_the_transcription_with_the_same_seed(photo_crops):
    a, b = photo_crops
    ours = image_swd(a, b, seed=7)
    assert ours == pytest.approx(transcribed_swd(a, b, torch.Generator().manual_seed(7)), rel=1e-4)
    assert image_swd(a, b, seed=7, padding="reflect") > 1.02 * ours


def test_grayscale_equals_the_transcription_of_the_images_repeated_to_rgb(photo_crops):
    """Gray patches are projected on folded directions (49 terms, not 147): the same value up to
    the float32 rounding the other comparisons with the transcription allow."""
    a, b = (crops[:200].mean(dim=1, keepdim=True) for crops in photo_crops)
    theirs = transcribed_swd(a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1),
                             torch.Generator().manual_seed(7), n_repeats=16)  # fmt: skip
    assert image_swd(a, b, seed=7, n_directions=64) == pytest.approx(theirs, rel=1e-4)


def test_photo_crops_agree_with_the_transcription_over_independent_draws(photo_crops):
    """One value's seed noise is 1.5-2% (std over seeds; 1.4% and 1.7% at these 50 crops), too
    much for a 1% check of single values, so each side averages 16 disjoint seeds: the means'
    difference then has a std of about 0.6%. Measured with these fixed seeds: +0.88%, inside
    the 1% asked for (deterministic for these seeds, but the bound is tight)."""
    a, b = photo_crops[0][:50], photo_crops[1][:50]
    ours = np.mean([image_swd(a, b, seed=s) for s in range(16)])
    theirs = np.mean(
        [transcribed_swd(a, b, torch.Generator().manual_seed(s)) for s in range(100, 116)]
    )
    assert ours == pytest.approx(theirs, rel=0.01)
