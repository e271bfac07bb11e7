"""The GPU check's summary: one row per target (measured, limit, met; or "not measured" and
why) and the Markdown page with every section's table, notes, error and log."""

from .check import Check, Section
from .plan import BUDGETS_S, TARGETS


def _fmt(value: float, unit: str) -> str:
    return f"{value:.3g} {unit}".strip() if unit != "x" else f"{value:.2f}x"


def _why_not(check: Check, key: str, title: str, sections: dict[str, Section]) -> str:
    """Why a target has no value: the section's own reason, its failure, or its absence."""
    if key in check.why_not:
        return check.why_not[key]
    if title not in sections:
        return f"the check stopped before section {title!r}"
    if sections[title].status != "ok":
        first = sections[title].error.strip().splitlines()
        return f"section {title!r} failed: {first[0] if first else 'no message'}"
    return "no CUDA in this run" if not check.cuda else f"section {title!r} recorded no value"


def target_rows(check: Check, sections: list[Section]) -> list[dict]:
    """Every target: measured, limit, met (judged on a full CUDA run only), or why not."""
    by_title = {s.title: s for s in sections}
    rows = []
    for t in TARGETS:
        limit = (">= " if t.at_least else "<= ") + _fmt(t.limit, t.unit)
        value, text = check.values.get(t.key, (None, ""))
        if value is None:
            met, verdict = None, "-"
            shown = "not measured: " + _why_not(check, t.key, t.section, by_title)
        else:
            met = value >= t.limit if t.at_least else value <= t.limit
            shown, verdict = text or _fmt(value, t.unit), "yes" if met else "**no**"
            if check.small:
                met, verdict = None, "not judged (small mode)"
        rows.append({"key": t.key, "target": t.name, "measured": shown, "limit": limit,
                     "met": verdict, "value": value, "ok": met, "section": t.section})  # fmt: skip
    return rows


def _table(rows: list[dict], columns: list[str] | None = None) -> list[str]:
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return lines


def markdown(check: Check, sections: list[Section], targets: list[dict], total: float,
             logs: str, finished: bool = True) -> str:  # fmt: skip
    """The summary page; ``logs``: the logs folder as the reader finds it from the page."""
    kind = ("small mode, NOT a GPU measurement" if not check.cuda
            else "small mode (tiny sizes)" if check.small else "full")  # fmt: skip
    lines = [f"# GPU check ({kind})", ""]
    if check.small:
        lines += ["Tiny sizes to prove the check runs end to end; no target is judged. "
                  "CUDA rows read \"no CUDA\" where CUDA was absent.", ""]  # fmt: skip
    failed = [s.title for s in sections if s.status != "ok"]
    state = (f"Finished in {total:.0f} s" if finished else
             f"INCOMPLETE: {len(sections)} of {len(BUDGETS_S)} sections done after {total:.0f} s"
             " (the check is still running or was stopped)")  # fmt: skip
    lines += [f"{state}; sections failed: {', '.join(failed) or 'none'}. Written by "
              "`bash benchmarks/gpu_check.sh` (benchmarks/gpu_check/). Every log, the output "
              f"folders of the commands and the CUDA tests' JUnit XML: `{logs}`.", "",
              "## Targets", ""]  # fmt: skip
    lines += _table(targets, ["target", "measured", "limit", "met"])
    for i, s in enumerate(sections, 1):
        lines += ["", f"## {i}. {s.title}", "",
                  f"{s.status}, {s.seconds:.1f} s (budget {s.budget_s:.0f} s); log: `{s.log}`.",
                  ""]  # fmt: skip
        if s.rows:
            lines += [*_table(s.rows), ""]
        lines += [f"- {note}" for note in s.notes]
        if s.error:
            lines += ["", "Error:", "", "```", s.error.strip(), "```"]
    return "\n".join(lines).rstrip() + "\n"
