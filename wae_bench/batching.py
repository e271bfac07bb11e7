"""No batch of one sample reaches a regularizer.

A data set of size 1 (mod the batch size) would end every epoch with a single sample, on
which estimators that average over pairs of codes (an unbiased MMD, the uniformity loss) are
0 / 0. The harness drops that one sample (a different one each epoch, since batches are
shuffled) rather than folding it into the previous batch, which would give that batch a size
no other batch has (one more CUDA graph, a queue one key short). With a batch size of 1 every
batch is kept; the methods that need two codes refuse that batch size when they bind.
"""

from collections.abc import Iterable, Iterator

from torch import Tensor


def without_single_remainder(batches: Iterable[Tensor]) -> Iterator[Tensor]:
    """``batches`` as they come, except a last batch of one sample after larger ones."""
    previous, larger_seen = None, False
    for batch in batches:
        if previous is not None:
            larger_seen |= len(previous) > 1
            yield previous
        previous = batch
    if previous is not None and (len(previous) > 1 or not larger_seen):
        yield previous


def steps_per_epoch(dataset_size: int, batch_size: int) -> int:
    """Batches per epoch after ``without_single_remainder``."""
    full, remainder = divmod(dataset_size, batch_size)
    return full + (remainder > 1 or (remainder == 1 and full == 0))
