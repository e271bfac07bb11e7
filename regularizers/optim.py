"""Adam whose step never reads the host: the trainer's optimizer and the GAN critic's.

The update is torch.optim.Adam's (Kingma & Ba 2015, no weight decay), at step t = 1, 2, ...
    m <- b1 m + (1 - b1) g,        v <- b2 v + (1 - b2) g^2,
    theta <- theta - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
The step count t and the learning rate are 0-dim tensors on the parameters' device, so a
step is a fixed sequence of kernels that never waits for the host: it can be captured in a
CUDA graph and replayed, and a new learning rate (``set_lr``) reaches the graph. Their
dtype is torch.optim.Adam's choice for that device: float64 on the CPU (its host scalars),
which gives the same parameters bit for bit (tested), float32 elsewhere (its capturable
mode, and what the fused multi-tensor kernels take). It also keeps construction cheap:
torch.optim imports torch._dynamo on first use, about 1.5 s on a 2-core machine.

One step count serves all parameters: every parameter is expected to get a gradient at
every step (the trainer's case); one without a gradient is left as it is, moments included.
"""

from collections.abc import Iterable

import torch
from torch import Tensor


class Adam:
    """Adam over ``params`` with learning rate ``lr``, ``betas`` and ``eps``.

    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = Adam([w], lr=0.1)
    >>> (w**2).sum().backward()
    >>> opt.step()
    >>> w.detach()  # the first step moves each weight by lr against its gradient's sign
    tensor([ 0.9000, -1.9000])
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):  # fmt: skip
        self.params = list(params)
        if not self.params:
            raise ValueError("Adam got no parameters")
        if not lr > 0 or not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1 or not eps > 0:
            raise ValueError(f"Adam needs lr > 0, betas in [0, 1), eps > 0; got {lr, betas, eps}")
        self.betas, self.eps = betas, eps
        device = self.params[0].device
        scalar = torch.float64 if device.type == "cpu" else torch.float32
        self.lr = torch.tensor(float(lr), dtype=scalar, device=device)
        self.steps = torch.zeros((), dtype=scalar, device=device)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def set_lr(self, lr: float) -> None:
        """Use ``lr`` from the next step on (in place: captured steps see it)."""
        self.lr.fill_(lr)

    def zero_grad(self) -> None:
        """Drop the gradients (the next backward writes them afresh)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params = [self.params[i] for i in live]
        grads = [p.grad for p in params]
        exp_avg = [self.exp_avg[i] for i in live]
        exp_avg_sq = [self.exp_avg_sq[i] for i in live]
        beta1, beta2 = self.betas
        self.steps += 1
        step_size = self.lr / (1 - beta1**self.steps)
        correction2_sqrt = (1 - beta2**self.steps).sqrt()
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, correction2_sqrt)
        torch._foreach_add_(denom, self.eps)
        update = torch._foreach_mul(exp_avg, -step_size)
        torch._foreach_div_(update, denom)
        torch._foreach_add_(params, update)

    def state_dict(self) -> dict:
        """Step count, learning rate and moments (tensors; the hyper-parameters as given)."""
        return {"steps": self.steps, "lr": self.lr, "betas": self.betas, "eps": self.eps,
                "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        """Copy a ``state_dict`` in place (tensors keep their addresses for captured steps)."""
        if "exp_avg" not in state:
            raise ValueError("the optimizer state is not this Adam's (one of torch.optim's, "
                             "saved by an older wae-bench?)")  # fmt: skip
        if len(state["exp_avg"]) != len(self.params):
            raise ValueError(
                f"optimizer state has {len(state['exp_avg'])} parameters, not {len(self.params)}"
            )
        self.betas, self.eps = tuple(state["betas"]), state["eps"]
        self.steps.copy_(state["steps"])
        self.lr.copy_(state["lr"])
        for mine, saved in zip(self.exp_avg + self.exp_avg_sq,
                               state["exp_avg"] + state["exp_avg_sq"], strict=True):  # fmt: skip
            mine.copy_(saved)
