"""Checks that the docs' comparisons and numbers come from committed result files.

Three conventions, all HTML comments, so GitHub renders only the text between them (paths are
relative to the repository root; a marker inside a code block or inline code is not a marker):

* A quoted verdict. The text between the markers must be, after whitespace normalisation, part
  of one verdict line of the file (a list item under a line starting "Verdicts")::

      <!-- verdict: results/latent/reference/summary.md -->moca is lower than mmd by 0.00431
      [0.00389, 0.00477], P = 1.00<!-- /verdict -->

* A number. The file is a CSV (or JSON: the object, or with ``records=KEY`` the list under
  KEY, flattened with dotted column names); every other ``key=value`` picks the row(s).
  ``agg=mean|median|min|max|sum|count`` reduces several rows (otherwise exactly one must match),
  ``scale=F`` multiplies, ``format=SPEC`` (Python's format spec) must give the text exactly;
  without it the text must be the value rounded to the decimals the text shows::

      <!-- number: results/latent/reference/summary.csv method=moca column=swd_epoch_80_mean
      format=.3g -->0.00707<!-- /number -->

* A generated block, markers on lines of their own (``--write`` puts blank lines around the
  content, so tables and lists render as such); its content is the named part of the file:
  ``section=Verdicts`` (the verdict lists), ``section=TITLE`` (the lines under that heading),
  ``table=N`` (the N-th table) or, with neither, the whole file::

      <!-- generated: results/latent/reference/summary.md table=1 -->

      | method | ... |

      <!-- /generated -->

Verdict and number markers sit inside a sentence and must not start a line: a line that
begins with ``<!--`` starts an HTML block in GitHub's Markdown and ends the paragraph.

Every other sentence of a checked page that holds one of ``COMPARATIVE_PHRASES`` is an
unmarked comparison, unless it carries ``<!-- not-a-comparison -->`` (a true negative, e.g.
"a lam lower than 10"; the report counts these).

``python -m tests.helpers.claims README.md docs/*.md`` checks and exits 1 on a problem, one
line each (``file:line: kind: message``); ``--write`` first rewrites the generated blocks.
"""

import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Words that compare two methods. Matched as whole words, case-insensitively, in the prose of
# README.md and docs/ outside code, markers and generated blocks: comparatives, rankings and
# the inflections the docs have used ("SSW beat MoCA", "is far behind", "is ahead at", "MMD is
# best", "CWAE tracks MMD").
COMPARATIVE_PHRASES = (
    "lower than", "higher than", "better than", "worse than", "faster than", "slower than",
    "beat", "beats", "outperform", "outperforms", "outperformed", "ties", "tied",
    "no clear difference", "clearly", "survives", "survived", "far behind", "ahead",
    "is best", "is the best", "best of", "worst", "lowest", "highest", "tracks", "overtakes",
    "matches it",
)  # fmt: skip
# A verdict quotes one of these files; sweep.md is a sweep's summary.
VERDICT_FILES = ("summary.md", "tune.md", "sweep.md")
OPT_OUT = "<!-- not-a-comparison -->"

_PHRASE = re.compile(
    r"\b(" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in COMPARATIVE_PHRASES) + r")\b",
    re.I,
)
_SPAN = re.compile(r"<!--\s*(verdict|number):\s*(.*?)\s*-->(.*?)<!--\s*/\1\s*-->", re.S)
_OPEN = re.compile(r"<!--\s*(verdict|number|generated):")
_LINE_START = re.compile(r"^[ \t]*<!--\s*(/?verdict|/?number|not-a-comparison)\b", re.M)
_BLOCK = re.compile(
    r"^[ \t]*<!--\s*generated:\s*(.*?)\s*-->[ \t]*\n(.*?)^[ \t]*<!--\s*/generated\s*-->[ \t]*$",
    re.S | re.M,
)
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.S | re.M)
_CODE = re.compile(r"(`+)([^\n]+?)\1")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
_SENTENCE_END = re.compile(r"[.!?][)\"'*_]*\s+(?=[A-Z(\[\"'*`])")
_ABBREVIATION = re.compile(r"\b(e\.g|i\.e|vs|cf|al|Fig|Eq|Sec)\.$")
_AGGREGATES = {"mean": statistics.fmean, "median": statistics.median, "min": min, "max": max,
               "sum": sum, "count": len}


class ClaimError(Exception):
    """A marker that no committed file backs; the message says why."""


@dataclass(frozen=True)
class Problem:
    """One failed check, printed as ``path:line: kind: message``."""

    path: str
    line: int
    kind: str
    message: str

    def __str__(self):
        return f"{self.path}:{self.line}: {self.kind}: {self.message}"


@dataclass
class Report:
    """The problems of the checked pages, and where a sentence opted out of the lint."""

    pages: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    opt_outs: list[tuple[str, int]] = field(default_factory=list)

    def extend(self, other: "Report"):
        self.pages += other.pages
        self.problems += other.problems
        self.opt_outs += other.opt_outs

    def tally(self) -> list[str]:
        """One line per page: its unmarked comparisons, other problems and opt-outs."""
        pages = self.pages
        unmarked = Counter(p.path for p in self.problems if p.kind == "unmarked")
        other = Counter(p.path for p in self.problems if p.kind != "unmarked")
        opted = Counter(p for p, _ in self.opt_outs)
        return [f"{page}: {unmarked[page]} unmarked comparisons, {other[page]} other problems, "
                f"{opted[page]} opt-outs" for page in pages]  # fmt: skip


# ---- reading the result files -------------------------------------------------------------


def normalize(text: str) -> str:
    """``text`` with every run of whitespace made one space, and stripped."""
    return " ".join(text.split())


def verdict_lists(text: str) -> list[list[str]]:
    """The raw lines of each list that follows a line starting with "Verdicts" (or naming
    its family, "Classifier FD verdicts:").

    A list item starts with "- "; blank and indented lines keep the list open (an indented
    line continues the item before it); any other line closes it.
    """
    lists, current = [], None
    for line in text.splitlines():
        if line.startswith("Verdicts") or re.match(r"[A-Z][\w ]* verdicts:$", line):
            current = []
            lists.append(current)
        elif current is None or not line.strip():
            continue
        elif line.startswith("- ") or (current and line[0] in " \t"):
            current.append(line)
        elif current:
            current = None
    return [lines for lines in lists if lines]


def verdict_lines(path: Path) -> list[str]:
    """Each verdict of ``path`` as one normalised line, without its "- "."""
    items = []
    for lines in verdict_lists(read(path)):
        for line in lines:
            if line.startswith("- "):
                items.append(line[2:])
            else:
                items[-1] += " " + line
    return [normalize(item) for item in items]


def section(path: Path, section_name: str | None = None, table: int | None = None) -> str:
    """The part of ``path`` that a generated block names (see the module's docstring)."""
    text = read(path)
    if table is not None:
        return _table(text, table, path)
    if section_name is None:
        return text.strip("\n")
    if section_name == "Verdicts":
        lists = verdict_lists(text)
        if not lists:
            raise ClaimError(f"{path.name} has no verdict list")
        return "\n\n".join("\n".join(lines) for lines in lists)
    return _under_heading(text, section_name, path)


def _table(text: str, n: int, path: Path) -> str:
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                tables.append(current)
            current.append(line)
        else:
            current = None
    if not 1 <= n <= len(tables):
        raise ClaimError(f"{path.name} has {len(tables)} tables, not a table {n}")
    return "\n".join(tables[n - 1])


def _under_heading(text: str, title: str, path: Path) -> str:
    lines, level, body = text.splitlines(), None, []
    for line in lines:
        heading = re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if heading and level is not None and len(heading.group(1)) <= level:
            break
        if level is not None:
            body.append(line)
        elif heading and normalize(heading.group(2)) == normalize(title):
            level = len(heading.group(1))
    if level is None:
        raise ClaimError(f"{path.name} has no heading {title!r}")
    return "\n".join(body).strip("\n")


def table_value(path: Path, options: dict[str, str]) -> float:
    """The number a number marker names: its rows of ``path`` picked, reduced and scaled."""
    options = dict(options)
    column = options.pop("column", None)
    agg = options.pop("agg", None)
    scale = float(options.pop("scale", 1))
    options.pop("format", None)
    if column is None:
        raise ClaimError("a number marker needs column=NAME")
    frame = _frame(path, options.pop("records", None))
    if column not in frame.columns:
        raise ClaimError(f"{path.name} has no column {column!r}")
    for key, want in options.items():
        if key not in frame.columns:
            raise ClaimError(f"{path.name} has no column {key!r}")
        frame = frame[[_same(cell, want) for cell in frame[key]]]
    values = [float(cell) for cell in frame[column]]
    if agg is None and len(values) != 1:
        raise ClaimError(f"{len(values)} rows of {path.name} match {options} (give agg=...)")
    if agg is not None and agg not in _AGGREGATES:
        raise ClaimError(f"agg must be one of {', '.join(_AGGREGATES)}")
    if not values:
        raise ClaimError(f"no row of {path.name} matches {options}")
    return float(values[0] if agg is None else _AGGREGATES[agg](values)) * scale


def _frame(path: Path, records: str | None):
    import pandas as pd  # only number markers need it

    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if path.suffix != ".json":
        raise ClaimError(f"a number comes from a .csv or .json file, not {path.name}")
    data = json.loads(read(path))
    for key in records.split(".") if records else []:
        data = data[int(key)] if isinstance(data, list) else data.get(key)
    if data is None:
        raise ClaimError(f"{path.name} has no {records!r}")
    return pd.json_normalize(data).astype(str)


def _same(cell: str, want: str) -> bool:
    """Whether a table cell equals a filter's value, as text or as numbers (100 == 100.0)."""
    if cell == want:
        return True
    try:
        return float(cell) == float(want)
    except ValueError:
        return False


def read(path: Path) -> str:
    """The text of ``path``; a missing file is a ClaimError."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClaimError(f"no file {path}") from None


def tracked_files(root: Path) -> set[str] | None:
    """The paths git tracks in ``root``, or None when ``root`` is not a checkout's top."""
    top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True)  # fmt: skip
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != Path(root).resolve():
        return None
    result = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True)
    return set(result.stdout.decode().split("\0")) - {""}


# ---- checking one marker ----------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """A verdict, number or generated marker of a page: its file, options and quoted text."""

    kind: str
    source: str
    options: dict[str, str]
    text: str
    start: int
    end: int


def _parse(kind: str, head: str, text: str, start: int, end: int) -> Marker:
    words = shlex.split(head)
    if not words or "=" in words[0]:
        raise ClaimError(f"a {kind} marker starts with the file it quotes")
    bad = [word for word in words[1:] if "=" not in word]
    if bad:
        raise ClaimError(f"expected key=value, got {bad[0]!r}")
    options = dict(word.split("=", 1) for word in words[1:])
    return Marker(kind, words[0], options, text, start, end)


def source_path(marker: Marker, root: Path, tracked: set[str] | None) -> Path:
    """The file a marker names, which must exist and, in a git checkout, be tracked."""
    path = root / marker.source
    if not path.is_file():
        raise ClaimError(f"no file {marker.source}")
    if tracked is not None and Path(marker.source).as_posix() not in tracked:
        raise ClaimError(f"{marker.source} is not committed")
    return path


def check_verdict(marker: Marker, path: Path):
    """A verdict marker's text must be part of one verdict line of its file."""
    if path.name not in VERDICT_FILES:
        raise ClaimError(f"verdicts are quoted from {', '.join(VERDICT_FILES)}, not {path.name}")
    quote = normalize(marker.text)
    if not quote:
        raise ClaimError("empty verdict quote")
    if not any(quote in line for line in verdict_lines(path)):
        raise ClaimError(f"no verdict line of {marker.source} contains {quote!r}")


def check_number(marker: Marker, path: Path):
    """A number marker's text must be its value, formatted or rounded as the text shows."""
    value, shown = table_value(path, marker.options), normalize(marker.text)
    spec = marker.options.get("format")
    expected = format(value, spec) if spec is not None else _rounded_like(value, shown)
    if shown != expected:
        raise ClaimError(f"{marker.source} gives {expected}, the text says {shown!r}")


def _rounded_like(value: float, shown: str) -> str:
    """``value`` rounded to the decimals that ``shown`` has (thousands commas allowed)."""
    digits = re.fullmatch(r"-?[\d,]*(?:\.(\d+))?", shown)
    if not digits or not shown.strip("-,."):
        raise ClaimError(f"{shown!r} is not a plain number (give format=...)")
    decimals = len(digits.group(1) or "")
    return format(value, f"{',' if ',' in shown else ''}.{decimals}f")


def generated_text(marker: Marker, path: Path) -> str:
    """What a generated block should hold: the part of its file that the marker names."""
    table = marker.options.get("table")
    return section(path, marker.options.get("section"), int(table) if table else None)


# ---- checking a page ----------------------------------------------------------------------


def blank(text: str, spans) -> str:
    """``text`` with each (start, end) span made spaces, keeping newlines (and offsets)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = [c if c == "\n" else " " for c in text[start:end]]
    return "".join(chars)


def without_code(text: str) -> str:
    """``text`` with fenced code blocks and the inside of inline code blanked."""
    text = blank(text, [m.span() for m in _FENCE.finditer(text)])
    return blank(text, [m.span(2) for m in _CODE.finditer(text)])


def markers(text: str) -> tuple[list[Marker], list[tuple[int, str]]]:
    """The page's markers, and (offset, message) for each it could not read or left open."""
    visible, found, errors = without_code(text), [], []
    matches = [(m, "generated", m.group(1), m.span(2)) for m in _BLOCK.finditer(visible)]
    matches += [(m, m.group(1), m.group(2), m.span(3)) for m in _SPAN.finditer(visible)]
    for match, kind, head, (start, end) in matches:
        body = text[start:end]
        try:
            found.append(_parse(kind, head, body, *match.span()))
        except (ClaimError, ValueError) as error:
            errors.append((match.start(), str(error)))
    errors += [(m.start(), "an inline marker must not start a line: GitHub would end the "
                "paragraph there") for m in _LINE_START.finditer(visible)]  # fmt: skip
    starts = {match.start() for match, *_ in matches}
    for opening in _OPEN.finditer(visible):
        line_start = visible.rfind("\n", 0, opening.start()) + 1
        if opening.start() not in starts and line_start not in starts:
            errors.append((opening.start(), f"unclosed {opening.group(1)} marker"))
    return found, errors


def line_of(text: str, offset: int) -> int:
    """The 1-based line of ``offset`` in ``text``."""
    return text.count("\n", 0, offset) + 1


def check_markers(text: str, name: str, root: Path, tracked: set[str] | None) -> list[Problem]:
    """Every marker of a page against the file it names."""
    found, errors = markers(text)
    problems = [Problem(name, line_of(text, at), "marker", message) for at, message in errors]
    checks = {"verdict": check_verdict, "number": check_number, "generated": _check_generated}
    for marker in found:
        try:
            checks[marker.kind](marker, source_path(marker, root, tracked))
        except (ClaimError, ValueError, KeyError) as error:
            problems.append(Problem(name, line_of(text, marker.start), marker.kind, str(error)))
    return problems


def _check_generated(marker: Marker, path: Path):
    if marker.text.strip("\n") != generated_text(marker, path).strip("\n"):
        raise ClaimError(f"out of date with {marker.source} (run with --write)")


def prose(text: str) -> str:
    """The page with all but its prose blanked: code, comments, link targets, markers' spans
    and generated blocks."""
    text = without_code(text)
    spans = [m.span() for pattern in (_BLOCK, _SPAN, _COMMENT, _LINK_TARGET)
             for m in pattern.finditer(text)]  # fmt: skip
    return blank(text, spans)


def units(visible: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph, list item, heading and table body cell of a page."""
    found, start, offset, header_next = [], None, 0, True
    for line in visible.splitlines(keepends=True):
        stripped = line.strip()
        begins = re.match(r"(#+\s|[-*+]\s|\d+\.\s|>)", stripped)
        if start is not None and (not stripped or begins or stripped.startswith("|")):
            found.append((start, offset))
            start = None
        if stripped.startswith("|"):
            if not header_next and not re.fullmatch(r"[|:\-\s]+", stripped):
                bars = [offset + i for i, c in enumerate(line) if c == "|"]
                found += [(a + 1, b) for a, b in zip(bars, bars[1:], strict=False)]
            header_next = False
        else:
            header_next = True
            if stripped and start is None:
                start = offset
        offset += len(line)
    if start is not None:
        found.append((start, offset))
    return found


def sentences(visible: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each sentence of the unit ``visible[start:end]``."""
    ends = [m.end() for m in _SENTENCE_END.finditer(visible, start, end)
            if not _ABBREVIATION.search(visible, start, m.start() + 1)]  # fmt: skip
    cuts = [start, *ends, end]
    return list(zip(cuts, cuts[1:], strict=False))


def unmarked_comparisons(text: str, name: str) -> Report:
    """Each sentence of the page's prose that holds a comparative phrase, or opts out."""
    visible, report = prose(text), Report()
    for unit in units(visible):
        for start, end in sentences(visible, *unit):
            phrases = list(_PHRASE.finditer(visible, start, end))
            if not phrases:
                continue
            line = line_of(text, phrases[0].start())
            if OPT_OUT in text[start:end]:
                report.opt_outs.append((name, line))
                continue
            words = ", ".join(dict.fromkeys(normalize(p.group(0)).lower() for p in phrases))
            excerpt = normalize(_COMMENT.sub("", text[start:end]))
            excerpt = excerpt if len(excerpt) <= 100 else excerpt[:97] + "..."
            report.problems.append(Problem(name, line, "unmarked", f"{words}: {excerpt!r}"))
    return report


def check_text(text: str, name: str, root: Path = ROOT, tracked: set[str] | None = None) -> Report:
    """All checks of one page's text; ``name`` is how problems name the page."""
    report = unmarked_comparisons(text, name)
    report.pages = [name]
    report.problems = check_markers(text, name, root, tracked) + report.problems
    report.problems.sort(key=lambda p: p.line)
    return report


def check_files(paths, root: Path = ROOT, tracked: set[str] | None = None) -> Report:
    """All checks of the pages ``paths``."""
    report = Report()
    for path in map(Path, paths):
        report.extend(check_text(read(path), _shown(path), root, tracked))
    return report


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---- refreshing generated blocks ----------------------------------------------------------


def refresh(text: str, root: Path = ROOT) -> str:
    """``text`` with every generated block's content rewritten from its file (a block whose
    file cannot be read is left as it is; the check reports it)."""
    found, _ = markers(text)
    for marker in sorted(found, key=lambda m: m.start, reverse=True):
        if marker.kind != "generated":
            continue
        try:
            content = generated_text(marker, source_path(marker, root, None))
        except (ClaimError, ValueError):
            continue
        old = text[marker.start:marker.end]
        opening, closing = old.split("\n", 1)[0], old.rsplit("\n", 1)[1]
        text = text[:marker.start] + f"{opening}\n\n{content}\n\n{closing}" + text[marker.end:]
    return text


def write_generated(paths, root: Path = ROOT) -> list[Path]:
    """Rewrite the generated blocks of the pages ``paths`` in place; the pages changed."""
    changed = []
    for path in map(Path, paths):
        old = read(path)
        new = refresh(old, root)
        if new != old:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv=None) -> int:
    """Check the pages (after ``--write`` has refreshed their generated blocks); 1 on a
    problem."""
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.claims",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("pages", nargs="+", help="Markdown files, e.g. README.md docs/*.md")
    parser.add_argument("--write", action="store_true", help="refresh generated blocks first")
    parser.add_argument("--root", type=Path, default=ROOT, help="where marker paths start")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_generated(args.pages, args.root):
            print(f"rewrote generated blocks of {path}")
    report = check_files(args.pages, args.root, tracked_files(args.root))
    for problem in report.problems:
        print(problem)
    for line in report.tally():
        print(line)
    print(f"{len(report.problems)} problems, {len(report.opt_outs)} opt-outs")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
