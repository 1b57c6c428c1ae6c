"""Self-contained HTML reports: sections of text, tables and figures (PNG data URIs), one file
per page, and an index of every report under `reports/`."""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ebgan_tf.atomic_files import write_text_atomic
from ebgan_tf.configs.settings import settings_rows

REPORT_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; }
th { background: #f4f4f4; }
td.text, th.text { text-align: left; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: .9em; }
img { max-width: 100%; }
.choice { background: #fff7e0; border-left: 4px solid #e0a800; padding: .4em .8em; }
.pass { color: #176f2c; font-weight: bold; } .fail { color: #b00020; font-weight: bold; }
code { background: #f4f4f4; padding: 0 .2em; }
"""


@dataclass
class Section:
    """One part of a report; `blocks` are HTML strings made by the helpers below."""

    title: str
    blocks: list[str] = field(default_factory=list)


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def choice(text: str) -> str:
    """A setting the paper does not give, and the default this suite chose."""
    return f'<p class="choice"><b>Choice (paper silent):</b> {html.escape(text)}</p>'


def verdict(claim: str, holds: bool) -> str:
    label = '<span class="pass">holds</span>' if holds else '<span class="fail">does not hold</span>'
    return f"<p>Claim: {html.escape(claim)} — {label}.</p>"


def table(rows: list[dict], columns: list[str] | None = None, float_format: str = "{:.3f}",
          css_class: str = "") -> str:
    """An HTML table from a list of dicts (or a pandas DataFrame's `to_dict('records')`)."""
    if not rows:
        return "<p><i>(no rows)</i></p>"
    columns = columns or list(rows[0])

    def cell(value):
        if isinstance(value, (float, np.floating)):
            return "<td>" + (float_format.format(value) if np.isfinite(value) else str(value)) + "</td>"
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return f"<td>{value}</td>"
        return f'<td class="text">{html.escape(str(value))}</td>'

    head = "".join(f'<th class="text">{html.escape(str(c))}</th>' for c in columns)
    body = "".join("<tr>" + "".join(cell(r.get(c, "")) for c in columns) + "</tr>" for r in rows)
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def settings_table(config, sources=("recalled", "choice"), origins: dict | None = None) -> str:
    """The settings of `config` whose source is in `sources` (`ebgan_tf.configs.settings`), with
    the values the run used and why: a report's "choices where the paper is silent".

    `origins`: {setting: (source, why)} where an experiment's value has another origin than the
    field's default (e.g. a margin chosen for MNIST rather than recalled)."""
    rows = [{**row, **dict(zip(("source", "why"), (origins or {}).get(row["setting"], ())))}
            for row in settings_rows(config, sources)]
    return table(rows, ["setting", "value", "source", "why"], float_format="{:.6g}",
                 css_class="settings")


def figure(png_path: str | os.PathLike, caption: str = "") -> str:
    """Embeds a PNG file as a data URI, so the report is one self-contained file."""
    data = base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
    alt = html.escape(caption or Path(png_path).stem)
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">{cap}</figure>'


def write_report(output_dir: str | os.PathLike, title: str, sections: list[Section],
                 provenance_info: dict, subtitle: str = "", filename: str = "index.html") -> Path:
    """Writes `<output_dir>/<filename>`, then refreshes the index of reports one folder up.

    The index one folder up is written only where it is a folder of reports (the suite's
    `reports/`, or a folder that already has an index), never into an arbitrary parent.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{html.escape(title)}</title><style>{REPORT_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        parts.append(paragraph(subtitle))
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(section.blocks)
    parts.append("<h2>Provenance</h2>")
    parts.append(table([{"what": k, "value": v} for k, v in provenance_info.items()]))
    parts.append("</body></html>")
    path = output_dir / filename
    write_text_atomic(path, "\n".join(parts))
    parent = output_dir.resolve().parent
    if parent.name == "reports" or (parent / "index.html").is_file():
        write_reports_index(parent)
    return path


def write_reports_index(reports_dir: str | os.PathLike) -> Path:
    """`<reports_dir>/index.html` linking every report page `*/*.html` below it, with its title.

    Each folder's `index.html` comes first, then its other pages (e.g. fig2/fig3.html).
    """
    reports_dir = Path(reports_dir)
    rows = []
    pages = sorted(reports_dir.glob("*/*.html"),
                   key=lambda p: (p.parent.name, p.name != "index.html", p.name))
    for report in pages:
        match = re.search(r"<title>(.*?)</title>", report.read_text(encoding="utf-8", errors="replace"))
        title = html.unescape(match.group(1)) if match else report.parent.name
        href = f"{report.parent.name}/{report.name}"
        rows.append(f'<li><a href="{html.escape(href)}">{html.escape(title)}</a></li>')
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>ebgan_tf reports</title><style>{REPORT_CSS}</style></head><body>"
            f"<h1>ebgan_tf reports</h1><ul>{''.join(rows)}</ul></body></html>")
    path = reports_dir / "index.html"
    write_text_atomic(path, page)
    return path
