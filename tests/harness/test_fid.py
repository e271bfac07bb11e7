import hashlib
import socket

import numpy as np
import pytest
import scipy.linalg
import torch
import torchvision
from torch import nn

from wae_bench import fid
from wae_bench.errors import UsageError

from tests.helpers.data import blobs, random_conv


def frechet_closed_form(f1, f2):
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) on the sample moments, in float64."""
    f1, f2 = np.asarray(f1, dtype=np.float64), np.asarray(f2, dtype=np.float64)
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def mmd2_by_loops(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3: XX and YY without the diagonal, XY all."""
    x, y = x.tolist(), y.tolist()
    m, d = len(x), len(x[0])

    def k(a, b):
        return (sum(ai * bi for ai, bi in zip(a, b, strict=True)) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def gaussian_images(n, mean, scale, seed):
    """n "images" [n, 3, 1, 2] whose 6 pixels are N(mean, scale scale^T): flattened, features."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, len(mean), generator=g, dtype=torch.float64) @ scale.T + mean
    return x.float().view(n, 3, 1, 2)




def sharp(images):
    """Another distribution of the same kind: blobs with a narrower peak."""
    return images**3


MEAN1 = torch.tensor([0.0, 1.0, -1.0, 0.5, 2.0, 0.0], dtype=torch.float64)
MEAN2 = torch.tensor([0.5, 0.0, -1.0, 1.5, 2.0, -0.5], dtype=torch.float64)


def test_fid_matches_the_closed_form_on_the_sample_moments():
    g = torch.Generator().manual_seed(1)
    scale1 = torch.randn(6, 6, generator=g, dtype=torch.float64)
    scale2 = torch.randn(6, 6, generator=g, dtype=torch.float64) * 0.5
    x1 = gaussian_images(500, MEAN1, scale1, seed=2)
    x2 = gaussian_images(400, MEAN2, scale2, seed=3)
    got = fid.fid_kid(x1, x2, nn.Flatten(), subsets=1)["fid"]
    # Same float64 features on both sides. Moments: sums of N = 500 terms, error <= N eps64
    # (sum of |terms|) / FID = 500 * 1.1e-16 * 7 (|terms| / FID here) = 4e-13. Tr sqrt(S1 S2):
    # eigenvalue errors ~ d eps64 ||S1 S2||, through sqrt at the smallest eigenvalue (cond(S1 S2)
    # = 3e5): about 1e-11 of FID. 1e-8 leaves 100x for scipy's sqrtm against torch's eigvals.
    assert got == pytest.approx(frechet_closed_form(x1.flatten(1), x2.flatten(1)), rel=1e-8)


def test_fid_of_large_gaussian_samples_tends_to_the_population_closed_form():
    # diagonal covariances: FID = ||mu1 - mu2||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
    a = torch.tensor([1.0, 4.0, 0.25, 1.0, 9.0, 2.0], dtype=torch.float64)
    b = torch.tensor([4.0, 1.0, 0.25, 2.0, 1.0, 2.0], dtype=torch.float64)
    x1 = gaussian_images(40_000, MEAN1, torch.diag(a.sqrt()), seed=4)
    x2 = gaussian_images(40_000, MEAN2, torch.diag(b.sqrt()), seed=5)
    population = float((MEAN1 - MEAN2).square().sum() + (a.sqrt() - b.sqrt()).square().sum())
    got = fid.fid_kid(x1, x2, nn.Flatten(), subsets=1)["fid"]
    assert got == pytest.approx(population, rel=0.02)


def test_kid_matches_a_brute_force_polynomial_mmd_when_the_subset_is_the_whole_set():
    g = torch.Generator().manual_seed(6)
    x1 = gaussian_images(12, MEAN1, torch.eye(6, dtype=torch.float64), seed=7)
    x2 = gaussian_images(12, MEAN2, torch.randn(6, 6, generator=g, dtype=torch.float64), seed=8)
    got = fid.fid_kid(x1, x2, nn.Flatten())  # default subset size 1000 shrinks to 12
    expected = mmd2_by_loops(x2.flatten(1).double(), x1.flatten(1).double())
    # float64 on the same features: 144 kernel terms per mean, |terms| / KID = 4 here:
    # 144 * 1.1e-16 * 4 = 6e-14; 1e-10 leaves 1000x for the order of the sums.
    assert got["kid"] == pytest.approx(expected, rel=1e-10)
    assert got["kid_std"] == 0.0


def test_kid_subsets_are_fixed_by_the_seed_and_leave_the_global_rng_alone():
    x1, x2 = blobs(40, seed=1), sharp(blobs(30, seed=2))
    extractor = random_conv()
    before = torch.get_rng_state()
    first = fid.fid_kid(x1, x2, extractor, subsets=5, seed=0)  # subsets of 30 out of 40
    assert torch.equal(torch.get_rng_state(), before)
    assert fid.fid_kid(x1, x2, extractor, subsets=5, seed=0) == first
    other = fid.fid_kid(x1, x2, extractor, subsets=5, seed=1)
    assert other["kid"] != first["kid"] and other["fid"] == first["fid"]
    assert first["kid_std"] > 0


def test_pipeline_equals_the_closed_forms_on_the_stand_in_features():
    real, generated = blobs(64, seed=3), sharp(blobs(48, seed=4))
    extractor = random_conv()
    got = fid.fid_kid(generated, real, extractor, batch_size=10)
    with torch.no_grad():  # in the pipeline's batches of 10: the same float32 features
        f_gen, f_real = (
            torch.cat([extractor(x.expand(-1, 3, -1, -1)) for x in images.split(10)]).double()
            for images in (generated, real)
        )
    # Only float64 differs. Moments: 64 * 1.1e-16 * 500 (sum of |terms| / FID here) = 4e-12;
    # Tr sqrt(S1 S2) (cond 6e6; eigenvector cond <= sqrt(cond S1) = 30): about 1e-10 of FID.
    assert got["fid"] == pytest.approx(frechet_closed_form(f_gen, f_real), rel=1e-8)
    assert got["fid"] > 0
    one_subset = fid.fid_kid(generated, real[:48], extractor, batch_size=10)
    # KID = Kxx + Kyy - 2 Kxy, each a mean of about 2,300 kernel values near 1.015, KID 3e-5:
    # each side's error <= 2300 * 1.1e-16 * 4 * 1.015 / 3e-5 = 3.5e-8 whatever its summation order.
    assert one_subset["kid"] == pytest.approx(mmd2_by_loops(f_gen, f_real[:48]), rel=1e-7)


def test_pipeline_is_invariant_to_batching_and_to_gray_given_as_rgb():
    real, generated = blobs(50, seed=5), sharp(blobs(50, seed=6))
    extractor = random_conv()
    gray = fid.fid_kid(generated, real, extractor, batch_size=7)
    rgb = fid.fid_kid(
        generated.expand(-1, 3, -1, -1), real.expand(-1, 3, -1, -1), extractor, batch_size=64
    )
    # Batches of 7 and of 64 give float32 features that may differ in rounding (the convolution
    # kernels block their sums by batch shape and CPU): each feature sums 27 + 72 products, so
    # its relative change is about sqrt(99) eps32 = 6e-7 (root-sum-square of the roundings;
    # every one the same way, 99 eps32 = 6e-6, is the never-seen worst case). FID is quadratic
    # in the features: |change| <= 2 * 6e-7 * (sum of |terms|), and the terms (means, traces,
    # Tr sqrt) are 700x FID here: rel 8e-4. KID's kernel (x.y / d + 1)^3 has |x.y / d| <=
    # 0.0055: each kernel value moves by 3 * 2 * 0.0055 * 6e-7, the four means by 4x that,
    # against KID = 2e-5: rel 4e-3. Losing the last of the 50 images (of one set or both)
    # moves FID by 0.9-2% and KID by 1.4-5%: outside both.
    assert rgb["fid"] == pytest.approx(gray["fid"], rel=1e-3)
    assert rgb["kid"] == pytest.approx(gray["kid"], rel=5e-3)


def test_distances_of_a_set_to_itself_are_zero_and_grow_with_noise():
    real = blobs(80, seed=7)
    extractor = random_conv()
    same = fid.fid_kid(real, real, extractor)
    # mu1 - mu2 = 0 and S1 = S2 exactly (the same float32 features): what is left is float64
    # rounding of 2 Tr S - 2 Tr sqrt(S S): eigenvalue errors of S S (8 eps64 ||S||^2 = 1e-23)
    # through sqrt at its smallest eigenvalue (2e-8), about 1e-14. 1e-8 is 5e-5 of Tr S.
    assert abs(same["fid"]) < 1e-8
    g = torch.Generator().manual_seed(8)
    noise = torch.randn(real.shape, generator=g)
    small = fid.fid_kid((real + 0.05 * noise).clamp(0, 1), real, extractor)
    large = fid.fid_kid((real + 0.3 * noise).clamp(0, 1), real, extractor)
    assert 1e-6 < small["fid"] < large["fid"]
    assert small["kid"] < large["kid"]


def test_fewer_than_two_images_is_a_usage_error():
    with pytest.raises(UsageError, match="at least 2 images"):
        fid.fid_kid(blobs(1), blobs(5), random_conv())


def test_inception_features_feed_the_network_rounded_uint8_pixels():
    seen = []

    class Recorder(nn.Module):
        def forward(self, pixels):
            seen.append(pixels)
            return (pixels.flatten(1).double(),)

    images = torch.tensor([0.0, 0.5, 0.999, 1.2, -0.1, 0.1]).view(1, 3, 1, 2)
    out = fid.InceptionFeatures(Recorder())(images)
    assert seen[0].dtype == torch.uint8
    assert seen[0].flatten().tolist() == [0, 128, 255, 255, 0, 26]
    assert out.shape == (1, 6)


@pytest.fixture(scope="module")
def inception_layout_file(tmp_path_factory):
    """A file with the real file's layout and random values: torchvision's InceptionV3 with
    1008 classes and no auxiliary head is the module pytorch-fid loads the real weights into."""
    torch.manual_seed(0)
    model = torchvision.models.inception_v3(
        weights=None, aux_logits=False, num_classes=1008, init_weights=False
    )
    path = tmp_path_factory.mktemp("fid") / fid.INCEPTION_FILE
    torch.save(model.state_dict(), path)
    return path


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_inception_reads_the_given_file_without_network(inception_layout_file, monkeypatch):
    monkeypatch.setattr(fid, "INCEPTION_SHA256", sha256(inception_layout_file))

    def no_network(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    extractor = fid.load_inception(inception_layout_file)
    saved = torch.load(inception_layout_file, weights_only=True)
    loaded = extractor.net.state_dict()
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[key], value) for key, value in saved.items())
    # the metrics on top are the stand-in tests' (FID on 2048-d features costs ~1 min here)
    features = fid.image_features(blobs(3), extractor)
    assert features.shape == (3, 2048) and features.isfinite().all()


def one_line_error(path):
    with pytest.raises(UsageError) as err:
        fid.load_inception(path)
    message = str(err.value)
    assert str(path) in message and fid.INCEPTION_FILE in message and "\n" not in message
    return message


def test_missing_weights_file_is_a_usage_error(tmp_path):
    assert "no such file" in one_line_error(tmp_path / fid.INCEPTION_FILE)
    assert "no such file" in one_line_error(tmp_path)  # a folder


def test_random_bytes_are_not_the_weights(tmp_path):
    path = tmp_path / fid.INCEPTION_FILE
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    assert "not the FID Inception weights" in one_line_error(path)


def test_another_torch_checkpoint_is_not_the_weights(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    assert "not the FID Inception weights" in one_line_error(path)


def test_right_layout_with_other_values_is_not_the_weights(inception_layout_file):
    assert "not the FID Inception weights" in one_line_error(inception_layout_file)
