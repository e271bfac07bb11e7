"""WAE-GAN / adversarial autoencoder latent critic.

A discriminator D (an MLP; WAE paper: 4 hidden layers of 512 ReLU units) learns to tell
prior samples (label 1) from codes (label 0) with its own Adam optimizer, one step per
encoder step:
    L_D = -E_{y~P_Z} log sigmoid(D(y)) - E_z log(1 - sigmoid(D(z))).
The encoder's penalty is the non-saturating generator loss -E_z log sigmoid(D(z)).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _checks
from .base import Regularizer, register
from .optim import Adam
from .search import Range


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy with prior samples as 1 and codes as 0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating -log sigmoid(D(z)), averaged over the batch."""
    return F.softplus(-fake_logits).mean()


def mlp_discriminator(dim: int, hidden: int, layers: int) -> nn.Sequential:
    """D: R^dim -> logit, ``layers`` hidden Linear + ReLU layers of width ``hidden``."""
    blocks: list[nn.Module] = []
    width = dim
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    blocks.append(nn.Linear(width, 1))
    return nn.Sequential(*blocks)


@register
class LatentGAN(Regularizer):
    """Adversarial latent regularizer with its own discriminator and optimizer.

    Args:
        hidden: width of each hidden layer of D.
        layers: number of hidden layers of D.
        lr: Adam learning rate of D (betas 0.5, 0.999).
    """

    name = "gan"
    capturable = True
    search_space = {"lr": Range(1e-5, 3e-3, "log"), "hidden": Range(16, 1024, "log", integer=True)}
    paper = "Tolstikhin et al., ICLR 2018 (WAE-GAN); Makhzani et al. 2015 (adversarial AE)"
    prior_assumption = "any prior it can sample (B prior samples per critic step)"

    def __init__(self, hidden: int = 512, layers: int = 4, lr: float = 5e-4):
        super().__init__()
        self.hidden = _checks.positive_int("gan.hidden", hidden)
        self.layers = _checks.positive_int("gan.layers", layers)
        self.lr = _checks.positive_float("gan.lr", lr)

    def bind(self, encoder, prior, plan):
        """Build the discriminator D on the encoder's device and its Adam (betas 0.5, 0.999)."""
        super().bind(encoder, prior, plan)
        device = next(encoder.parameters()).device
        self.discriminator = mlp_discriminator(prior.dim, self.hidden, self.layers).to(device)
        self.optimizer = Adam(self.discriminator.parameters(), lr=self.lr, betas=(0.5, 0.999))

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """The encoder's non-saturating loss -mean_i log sigmoid(D(z_i)); the gradients it leaves
        on D are dropped by ``after_step``."""
        return generator_loss(self.discriminator(z).squeeze(1))

    def after_step(self, z: Tensor, x: Tensor) -> None:
        """One discriminator step on these codes against as many prior samples."""
        with torch.enable_grad():
            y = self.prior.sample(len(z), device=z.device)
            loss = discriminator_loss(
                self.discriminator(y).squeeze(1), self.discriminator(z.detach()).squeeze(1)
            )
            self.optimizer.zero_grad()  # drops D's gradients from the encoder's loss too
            loss.backward()
            self.optimizer.step()
            # no gradient outlives the step: the encoder's next backward creates D's afresh
            # (a CUDA graph must not add into a buffer it freed while recording)
            self.optimizer.zero_grad()

    def get_extra_state(self) -> dict:
        """The critic's Adam state, for ``state_dict`` (D's weights are saved as a submodule)."""
        return {"optimizer": self.optimizer.state_dict()}

    def set_extra_state(self, state: dict) -> None:
        """Load the critic's Adam state from ``get_extra_state`` (after ``bind`` has made it)."""
        self.optimizer.load_state_dict(state["optimizer"])
