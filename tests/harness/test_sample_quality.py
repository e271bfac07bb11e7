import hashlib
import json

import pytest
import torch
from torchvision.transforms.functional import gaussian_blur

from wae_bench import data, feature_net
from wae_bench.errors import UsageError
from wae_bench.sample_quality import sample_quality

from tests.harness.test_fid import frechet_closed_form

NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.4)  # pixel units, images in [0, 1]
BLUR_SIGMAS = (0.75, 1.0, 1.5, 2.0)  # pixels, on 16 x 16 digits


@pytest.fixture(scope="module")
def digits():
    """The digits splits, their labels and a classifier trained on them (about 10 s)."""
    images = data.load("digits")
    train_labels, test_labels = images.labels
    net, accuracy = feature_net.train_classifier(
        images.train, train_labels, images.test, test_labels,
        seed=0, epochs=feature_net.EPOCHS["digits"],
    )  # fmt: skip
    return images, net, accuracy, feature_net.features(net, images.train)


def blur(images, sigma):
    return gaussian_blur(images, 2 * int(3 * sigma + 0.5) + 1, sigma)


def gaussian(n, mean, scale, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, len(mean), generator=g, dtype=torch.float64) @ scale.T + mean


def test_digits_classifier_reaches_high_test_accuracy(digits):
    # A small CNN classifies sklearn's 8 x 8 digits at 98-99% (an RBF SVM: 99%); 0.95 is 15 of
    # the 297 test digits wrong, far above chance (0.1) or labels out of line with the images.
    _, _, accuracy, _ = digits
    assert accuracy >= 0.95


def test_frechet_of_test_images_is_well_below_the_mildest_corruption(digits):
    images, net, _, real = digits
    clean = sample_quality(feature_net.features(net, images.test), real)["frechet"]
    noise = torch.randn(images.test.shape, generator=torch.Generator().manual_seed(1))
    noisy = (images.test + NOISE_SIGMAS[0] * noise).clamp(0, 1)
    mildest = [
        sample_quality(feature_net.features(net, corrupted), real)["frechet"]
        for corrupted in (noisy, blur(images.test, BLUR_SIGMAS[0]))
    ]
    # train vs test is not 0: 297 test features estimate a 128 x 128 covariance
    assert 0 < clean < min(mildest) / 2


def test_frechet_grows_with_gaussian_noise(digits):
    images, net, _, real = digits
    noise = torch.randn(images.test.shape, generator=torch.Generator().manual_seed(1))
    distances = [
        sample_quality(feature_net.features(net, (images.test + s * noise).clamp(0, 1)), real)
        for s in NOISE_SIGMAS
    ]
    frechet = [d["frechet"] for d in distances]
    assert frechet == sorted(frechet) and len(set(frechet)) == len(frechet)
    assert distances[-1]["precision"] < distances[0]["precision"]


def test_frechet_grows_with_blur(digits):
    images, net, _, real = digits
    distances = [
        sample_quality(feature_net.features(net, blur(images.test, s)), real) for s in BLUR_SIGMAS
    ]
    frechet = [d["frechet"] for d in distances]
    assert frechet == sorted(frechet) and len(set(frechet)) == len(frechet)
    assert distances[-1]["recall"] < distances[0]["recall"]


def test_sample_quality_is_invariant_to_the_feature_batch_size(digits):
    images, net, _, real = digits
    got = {b: sample_quality(feature_net.features(net, images.test, b), real) for b in (1, 7, 297)}
    # The float32 network blocks its convolutions by batch shape, so a feature may round
    # differently: a few eps32 per layer over 5 layers, |df| <= delta max|f| with delta = 1e-6
    # (4e-7 measured, batch 1 against 297). The moments are then float64 (rounding 1e-16, far
    # below). To first order Tr S_G moves by (2 / N) sum_n (f_n - mu) . df_n <= 2 delta max|f|
    # sqrt(d Tr S_G) (Cauchy-Schwarz) = 2e-6 * 7 * sqrt(128 * 240) = 2.5e-3 here, and
    # 2 Tr (S_G S_R)^(1/2) by no more: |d frechet| <= 5e-3 against frechet = 3.9, rel 1.3e-3.
    # Precision and recall count threshold tests: a feature moved by 1e-6 may cross the edge
    # of a ball; allow 2 of the 297 generated and 2 of the 1500 real samples.
    for b in (1, 7):
        assert got[b]["frechet"] == pytest.approx(got[297]["frechet"], rel=2e-3)
        assert got[b]["precision"] == pytest.approx(got[297]["precision"], abs=2 / 297)
        assert got[b]["recall"] == pytest.approx(got[297]["recall"], abs=2 / 1500)


def test_sample_quality_is_invariant_to_the_order_of_the_samples(digits):
    images, net, _, real = digits
    generated = feature_net.features(net, images.test)
    order = torch.randperm(len(generated), generator=torch.Generator().manual_seed(3))
    got, shuffled = sample_quality(generated, real), sample_quality(generated[order], real)
    # The same float64 features summed in another order: moments of N = 297 terms move by
    # <= N eps64 (sum of |terms|) = 297 * 1.1e-16 * 670 (raw second moments, 2 * 650 per set,
    # over frechet = 3.9) = 2e-11 of frechet; the square roots of S_G S_R's eigenvalues near 0
    # (about 30 features are 0 for every digit) amplify eigenvalue rounding: 1e-8 leaves 300x
    # over the 3e-11 measured. The pairwise distances are the same numbers: precision and
    # recall are equal.
    assert shuffled["frechet"] == pytest.approx(got["frechet"], rel=1e-8)
    assert (shuffled["precision"], shuffled["recall"]) == (got["precision"], got["recall"])


MEAN1 = torch.tensor([0.0, 1.0, -1.0, 0.5, 2.0, 0.0, 1.0, -0.5], dtype=torch.float64)
MEAN2 = torch.tensor([0.5, 0.0, -1.0, 1.5, 2.0, -0.5, 0.0, 0.5], dtype=torch.float64)


def test_frechet_matches_the_closed_form_on_gaussian_features():
    g = torch.Generator().manual_seed(1)
    x1 = gaussian(600, MEAN1, torch.randn(8, 8, generator=g, dtype=torch.float64), seed=2)
    x2 = gaussian(500, MEAN2, 0.5 * torch.randn(8, 8, generator=g, dtype=torch.float64), seed=3)
    got = sample_quality(x1, x2)["frechet"]
    # float64 on both sides. Moments: sums of N = 600 terms, error <= N eps64 (sum of |terms|
    # of means and second moments, 2.6 x frechet here) = 600 * 1.1e-16 * 2.6 = 2e-13 of frechet.
    # Tr sqrt(S1 S2): eigenvalue errors ~ d eps64 ||S1 S2||, relative to the smallest eigenvalue
    # cond(S1 S2) = 2.4e3 times that, 8 * 1.1e-16 * 2.4e3 = 2e-12, halved by the sqrt. 1e-10
    # leaves 50x for scipy's sqrtm against torch's eigvals (5e-15 measured).
    assert got == pytest.approx(frechet_closed_form(x1, x2), rel=1e-10)


def test_precision_and_recall_of_a_set_against_itself_are_one():
    x = gaussian(200, MEAN1, torch.eye(8, dtype=torch.float64), seed=4)
    got = sample_quality(x, x)
    assert (got["precision"], got["recall"]) == (1.0, 1.0)
    assert abs(got["frechet"]) < 1e-8  # 2 Tr S - 2 Tr (S S)^(1/2) in float64, Tr S = 8


def test_precision_and_recall_of_well_separated_sets_are_zero():
    x = gaussian(200, MEAN1, torch.eye(8, dtype=torch.float64), seed=5)
    y = gaussian(150, MEAN2 + 100, torch.eye(8, dtype=torch.float64), seed=6)
    got = sample_quality(x, y)
    assert (got["precision"], got["recall"]) == (0.0, 0.0)


def test_precision_is_of_generated_samples_and_recall_of_real_ones():
    # real: two far modes; generated: one of them (mode collapse). Most generated samples lie in
    # a real one's ball (precision as for a faithful generator, ~0.9 in 8 dimensions with k = 3),
    # the other mode's real samples in none of the generated balls (recall <= 1/2). Swapped
    # roles swap the verdicts: the argument order is generated, then real.
    eye = torch.eye(8, dtype=torch.float64)
    mode1 = gaussian(200, MEAN1, eye, seed=7)
    real = torch.cat([gaussian(200, MEAN1, eye, seed=8), gaussian(200, MEAN1 + 100, eye, seed=9)])
    collapsed, swapped = sample_quality(mode1, real), sample_quality(real, mode1)
    assert collapsed["precision"] > 0.8 and 0.3 < collapsed["recall"] <= 0.5
    assert swapped["recall"] > 0.8 and 0.3 < swapped["precision"] <= 0.5


def test_too_few_samples_is_a_usage_error():
    x = gaussian(10, MEAN1, torch.eye(8, dtype=torch.float64), seed=10)
    with pytest.raises(UsageError, match="at least 4 samples per set"):
        sample_quality(x[:3], x)
    with pytest.raises(UsageError, match="at least 2 samples per set"):
        sample_quality(x, x[:1], k=1)
    with pytest.raises(UsageError, match="one width"):
        sample_quality(x, x[:, :4])


def test_training_is_fixed_by_the_seed_and_leaves_the_global_rng_alone(digits):
    images, _, _, _ = digits
    train_labels, test_labels = images.labels
    args = (images.train[:256], train_labels[:256], images.test[:64], test_labels[:64])
    before = torch.get_rng_state()
    first, accuracy = feature_net.train_classifier(*args, seed=3, epochs=1, batch_size=64)
    assert torch.equal(torch.get_rng_state(), before)
    again, same = feature_net.train_classifier(*args, seed=3, epochs=1, batch_size=64)
    other, _ = feature_net.train_classifier(*args, seed=4, epochs=1, batch_size=64)
    assert feature_net.weights_sha256(first) == feature_net.weights_sha256(again)
    assert accuracy == same
    assert feature_net.weights_sha256(other) != feature_net.weights_sha256(first)


CARD = {"dataset": "digits", "seed": 0, "epochs": 10, "test_accuracy": 0.99}


def test_saved_classifier_loads_with_its_card_and_gives_the_same_features(digits, tmp_path):
    images, net, _, _ = digits
    path = tmp_path / "digits.pt"
    written = feature_net.save_classifier(net, path, CARD)
    loaded, card = feature_net.load_classifier(path, dataset="digits")
    assert card == written == json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["features"] == feature_net.FEATURES and card["torch"] == torch.__version__
    assert card.items() >= CARD.items()
    assert torch.equal(
        feature_net.features(loaded, images.test), feature_net.features(net, images.test)
    )
    # the bytes depend on the weights only, not on the file's name
    other = tmp_path / "elsewhere" / "other-name.pt"
    assert feature_net.save_classifier(net, other, CARD)["sha256"] == card["sha256"]


def load_error(path, dataset=None):
    with pytest.raises(UsageError) as err:
        feature_net.load_classifier(path, dataset)
    message = str(err.value)
    assert message.startswith(f"classifier {path}: ") and "\n" not in message
    return message


def test_a_flipped_byte_is_a_sha_mismatch_naming_the_retrain_command(digits, tmp_path):
    _, net, _, _ = digits
    path = tmp_path / "digits.pt"
    feature_net.save_classifier(net, path, CARD)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    message = load_error(path)
    assert "sha256 mismatch" in message
    assert message.endswith("wae-bench classifier --dataset digits")


def test_missing_file_card_or_wrong_dataset_are_usage_errors(digits, tmp_path):
    _, net, _, _ = digits
    path = tmp_path / "digits.pt"
    assert "no such file" in load_error(path)
    feature_net.save_classifier(net, path, CARD)
    assert "trained on digits, not mnist" in load_error(path, "mnist")
    assert load_error(path, "mnist").endswith("wae-bench classifier --dataset mnist")
    path.with_suffix(".json").unlink()
    message = load_error(path)
    assert "card digits.json is missing" in message
    assert message.endswith("wae-bench classifier --dataset NAME")


def test_weights_of_another_network_are_a_usage_error(tmp_path):
    path = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    card = {**CARD, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "channels": 1,
            "features": feature_net.FEATURES, "classes": 10}  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(card))
    assert "does not hold a FeatureNet state dict" in load_error(path)
