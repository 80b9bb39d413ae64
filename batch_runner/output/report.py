"""A results CSV as one self-contained HTML page that people look at.

``write_report(results_csv, out_html)`` (``batch-runner report`` and ``run
--report``): totals (jobs by status, videos and cost per provider), a gallery
with one tile per job (a playable ``<video>`` of the saved file when there is
one, with its poster (output/posters.py), of the provider's URL otherwise; its
prompt, provider, variant, cost, time and QA verdict; a failed job's tile says
why), the failures grouped by error code with their rows, and the QA failures
grouped by problem (failed and warning verdicts). Filters by status, provider and QA verdict work without
any script: radio inputs before the gallery and ``:checked ~`` CSS rules hide
the other tiles. The page is the Jinja2 template ``data/report.html.j2``,
rendered with autoescape: every value is HTML-escaped text. No script and no
external asset: styles are inline, a Content-Security-Policy allows nothing
but them, the videos and their posters; only http(s) URLs and local files
become video sources, only local files posters.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from batch_runner.catalog.prices import describe_usd
from batch_runner.errors import ERROR_CODES
from batch_runner.output.atomic import write_atomically
from batch_runner.output.readback import read_results
from batch_runner.output.readback import shown as _shown
from batch_runner.output.thumbnails import poster_of

__all__ = ["GENERATOR", "is_report", "render_report", "write_report"]

_NEEDED = ("job_id", "row", "name", "variant", "provider", "prompt", "status", "video_url",
           "cost_usd", "cost_credits", "error_code", "error_message", "elapsed_s")
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; "
        "media-src 'self' file: http: https: data: blob:; img-src 'self' file: data:")
#: what each QA problem code (output/qa.py) means, for the report's QA section
_QA_MEANINGS = {
    "short_duration": "the video is shorter than the job asked for",
    "wrong_resolution": "the video's size is not the resolution the job asked for",
    "black": "the frames are (nearly) black",
    "frozen": "the picture does not move",
    "undecodable": "the file does not decode as a video",
    "first_frame_mismatch": "the first frame does not look like the job's image",
}

Row = Mapping[str, str]
#: the mark in every report's <head> (data/report.html.j2): an earlier report may be replaced
GENERATOR = b'<meta name="generator" content="batch-runner">'
_OLD_MARK = b"by batch-runner</p></header>"  # reports written before the mark
_HEAD_BYTES = 16_384


def is_report(path: str | Path) -> bool:
    """Whether the file at ``path`` is a report this module wrote (GENERATOR in its
    first 16 KiB, or an older report's header); False when unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return False
    return GENERATOR in head or (head.lstrip().lower().startswith(b"<!doctype html") and _OLD_MARK in head)


@functools.cache
def _template() -> jinja2.Template:
    """The page template (package data ``batch_runner/data/report.html.j2``),
    every value HTML-escaped (``autoescape``); a missing variable is an error."""
    text = resources.files("batch_runner").joinpath("data/report.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    return env.from_string(text)


def _num(value: str | None) -> float | None:
    """A number cell: ``0.28``, or ``0,28`` as Excel saves it where the comma
    is the decimal separator; None for a blank or text."""
    text = "" if value is None else str(value).strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _cost(row: Row) -> str:
    usd, credits = _num(row["cost_usd"]), _num(row["cost_credits"])
    parts = ([f"${usd:.2f}"] if usd is not None else []) + ([f"{credits:g} credits"] if credits is not None else [])
    return " / ".join(parts) or ("price unknown" if row["status"] == "succeeded" else "no charge")


def _relative(local: str | Path, report_dir: Path) -> str:
    """A local file as a link from the report: relative to its folder (a file URI on another drive)."""
    try:
        return quote(os.path.relpath(local, report_dir).replace(os.sep, "/"))
    except ValueError:  # another drive
        return Path(local).resolve().as_uri()


def _source(row: Row, report_dir: Path) -> str | None:
    """The video's src: the saved file (relative to the report), else an http(s) URL."""
    local = row.get("local_path") or ""
    if local and Path(local).is_file():
        return _relative(local, report_dir)
    url = row["video_url"] or ""
    return url if url.lower().startswith(("http://", "https://")) else None


def _qa(row: Row) -> str:
    """The QA verdict as the tile shows it: ``passed``, ``failed: black, frozen``... or ``""`` (not checked)."""
    verdict, problems = _shown(row.get("qa_status")), _shown(row.get("qa_problems")).replace(";", ", ")
    return f"{verdict}: {problems}" if verdict and problems else verdict


def _tile(row: Row, report_dir: Path, words: str) -> dict[str, Any]:
    status = row["status"]
    src = _source(row, report_dir) if status == "succeeded" else None
    poster = poster_of(row).path if src and not src.startswith(("http:", "https:")) else None
    elapsed = _num(row["elapsed_s"])
    return {
        "kind": "ok" if status == "succeeded" else "failed" if status == "failed" else "other",
        "words": words, "poster": _relative(poster, report_dir) if poster else None,
        "qa": _qa(row), "qa_status": _shown(row.get("qa_status")), "delivered": _shown(row.get("delivered_url")),
        "review": _shown(row.get("review")), "review_note": _shown(row.get("review_note")),
        "job_id": _shown(row["job_id"]), "src": src, "status": _shown(status),
        "why": _shown(row["error_code"] or ("no video URL" if status == "succeeded" else status)),
        "prompt": _shown(row["prompt"]), "name": _shown(row["name"]), "row": _shown(row["row"]),
        "variant": _shown(row["variant"]), "provider": _shown(row["provider"]), "cost": _shown(_cost(row)),
        "spec": _shown(" ".join(x for x in (row.get("model"), row.get("resolution"),
                                           f"{row.get('duration')} s" if row.get("duration") else "") if x)),
        "time": f"{elapsed:.0f} s" if elapsed is not None else "-",
    }


def _paid(row: Row) -> tuple[int, float | None, float | None]:
    """A row's paid attempts, what they cost in USD (None: a price unknown) and
    in credits (None: none), from ``paid_attempts`` / ``cost_all_attempts`` /
    ``credits_all_attempts`` (every attempt: re-rolls, retries), or, in a results
    file written before those columns, from its last attempt alone."""
    if "paid_attempts" in row:
        n = int(_num(row["paid_attempts"]) or 0)
        return n, _num(row["cost_all_attempts"]), _num(row["credits_all_attempts"])
    credits, usd = _num(row["cost_credits"]), _num(row["cost_usd"])
    return int(row["status"] == "succeeded" or credits is not None or usd is not None), usd, credits


def _totals(rows: list[Row]) -> dict[str, Any]:
    done = [r for r in rows if r["status"] == "succeeded"]
    by_provider: dict[str, list[Row]] = {}
    for r in rows:
        if _paid(r)[0]:
            by_provider.setdefault(r["provider"], []).append(r)
    providers, all_usd, all_unknown, all_credits, all_paid = [], 0.0, 0, 0.0, 0
    for provider, group in sorted(by_provider.items()):
        paid = [_paid(r) for r in group]
        known = sum(u for _, u, _ in paid if u is not None)
        unknown = sum(n for n, u, _ in paid if u is None)
        credit_values = [c for _, _, c in paid if c is not None]
        credits, attempts = sum(credit_values), sum(n for n, _, _ in paid)
        all_usd, all_unknown, all_credits = all_usd + known, all_unknown + unknown, all_credits + credits
        all_paid += attempts
        providers.append({"provider": _shown(provider), "videos": sum(r["status"] == "succeeded" for r in group),
                          "usd": describe_usd(known, unknown, attempts),
                          "credits": f"{credits:g}" if credit_values else "-"})
    return {
        "jobs": len(rows), "videos": len(done), "seconds": sum(_num(r["elapsed_s"]) or 0.0 for r in done),
        "by_status": [(_shown(s), n) for s, n in Counter(r["status"] for r in rows).most_common()],
        "providers": providers, "usd": describe_usd(all_usd, all_unknown, all_paid),
        "credits": f"{all_credits:g}",
    }


def _failures(rows: list[Row]) -> list[dict[str, Any]]:
    """The jobs that did not succeed, grouped by error code (their status when
    they have none), groups sorted by code."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        if r["status"] != "succeeded":
            groups.setdefault(r["error_code"] or r["status"], []).append(r)
    return [{"code": _shown(code), "meaning": ERROR_CODES.get(code, ""),
             "rows": [{k: _shown(r[k]) for k in ("row", "name", "variant", "provider", "status", "error_message")}
                      for r in group]}
            for code, group in sorted(groups.items())]


def _qa_failures(rows: list[Row]) -> list[dict[str, Any]]:
    """The jobs whose QA did not pass, grouped by problem code (a job in each
    of its problems' groups; its verdict when it names none), sorted by code."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        verdict = r.get("qa_status") or ""
        if verdict in ("failed", "warning"):
            for code in (r.get("qa_problems") or "").split(";") if r.get("qa_problems") else [verdict]:
                groups.setdefault(code.strip() or verdict, []).append(r)
    return [{"code": _shown(code), "meaning": _QA_MEANINGS.get(code, ""),
             "rows": [{k: _shown(r.get(k)) for k in ("row", "name", "variant", "provider", "qa_status")}
                      for r in group]}
            for code, group in sorted(groups.items())]


def _filters(rows: list[Row]) -> tuple[list[dict[str, Any]], list[str]]:
    """The gallery's filters (status, provider, QA when checked) and each
    row's tile filter words. A filter is ``{"key", "label", "choices": [(text, n)]}``;
    its radio inputs are ``<key>-all`` and ``<key>-<i>``, a tile has the word
    ``<key>-<i>`` in its ``data-f`` for its value: ids and CSS never hold a cell's text."""
    columns = [("fs", "status", "status"), ("fp", "provider", "provider")]
    if any(r.get("qa_status") for r in rows):
        columns.append(("fq", "qa_status", "QA"))
    if any(r.get("review") for r in rows):  # a person's verdicts (docs/review.md)
        columns.append(("fr", "review", "review"))
    filters: list[dict[str, Any]] = []
    words: list[list[str]] = [[] for _ in rows]
    for key, column, label in columns:
        blank = "awaiting review" if column == "review" else "not checked"
        counts = Counter(_shown(r.get(column)) or blank for r in rows)
        index = {value: i for i, value in enumerate(counts)}
        filters.append({"key": key, "label": label, "choices": list(counts.items())})
        for tile, r in zip(words, rows, strict=True):
            tile.append(f"{key}-{index[_shown(r.get(column)) or blank]}")
    return filters, [" ".join(c) for c in words]


def render_report(rows: Iterable[Row], report_dir: Path, title: str) -> str:
    """The HTML page for the rows of a results CSV (column -> cell text; the
    columns in ``_NEEDED`` at least; ``qa_status`` / ``qa_problems`` when
    there); local video and poster paths are written relative to the folder
    ``report_dir``."""
    rows = list(rows)
    made = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    filters, words = _filters(rows)
    return _template().render(
        csp=_CSP, title=_shown(title), made=made, totals=_totals(rows), filters=filters,
        tiles=[_tile(r, report_dir, c) for r, c in zip(rows, words, strict=True)], failures=_failures(rows),
        qa_failures=_qa_failures(rows), qa_shown=any(f["key"] == "fq" for f in filters),
        qa_checked=sum(1 for r in rows if r.get("qa_status") in ("passed", "failed", "warning")))


def campaign_name(rows: Sequence[Mapping[str, str]], results: Path) -> str:
    """The campaign a results file is of: its ``campaign`` column when every row
    says the same, else the name of the manifest it was written for
    (``launch.csv.results.csv``: ``launch.csv``), else the file's own name."""
    said = {r.get("campaign") or "" for r in rows}
    if len(said) == 1 and (only := said.pop()):
        return only
    name = results.name
    for tail in (".results.csv", ".results.xlsx"):
        if name.endswith(tail) and len(name) > len(tail):
            return name[: -len(tail)]
    return name


def write_report(results_csv: str | Path, out: str | Path, title: str | None = None) -> int:
    """Write the report of ``results_csv`` to ``out`` (atomically, output/atomic.py);
    returns the number of tiles (jobs). Raises ConfigError when the CSV is not a
    results CSV, OSError when ``out`` cannot be written."""
    results_csv, out = Path(results_csv), Path(out)
    rows = read_results(results_csv, _NEEDED)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = render_report(rows, out.parent.resolve(), title or f"Campaign report: {campaign_name(rows, results_csv)}")
    write_atomically(out, page)
    return len(rows)
