"""The Markdown of every summary: a table row and a mean ± std cell."""

import math


def mean_std(mean: float, std: float, digits: int) -> str:
    """'m ± s' with ``digits`` decimals; just 'm' for one seed (std NaN); '-' when no mean."""
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_row(cells) -> str:
    """One row of a Markdown table: | a | b |."""
    return "| " + " | ".join(str(c) for c in cells) + " |"
