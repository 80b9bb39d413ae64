"""Check every path a command will write before it sends anything.

A run writes the results (``-o``: a CSV or an ``.xlsx`` workbook), the HTML
report (``--report``), the contact sheet (``--contact-sheet``), the HTTP trace
(``--trace-http``), the videos (``--download``) and the journal (``--journal``)
with its lock file. Each is checked up front by ``check_outputs``: it can be
created and written, it is not a folder where a file is meant (or a file where
a folder is meant), it has the extension of what is written there, it is none
of the command's inputs (the manifest, its source sheet, the settings file,
``.env``, the jobs' local images) nor another output, and an existing file is
replaced only when it is this tool's own earlier output of that kind: a results
CSV (its first column is ``job_id``), a results workbook, a report (its
generator mark), a contact sheet (its Software mark), a trace (its HAR creator).
A problem is an OutputPathError (a ConfigError: exit status 2) naming the
option, the path and the reason, raised before any provider receives a request.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from batch_runner.errors import ConfigError
from batch_runner.journal import lock_path

__all__ = [
    "Output",
    "OutputPathError",
    "check_outputs",
    "check_run_outputs",
    "contact_sheet_output",
    "download_output",
    "journal_outputs",
    "report_output",
    "results_output",
    "trace_output",
]


class OutputPathError(ConfigError):
    """An output path that cannot be used. ``option`` is the command-line
    option (``-o``, ``--journal``, ...), ``path`` the path as given, ``reason``
    what is wrong and what to do; the message is ``"<option> <path>: <reason>"``."""

    def __init__(self, option: str, path: Path, reason: str):
        self.option, self.path, self.reason = option, path, reason
        super().__init__(f"{option} {path}: {reason}")


@dataclass(frozen=True)
class Output:
    """One path a command writes.

    ``option``: how the user gave it (``-o``, ``--report``, ...); ``what``: what
    is written there, for messages ("the results CSV"); ``folder``: a folder
    (True) or a file (False); ``suffixes``: the allowed extensions, lower case
    with the dot (empty: any); ``refused``: extension -> the reason it is
    refused; ``in_place``: the file itself is opened for writing (the journal)
    rather than replaced through a temporary file in its folder; ``starts_with``: an
    existing file is replaced only when it begins with one of these (a results CSV
    of an earlier run), so another spreadsheet is never overwritten; ``ours``: the
    same check as a function of the path (a results workbook of an earlier run);
    ``mark``: how an earlier output is recognised, for the refusal.
    """

    option: str
    path: Path
    what: str
    folder: bool = False
    suffixes: tuple[str, ...] = ()
    refused: Mapping[str, str] | None = None
    in_place: bool = False
    starts_with: tuple[bytes, ...] = ()
    ours: Callable[[Path], bool] | None = None
    mark: str = "its first column is not job_id"


#: the results file formats, by extension (output/results.py, output/workbook.py)
RESULT_SUFFIXES = (".csv", ".xlsx")
_OTHER_SHEETS = ("the results are written as .csv or .xlsx (Excel and LibreOffice open both): "
                 "use a name ending in one of those")


def results_output(path: Path, option: str = "-o") -> Output:
    """The results: a ``.csv`` file (the results CSV) or an ``.xlsx`` one (the
    results workbook); other spreadsheet extensions are refused with why."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from batch_runner.output.workbook import is_results_workbook

        return Output(option, path, "the results workbook", suffixes=RESULT_SUFFIXES, ours=is_results_workbook,
                      mark="its first sheet does not start with job_id")
    what = "the results CSV" if path.suffix.lower() == ".csv" else "the results file"
    return Output(option, path, what, suffixes=RESULT_SUFFIXES,
                  refused=dict.fromkeys((".xls", ".xlsm", ".xlsb", ".ods", ".numbers"), _OTHER_SHEETS),
                  starts_with=(b'"job_id"', b'\xef\xbb\xbf"job_id"', b"job_id", b"\xef\xbb\xbfjob_id"))


def report_output(path: Path, option: str = "--report") -> Output:
    """The HTML report: a ``.html`` or ``.htm`` file (an existing one only if a report)."""
    from batch_runner.output.report import is_report

    return Output(option, Path(path), "the HTML report", suffixes=(".html", ".htm"), ours=is_report,
                  mark="it has no batch-runner generator mark")


def contact_sheet_output(path: Path, option: str = "--contact-sheet") -> Output:
    """The contact sheet: a ``.png`` or ``.jpg`` image (an existing one only if a contact sheet)."""
    from batch_runner.output.contact_sheet import is_contact_sheet

    return Output(option, Path(path), "the contact sheet", suffixes=(".png", ".jpg", ".jpeg"), ours=is_contact_sheet,
                  mark="it has no batch-runner contact sheet mark")


def trace_output(path: Path, option: str = "--trace-http") -> Output:
    """The HTTP trace: a ``.har`` file (an existing one only if a batch-runner trace)."""
    from batch_runner.run.har import is_trace

    return Output(option, Path(path), "the HTTP trace", suffixes=(".har",), ours=is_trace,
                  mark="it is not a HAR file made by batch-runner")


def download_output(path: Path, option: str = "--download") -> Output:
    """The folder the videos are saved in (created if missing)."""
    return Output(option, Path(path), "the videos", folder=True)


def journal_outputs(path: Path, option: str = "--journal") -> list[Output]:
    """The journal (SQLite, written in place) and its lock file beside it."""
    path = Path(path)
    return [Output(option, path, "the journal", in_place=True),
            Output(option, Path(lock_path(path)), "the journal's lock file", in_place=True)]


def check_outputs(outputs: Sequence[Output], inputs: Mapping[str, Path | None] | None = None) -> None:
    """Check every output before anything is sent or written.

    ``inputs``: what each input is (e.g. ``{"the manifest": path, "the
    manifest's source sheet": sheet}``; None values are skipped); no output may
    be one of them, nor another output (paths compared resolved, through
    symlinks and hard links). Writes nothing that stays: a folder's
    writability is tried with a temporary file removed at once.

    Raises OutputPathError for the first output that cannot be used.
    """
    taken: list[tuple[Path, str]] = [(Path(p), what) for what, p in (inputs or {}).items() if p is not None]
    for out in outputs:
        for other, what in taken:  # the most telling reason first: it is the manifest, say
            if _same(out.path, other):
                raise OutputPathError(out.option, out.path, f"is {what}; writing {out.what} there "
                                      f"would overwrite it: choose another path")
        _check_one(out)
        taken.append((out.path, f"{out.what} ({out.option})"))


def _same(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False


def _check_one(out: Output) -> None:
    def fail(reason: str) -> OutputPathError:
        return OutputPathError(out.option, out.path, reason)

    suffix = out.path.suffix.lower()
    if out.refused and suffix in out.refused:
        raise fail(out.refused[suffix])
    if out.suffixes and suffix not in out.suffixes:
        raise fail(f"{out.what} needs a name ending in {' or '.join(out.suffixes)}")
    try:
        path = out.path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise fail(f"cannot be resolved ({_reason(exc)})") from None
    if path.is_dir():
        if not out.folder:
            example = _EXAMPLES.get(out.what)
            hint = f", e.g. {out.path / example}" if example else ""
            raise fail(f"is a folder; {out.what} needs a file name{hint}")
        _try_create_in(path, fail)
        return
    if path.exists():
        if out.folder:
            raise fail(f"is a file, not a folder (for {out.what})")
        if path.is_file() and ((out.starts_with and not _starts_with(path, out.starts_with))
                               or (out.ours is not None and path.stat().st_size and not out.ours(path))):
            raise fail(f"exists and is not {out.what} of an earlier run ({out.mark}); "
                       "writing there would overwrite it: choose another path, or move that file away")
        if out.in_place and path.is_file():
            try:
                os.close(os.open(path, os.O_WRONLY))
            except OSError as exc:
                raise fail(f"cannot be written ({_reason(exc)})") from None
        _try_create_in(path.parent, fail)
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise fail(f"cannot be created: {ancestor} is a file, not a folder")
    _try_create_in(ancestor, fail)


def _try_create_in(folder: Path, fail: Callable[[str], OutputPathError]) -> None:
    """Create and remove a temporary file in ``folder``; raise ``fail(reason)`` if that fails."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".batch-runner-check-", dir=folder)
    except OSError as exc:
        raise fail(f"cannot be written: cannot create a file in {folder} ({_reason(exc)})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


_EXAMPLES = {"the results CSV": "results.csv", "the results workbook": "results.xlsx",
             "the HTML report": "report.html", "the journal": "journal.sqlite"}


def _starts_with(path: Path, heads: tuple[bytes, ...]) -> bool:
    """Whether the file at ``path`` is empty or begins with one of ``heads``."""
    try:
        with path.open("rb") as fh:
            head = fh.read(max(len(h) for h in heads))
    except OSError:
        return True  # unreadable: the write check that follows says why
    return not head or any(head.startswith(h) for h in heads)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def check_run_outputs(*, output: Path, state: Path | None, report: Path | None = None, download: Path | None = None,
                      manifest: Path, sheet: Path | None = None, contact_sheet: Path | None = None,
                      trace: Path | None = None, settings: Path | None = None,
                      images: Sequence[Path] = ()) -> None:
    """``check_outputs`` for ``batch-runner run``: the results file, the journal
    and its lock file, the report, the videos folder, the contact sheet and the
    HTTP trace (when given), none of them an input: the manifest, its source
    sheet, the ``--settings`` file, ``./.env`` or a job's local image
    (``state`` None: the journal is a database, not a file). Raises OutputPathError."""
    outputs = [results_output(output), *(journal_outputs(state) if state is not None else [])]
    if report is not None:
        outputs.append(report_output(report))
    if download is not None:
        outputs.append(download_output(download))
    if contact_sheet is not None:
        outputs.append(contact_sheet_output(contact_sheet))
    if trace is not None:
        outputs.append(trace_output(trace))
    inputs: dict[str, Path | None] = {"the manifest": manifest, "the manifest's source sheet": sheet,
                                      "the --settings file": settings, "the .env file": Path(".env")}
    inputs.update((f"a job's image ({image})", image) for image in images)
    check_outputs(outputs, inputs)
