"""Image SWD of Karras et al. (2018) as swd-pytorch's ``swd()`` computes it.

For two sets of N images [N, C, H, W] (grayscale repeated to 3 channels; swd-pytorch takes 3):
  1. Laplacian pyramid with the 5x5 binomial kernel [1,4,6,4,1]^T [1,4,6,4,1] / 256 per channel,
     n_levels = round(log2(H // 16)) + 1 (from the height, as swd-pytorch), the coarsest level
     being the Gaussian image itself:
         G_0 = x,  G_{k+1} = blur(G_k)[::2, ::2],  L_k = G_k - blur(nearest_upsample(G_{k+1})),
     every blur padding its input by 2 pixels of zeros (``padding="reflect"``: by reflection).
  2. At each level the same 128 random 7x7 patch positions (the first 128 of a random
     permutation of the (H-6)(W-6) top-left corners, row-major) for every image of both sets;
     each set's patches are normalized per channel by that set's own mean and unbiased std:
     (p - mean) / (std + 1e-8).
  3. 512 random Gaussian directions in R^(3*7*7), each scaled to unit unbiased std across its
     coordinates; per direction the mean |sorted(P1 theta) - sorted(P2 theta)|; averaged over
     directions, then over levels, times 1000.
Random draws follow swd-pytorch's order on one CPU generator: per level a ``randperm`` of the
positions, then 128 draws of 4 directions. So after ``torch.manual_seed(seed)``, ``swd(x1, x2)``
sees the same positions and directions as ``image_swd(x1, x2, seed=seed)``. One value carries
a seed noise of 1-2% (std over seeds, 2,000 photo crops of 32x32 per set), mostly from the
directions at the coarsest level: compare values computed with the same seed.

Where the code differs from swd-pytorch without changing the value (beyond float rounding): each
band is computed one image chunk at a time from only the levels it needs; the patch statistics are
summed in float64 chunk by chunk instead of ``torch.std_mean`` over the whole set; patches are
gathered by flat pixel index instead of ``unfold``; grayscale is never repeated: its 49-pixel
patches are projected on the sum of each direction's three channel blocks (a third of the arithmetic
and memory); projections are computed and sorted 64 directions at a time, two such chunks at
once on CPU (numpy's sort), instead of 4; the mean over directions is one sum divided by the count,
equal to swd-pytorch's mean of per-repeat means since every repeat has 4 directions. A set measured
many times with the same seed (the test images at every evaluation) is projected and sorted once
(``swd_reference``), and each ``image_swd_to`` against it sorts only the other set: half the work.
Images whose levels would have odd sides or be narrower than 7 pixels are rejected (swd-pytorch
fails on them). Zero padding makes the value change when a constant is added to a set; reflection
padding does not.
"""

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

PATCH = 7
N_PATCHES = 128
N_DIRECTIONS = 512
DIRECTIONS_PER_DRAW = 4
BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)
PADDINGS = {"zeros": "constant", "reflect": "reflect"}  # name -> F.pad mode


def pyramid_levels(height: int) -> int:
    """round(log2(height // 16)) + 1 pyramid levels, the coarsest about 16 pixels high."""
    if height < 16:
        raise ValueError(f"image SWD needs images of at least 16x16 pixels, got {height}")
    return round(math.log2(height // 16)) + 1


def _check_sides(height: int, width: int, levels: int) -> None:
    scale = 2 ** (levels - 1)
    if height % scale or width % scale or width // scale < PATCH:
        raise ValueError(
            f"image SWD with {levels} pyramid levels needs sides divisible by {scale} and a "
            f"width of at least {PATCH * scale}, got {height}x{width}: crop or resize the images"
        )


def _check_padding(padding: str) -> None:
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}: choose one of {', '.join(PADDINGS)}")


def _blur(x: Tensor, padding: str, stride: int = 1) -> Tensor:
    """Binomial 5x5 blur per channel of x padded by 2 pixels, sampled every ``stride`` pixels."""
    k1 = torch.tensor(BINOMIAL, dtype=x.dtype, device=x.device)
    kernel = (k1[:, None] * k1[None, :] / 256.0).expand(x.shape[1], 1, 5, 5)
    padded = F.pad(x, (2, 2, 2, 2), mode=PADDINGS[padding])
    return F.conv2d(padded, kernel, stride=stride, groups=x.shape[1])


def _upsample(x: Tensor) -> Tensor:
    """Nearest-neighbour 2x upsampling (each pixel a 2x2 block), as ``F.interpolate``."""
    n, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


def pyramid_band(x: Tensor, level: int, levels: int, padding: str = "zeros") -> Tensor:
    """Band ``level`` (0 finest) of the Laplacian pyramid, computing only the levels it needs:
    L_level = G_level - blur(up(G_{level+1})), or G_level itself at the coarsest level."""
    _check_padding(padding)
    for _ in range(level):
        x = _blur(x, padding, stride=2)
    if level == levels - 1:
        return x
    return x - _blur(_upsample(_blur(x, padding, stride=2)), padding)


def laplacian_pyramid(x: Tensor, levels: int, padding: str = "zeros") -> list[Tensor]:
    """[L_0, ..., L_{levels-2}, G_{levels-1}], finest first."""
    return [pyramid_band(x, level, levels, padding) for level in range(levels)]


def patch_positions(height: int, width: int, n: int, generator: torch.Generator) -> Tensor:
    """Indices of n distinct random 7x7 patch positions among the (H-6)(W-6) valid ones,
    numbered row-major by their top-left corner (the order of ``F.unfold``'s columns)."""
    return torch.randperm((height - PATCH + 1) * (width - PATCH + 1), generator=generator)[:n]


def patch_pixels(positions: Tensor, width: int) -> Tensor:
    """[P * 49] flat pixel indices of each patch, offsets row-major (as ``F.unfold``)."""
    rows, cols = positions // (width - PATCH + 1), positions % (width - PATCH + 1)
    offsets = torch.arange(PATCH)
    within = (offsets[:, None] * width + offsets[None, :]).flatten()  # 49
    return ((rows * width + cols)[:, None] + within[None, :]).flatten()


def level_descriptors(
    images: Tensor, positions: Tensor, *, level, n_levels, image_batch, padding
) -> Tensor:
    """Normalized patches of one pyramid level as a [C * 49, N * n_patches] matrix, C = 1 for
    grayscale (the three copies swd-pytorch makes are equal; ``fold_gray`` folds the
    directions to match).

    Patches are unfolded one image chunk at a time, so memory stays bounded by the chunk.
    """
    n, c, p, area = len(images), images.shape[1], len(positions), PATCH * PATCH
    descriptors = torch.empty(c, area, n, p, device=images.device)  # C x 49 x N x P
    sums = torch.zeros(2, c, dtype=torch.float64, device=images.device)
    pixels = None
    for start in range(0, n, image_batch):
        x = images[start : start + image_batch].float()
        band = pyramid_band(x, level, n_levels, padding)
        if pixels is None:
            pixels = patch_pixels(positions, band.shape[-1]).to(band.device)
        patches = band.flatten(2).index_select(2, pixels).view(len(x), c, p, area)
        descriptors[:, :, start : start + len(x)] = patches.permute(1, 3, 0, 2)
        flat = patches.view(len(x), c, p * area)
        sums[0] += flat.sum(dim=(0, 2)).double()
        sums[1] += flat.square().sum(dim=(0, 2)).double()
    count = n * p * area
    mean = sums[0] / count
    std = ((sums[1] - count * mean.square()) / (count - 1)).clamp_min(0).sqrt()
    descriptors.sub_(mean.float().view(c, 1, 1, 1)).div_((std + 1e-8).float().view(c, 1, 1, 1))
    return descriptors.view(c * area, n * p)


def fold_gray(directions: Tensor) -> Tensor:
    """[49, L] directions for one-channel descriptors p: theta . (p, p, p) = (theta_r +
    theta_g + theta_b) . p, so projecting p on the folded directions equals projecting the
    grayscale image repeated to RGB (swd-pytorch's input) on [3 * 49, L] ``directions``."""
    return directions.view(3, PATCH * PATCH, -1).sum(dim=0)


def unit_std_directions(dim: int, n: int, generator: torch.Generator) -> Tensor:
    """[dim, n] Gaussian directions drawn 4 columns at a time (swd-pytorch's order), each
    column scaled to unit (unbiased) standard deviation."""
    draws = [
        torch.randn(dim, min(DIRECTIONS_PER_DRAW, n - start), generator=generator)
        for start in range(0, n, DIRECTIONS_PER_DRAW)
    ]
    d = torch.cat(draws, dim=1)
    return d / d.std(dim=0, keepdim=True)


def sort_rows_in_place(x: Tensor) -> Tensor:
    """Sort each row of a contiguous ``x`` ascending, in place (numpy's sort on CPU, about 20x
    torch's); returns ``x``."""
    if x.device.type == "cpu":
        x.numpy().sort(axis=1)
    else:
        x.copy_(torch.sort(x, dim=1).values)
    return x


def _sorted_projections(theta_t: Tensor, descriptors: Tensor, out: Tensor) -> Tensor:
    """``out`` [k, M] := the rows of theta_t [k, D] @ descriptors [D, M], each sorted."""
    return sort_rows_in_place(torch.matmul(theta_t, descriptors, out=out))


def _over_direction_chunks(directions: Tensor, chunk: int, work, *, width: int = 0,
                           buffers: int = 0, device=None) -> list:  # fmt: skip
    """[work(start, theta_t, scratch) for each chunk of ``chunk`` directions]: theta_t the
    chunk's [k, D] rows on ``device``, scratch ``buffers`` [k, width] tensors that each thread
    reuses chunk after chunk (no fresh pages to fault in per chunk). Two chunks at once on CPU
    (numpy's sort releases the GIL)."""
    local = threading.local()

    def one(start):
        theta_t = directions[:, start : start + chunk].T.contiguous().to(device)
        if not hasattr(local, "scratch"):
            local.scratch = [torch.empty(chunk, width, device=device) for _ in range(buffers)]
        return work(start, theta_t, [rows[: len(theta_t)] for rows in local.scratch])

    starts = range(0, directions.shape[1], chunk)
    if torch.device(device).type != "cpu":  # the device orders its own work
        return [one(start) for start in starts]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, starts))


def sliced_l1(a: Tensor, b: Tensor, directions: Tensor, chunk: int) -> Tensor:
    """Mean over directions of mean |sorted(theta.a) - sorted(theta.b)|, in direction chunks.

    a, b: [D, M] descriptors as columns; directions: [D, L].
    """
    def gap(_, theta_t, scratch):
        sorted_a = _sorted_projections(theta_t, a, scratch[0])
        sorted_b = _sorted_projections(theta_t, b, scratch[1])
        return sorted_a.sub_(sorted_b).abs_().sum().double().cpu()

    gaps = _over_direction_chunks(directions, chunk, gap, width=a.shape[1], buffers=2,
                                  device=a.device)  # fmt: skip
    return torch.stack(gaps).sum() / (a.shape[1] * directions.shape[1])


def sliced_l1_to_sorted(sorted_a: Tensor, b: Tensor, directions: Tensor, chunk: int) -> Tensor:
    """``sliced_l1`` with a's side given: sorted_a [L, M] holds its sorted projections."""
    def gap(start, theta_t, scratch):
        sorted_b = _sorted_projections(theta_t, b, scratch[0])
        return sorted_b.sub_(sorted_a[start : start + len(theta_t)]).abs_().sum().double().cpu()

    gaps = _over_direction_chunks(directions, chunk, gap, width=b.shape[1], buffers=1,
                                  device=b.device)  # fmt: skip
    return torch.stack(gaps).sum() / (b.shape[1] * directions.shape[1])


def _checked_levels(shape: torch.Size, padding: str) -> int:
    """The pyramid's number of levels for images of ``shape`` [N, C, H, W], after checking
    the channels, the sides and the padding."""
    if shape[1] not in (1, 3):
        raise ValueError(f"image_swd takes grayscale or RGB images, got {shape[1]} channels")
    _check_padding(padding)
    height, width = shape[2:]
    levels = pyramid_levels(height)
    _check_sides(height, width, levels)
    return levels


def _level_draws(shape: torch.Size, seed: int, n_patches: int, n_directions: int):
    """(level, patch positions, directions) per pyramid level, drawn in swd-pytorch's order
    on one generator seeded with ``seed``; directions folded for grayscale."""
    generator = torch.Generator().manual_seed(seed)
    height, width = shape[2:]
    for level in range(pyramid_levels(height)):
        positions = patch_positions(height >> level, width >> level, n_patches, generator)
        directions = unit_std_directions(3 * PATCH * PATCH, n_directions, generator)
        yield level, positions, fold_gray(directions) if shape[1] == 1 else directions


@torch.no_grad()
def image_swd(
    images1: Tensor,
    images2: Tensor,
    *,
    seed: int = 0,
    n_patches: int = N_PATCHES,
    n_directions: int = N_DIRECTIONS,
    padding: str = "zeros",
    image_batch: int = 256,
    direction_chunk: int = 64,
) -> float:
    """SWD x 1000 between two image sets of equal shape (values in any fixed range).

    ``seed`` fixes patch positions and directions, so the value is a function of the sets.
    ``padding`` is "zeros" (swd-pytorch) or "reflect" (then adding a constant to a set changes
    nothing). ``image_batch`` and ``direction_chunk`` bound memory without changing the value.
    """
    if images1.shape != images2.shape:
        raise ValueError(
            f"image_swd needs sets of equal shape, got {tuple(images1.shape)} "
            f"and {tuple(images2.shape)}"
        )
    n_levels = _checked_levels(images1.shape, padding)
    band = dict(n_levels=n_levels, image_batch=image_batch, padding=padding)
    per_level = []
    for level, positions, directions in _level_draws(images1.shape, seed, n_patches,
                                                     n_directions):  # fmt: skip
        p1 = level_descriptors(images1, positions, level=level, **band)
        p2 = level_descriptors(images2, positions, level=level, **band)
        per_level.append(sliced_l1(p1, p2, directions, direction_chunk))
    return float(torch.stack(per_level).mean() * 1000.0)


@dataclass(frozen=True, eq=False)
class SwdReference:
    """One image set's side of ``image_swd``, computed once by ``swd_reference``: per pyramid
    level the patch positions, the directions and the set's sorted projections [L, N * P].

    ``image_swd_to(reference, images)`` equals ``image_swd(reference's images, images)`` with
    the same seed up to float rounding, at half the work: only ``images`` are projected and
    sorted. Memory: 4 * levels * L * N * P bytes on the images' device, 4.9 GiB for 10,000
    images of 32x32 (2 levels, L = 512 directions, P = 128 patches).
    """

    shape: torch.Size
    padding: str
    positions: tuple[Tensor, ...]
    directions: tuple[Tensor, ...]
    sorted_projections: tuple[Tensor, ...]


@torch.no_grad()
def swd_reference(
    images: Tensor,
    *,
    seed: int = 0,
    n_patches: int = N_PATCHES,
    n_directions: int = N_DIRECTIONS,
    padding: str = "zeros",
    image_batch: int = 256,
    direction_chunk: int = 64,
) -> SwdReference:
    """``images``' side of ``image_swd`` with these draws (``SwdReference``)."""
    n_levels = _checked_levels(images.shape, padding)
    positions, directions, projections = [], [], []
    for level, where, thetas in _level_draws(images.shape, seed, n_patches, n_directions):
        descriptors = level_descriptors(images, where, level=level, n_levels=n_levels,
                                        image_batch=image_batch, padding=padding)  # fmt: skip
        rows = torch.empty(thetas.shape[1], descriptors.shape[1], device=images.device)

        def fill(start, theta_t, _, descriptors=descriptors, rows=rows):
            _sorted_projections(theta_t, descriptors, rows[start : start + len(theta_t)])

        _over_direction_chunks(thetas, direction_chunk, fill, device=images.device)
        positions.append(where)
        directions.append(thetas)
        projections.append(rows)
    return SwdReference(images.shape, padding, tuple(positions), tuple(directions),
                        tuple(projections))  # fmt: skip


@torch.no_grad()
def image_swd_to(
    reference: SwdReference, images: Tensor, *, image_batch: int = 256, direction_chunk: int = 64
) -> float:
    """``image_swd`` between the reference's images and ``images`` (of the same shape)."""
    if images.shape != reference.shape:
        raise ValueError(
            f"image_swd_to needs images of the reference's shape {tuple(reference.shape)}, "
            f"got {tuple(images.shape)}"
        )
    n_levels = len(reference.positions)
    per_level = [
        sliced_l1_to_sorted(
            sorted_a,
            level_descriptors(images, positions, level=level, n_levels=n_levels,
                              image_batch=image_batch, padding=reference.padding),
            directions, direction_chunk,
        )  # fmt: skip
        for level, (positions, directions, sorted_a) in enumerate(zip(
            reference.positions, reference.directions, reference.sorted_projections,
            strict=True))
    ]  # fmt: skip
    return float(torch.stack(per_level).mean() * 1000.0)
