"""Settings of a run: one dataclass base every task's config extends; files and `--set`.

Precedence: dataclass defaults < config file < command-line flags. Everything is validated
before any work starts; problems raise ``UsageError`` naming the setting and the fix.
Hyper-parameters of a method are checked by the method itself (``methods.build``).
"""

import ast
import copy
import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import regularizers

from . import execution
from . import methods as method_builder
from .errors import UsageError

AMP_CHOICES = ("none", "bf16")


@dataclass(kw_only=True)
class RunConfig:
    """What a command measures; a task's config subclasses it. How and where it runs (folder,
    device, workers, ...) is ``execution.Execution``.

    Subclasses override defaults by redeclaring a field, add their own fields and checks in
    ``check``. A run's id and the ``--resume`` check read these fields under one rule: a field
    at its default counts as absent, so a field added later leaves the ids and records of
    earlier runs valid (``identity``, ``differences``).
    """

    POSITIVE_INTS: ClassVar[tuple[str, ...]] = ("epochs", "batch_size", "latent_dim")

    methods: list[str] = field(default_factory=lambda: ["moca", "mmd"])
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int = 1
    batch_size: int = 64
    lr: float = 1e-3
    latent_dim: int = 128
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    amp: str = "none"

    def validate(self):
        """Check every setting (shared ones here, the task's in ``check``); returns self."""
        check_list("methods", self.methods, str)
        check_list("seeds", self.seeds, int)
        if any(s < 0 for s in self.seeds):
            raise UsageError(f"seeds must be >= 0, got {self.seeds}; pass --seed 0")
        if len(set(self.methods)) != len(self.methods):
            raise UsageError(f"methods lists a method twice: {','.join(self.methods)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise UsageError(f"seeds lists a seed twice: {self.seeds}")
        known = regularizers.available()
        for method in self.methods:
            if method not in known:
                raise UsageError(f"unknown method {method!r}; choose from {', '.join(known)}")
        for name in self.POSITIVE_INTS:
            check_positive_int(name, getattr(self, name))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in (bool, "bool") and not isinstance(value, bool):
                raise UsageError(f"{f.name} must be true or false, got {value!r}")
        check_positive_float("lr", self.lr)
        if self.amp not in AMP_CHOICES:
            raise UsageError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {self.amp!r}")
        self._check_params()
        self.check()
        return self

    def check(self) -> None:
        """Task-specific checks (subclasses)."""

    @classmethod
    def protocol_settings(cls, name: str) -> dict:
        """The settings of a named protocol (a preset of the paper); none by default."""
        raise UsageError(f"no protocol {name!r} for this task")

    def lambda_values(self, method: str) -> list[float | None]:
        """The weights ``lam`` this method is trained with; None: the penalty alone."""
        return [None]

    @classmethod
    def add_arguments(cls, parser) -> None:
        """The task's own command-line flags (the shared ones are added by the CLI)."""

    def eval_due(self, epoch: int) -> bool:
        """Whether a run evaluates after ``epoch`` (epoch 0 always is)."""
        return True

    def learning_rate(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based)."""
        return self.lr

    def prefers_gpu(self) -> bool:
        """Whether ``--device auto`` runs these settings on a visible CUDA GPU (True) or on
        the CPU (False): the faster of the two, as measured; the docstring says where from."""
        return True

    def sub_runs(self) -> dict[str, "RunConfig"]:
        """{folder name: settings} when one command is several commands in sub-folders of
        its folder (the latent dimension study), each trained like a command of its own and
        reported together by the task's report; {} (the default): one command."""
        return {}

    def to_dict(self) -> dict:
        """Every setting, as saved in config.json."""
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        """The settings that tell this run from another (hashed into sweep run ids): every
        field away from its default (``defaults``)."""
        defaults = self.defaults()
        return {k: v for k, v in self.to_dict().items() if v != defaults[k]}

    def differences(self, saved: dict) -> list[str]:
        """The fields in which the settings ``saved`` (the "config" of a config.json) differ
        from these; a field ``saved`` lacks counts as its default (``defaults``), and what
        ``saved`` holds besides the fields (how an older run ran: device, folder, ...) is not
        compared."""
        defaults = self.defaults()
        return [k for k, v in self.to_dict().items() if saved.get(k, defaults[k]) != v]

    def defaults(self) -> dict:
        """Every field at its default; a default derived from the methods (the image task's
        lam grid for each) is derived for these methods, so that it counts as the default."""
        derived = type(self)(methods=list(self.methods)).validate().to_dict()
        return {**derived, "methods": type(self)().methods}

    def _check_params(self) -> None:
        if not isinstance(self.params, dict):
            raise UsageError(f"params must map method names to settings, got {self.params!r}")
        for method, values in self.params.items():
            if method not in self.methods:
                raise UsageError(
                    f"settings given for {method!r}, which is not among the methods "
                    f"({','.join(self.methods)}); add it to --methods or drop its --set"
                )
            if not isinstance(values, dict):
                raise UsageError(f"params.{method} must be a table of settings, got {values!r}")
            method_builder.build(method, values)


def flag(name: str) -> str:
    """The command-line flag of a setting: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def check_list(name: str, value, kind) -> None:
    """A non-empty list whose items are all of ``kind`` (bools excluded)."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
    ):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        what = " or ".join(k.__name__ for k in kinds)
        raise UsageError(
            f"{name} must be a non-empty list of {what}, got {value!r}; "
            f"see {flag(name.split()[0])}"
        )


def check_positive_int(name: str, value) -> None:
    """An integer > 0."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UsageError(f"{name} must be an integer > 0, got {value!r}; pass e.g. {flag(name)} 1")


def check_non_negative_int(name: str, value) -> None:
    """An integer >= 0 (0 usually meaning 'off' or 'all')."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UsageError(f"{name} must be an integer >= 0, got {value!r}; fix {flag(name)}")


def check_positive_float(name: str, value) -> None:
    """A finite number > 0."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a finite number > 0, got {value!r}; fix {flag(name)}")



def lambda_table(entries, methods: list[str]) -> dict[str, list[float]]:
    """The canonical lam lists, {method: [lam, ...]}, from any of the forms users write.

    ``entries`` is a flat list of numbers (every method), a table {method: [...]} (config
    files), or a list of (method or None, [...]) pairs (repeated --lambdas flags, later
    ones win). Values are checked by the config (finite, >= 0).
    """
    if isinstance(entries, dict):
        pairs = list(entries.items())
    elif isinstance(entries, list) and entries and all(isinstance(e, tuple) for e in entries):
        pairs = entries
    else:
        pairs = [(None, entries)]
    table: dict[str, list[float]] = {}
    for method, values in pairs:
        for m in [method] if method is not None else methods:
            table[m] = values
    return table


def check_lambdas(lambdas, methods: list[str], default: list[float]) -> dict[str, list[float]]:
    """Validated {method: lams} with ``default`` for methods not given."""
    if not isinstance(lambdas, dict):
        raise UsageError(f"lambdas must map methods to lists, got {lambdas!r}")
    for method in lambdas:
        if method not in methods:
            raise UsageError(
                f"lambdas given for {method!r}, which is not among the methods "
                f"({','.join(methods)}); add it to --methods"
            )
    table = {m: lambdas.get(m, default) for m in methods}
    for method, values in table.items():
        check_list(f"lambdas for {method}", values, (int, float))
        for lam in values:
            if not math.isfinite(lam) or lam < 0:
                raise UsageError(f"lambda must be a finite number >= 0, got {lam!r} for {method}")
    return {m: [float(lam) for lam in values] for m, values in table.items()}  # 1 is 1.0


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
    """Settings from a .json or .toml file, as a dict of config field names."""
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
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(
            f"config file {path} is not valid {file.suffix[1:].upper()}: {err}"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a table of settings")
    return data


def build(cls: type[RunConfig], file_settings: dict, cli_settings: dict) -> RunConfig:
    """A validated ``cls`` (what is measured) from file settings overridden by command-line
    settings."""
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
        known = ", ".join([*names, *sorted(execution.NAMES)])
        raise UsageError(f"unknown setting {', '.join(unknown)}; known: {known}")
    if merged.get("protocol"):  # defaults < protocol < file < flags
        preset = cls.protocol_settings(merged["protocol"])
        params = preset.pop("params", {})
        merged = {**preset, **merged}
        for method, values in params.items():  # only for the methods that run
            if method in merged.get("methods", []):
                given = merged.setdefault("params", {}).get(method, {})
                merged["params"][method] = {**values, **given}
    if "lambdas" in merged and "lambdas" in names:
        methods = merged.get("methods", cls().methods)
        methods = methods if isinstance(methods, list) else []  # a bad list fails in validate
        merged["lambdas"] = lambda_table(merged["lambdas"], methods)
    return cls(**merged).validate()


def load_spec(path: str) -> dict:
    """A table of settings from a TOML or YAML file (a sweep, a tune's spaces), named after
    the file under "name"."""
    file = Path(path)
    if file.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UsageError(
                "YAML sweep files need pyyaml: pip install pyyaml (or use TOML)"
            ) from None
        if not file.is_file():
            raise UsageError(f"sweep file {path} not found; pass an existing .toml or .yaml file")
        try:
            spec = yaml.safe_load(file.read_text())
        except yaml.YAMLError as err:
            raise UsageError(
                f"sweep file {path} is not valid YAML: {str(err).splitlines()[0]}"
            ) from None
        if not isinstance(spec, dict):
            raise UsageError(f"sweep file {path} must hold a mapping of task, settings and grid")
    else:
        spec = load_file(path)
    return {**spec, "name": file.stem}
