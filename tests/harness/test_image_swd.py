import pytest
import torch
import torch.nn.functional as F

from wae_bench import data as datasets
from wae_bench.image_swd import (
    image_swd,
    image_swd_to,
    laplacian_pyramid,
    patch_positions,
    pyramid_levels,
    swd_reference,
    unit_std_directions,
)

from tests.helpers.data import blobs


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits").train




def loop_reference(x1, x2, seed=0, n_patches=128, n_directions=512, padding="reflect"):
    """Unfold every patch, select the shared positions, one direction at a time."""
    g = torch.Generator().manual_seed(seed)
    levels = pyramid_levels(x1.shape[-1])
    x1, x2 = x1.expand(-1, 3, -1, -1), x2.expand(-1, 3, -1, -1)
    per_level = []
    pyramids = (laplacian_pyramid(x, levels, padding) for x in (x1, x2))
    for level, (b1, b2) in enumerate(zip(*pyramids, strict=True)):
        side = x1.shape[-1] >> level
        positions = patch_positions(side, side, n_patches, g)
        descriptors = []
        for band in (b1, b2):
            all_patches = F.unfold(band, 7)  # N x (3*49) x positions, channel-major
            chosen = all_patches[:, :, positions]  # N x 147 x P
            p = chosen.transpose(1, 2).reshape(-1, 3, 49)
            mean = p.mean(dim=(0, 2), keepdim=True)
            std = p.std(dim=(0, 2), keepdim=True)
            descriptors.append(((p - mean) / (std + 1e-8)).reshape(-1, 147))
        directions = unit_std_directions(147, n_directions, g)
        total = 0.0
        for k in range(n_directions):
            a = torch.sort(descriptors[0] @ directions[:, k]).values
            b = torch.sort(descriptors[1] @ directions[:, k]).values
            total += (a - b).abs().mean().item()
        per_level.append(total / n_directions)
    return 1000 * sum(per_level) / len(per_level)


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
@pytest.mark.parametrize("size", [16, 32])
def test_image_swd_matches_a_loop_over_directions_with_unfolded_patches(size, padding):
    g = torch.Generator().manual_seed(1)
    x1, x2 = (
        torch.rand(20, 1, size, size, generator=g),
        torch.rand(20, 1, size, size, generator=g) ** 2,
    )
    assert image_swd(x1, x2, n_directions=64, padding=padding) == pytest.approx(
        loop_reference(x1, x2, n_directions=64, padding=padding), rel=1e-4
    )


def test_two_halves_of_one_dataset_are_much_closer_than_two_datasets(digits):
    halves = image_swd(digits[:400], digits[400:800])
    different = image_swd(digits[:400], blobs(400))
    assert halves < different / 5
    assert image_swd(digits[:400], digits[:400]) == 0.0


def test_adding_a_constant_changes_nothing_with_reflection_padding(digits):
    """At 32x32 (two levels, so the blurs pad); zero padding sees the constant at the borders."""
    a, b = (F.interpolate(x, scale_factor=2.0) for x in (digits[:150], digits[150:300]))
    reflect = image_swd(a, b, padding="reflect")
    assert image_swd(a, b + 0.25, padding="reflect") == pytest.approx(reflect, rel=1e-5)
    assert image_swd(a, b + 0.25) > 1.01 * image_swd(a, b)


def test_value_does_not_depend_on_chunking(digits):
    a, b = digits[:150], digits[150:300]
    assert image_swd(a, b, image_batch=7, direction_chunk=24) == pytest.approx(
        image_swd(a, b), rel=1e-6
    )



@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("padding", ["zeros", "reflect"])
def test_a_reference_computed_once_gives_image_swd_against_every_other_set(channels, padding):
    """The reference's sorted projections are the same products, sorted and summed chunk by
    chunk in the same order as ``image_swd`` sums them: equal up to float rounding (the
    tolerance of the chunking test), for each set measured against it, with its seed."""
    g = torch.Generator().manual_seed(4)
    test = torch.rand(30, channels, 32, 32, generator=g)
    reference = swd_reference(test, seed=9, padding=padding, n_directions=128)
    for generated in (torch.rand(30, channels, 32, 32, generator=g) ** 2, test.flip(-1)):
        assert image_swd_to(reference, generated) == pytest.approx(
            image_swd(test, generated, seed=9, padding=padding, n_directions=128), rel=1e-6
        )
    assert image_swd_to(reference, test) == 0.0


def test_a_reference_measures_only_sets_of_its_shape():
    reference = swd_reference(torch.rand(4, 1, 16, 16))
    with pytest.raises(ValueError, match=r"reference's shape \(4, 1, 16, 16\), got \(5, 1, 16"):
        image_swd_to(reference, torch.rand(5, 1, 16, 16))

@pytest.mark.parametrize(("size", "sides"), [(16, [16]), (32, [32, 16]), (64, [64, 32, 16])])
def test_pyramid_levels_down_to_16_pixels(size, sides):
    x = torch.rand(2, 3, size, size)
    pyramid = laplacian_pyramid(x, pyramid_levels(size))
    assert [p.shape[-1] for p in pyramid] == sides


@pytest.mark.parametrize(("height", "levels"), [(24, 1), (31, 1), (46, 2), (48, 3), (79, 3)])
def test_pyramid_levels_round_the_log_of_the_whole_number_of_16s_in_the_height(height, levels):
    """rint(log2(H // 16)) + 1 as swd-pytorch, not round(log2(H / 16)) + 1 (2, 2, 3, 3, 4)."""
    assert pyramid_levels(height) == levels


def test_laplacian_bands_of_a_constant_image_are_zero_with_reflection_padding():
    pyramid = laplacian_pyramid(torch.full((1, 3, 64, 64), 0.7), 3, padding="reflect")
    for band in pyramid[:-1]:
        assert band.abs().max() < 1e-6
    torch.testing.assert_close(pyramid[-1], torch.full((1, 3, 16, 16), 0.7))


def test_zero_padding_darkens_the_borders_of_a_constant_image():
    """1D, blurring zero-padded ones: 11/16 at the first pixel (taps 6+4+1 of 16); upsampling
    [11/16, 1, ...] and blurring again: (6 * 11/16 + 4 * 11/16 + 1) / 16 = 126/256 there.
    Everything is separable, so the 2D corners are the squares; the interior stays c."""
    c = 0.7
    band, coarse = laplacian_pyramid(torch.full((1, 3, 32, 32), c), 2)
    torch.testing.assert_close(coarse[0, :, 0, 0], torch.full((3,), c * (11 / 16) ** 2))
    torch.testing.assert_close(coarse[0, :, 0, 5], torch.full((3,), c * 11 / 16))
    torch.testing.assert_close(band[0, :, 0, 0], torch.full((3,), c * (1 - (126 / 256) ** 2)))
    assert band[..., 6:-6, 6:-6].abs().max() < 1e-6
    torch.testing.assert_close(coarse[..., 2:-2, 2:-2], torch.full((1, 3, 12, 12), c))


def test_directions_have_unit_standard_deviation():
    d = unit_std_directions(147, 512, torch.Generator().manual_seed(0))
    torch.testing.assert_close(d.std(dim=0), torch.ones(512))


def test_small_or_mismatched_images_are_rejected():
    with pytest.raises(ValueError, match="at least 16x16"):
        image_swd(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match="equal shape"):
        image_swd(torch.rand(4, 1, 16, 16), torch.rand(5, 1, 16, 16))
    with pytest.raises(ValueError, match="divisible by 2 .* got 34x33"):
        image_swd(torch.rand(4, 1, 34, 33), torch.rand(4, 1, 34, 33))
    with pytest.raises(ValueError, match="width of at least 28, got 64x24"):
        image_swd(torch.rand(4, 1, 64, 24), torch.rand(4, 1, 64, 24))
    with pytest.raises(ValueError, match="grayscale or RGB images, got 2 channels"):
        image_swd(torch.rand(4, 2, 16, 16), torch.rand(4, 2, 16, 16))


def test_unknown_padding_is_rejected_with_the_choices():
    choices = "unknown padding 'circular': choose one of zeros, reflect"
    with pytest.raises(ValueError, match=choices):
        image_swd(torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16), padding="circular")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_reference_path_on_cuda_matches_the_cpu():
    """torch.sort on the GPU, numpy's on the CPU: the same order. The values differ by
    rounding: cuDNN may run the pyramid's 5x5 blurs in TF32 (its default; 10-bit mantissa), so
    a band value can move by up to 25 taps x 2^-11 ~ 1.2% of the sum of its |terms|, and the
    float32 projections (49 terms) by far less. The W1 between sorted projections moves by at
    most the largest move of a projection, so 2% of the value bounds it for these sets (gaps
    of order one between uniform and squared-uniform images); a wrong chunk, level or draw
    moves it far more (the chunking and reference tests above)."""
    g = torch.Generator().manual_seed(6)
    test = torch.rand(40, 1, 32, 32, generator=g)
    generated = torch.rand(40, 1, 32, 32, generator=g) ** 2
    on_cpu = image_swd_to(swd_reference(test, seed=2), generated)
    on_gpu = image_swd_to(swd_reference(test.cuda(), seed=2), generated.cuda())
    assert on_gpu == pytest.approx(on_cpu, rel=2e-2)
