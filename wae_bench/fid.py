"""FID and KID between generated and real images, on the features of a given extractor.

For features F1 [N1, d] and F2 [N2, d] with means mu_i and covariances S_i:
  FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))                   (Heusel et al. 2017)
  KID = mean over subsets of the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, each subset
        m = min(subset_size, N1, N2) features drawn from each set       (Binkowski et al. 2018)
Both are computed by torchmetrics. The standard extractor is torch-fidelity's InceptionV3 (the
TensorFlow FID network, 2048-d pool3 features, its own TF-style bilinear resize to 299 x 299),
built from a local copy of the weights only: nothing is downloaded. Features are extracted once
per set, in batches on the images' device, and shared by both metrics. The libraries are
imported inside the functions so that importing this module costs nothing.
"""

import hashlib
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import UsageError

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + INCEPTION_FILE
)
# pytorch-fid's file; torch-fidelity re-uploaded the same bytes as weights-inception-2015-12-05-...
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
FEATURE_BATCH = 64
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


class InceptionFeatures(nn.Module):
    """2048-d pool3 features of RGB images in [0, 1] from torch-fidelity's InceptionV3.

    Pixels are rounded to uint8 (as when images are saved to PNG), which is the network's input.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, images: Tensor) -> Tensor:  # B x 3 x H x W in [0, 1]
        """[B, 2048] pool3 features of RGB images [B, 3, H, W] in [0, 1], rounded to uint8."""
        pixels = images.mul(255).round_().clamp_(0, 255).to(torch.uint8)
        return self.net(pixels)[0]  # B x 2048


def load_inception(path: str | Path) -> InceptionFeatures:
    """The FID Inception network from ``path``, which must be ``INCEPTION_FILE`` byte for byte.

    The file is identified by its SHA-256 before torch reads it. Missing, unreadable or other
    files (another checkpoint, a truncated download) raise a one-line ``UsageError``.
    """
    path = Path(path)
    fix = f"give the path of {INCEPTION_FILE} (from {INCEPTION_URL})"
    if not path.is_file():
        raise UsageError(f"FID weights {path}: no such file; {fix}")
    try:
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as err:
        raise UsageError(f"FID weights {path}: cannot read it ({err.strerror}); {fix}") from None
    if digest != INCEPTION_SHA256:
        raise UsageError(
            f"FID weights {path}: not the FID Inception weights (sha256 {digest[:12]}..., "
            f"expected {INCEPTION_SHA256[:12]}...); {fix}"
        )
    from torch_fidelity import FeatureExtractorInceptionV3
    # a given path is read with torch.load; only a missing path makes torch-fidelity download
    net = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
    )
    return InceptionFeatures(net)


@torch.no_grad()
def image_features(images: Tensor, extractor: nn.Module, batch_size: int = FEATURE_BATCH) -> Tensor:
    """[N, d] float64 features of images [N, C, H, W] in [0, 1] (C = 1 is repeated to RGB).

    The extractor maps float RGB batches [B, 3, H, W] to [B, d]; it is moved to the images'
    device and fed ``batch_size`` images at a time.
    """
    extractor.to(images.device)
    rgb = images.expand(-1, 3, -1, -1)
    return torch.cat([extractor(x.float()).double() for x in rgb.split(batch_size)])


class GivenFeatures(nn.Module):
    """The torchmetrics ``feature`` module for features extracted beforehand: the identity."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        """The features as given."""
        return features


def features_fid_kid(
    generated: Tensor,
    real: Tensor,
    *,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> dict[str, float]:
    """FID, KID and KID's std over subsets between two feature sets [N1, d] and [N2, d].

    KID subsets hold m = min(subset_size, N1, N2) features of each set, drawn by ``seed``
    without touching the global RNG; when m = N1 = N2 every subset is the whole set, so one
    subset is computed.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    n1, n2 = len(generated), len(real)
    if min(n1, n2) < 2:
        raise UsageError(
            f"FID and KID need at least 2 images per set, got {n1} and {n2}; evaluate more images"
        )
    size = min(subset_size, n1, n2)
    if size == n1 == n2:
        subsets = 1
    given = GivenFeatures(generated.shape[1])
    fid = FrechetInceptionDistance(feature=given).to(generated.device)
    with warnings.catch_warnings():  # its note that features are kept: we hold them anyway
        warnings.filterwarnings("ignore", message=".*will save all extracted features")
        kid = KernelInceptionDistance(feature=given, subsets=subsets, subset_size=size)
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(generated, real=False)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets with torch.randperm
        torch.default_generator.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}


def fid_kid(
    generated: Tensor,
    real: Tensor,
    extractor: nn.Module,
    *,
    batch_size: int = FEATURE_BATCH,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> dict[str, float]:
    """``{"fid", "kid", "kid_std"}`` between two image sets [N, C, H, W] in [0, 1].

    ``extractor`` is ``load_inception(path)`` or any module mapping RGB batches to [B, d].
    """
    return features_fid_kid(
        image_features(generated, extractor, batch_size),
        image_features(real, extractor, batch_size),
        subsets=subsets,
        subset_size=subset_size,
        seed=seed,
    )
