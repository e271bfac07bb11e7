"""Search spaces: how a hyper-parameter may be tuned, declared next to the hyper-parameter.

A regularizer lists its tunable hyper-parameters in the class attribute ``search_space``
(``{name: Range | Choice}``); a task does the same for its own knobs (the image task's lam
and learning rate). ``wae-bench tune`` samples every method from its space with the same
number of trials. A plug-in declares its space the same way.

Scales of a ``Range``: ``linear`` (uniform in [low, high]), ``log`` (uniform in log x, for
scales such as a temperature or a learning rate) and ``log1m`` (uniform in log(1 - x), for
momenta m in [low, high] < 1, where 0.9, 0.99 and 0.999 are equally far apart).

A length- or variance-like hyper-parameter is declared relative to the prior (``per``), since
the prior's own scale differs by orders of magnitude between priors: E||z - z'||^2 is 2 on the
unit sphere and 2d for N(0, I_d). ``per`` names the unit, a property of ``Prior``:
``mean_sq_distance`` (E||z - z'||^2), ``rms_distance`` (its square root) or ``variance``
(per coordinate, E||z - z'||^2 / (2d)); ``resolve(prior)`` gives the range in absolute units.

>>> Range(0.02, 1.0, "log").contains(0.1)
True
>>> Range(1.0, 0.5)
Traceback (most recent call last):
...
ValueError: range [1.0, 0.5] is empty or inverted; give low < high
>>> Choice(("imq", "rbf")).values
('imq', 'rbf')
"""

import math
from dataclasses import dataclass
from numbers import Real

SCALES = ("linear", "log", "log1m")
UNITS = {  # the prior scales a Range may be declared in: name -> value for a prior
    "mean_sq_distance": lambda prior: prior.mean_sq_distance,
    "rms_distance": lambda prior: math.sqrt(prior.mean_sq_distance),
    "variance": lambda prior: prior.mean_sq_distance / (2 * prior.dim),
}
EDGE = 0.05  # a value in the outer 5% of a range (on its scale) lies on its edge
SLICES_LIMIT = ("L only sets how many random slices estimate the distance: more slices lower the "
                "estimate's variance, never its expectation; the cap is the cost, O(L) per step")


@dataclass(frozen=True)
class Range:
    """A number in [low, high] on a linear, log or log(1 - x) scale; ``integer``: whole numbers;
    ``per``: the bounds are multiples of that scale of the prior (``UNITS``); ``low_limit``,
    ``high_limit``: why a bound is a real limit of the method rather than a choice (e.g. "more
    slices only lower the estimate's variance"), which the tune report gives when the best
    value lies there."""

    low: float
    high: float
    scale: str = "linear"
    integer: bool = False
    per: str = ""
    low_limit: str = ""
    high_limit: str = ""

    def __post_init__(self):
        for bound in (self.low, self.high):
            if not isinstance(bound, Real) or isinstance(bound, bool) or not math.isfinite(bound):
                raise ValueError(f"range bounds must be finite numbers, got {bound!r}")
        if self.scale not in SCALES:
            raise ValueError(f"unknown scale {self.scale!r}; choose from {', '.join(SCALES)}")
        if not self.low < self.high:
            raise ValueError(
                f"range [{self.low}, {self.high}] is empty or inverted; give low < high"
            )
        if self.scale == "log" and self.low <= 0:
            raise ValueError(
                f"a log range must stay above 0, got [{self.low}, {self.high}]; raise low"
            )
        if self.scale == "log1m" and self.high >= 1:
            raise ValueError(
                f"a log1m range must stay below 1, got [{self.low}, {self.high}]; lower high"
            )
        if self.integer and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError(f"an integer range needs whole bounds, got [{self.low}, {self.high}]")
        if self.per and (self.per not in UNITS or self.integer):
            raise ValueError(f"per must be one of {', '.join(UNITS)} (not with integer), got "
                             f"{self.per!r}")  # fmt: skip

    def resolve(self, prior) -> "Range":
        """The range in absolute units for ``prior`` (itself when not relative)."""
        if not self.per:
            return self
        unit = UNITS[self.per](prior)
        return Range(self.low * unit, self.high * unit, self.scale,
                     low_limit=self.low_limit, high_limit=self.high_limit)  # fmt: skip

    def position(self, value: float) -> float:
        """Where ``value`` lies in the range on its own scale: 0 at low, 1 at high (log1m:
        0 at low, as m grows to the right)."""
        if self.scale == "log":
            return math.log(value / self.low) / math.log(self.high / self.low)
        if self.scale == "log1m":
            return math.log((1 - value) / (1 - self.low)) / math.log(
                (1 - self.high) / (1 - self.low))
        return (value - self.low) / (self.high - self.low)

    def on_edge(self, value: float) -> bool:
        """Whether ``value`` lies in the outer ``EDGE`` of the range on its scale (an integer:
        also at either end value).

        >>> Range(0.02, 500.0, "log").on_edge(0.0202), Range(10, 500, "log", True).on_edge(296)
        (True, False)
        """
        return self.edge(value) != ""

    def edge(self, value: float) -> str:
        """"low" or "high" when ``value`` lies in the outer ``EDGE`` of the range on its scale
        (an integer: also at either end value), else ""."""
        position = self.position(value)
        if position < EDGE or (self.integer and value == self.low):
            return "low"
        if position > 1 - EDGE or (self.integer and value == self.high):
            return "high"
        return ""

    def contains(self, value) -> bool:
        """Whether ``value`` lies in the range."""
        return isinstance(value, Real) and self.low <= value <= self.high

    def spec(self) -> dict:
        """The space-file entry of this range (``parse(name, r.spec()) == r``)."""
        out = {"low": self.low, "high": self.high, "scale": self.scale}
        optional = {"integer": self.integer, "per": self.per, "low_limit": self.low_limit,
                    "high_limit": self.high_limit}  # fmt: skip
        return out | {k: v for k, v in optional.items() if v}

    def describe(self) -> str:
        """'[0.02, 1] log', '[0.0001, 100] x mean_sq_distance log' (for tables and
        `wae-bench methods`)."""
        kind = " int" if self.integer else ""
        per = f" x {self.per}" if self.per else ""
        return f"[{self.low:g}, {self.high:g}]{per} {self.scale}{kind}"


@dataclass(frozen=True)
class Choice:
    """One of a few values (numbers or names)."""

    values: tuple

    def __post_init__(self):
        if not isinstance(self.values, tuple) or not self.values:
            raise ValueError(f"choices must be a non-empty list, got {self.values!r}")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"choices list a value twice: {list(self.values)}")

    def contains(self, value) -> bool:
        """Whether ``value`` is one of the choices."""
        return value in self.values

    def resolve(self, prior) -> "Choice":
        """Itself: choices do not scale."""
        return self

    def on_edge(self, value) -> bool:
        """Never: a choice has no edge."""
        return False

    def edge(self, value) -> str:
        """"": a choice has no edge."""
        return ""

    def spec(self) -> dict:
        """The space-file entry of these choices."""
        return {"choices": list(self.values)}

    def describe(self) -> str:
        """'{imq, rbf}'."""
        return "{" + ", ".join(str(v) for v in self.values) + "}"


Dimension = Range | Choice


def parse(name: str, spec) -> Dimension:
    """A dimension from a space file's entry: ``{low, high[, scale][, integer][, per]}`` or
    ``{choices = [...]}``; problems raise ValueError naming ``name``.

    >>> parse("moca.tau", {"low": 0.05, "high": 0.5, "scale": "log"}).describe()
    '[0.05, 0.5] log'
    """
    if not isinstance(spec, dict):
        raise ValueError(f"{name}: give {{low, high, scale}} or {{choices = [...]}}, got {spec!r}")
    keys = set(spec)
    try:
        if keys == {"choices"}:
            return Choice(tuple(spec["choices"]) if isinstance(spec["choices"], list) else ())
        if {"low", "high"} <= keys <= {"low", "high", "scale", "integer", "per", "low_limit",
                                       "high_limit"}:  # fmt: skip
            return Range(spec["low"], spec["high"], spec.get("scale", "linear"),
                         bool(spec.get("integer", False)), spec.get("per", ""),
                         spec.get("low_limit", ""), spec.get("high_limit", ""))  # fmt: skip
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    raise ValueError(
        f"{name}: unknown keys {sorted(keys)}; give low, high (and scale, integer, per) or "
        "choices"
    )
