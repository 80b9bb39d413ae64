"""A results CSV as one self-contained HTML page that people look at.

``write_report(results_csv, out_html)`` (``batch-runner report`` and ``run
--report``): totals (jobs by status, videos and cost per provider), a gallery
with one tile per job (a playable ``<video>`` of the saved file when there is
one, of the provider's URL otherwise; its prompt, provider, variant, cost and
time; a failed job's tile says why), and the failures grouped by error code
with their rows. No script and no external asset: styles are inline, a
Content-Security-Policy allows nothing but them and the videos. Every value is
HTML-escaped; only http(s) URLs and local files become video sources.
"""

from __future__ import annotations

import html
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from batch_runner.errors import ERROR_CODES, ConfigError

__all__ = ["render_report", "write_report"]

_NEEDED = ("job_id", "row", "name", "variant", "provider", "prompt", "status", "video_url",
           "cost_usd", "cost_credits", "error_code", "error_message", "elapsed_s")
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; "
        "media-src 'self' file: http: https: data: blob:; img-src data:")
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header,section{max-width:1280px;margin:0 auto;padding:16px 24px}
h1{font-size:1.6em;margin:.4em 0}h2{border-bottom:2px solid #d5d9e0;padding-bottom:4px}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #d5d9e0;padding:4px 10px;text-align:left}
td.n{text-align:right}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:16px}
.tile{background:#fff;border:1px solid #d5d9e0;border-radius:8px;overflow:hidden;display:flex;flex-direction:column}
.tile video,.tile .none{width:100%;aspect-ratio:16/9;background:#111;display:block}
.tile .none{display:flex;align-items:center;justify-content:center;color:#fff;font-weight:600}
.tile.failed .none{background:#8a1c1c}.tile.other .none{background:#6b6f78}
.tile .body{padding:8px 12px}.tile .prompt{margin:0 0 6px;white-space:pre-wrap;word-break:break-word}
.meta{color:#555d6b;font-size:.9em;margin:0}.badge{display:inline-block;padding:0 6px;border-radius:4px;background:#e7eaf0}
.failed .badge{background:#f6d5d5}
"""


def _esc(value: object) -> str:
    text = "" if value is None else str(value)
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        text = text[1:]  # undo the results CSV's formula guard for display
    return html.escape(text, quote=True)


def _num(value: str) -> float | None:
    try:
        return float(value) if str(value).strip() else None
    except ValueError:
        return None


def _cost(row: pd.Series) -> str:
    usd, credits = _num(row["cost_usd"]), _num(row["cost_credits"])
    parts = ([f"${usd:.2f}"] if usd is not None else []) + ([f"{credits:g} credits"] if credits is not None else [])
    return " / ".join(parts) or ("price unknown" if row["status"] == "succeeded" else "no charge")


def _source(row: pd.Series, report_dir: Path) -> str | None:
    """The video's src: the saved file (relative to the report), else an http(s) URL."""
    local = str(row.get("local_path", "") or "")
    if local and Path(local).is_file():
        try:
            return quote(os.path.relpath(local, report_dir).replace(os.sep, "/"))
        except ValueError:  # another drive
            return Path(local).resolve().as_uri()
    url = str(row["video_url"] or "")
    return url if url.lower().startswith(("http://", "https://")) else None


def _tile(row: pd.Series, report_dir: Path) -> str:
    status = str(row["status"])
    src = _source(row, report_dir) if status == "succeeded" else None
    kind = "ok" if status == "succeeded" else "failed" if status == "failed" else "other"
    if src:
        media = f'<video controls preload="metadata" src="{_esc(src)}"></video>'
    else:
        why = row["error_code"] or ("no video URL" if status == "succeeded" else status)
        media = f'<div class="none">{_esc(status)}: {_esc(why)}</div>'
    elapsed = _num(row["elapsed_s"])
    time = f"{elapsed:.0f} s" if elapsed is not None else "-"
    return (
        f'<article class="tile {kind}" data-job-id="{_esc(row["job_id"])}">{media}<div class="body">'
        f'<p class="prompt">{_esc(row["prompt"])}</p>'
        f'<p class="meta"><span class="badge">{_esc(status)}</span> {_esc(row["name"])} '
        f'· row {_esc(row["row"])} · variant {_esc(row["variant"])}</p>'
        f'<p class="meta">{_esc(row["provider"])} · {_esc(_cost(row))} · {_esc(time)}</p></div></article>'
    )


def _usd_text(known: float, unknown: int, videos: int) -> str:
    """USD of ``videos`` of which ``unknown`` have no known USD price: never counted as zero."""
    if videos and unknown == videos:
        return "unknown"
    return f"${known:.2f}" + (f" + {unknown} unknown" if unknown else "")


def _totals(frame: pd.DataFrame) -> str:
    counts = frame["status"].value_counts()
    status_rows = "".join(f"<tr><td>{_esc(s)}</td><td class='n'>{int(n)}</td></tr>" for s, n in counts.items())
    done = frame[frame["status"] == "succeeded"]
    rows, all_usd, all_unknown, all_credits = [], 0.0, 0, 0.0
    for provider, group in done.groupby("provider", sort=True):
        usd = [_num(v) for v in group["cost_usd"]]
        credit_values = [c for c in (_num(v) for v in group["cost_credits"]) if c is not None]
        credits = sum(credit_values)
        known = sum(u for u in usd if u is not None)
        unknown = sum(1 for u in usd if u is None)
        all_usd, all_unknown, all_credits = all_usd + known, all_unknown + unknown, all_credits + credits
        rows.append(f"<tr><td>{_esc(provider)}</td><td class='n'>{len(group)}</td>"
                    f"<td class='n'>{_esc(_usd_text(known, unknown, len(group)))}</td>"
                    f"<td class='n'>{f'{credits:g}' if credit_values else '-'}</td></tr>")
    rows.append(f"<tr><th>all</th><th class='n'>{len(done)}</th>"
                f"<th class='n'>{_esc(_usd_text(all_usd, all_unknown, len(done)))}</th>"
                f"<th class='n'>{all_credits:g}</th></tr>")
    seconds = sum(_num(v) or 0.0 for v in done["elapsed_s"])
    return (
        f'<section id="totals"><h2>Totals</h2><p>{len(frame)} jobs; {len(done)} videos; '
        f"{seconds:.0f} s of generation time.</p>"
        f"<table><tr><th>status</th><th>jobs</th></tr>{status_rows}</table><p></p>"
        "<table><tr><th>provider</th><th>videos</th><th>USD</th><th>credits</th></tr>"
        f"{''.join(rows)}</table></section>"
    )


def _failures(frame: pd.DataFrame) -> str:
    bad = frame[frame["status"] != "succeeded"]
    if bad.empty:
        return '<section id="failures"><h2>Failures</h2><p>None: every job succeeded.</p></section>'
    parts = ['<section id="failures"><h2>Failures</h2>']
    for code, group in bad.groupby(bad["error_code"].where(bad["error_code"] != "", bad["status"]), sort=True):
        meaning = ERROR_CODES.get(str(code), "")
        parts.append(f'<h3 class="error-group" data-code="{_esc(code)}">{_esc(code)} ({len(group)})</h3>'
                     f"<p>{_esc(meaning)}</p><table><tr><th>row</th><th>name</th><th>variant</th>"
                     "<th>provider</th><th>status</th><th>message</th></tr>")
        for _, row in group.iterrows():
            parts.append(f"<tr><td>{_esc(row['row'])}</td><td>{_esc(row['name'])}</td><td>{_esc(row['variant'])}</td>"
                         f"<td>{_esc(row['provider'])}</td><td>{_esc(row['status'])}</td>"
                         f"<td>{_esc(row['error_message'])}</td></tr>")
        parts.append("</table>")
    return "".join(parts) + "</section>"


def render_report(frame: pd.DataFrame, report_dir: Path, title: str) -> str:
    """The HTML page for a results table (all cells as text); local video paths
    are written relative to ``report_dir``."""
    tiles = "".join(_tile(row, report_dir) for _, row in frame.iterrows())
    made = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{_esc(title)}</h1><p class='meta'>made {made} by batch-runner</p></header>"
        f"{_totals(frame)}"
        f'<section id="gallery"><h2>Videos</h2><div class="grid">{tiles}</div></section>'
        f"{_failures(frame)}</body></html>\n"
    )


def write_report(results_csv: str | Path, out: str | Path, title: str | None = None) -> int:
    """Write the report of ``results_csv`` to ``out`` (atomically); returns the
    number of tiles (jobs). Raises ConfigError when the CSV is not a results CSV."""
    results_csv, out = Path(results_csv), Path(out)
    try:
        frame = pd.read_csv(results_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{results_csv}: cannot read the results CSV: {exc}") from None
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise ConfigError(f"{results_csv}: not a batch-runner results CSV (no column {', '.join(missing)})")
    out.parent.mkdir(parents=True, exist_ok=True)
    page = render_report(frame, out.parent.resolve(), title or f"Campaign report: {results_csv.name}")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, out)
    return len(frame)
