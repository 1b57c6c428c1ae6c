"""Self-contained HTML reports (figures embedded as PNG data URIs), sample grids, provenance.

Every reproduction writes `<output_dir>/index.html` with `write_report`, made of sections that
hold text, tables and figures; `write_reports_index` links all reports under a folder. The
figures are also written beside the report as PNG files so they can be reused on their own.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


def table(rows: list[dict], columns: list[str] | None = None, float_format: str = "{:.3f}") -> str:
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
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(png_path: str | os.PathLike, caption: str = "") -> str:
    """Embeds a PNG file as a data URI, so the report is one self-contained file."""
    data = base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
    alt = html.escape(caption or Path(png_path).stem)
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">{cap}</figure>'


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Saves a matplotlib figure as PNG (atomically) and closes it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def image_grid(images: np.ndarray, rows: int, cols: int, padding: int = 2) -> np.ndarray:
    """Tiles images [N, H, W, C] in [-1, 1] into a uint8 [rows*(H+p)+p, cols*(W+p)+p, C] grid."""
    images = np.asarray(images, np.float32)[: rows * cols]
    n, h, w, c = images.shape
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), 255, np.uint8)
    pixels = np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y:y + h, x:x + w] = pixels[i]
    return grid


def save_image_grid(images: np.ndarray, rows: int, cols: int, path: str | os.PathLike,
                    scale: int = 1) -> Path:
    """Writes a sample grid as a PNG (grey for one channel), upscaled by `scale` (nearest)."""
    import matplotlib.image

    grid = image_grid(images, rows, cols)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    if grid.shape[-1] == 1:
        matplotlib.image.imsave(buffer, grid[..., 0], cmap="gray", vmin=0, vmax=255, format="png")
    else:
        matplotlib.image.imsave(buffer, grid, format="png")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes via a temporary file and rename, so a reader never sees a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def append_run_log(output_dir: str | os.PathLike, record: dict) -> list[dict]:
    """Appends one invocation to `<output_dir>/runs.jsonl`; returns them all, oldest first."""
    path = Path(output_dir) / "runs.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def provenance(wall_time_s: float | None = None, **extra) -> dict:
    """Where and how a result was made: git commit, library versions, hardware, time."""
    import keras
    import tensorflow as tf

    try:
        repo = Path(__file__).resolve().parents[1]
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        commit = (commit + ("+dirty" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    gpus = tf.config.list_physical_devices("GPU")
    info = {
        "git_commit": commit,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores"
                    + (f", {len(gpus)} GPU(s)" if gpus else ", no GPU"),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
    }
    if wall_time_s is not None:
        info["wall_time"] = f"{wall_time_s / 60:.1f} min"
    info.update({k: str(v) for k, v in extra.items()})
    return info


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
    import re

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
