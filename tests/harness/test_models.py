import math

import pytest
import torch

from regularizers.swd import random_directions, sliced_wasserstein
from wae_bench.metrics import (
    latent_swd,
    singular_values,
    slerp,
    sorted_projections,
    swd_to_sorted,
)
from wae_bench.models import build_autoencoder, parameter_count


@pytest.mark.parametrize(
    ("arch", "size"), [("conv", 16), ("conv", 32), ("a1", 32), ("a1", 64), ("a2", 32), ("a2", 64)]
)
def test_autoencoder_shapes_and_unit_codes(arch, size):
    encoder, decoder = build_autoencoder(arch, 3, size, 16)
    x = torch.rand(2, 3, size, size)
    z = encoder(x)
    assert z.shape == (2, 16)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(2))
    x_hat = decoder(z)
    assert x_hat.shape == x.shape and 0 <= x_hat.min() and x_hat.max() <= 1


def test_a1_has_about_38m_parameters_at_64px():
    assert 38.0e6 < parameter_count(*build_autoencoder("a1", 3, 64, 128)) < 39.5e6


def test_a2_has_about_24m_parameters_at_32px():
    encoder, decoder = build_autoencoder("a2", 3, 32, 128)
    assert 11.0e6 < parameter_count(encoder) < 11.5e6  # ResNet-18 body + linear head
    assert 22.0e6 < parameter_count(encoder, decoder) < 27.0e6


def test_a2_encoder_starts_with_a_3x3_stride_1_convolution():
    encoder, _ = build_autoencoder("a2", 3, 32, 128)
    stem = encoder.stem[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)


def test_unsupported_size_names_the_supported_ones():
    with pytest.raises(ValueError, match="a2 supports 32, 64 px images, got 16 px"):
        build_autoencoder("a2", 1, 16, 8)
    with pytest.raises(ValueError, match="unknown architecture 'vgg'"):
        build_autoencoder("vgg", 1, 16, 8)


def test_slerp_stays_on_the_sphere_at_constant_angular_speed():
    z0, z1 = torch.nn.functional.normalize(torch.randn(2, 5, dtype=torch.float64), dim=1)
    path = slerp(z0, z1, 9)
    # float64 (assert_close: rtol = atol = 1e-7): sines, 5-term norms and dot products err by a
    # few eps64; arccos near cos(angle / 8) amplifies by 1 / sin(angle / 8) < 100: < 1e-13
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path.norm(dim=1), torch.ones(9, dtype=torch.float64))
    angles = torch.arccos((path[:-1] * path[1:]).sum(1))
    torch.testing.assert_close(angles, torch.full((8,), angles[0].item(), dtype=torch.float64))
    assert angles.sum().item() == pytest.approx(math.acos(float(z0 @ z1)))


def test_singular_values_show_isotropy_and_collapse():
    isotropic = torch.nn.functional.normalize(torch.randn(5000, 8), dim=1)
    flat = singular_values(isotropic)
    assert flat.max() / flat.min() < 1.2
    collapsed = torch.randn(5000, 1) * torch.tensor([[1.0, 2.0, 0, 0, 0, 0, 0, 0]])
    spectrum = singular_values(collapsed)
    assert spectrum[1] < 1e-6 * spectrum[0]


def test_latent_swd_to_a_sorted_reference_is_the_same_number_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    codes, prior = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g)
    theta = random_directions(16, 50, generator=g)
    reference = sorted_projections(prior, theta)  # once per seed in the latent task
    expected = float(sliced_wasserstein(codes, prior, theta, p=2.0).sqrt())
    assert swd_to_sorted(codes, reference, theta) == latent_swd(codes, prior, theta) == expected
    with pytest.raises(ValueError, match="equal sample counts, got 299 and 300"):
        swd_to_sorted(codes[:299], reference, theta)
