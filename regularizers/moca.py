"""MoCA: momentum-contrastive latent regularizer (Arpit et al. 2021).

The penalty is the uniformity term of Wang & Isola (2020),
    E_x log E_x' exp(f(x).f(x') / tau),
estimated MoCo-style: the query q = f_q(x) is contrasted against its own key
k = f_k(x) (positive) and a FIFO queue of the K most recent keys (negatives),
    loss = mean_i  -log softmax([q_i.k_i, q_i.queue^T] / tau)_0 .
f_k is an exponential moving average of f_q with the cosine momentum schedule
    m_t = 1 - (1 - m) (cos(pi t / T) + 1) / 2,   t = 0 .. T (total training steps),
so m_0 = m and m_T = 1. Defaults (the paper's): tau = 0.1, m = 0.99, K = min(dataset size, 16384).
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _checks
from .base import Regularizer, register
from .search import Range

DEFAULT_MAX_QUEUE = 16384


def contrastive_loss(q: Tensor, k: Tensor, queue: Tensor, tau: float) -> Tensor:
    """Cross-entropy of [q.k, q.queue^T] / tau with the positive at index 0.

    q, k: [B, d] unit-norm queries and keys; queue: [K, d] negatives.
    """
    positive = (q * k).sum(dim=1, keepdim=True)  # B x 1
    negatives = q @ queue.T  # B x K
    logits = torch.cat([positive, negatives], dim=1) / tau
    labels = torch.zeros(len(q), dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, labels)  # fused log-softmax: the cheapest form measured


def momentum_at(step, total_steps: int, base: float) -> Tensor:
    """Cosine schedule m_t from ``base`` at step 0 to 1 at ``total_steps``.

    ``step`` may be a tensor on any device: the result stays there (no host sync).
    """
    progress = (torch.as_tensor(step) / max(total_steps, 1)).clamp(max=1.0)
    return 1.0 - (1.0 - base) * (torch.cos(math.pi * progress) + 1.0) / 2.0


@register
class MoCA(Regularizer):
    """Momentum-contrastive regularizer; needs the sphere prior.

    Args:
        tau: softmax temperature (> 0; the paper finds it must be below 1).
        K: queue size (>= batch size); None means min(dataset size, 16384).
        m: base momentum of the key encoder, in [0, 1); the paper needs it close to 1.
    """

    name = "moca"
    capturable = True
    search_space = {"tau": Range(0.02, 1.0, "log"), "m": Range(0.5, 0.999, "log1m"),
                    "K": Range(64, 16384, "log", integer=True)}  # fmt: skip
    paper = "Arpit et al. 2021, arXiv 2110.10303 (Momentum Contrastive Autoencoder)"
    prior_assumption = "uniform on the unit sphere (refuses another prior)"

    def __init__(self, tau: float = 0.1, K: int | None = None, m: float = 0.99):
        super().__init__()
        self.tau = _checks.positive_float("moca.tau", tau)
        self.K = None if K is None else _checks.positive_int("moca.K", K)
        self.m = _checks.momentum("moca.m", m)

    def bind(self, encoder, prior, plan):
        """Refuse a prior off the sphere or a queue smaller than the batch; resolve K, make the key
        encoder f_k (a frozen copy of the encoder whose BatchNorm statistics move by the EMA only)
        and fill the queue with K prior samples."""
        super().bind(encoder, prior, plan)
        if not prior.on_sphere:
            raise ValueError("moca needs codes on the unit sphere; use the sphere prior")
        K = self.K or min(plan.dataset_size, DEFAULT_MAX_QUEUE)
        if K < plan.batch_size:
            raise ValueError(
                f"moca.K (queue size) must be at least the batch size {plan.batch_size}, "
                f"got {K}; raise moca.K or lower the batch size"
            )
        self.queue_size = K  # the K the user set stays as given (None: the default rule)
        device = next(encoder.parameters()).device
        # Kept out of the module tree: the query encoder belongs to the trainer.
        self.__dict__["query_encoder"] = encoder
        self.key_encoder = copy.deepcopy(encoder).requires_grad_(False)
        for module in self.key_encoder.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = 0.0  # running statistics follow the EMA only
        self.register_buffer("queue", prior.sample(K, device=device))  # K x d
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long, device=device))
        self.register_buffer("step", torch.zeros((), dtype=torch.long, device=device))
        self._keys: Tensor | None = None

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """The contrastive loss of the queries z against their keys f_k(x) (no gradient; kept for
        ``after_step``) and the queue."""
        with torch.no_grad(), self.network_autocast(x):  # the query encoder's precision
            self._keys = self.key_encoder(x).float()  # B x d; the queue stays float32
        return contrastive_loss(z, self._keys, self.queue, self.tau)

    @torch.no_grad()
    def after_step(self, z: Tensor, x: Tensor) -> None:
        """EMA of f_k at m_t, this step's keys in place of the queue's oldest, then t <- t + 1."""
        if self._keys is None:
            raise RuntimeError("moca.after_step called before forward")
        self._momentum_update_key_encoder()
        self._dequeue_and_enqueue(self._keys)
        self._keys = None
        self.step += 1

    def resolved(self) -> dict:
        """``hparams`` with K the queue size ``bind`` resolved."""
        return {**self.hparams(), "K": self.queue_size}

    def current_momentum(self) -> Tensor:
        """m_t of the cosine schedule at the current step t (a device tensor)."""
        return momentum_at(self.step, self.plan.total_steps, self.m)

    @torch.no_grad()
    def _momentum_update_key_encoder(self) -> None:
        """theta_k <- m_t theta_k + (1 - m_t) theta_q; float buffers (BN statistics) alike."""
        weight = 1.0 - self.current_momentum().float()
        query, key = self.query_encoder, self.key_encoder
        # lerp_ one tensor at a time: the foreach form reads a tensor weight on the host
        for p_key, p_query in zip(key.parameters(), query.parameters(), strict=True):
            p_key.lerp_(p_query, weight)
        for b_key, b_query in zip(key.buffers(), query.buffers(), strict=True):
            if b_key.is_floating_point():
                b_key.lerp_(b_query, weight)
            else:  # e.g. BatchNorm's num_batches_tracked
                b_key.copy_(b_query)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: Tensor) -> None:
        """Overwrite the oldest len(keys) entries of the ring buffer (FIFO)."""
        slots = (self.queue_ptr + torch.arange(len(keys), device=keys.device)) % self.queue_size
        self.queue[slots] = keys
        self.queue_ptr.copy_((self.queue_ptr + len(keys)) % self.queue_size)
