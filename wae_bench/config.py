"""Settings of each task as dataclasses; loading from JSON/TOML files and `--set` strings.

Precedence: dataclass defaults < config file < command-line flags. Everything is validated
before any work starts; problems raise ``UsageError`` naming the setting and the fix.
"""

import ast
import copy
import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import regularizers

from .errors import UsageError

DEFAULT_METHODS = ["moca", "mmd", "swd", "sinkhorn"]


@dataclass
class LatentConfig:
    """The synthetic latent-matching task (SPEC section 3)."""

    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int = 80
    batch_size: int = 64
    lr: float = 1e-3
    points: int = 1000
    data_dim: int = 100
    hidden_dim: int = 256
    latent_dim: int = 128
    prior: str = "sphere"
    eval_directions: int = 1000
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "auto"
    out: str = ""
    quiet: bool = False
    resume: bool = False

    def validate(self) -> "LatentConfig":
        _check_methods_and_seeds(self.methods, self.seeds)
        for name in (
            "epochs",
            "batch_size",
            "points",
            "data_dim",
            "hidden_dim",
            "latent_dim",
            "eval_directions",
        ):
            _check_positive_int(name, getattr(self, name))
        _check_positive_float("lr", self.lr)
        if self.batch_size > self.points:
            raise UsageError(
                f"batch_size {self.batch_size} exceeds the {self.points} data points; "
                "lower --batch-size or raise --points"
            )
        if self.prior not in regularizers.priors.PRIORS:
            raise UsageError(f"unknown prior {self.prior!r}; choose sphere or gaussian")
        _check_params(self.params, self.methods)
        return self


@dataclass
class ImageConfig:
    """WAE training on images, one run per (method, lam, seed) (SPEC section 4)."""

    dataset: str = "digits"
    data_root: str = "data"
    download: bool = False
    image_size: int = 64
    arch: str = "conv"
    methods: list[str] = field(default_factory=lambda: ["moca", "mmd"])
    lambdas: dict[str, list[float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    lr_halve_every: int = 0
    latent_dim: int = 128
    eval_every: int = 5
    eval_samples: int = 0
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "auto"
    out: str = ""
    quiet: bool = False
    resume: bool = False
    amp: str = "none"
    compile: bool = False

    def validate(self) -> "ImageConfig":
        _check_methods_and_seeds(self.methods, self.seeds)
        for name in ("epochs", "batch_size", "latent_dim", "eval_every", "image_size"):
            _check_positive_int(name, getattr(self, name))
        for name in ("lr_halve_every", "eval_samples"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise UsageError(
                    f"{name} must be an integer >= 0, got {value!r}; fix {_flag(name)}"
                )
        _check_positive_float("lr", self.lr)
        if self.amp not in AMP_DTYPES:
            raise UsageError(f"amp must be one of {', '.join(AMP_DTYPES)}, got {self.amp!r}")
        if not isinstance(self.lambdas, dict):
            raise UsageError(f"lambdas must map methods to lists, got {self.lambdas!r}")
        for method in self.lambdas:
            if method not in self.methods:
                raise UsageError(
                    f"lambdas given for {method!r}, which is not among the methods "
                    f"({','.join(self.methods)}); add it to --methods"
                )
        self.lambdas = {m: self.lambdas.get(m, DEFAULT_LAMBDAS) for m in self.methods}
        for method, values in self.lambdas.items():
            _check_list(f"lambdas for {method}", values, (int, float))
            for lam in values:
                if not math.isfinite(lam) or lam < 0:
                    raise UsageError(
                        f"lambda must be a finite number >= 0, got {lam!r} for {method}"
                    )
        _check_params(self.params, self.methods)
        return self


DEFAULT_LAMBDAS = [1.0, 10.0, 100.0]
AMP_DTYPES = {"none": None, "bf16": torch.bfloat16}


def _check_methods_and_seeds(methods, seeds) -> None:
    """Registered methods and non-negative seeds, each listed once."""
    _check_list("methods", methods, str)
    _check_list("seeds", seeds, int)
    if any(s < 0 for s in seeds):
        raise UsageError(f"seeds must be >= 0, got {seeds}; pass --seed 0")
    if len(set(methods)) != len(methods):
        raise UsageError(f"methods lists a method twice: {','.join(methods)}")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"seeds lists a seed twice: {seeds}")
    known = regularizers.available()
    for method in methods:
        if method not in known:
            raise UsageError(f"unknown method {method!r}; choose from {', '.join(known)}")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_list(name: str, value, kind) -> None:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
    ):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        what = " or ".join(k.__name__ for k in kinds)
        raise UsageError(
            f"{name} must be a non-empty list of {what}, got {value!r}; "
            f"see {_flag(name.split()[0])}"
        )


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UsageError(f"{name} must be an integer > 0, got {value!r}; pass e.g. {_flag(name)} 1")


def _check_positive_float(name: str, value) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a finite number > 0, got {value!r}; fix {_flag(name)}")


def _check_params(params, methods) -> None:
    if not isinstance(params, dict):
        raise UsageError(f"params must map method names to settings, got {params!r}")
    for method, values in params.items():
        if method not in methods:
            raise UsageError(
                f"settings given for {method!r}, which is not among the methods "
                f"({','.join(methods)}); add it to --methods or drop its --set"
            )
        if not isinstance(values, dict):
            raise UsageError(f"params.{method} must be a table of settings, got {values!r}")
        known = regularizers.hyperparameter_defaults(regularizers.get(method))
        for key in values:
            if key not in known:
                raise UsageError(
                    f"{method} has no hyper-parameter {key!r}; known: {', '.join(known)}"
                )


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """'moca.tau=0.2' -> ('moca', 'tau', 0.2); values are Python/TOML-like literals."""
    target, sep, raw = text.partition("=")
    method, dot, param = target.strip().partition(".")
    if not sep or not dot or not method or not param:
        raise UsageError(f"--set expects METHOD.PARAM=VALUE (e.g. moca.tau=0.2), got {text!r}")
    raw = raw.strip()
    literals = {"true": True, "false": False, "none": None, "null": None}
    if raw.lower() in literals:
        return method, param, literals[raw.lower()]
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        try:
            value = float(raw)  # nan, inf
        except ValueError:
            value = raw  # a bare word such as rbf
    if isinstance(value, float) and math.isnan(value):
        raise UsageError(f"--set {target}: NaN is not a valid setting")
    return method, param, value


def load_file(path: str) -> dict:
    """Settings from a .json or .toml file, as a dict of LatentConfig field names."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"config file {path} not found; pass an existing .toml or .json file")
    try:
        if file.suffix == ".toml":
            data = tomllib.loads(file.read_text())
        elif file.suffix == ".json":
            data = json.loads(file.read_text())
        else:
            raise UsageError(f"config file {path} must end in .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise UsageError(
            f"config file {path} is not valid {file.suffix[1:].upper()}: {err}"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a table of settings")
    return data


def build(cls, file_settings: dict, cli_settings: dict):
    """A validated ``cls`` from file settings overridden by command-line settings."""
    names = [f.name for f in dataclasses.fields(cls)]
    merged = copy.deepcopy(file_settings)
    for key, value in cli_settings.items():
        if key == "params":
            for method, values in value.items():
                merged.setdefault("params", {}).setdefault(method, {}).update(values)
        else:
            merged[key] = value
    unknown = sorted(set(merged) - set(names))
    if unknown:
        raise UsageError(f"unknown setting {', '.join(unknown)}; known: {', '.join(names)}")
    return cls(**merged).validate()


def to_dict(config) -> dict:
    return dataclasses.asdict(config)
