"""The singular values of the codes (paper Fig. 4): a collapsed latent space shows as a
spectrum that falls off where matched codes (as many prior samples) stay flat.

The image task writes one row per (method, lam, seed, index) to singular_values.csv after
each run, and the prior samples' spectrum under the method name ``PRIOR_REFERENCE``.
"""

import torch
from torch import Tensor

import regularizers

from ... import data as datasets
from ...metrics import singular_values

FILE = "singular_values.csv"
CODES = 10_000  # training images (and prior samples) whose codes are decomposed
BATCH = 500
PRIOR_REFERENCE = "prior"  # method name of the prior samples' rows


def code_rows(encoder, train: Tensor, device, *, method: str, lam: float,
              seed: int) -> list[dict]:  # fmt: skip
    """Singular values of the centered codes of up to CODES training images."""
    images = datasets.take(train, CODES)
    encoder.eval()
    with torch.no_grad():
        codes = torch.cat([encoder(x.to(device)) for x in images.split(BATCH)])
    return rows(codes, method, lam, seed)


def prior_rows(latent_dim: int, train_size: int, seed: int) -> list[dict]:
    """The same spectrum for as many sphere-prior samples: what perfectly matched codes give."""
    generator = torch.Generator().manual_seed(seed)
    samples = regularizers.SpherePrior(latent_dim).sample(min(train_size, CODES),
                                                          generator=generator)  # fmt: skip
    return rows(samples, PRIOR_REFERENCE, 0.0, seed)


def rows(codes: Tensor, method: str, lam: float, seed: int) -> list[dict]:
    """One row per singular value of ``codes`` (centered), largest first."""
    return [
        dict(method=method, lam=lam, seed=seed, index=i + 1, value=float(v))
        for i, v in enumerate(singular_values(codes))
    ]
