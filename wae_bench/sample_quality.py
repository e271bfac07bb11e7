"""Sample quality of generated images in the features of the suite's own classifier, offline.

For generated features G = {g_1..g_N1} and real features R = {r_1..r_N2}, rows of [N, d]
(``feature_net.features``), with means mu_G, mu_R and unbiased covariances S_G, S_R:

  frechet   = ||mu_G - mu_R||^2 + Tr(S_G + S_R - 2 (S_G S_R)^(1/2))      (Frechet distance of
              the two Gaussians with these moments; Heusel et al. 2017, on other features)
  precision = (1 / N1) sum_i [ g_i in manifold(R) ]                      (Kynkaanniemi et al.
  recall    = (1 / N2) sum_j [ r_j in manifold(G) ]                       2019, section 3)

where manifold(X) = union over x in X of the closed ball B(x, NN_k(x, X)), NN_k(x, X) being the
Euclidean distance from x to its k-th nearest other point of X (k = 3 in the paper). Precision
is the fraction of generated samples that look like some real one, recall the fraction of real
samples the generator covers. Both are counts of threshold tests: a change of the features by
rounding may move either by a multiple of 1 / N.

The Frechet distance is torchmetrics' ``FrechetInceptionDistance`` fed the given features
through an identity feature module (float64 moments, Tr (S_G S_R)^(1/2) as the sum of the
square roots of the eigenvalues of S_G S_R); precision and recall are torch-fidelity's
``prc_features_to_metric`` (generated first, real second). The features are not Inception's, so
the distance is never called FID. The libraries are imported inside the function.
"""

from torch import Tensor

from .errors import UsageError
from .fid import GivenFeatures

NEIGHBOURS = 3  # k of the k-NN radii (Kynkaanniemi et al. 2019)
PRC_BATCH = 1000  # rows of each distance block: memory ~ 8 * PRC_BATCH * N bytes, not N^2


def sample_quality(generated: Tensor, real: Tensor, *, k: int = NEIGHBOURS) -> dict[str, float]:
    """``{"frechet", "precision", "recall"}`` between feature sets [N1, d] and [N2, d].

    Parameters
    ----------
    generated : Tensor [N1, d]
        features of generated images (float64 from ``feature_net.features``).
    real : Tensor [N2, d]
        features of real (test) images, on the same device.
    k : int
        the neighbour whose distance is each point's radius, not counting the point itself.

    Returns
    -------
    dict
        frechet (>= 0 up to rounding, in squared feature units), precision and recall (in
        [0, 1]); see the module docstring for the formulas.

    Each set needs at least max(2, k + 1) samples (a covariance needs 2, a k-th other
    neighbour k + 1); fewer, or sets of other shapes, are a one-line ``UsageError``.
    """
    from torch_fidelity.metric_prc import prc_features_to_metric
    from torchmetrics.image.fid import FrechetInceptionDistance

    if generated.dim() != 2 or real.dim() != 2 or generated.shape[1] != real.shape[1]:
        raise UsageError(
            f"sample quality compares feature sets [N, d] of one width d, got "
            f"{list(generated.shape)} and {list(real.shape)}; pass feature_net.features(...)"
        )
    if k < 1:
        raise UsageError(f"sample quality: k = {k} neighbours; give k >= 1")
    need, n1, n2 = max(2, k + 1), len(generated), len(real)
    if min(n1, n2) < need:
        raise UsageError(
            f"sample quality needs at least {need} samples per set (k = {k}), got {n1} "
            f"generated and {n2} real; evaluate more images"
        )
    given = GivenFeatures(generated.shape[1])
    frechet = FrechetInceptionDistance(feature=given).to(generated.device)
    frechet.update(real, real=True)
    frechet.update(generated, real=False)
    prc = prc_features_to_metric(
        generated,  # features_1: generated; precision asks whether each lies in R's balls
        real,  # features_2: real; recall asks whether each lies in G's balls
        prc_neighborhood=k,
        prc_batch_size=PRC_BATCH,
        save_cpu_ram=True,  # distances in blocks of PRC_BATCH rows, not one N1 x N2 matrix
        verbose=False,
    )
    return {
        "frechet": float(frechet.compute()),
        "precision": float(prc["precision"]),
        "recall": float(prc["recall"]),
    }
