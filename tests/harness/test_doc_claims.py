"""The docs' claims checker (tests/helpers/claims.py): quoted verdicts, numbers and generated
blocks against result files, and the lint of unmarked comparisons; then the repository's own
README.md and docs/ against the committed results."""

import textwrap
from pathlib import Path

import pytest

from tests.helpers import claims

ROOT = Path(__file__).resolve().parents[2]

SUMMARY = textwrap.dedent("""\
    # A run

    | method | SWD |
    |---|---|
    | moca | 0.00707 |
    | mmd | 0.0114 |

    Verdicts:

    - SWD at epoch 80: moca is lower than mmd by 0.00431 [0.00389, 0.00477], P = 1.00
    - SWD at epoch 80: no clear difference between mmd and cwae (0.0002 [-0.0001, 0.0004],
      P = 0.64)
    """)
CSV = ("method,lam,swd_80_mean,seconds\n"
       "moca,1,0.0070704248,1500.4\nmoca,10,0.0061,3\nmmd,1,0.0114,7\n")
VERDICT = "<!-- verdict: results/run/summary.md -->{}<!-- /verdict -->"
NUMBER = "<!-- number: results/run/summary.csv {} -->{}<!-- /number -->"


@pytest.fixture
def root(tmp_path):
    run = tmp_path / "results" / "run"
    run.mkdir(parents=True)
    (run / "summary.md").write_text(SUMMARY)
    (run / "summary.csv").write_text(CSV)
    (run / "other.md").write_text(SUMMARY)
    return tmp_path


def problems(text, root, tracked=None):
    return claims.check_text(text, "page.md", root, tracked).problems


# ---- verdicts -----------------------------------------------------------------------------


def test_a_quoted_verdict_line_passes(root):
    line = "SWD at epoch 80: moca is lower than mmd by 0.00431 [0.00389, 0.00477], P = 1.00"
    assert problems(f"As the run says, {VERDICT.format(line)}.\n", root) == []


def test_part_of_a_verdict_across_lines_passes(root):
    quote = "moca is lower\nthan mmd by 0.00431"
    continued = "no clear difference between mmd and cwae (0.0002 [-0.0001, 0.0004], P = 0.64)"
    text = f"At epoch 80 {VERDICT.format(quote)}, and {VERDICT.format(continued)}.\n"
    assert problems(text, root) == []


def test_a_verdict_the_file_does_not_print_fails_with_one_line_naming_the_page_and_line(root):
    text = "Intro.\n\nAt epoch 80 " + VERDICT.format("mmd is lower than moca") + ".\n"
    [problem] = problems(text, root)
    assert (problem.path, problem.line, problem.kind) == ("page.md", 3, "verdict")
    assert str(problem).startswith("page.md:3: verdict: no verdict line of results/run/summary.md")
    assert "\n" not in str(problem)


def test_a_verdict_from_a_table_row_rather_than_a_verdict_line_fails(root):
    [problem] = problems("It is " + VERDICT.format("| moca | 0.00707 |") + "\n", root)
    assert problem.kind == "verdict"


def test_a_verdict_naming_a_missing_file_fails(root):
    text = "So <!-- verdict: results/gone/summary.md -->moca is lower than mmd<!-- /verdict -->\n"
    [problem] = problems(text, root)
    assert problem.kind == "verdict" and "no file results/gone/summary.md" in problem.message


def test_a_verdict_from_a_file_that_is_not_a_summary_fails(root):
    text = "So <!-- verdict: results/run/other.md -->moca is lower than mmd<!-- /verdict -->\n"
    [problem] = problems(text, root)
    assert "not other.md" in problem.message


def test_a_verdict_from_an_untracked_file_fails(root):
    text = "So " + VERDICT.format("moca is lower than mmd") + "\n"
    assert problems(text, root, tracked={"results/run/summary.md"}) == []
    [problem] = problems(text, root, tracked={"results/other/summary.md"})
    assert "not committed" in problem.message


def test_an_unclosed_marker_fails(root):
    text = "So <!-- verdict: results/run/summary.md -->moca is lower than mmd.\n"
    [problem, unmarked] = problems(text, root)
    assert problem.kind == "marker" and "unclosed verdict" in problem.message
    assert unmarked.kind == "unmarked"


@pytest.mark.parametrize("text", [
    VERDICT.format("moca is lower than mmd") + " at epoch 80.\n",
    "At epoch 80 " + VERDICT.format("moca is lower than mmd").replace("<!-- /", "\n<!-- /"),
    "A lam lower than\n<!-- not-a-comparison --> 10.\n",
])  # fmt: skip
def test_an_inline_marker_at_the_start_of_a_line_fails(root, text):
    assert "must not start a line" in problems(text, root)[0].message


def test_a_marker_inside_code_is_not_checked(root):
    text = "```\n<!-- verdict: results/gone/summary.md -->x<!-- /verdict -->\n```\n"
    assert problems(text, root) == []


def test_verdict_lines_are_every_list_item_after_a_verdicts_line():
    text = "Verdicts (new wording):\n\n- a beats b\n- c\n  continued\n\nNot a verdict.\n\n- d\n"
    assert claims.verdict_lists(text) == [["- a beats b", "- c", "  continued"]]


# ---- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "text"), [
    ("method=moca lam=1 column=swd_80_mean format=.3g", "0.00707"),
    ("method=moca lam=1.0 column=swd_80_mean", "0.00707"),  # rounded as the text shows
    ("method=moca lam=1 column=seconds", "1,500"),
    ("method=moca column=swd_80_mean agg=count", "2"),
    ("method=moca column=swd_80_mean agg=max scale=1000 format=.2f", "7.07"),
])  # fmt: skip
def test_a_number_that_matches_its_file_passes(root, options, text):
    assert problems(f"MoCA ends at {NUMBER.format(options, text)}.\n", root) == []


@pytest.mark.parametrize(("options", "text", "message"), [
    ("method=moca lam=1 column=swd_80_mean format=.3g", "0.00708", "gives 0.00707"),
    ("method=moca lam=1 column=swd_80_mean", "0.0072", "gives 0.0071"),
    ("method=moca column=swd_80_mean", "0.00707", "2 rows"),
    ("method=gan column=swd_80_mean", "0.00707", "0 rows"),
    ("method=moca lam=1 column=nope", "0.00707", "no column 'nope'"),
])  # fmt: skip
def test_a_number_that_does_not_match_fails(root, options, text, message):
    [problem] = problems(f"Intro.\nMoCA ends at {NUMBER.format(options, text)}.\n", root)
    assert (problem.line, problem.kind) == (2, "number") and message in problem.message


def test_a_number_from_json_records(root):
    json_file = root / "results" / "run" / "timing.json"
    json_file.write_text('{"benchmarks": [{"name": "swd", "stats": {"median": 0.00024}}]}')
    marker = ("<!-- number: results/run/timing.json records=benchmarks name=swd "
              "column=stats.median scale=1000 -->{}<!-- /number -->")  # fmt: skip
    assert problems("A step: " + marker.format("0.24") + " ms\n", root) == []
    assert len(problems("A step: " + marker.format("0.25") + " ms\n", root)) == 1


# ---- generated blocks ---------------------------------------------------------------------


def generated(selector, content):
    return f"Before.\n\n<!-- generated: results/run/summary.md {selector} -->\n\n{content}\n\n" \
           "<!-- /generated -->\n\nAfter.\n"  # fmt: skip


def test_an_up_to_date_generated_block_passes_and_its_comparisons_are_backed(root):
    verdicts = "\n".join(claims.verdict_lists(SUMMARY)[0])
    assert problems(generated("section=Verdicts", verdicts), root) == []
    table = "| method | SWD |\n|---|---|\n| moca | 0.00707 |\n| mmd | 0.0114 |"
    assert problems(generated("table=1", table), root) == []
    assert problems(generated('section="A run"', SUMMARY.split("\n", 2)[2].strip()), root) == []


def test_an_out_of_date_generated_block_fails_and_write_fixes_it(root, capsys):
    page = root / "page.md"
    page.write_text(generated("section=Verdicts", "- SWD at epoch 80: moca is lower than mmd"))
    args = [str(page), "--root", str(root)]
    assert claims.main(args) == 1
    out = capsys.readouterr().out
    assert f"{page}:3: generated: out of date with results/run/summary.md" in out
    assert claims.main(["--write", *args]) == 0
    assert page.read_text() == generated("section=Verdicts",
                                         "\n".join(claims.verdict_lists(SUMMARY)[0]))
    assert claims.main(args) == 0  # and a second --write changes nothing
    assert claims.write_generated([page], root) == []


def test_a_generated_block_naming_a_missing_part_fails(root):
    [problem] = problems(generated("section=Nowhere", "x"), root)
    assert problem.kind == "generated" and "no heading 'Nowhere'" in problem.message
    [problem] = problems(generated("table=2", "x"), root)
    assert "1 tables, not a table 2" in problem.message


# ---- unmarked comparisons -----------------------------------------------------------------


def test_an_unmarked_comparison_fails(root):
    text = "# Results\n\nIntro line.\nOn this task MoCA is\nlower than MMD. Nothing more.\n"
    [problem] = problems(text, root)
    assert (problem.line, problem.kind) == (5, "unmarked") and "lower than" in problem.message


@pytest.mark.parametrize("text", [
    "* a list item where SWD clearly wins\n",
    "| method | note |\n|---|---|\n| swd | beats sinkhorn |\n",
    "## Why moca outperforms mmd\n",
    "Sinkhorn and SWD are tied\nat epoch 5.\n",
])  # fmt: skip
def test_comparisons_in_lists_table_cells_and_headings_are_found(root, text):
    assert [p.kind for p in problems(text, root)] == ["unmarked"]


@pytest.mark.parametrize("text", [
    "```\nmoca is lower than mmd\n```\n",
    "Run `wae-bench compare --lower-than`.\n",
    "| lower than | higher than |\n|---|---|\n| 1 | 2 |\n",
    generated("section=Verdicts", "\n".join(claims.verdict_lists(SUMMARY)[0])),
    "It is " + VERDICT.format("moca is lower than mmd") + ".\n",
])  # fmt: skip
def test_code_table_headers_generated_blocks_and_quotes_are_not_comparisons(root, text):
    assert problems(text, root) == []


def test_a_comparison_outside_the_quote_in_the_same_sentence_fails(root):
    text = "It is " + VERDICT.format("moca is lower than mmd") + ", and clearly so.\n"
    [problem] = problems(text, root)
    assert problem.kind == "unmarked" and problem.message.startswith("clearly:")


def test_an_opted_out_sentence_passes_and_is_counted(root):
    text = "Use a lam lower than 10 <!-- not-a-comparison --> here. But SWD beats MMD.\n"
    report = claims.check_text(text, "page.md", root)
    assert report.opt_outs == [("page.md", 1)]
    assert [p.message.split(":")[0] for p in report.problems] == ["beats"]
    assert report.tally() == ["page.md: 1 unmarked comparisons, 0 other problems, 1 opt-outs"]


def test_abbreviations_do_not_end_a_sentence(root):
    text = "Note <!-- not-a-comparison -->as in e.g. Table 1, a lam lower than 10 is used.\n"
    report = claims.check_text(text, "page.md", root)
    assert report.problems == [] and len(report.opt_outs) == 1


# ---- the repository -----------------------------------------------------------------------


def test_every_committed_summary_still_has_verdict_lines():
    """Guards the checker against a new summary format that drops the "Verdicts" line."""
    for name in ("latent/reference/summary.md", "tune/latent/tune.md", "sweeps/tau/sweep.md"):
        assert claims.verdict_lines(ROOT / "results" / name), name


def test_repository_docs_are_backed():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    report = claims.check_files(pages, ROOT, claims.tracked_files(ROOT))
    assert not report.problems, "\n".join(map(str, report.problems))
