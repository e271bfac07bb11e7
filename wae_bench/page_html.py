"""The HTML of a results page: the document around its sections, sortable tables, links, the
figures' JSON and the one local copy of plotly.js that every page loads.

Every text that comes from a results folder (a method, a setting, a folder or file name, a
verdict) is written escaped (``html.escape``); links are relative paths, percent-encoded. The
figures' specs sit in a ``<script type="application/json">`` element whose <, > and & are \\u
escapes, and a Content-Security-Policy lets the page run only plotly.js and its own script
(by hash) and fetch nothing: no request leaves the machine. plotly.js comes from plotly's
Python package and is copied once beside the pages (``_static/plotly.min.js``), never inlined:
it weighs about 5 MB and the committed results have hundreds of folders.
"""

import base64
import hashlib
import html
import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote

from . import run_files
from .errors import UsageError

STATIC = "_static"
PLOTLY = "plotly.min.js"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1280px;
padding:0 20px 40px;color:#222;background:#fff}
h1{font-size:22px;margin:18px 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}.note{color:#555;max-width:70em}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px}
.fig{border:1px solid #eee;min-height:380px}.fig.wide{grid-column:1/-1}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}table.sortable th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f7f7f7;border:1px solid #eee;padding:8px;overflow:auto;max-height:420px;
font-size:12px}
.imgs{display:flex;flex-wrap:wrap;gap:12px}.imgs figure{margin:0;max-width:100%}
.imgs img{max-width:100%;border:1px solid #eee}figcaption{font-size:12px;color:#555}
ul.verdicts li{margin:2px 0}#no-plotly{color:#b00}.scroll{overflow-x:auto}
"""

SCRIPT = """
(function () {
  function key(row, col) {
    var cell = row.cells[col];
    if (!cell) return [2, ''];
    var v = cell.getAttribute('data-v');
    if (v === null) return [1, cell.textContent.trim().toLowerCase()];
    return v === '' ? [2, 0] : [0, Number(v)];
  }
  function compare(a, b) {
    if (a[0] !== b[0]) return a[0] - b[0];
    return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
  }
  document.querySelectorAll('table.sortable th').forEach(function (th) {
    th.addEventListener('click', function () {
      var table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
      var up = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var ka = key(a, col), kb = key(b, col);
        if (ka[0] !== kb[0]) return ka[0] - kb[0];  /* empty cells last either way */
        return up ? compare(ka, kb) : compare(kb, ka);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  var specs = document.getElementById('wae-figures');
  if (!specs) return;
  if (typeof Plotly === 'undefined') {
    document.getElementById('no-plotly').textContent =
      'The figures need plotly.min.js beside the pages; redraw them with wae-bench report ' +
      'or wae-bench view.';
    return;
  }
  JSON.parse(specs.textContent).forEach(function (f) {
    Plotly.newPlot(f.id, f.data, f.layout, {responsive: true, displaylogo: false});
  });
})();
"""


def script_json(value) -> str:
    """JSON that can sit inside a <script> element: <, > and & (and the two JavaScript line
    separators) as \\u escapes, so no text in it can close the element."""
    out = json.dumps(value, separators=(",", ":"), allow_nan=False)
    for char in "<>&\u2028\u2029":
        out = out.replace(char, f"\\u{ord(char):04x}")
    return out


class Markup(str):
    """HTML made here (a link, a list), written as it is; any other str is escaped."""


def esc(value) -> str:
    """``value`` as HTML text."""
    return value if isinstance(value, Markup) else html.escape(str(value))


def href(target: Path, page_dir: Path) -> str:
    """The relative, percent-encoded URL of ``target`` from a page in ``page_dir``."""
    return quote(Path(os.path.relpath(target, page_dir)).as_posix())


def link(target: Path, page_dir: Path, label) -> Markup:
    """<a> to ``target`` from a page in ``page_dir``, its label escaped."""
    return Markup(f'<a href="{html.escape(href(target, page_dir))}">{esc(label)}</a>')


class Cell:
    """A table cell: its text and the number it sorts by (None: sorts last)."""

    def __init__(self, label, value=None):
        self.label, self.value = label, value


def table(headers, rows, sortable: bool = True, cls: str = "") -> Markup:
    """A table of ``rows`` (cells: text, ``Markup`` or ``Cell``); its headers sort it."""
    classes = " ".join(c for c in ("sortable" if sortable else "", cls) if c)
    out = [f'<div class="scroll"><table class="{classes}"><thead><tr>',
           *(f"<th>{esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]  # fmt: skip
    for row in rows:
        out.append("<tr>")
        for cell in row:
            if isinstance(cell, Cell):
                number = "" if cell.value is None else repr(float(cell.value))
                number = "" if number in ("nan", "inf", "-inf") else number
                out.append(f'<td class="n" data-v="{number}">{esc(cell.label)}</td>')
            else:
                out.append(f"<td>{esc(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return Markup("".join(out))


def figure_divs(figures) -> Markup:
    """The plot containers of ``figures``, each naming how many traces it draws."""
    return Markup('<div class="figs">' + "".join(
        f'<div class="fig{" wide" if f.get("wide") else ""}" id="{esc(f["id"])}" '
        f'data-traces="{len(f["data"])}"></div>'
        for f in figures) + "</div>")  # fmt: skip


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def document(title: str, body: str, page_dir: Path, figures=(), static: Path | None = None):
    """The whole page: ``body`` (HTML), the figures' JSON and, when there are figures, the
    <script> of plotly.js in ``static``, by a relative path from ``page_dir``."""
    policy = ("default-src 'none'; script-src 'self' file: 'sha256-" + _sha256(SCRIPT) + "'; "
              "style-src 'unsafe-inline'; img-src 'self' file: data:; connect-src 'none'; "
              "base-uri 'none'; form-action 'none'")  # fmt: skip
    scripts = ""
    if figures:
        source = html.escape(href(static / PLOTLY, page_dir))
        scripts = (f'<p id="no-plotly"></p><script src="{source}"></script>'
                   f'<script type="application/json" id="wae-figures">'
                   f"{script_json([_spec(f) for f in figures])}</script>")  # fmt: skip
    return ("<!doctype html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n"
            f"{scripts}<script>{SCRIPT}</script>\n</body></html>\n")  # fmt: skip


def _spec(figure: dict) -> dict:
    return {key: figure[key] for key in ("id", "data", "layout")}


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot make the folder {folder} ({err.strerror or err}); pass "
                         "another --out") from None  # fmt: skip


def write_page(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (readers see the old page or the new one)."""
    path = Path(path)
    _mkdir(path.parent)
    run_files.atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def plotly_source() -> Path:
    """plotly.min.js as plotly's Python package ships it."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY


_COPIED: set[Path] = set()  # checked or written by this process


def copy_plotly(static: Path) -> Path:
    """``static``/plotly.min.js, copied (atomically) unless an identical copy is there."""
    source, target = plotly_source(), Path(static) / PLOTLY
    if target.resolve() in _COPIED and target.is_file():
        return target
    same = (target.is_file() and target.stat().st_size == source.stat().st_size
            and target.read_bytes() == source.read_bytes())  # fmt: skip
    if not same:
        _mkdir(target.parent)
        run_files.atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
    _COPIED.add(target.resolve())
    return target


def static_for(folder: Path) -> Path:
    """Where the pages of ``folder`` find plotly.js: the nearest ``_static`` holding it in
    ``folder`` or above (not above a git checkout's root), else the nearest folder named
    ``results`` at or above ``folder`` (the suite's results root), else ``folder`` itself."""
    folder = Path(folder).resolve()
    chain = [folder, *folder.parents]
    for place in chain:
        if (place / STATIC / PLOTLY).is_file():
            return place / STATIC
        if (place / ".git").exists():
            break
    for place in chain:
        if place.name == "results":
            return place / STATIC
        if (place / ".git").exists():
            break
    return folder / STATIC
