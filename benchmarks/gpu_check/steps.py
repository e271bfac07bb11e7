"""Section: per-step times of every latent method and of the A2 step (fp32 and bf16, graphs on
and off). Each time is the median over blocks of steps: a block starts and ends with
``torch.cuda.synchronize()`` and its time is divided by its step count (launches overlap within
a block, as in training). Graphed steps are driven past their eager warm-up and recording
first."""

import functools
import statistics
import time
import warnings

import torch

from wae_bench.gpu_targets import A2_METHODS, CIFAR_TRAIN, LATENT_STEP_MS

from .check import Check, Section, oneline, sync
from .plan import FULL, NO_CUDA


def _latent_step(device, method, graphs, amp, batch):
    """The latent task's step (MLP 100 -> 256 -> 128, sphere prior) and a batch."""
    from regularizers import SpherePrior, TrainingPlan
    from wae_bench.models import MLPEncoder
    from wae_bench.recipe import assemble

    step = assemble({"encoder": MLPEncoder(100, 256, 128)}, method, prior=SpherePrior(128),
                    plan=TrainingPlan(batch, 10**6, 1000), amp=amp, device=device,
                    graphs=graphs).step  # fmt: skip
    return step, torch.randn(batch, 100, device=device)


def _image_step(arch, device, method, graphs, amp, batch):
    """The image step (``arch`` autoencoder on 32x32x3, lam = 10; "plain": ``recipe.PLAIN``)
    and a batch."""
    from regularizers import SpherePrior, TrainingPlan
    from wae_bench.models import build_autoencoder
    from wae_bench.recipe import assemble

    encoder, decoder = build_autoencoder(arch, 3, 32, 128)
    plan = TrainingPlan(batch, 10**6, CIFAR_TRAIN)  # MoCA's K = 16384
    step = assemble({"encoder": encoder, "decoder": decoder}, method, prior=SpherePrior(128),
                    plan=plan, lam=10.0, amp=amp, device=device, graphs=graphs).step  # fmt: skip
    return step, torch.rand(batch, 3, 32, 32, device=device)


def _time_step(check, section, build, config, device, graphs, batch) -> tuple[str, str]:
    """The median ms per step of one configuration, as shown (see the module docstring)."""
    from wae_bench.cuda_graphs import WARMUP_STEPS, GraphedStep

    task, _, method, amp, block_steps, _ = config
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        step, x = build(device, method, graphs, amp, batch)  # graphed as a run's step would be
        for _ in range(WARMUP_STEPS + 2 if graphs else check.sizes.warmup):
            step(x)
        sync(device)
    name = f"{task} {method} {amp} {device} graphs={'on' if graphs else 'off'}"
    section.details += [f"{name}: warning: {w.message}" for w in caught]
    note = ""
    if graphs and not (isinstance(step, GraphedStep) and step.graphs):
        note = "not captured, ran eagerly: " + "; ".join(str(w.message) for w in caught)
    times = []
    for _ in range(check.sizes.blocks):
        sync(device)
        start = time.perf_counter()
        for _ in range(block_steps):
            step(x)
        sync(device)
        times.append((time.perf_counter() - start) / block_steps * 1e3)
    ms = statistics.median(times)
    section.details.append(f"{name}: ms per step of each block {times}")
    if device == "cuda":
        check.step_ms[(task, method, amp, graphs)] = ms
    del step, x
    if device == "cuda":
        torch.cuda.empty_cache()
    return f"{ms:.3g}", note


def _label(check: Check, task: str, device: str) -> str:
    if task == "latent":
        return task
    arch = check.sizes.step_arch if check.cuda or device == "cpu" else "a2"
    return f"{arch.upper() if arch == 'a2' else arch} 32x32x3"


def step_times(check: Check, section: Section) -> None:
    """Every latent method and the A2 step, per precision and graphs setting."""
    import regularizers  # here, not at the top: a missing dependency is named first

    s = check.sizes
    configs = [("latent", _latent_step, m, "fp32", s.block_steps, 64)
               for m in regularizers.available()]  # fmt: skip
    image = functools.partial(_image_step, s.step_arch)
    configs += [("image", image, m, amp, s.a2_block_steps, s.a2_batch)
                for amp in ("fp32", "bf16") for m in A2_METHODS]  # fmt: skip
    failures, skipped = [], 0
    for config in configs:
        task, build, method, amp, _, batch = config
        places = [("cuda", True), ("cuda", False)]
        if not check.cuda and amp == "fp32":
            places.append(("cpu", False))  # the small mode proves the timing path on the CPU
        for device, graphs in places:
            # a CUDA row that cannot run shows what the full check would time there
            size = FULL.a2_batch if task == "image" and device != check.device else batch
            row = {"task": _label(check, task, device), "method": method, "device": device,
                   "precision": amp, "graphs": "on" if graphs else "off",
                   "batch": size}  # fmt: skip
            if device == "cuda" and not check.cuda:
                ms, note = NO_CUDA, ""
            elif check.left() <= 0:
                ms, note = "not measured", "the section's budget was spent"
                skipped += 1
            else:
                try:
                    ms, note = _time_step(check, section, build, config, device, graphs, size)
                except Exception as err:  # one configuration failing leaves the others
                    failures.append(f"{task} {method} {amp} graphs={graphs}: {oneline(err)}")
                    ms, note = "failed", oneline(err)
            section.rows.append({**row, "ms / step (median)": ms, "note": note})
    ms = check.step_ms
    for method in LATENT_STEP_MS:
        if ("latent", method, "fp32", True) in ms:
            check.measure(f"latent_step_{method}", ms[("latent", method, "fp32", True)])
    for method in A2_METHODS:
        fp32, bf16 = (ms.get(("image", method, amp, True)) for amp in ("fp32", "bf16"))
        if fp32 and bf16:
            check.measure(f"bf16_speedup_{method}", fp32 / bf16)
    if skipped:
        why = f"{skipped} configuration(s) not timed: the section's {check.budget:.0f} s budget " \
              "was spent"  # fmt: skip
        section.notes.append(why + " (rows marked not measured).")
        for key in [f"latent_step_{m}" for m in regularizers.available()] + \
                [f"bf16_speedup_{m}" for m in A2_METHODS]:  # fmt: skip
            check.not_measured(key, why)
    section.notes.append(
        f"Median over {check.sizes.blocks} block(s) of steps; each block is synchronized at "
        "both ends and divided by its step count. Graphed steps were driven past their eager "
        "warm-up and recording before timing; each block's times and every warning are in the "
        "section's log."
    )
    if failures:
        raise RuntimeError("; ".join(failures))
