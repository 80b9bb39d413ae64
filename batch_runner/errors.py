"""The error tree of batch_runner: every error class of the package, where it lives.

    BatchRunnerError                  errors.py; each class carries its ``exit_status``
     ├── ManifestError                a manifest that cannot be run: carries every Problem found
     ├── ConfigError                  bad settings or command-line use (exit status 2)
     │    ├── JournalError            journal/sqlite.py: a journal file or database that cannot
     │    │                           be used (not a journal, damaged, not writable, unreachable)
     │    ├── OutputPathError         output/paths.py: an output path that cannot be used
     │    ├── DeliveryError           output/deliver.py: the ``--deliver`` storage cannot be used
     │    └── WorldMismatchError      world.py: the journal's tasks were made in another world
     │                                (the simulator's, or real hosts') than this run's
     ├── StateLockedError             another run holds the journal (exit status 3)
     ├── JournalLostError             the journal file was deleted, moved or replaced during the
     │                                run; nothing more was submitted (exit status 1)
     ├── BudgetError                  the plan costs more than --max-cost / --max-credits (exit status 4)
     ├── DownloadError                a finished video could not be saved (HTTP error, over the
     │    │                           size cap, a web page instead of a video); ``retryable``
     │    └── _Taken                  output/download.py: the name is another job's saved video
     ├── UnsafeUrlError               providers/url_safety.py (also a ValueError): a video URL we
     │                                refuse to record or fetch
     ├── WorldError                   the world failed mid-run: a full disk, the journal's database
     │                                stopped, a path replaced by a folder (exit status 1); made from
     │                                a foreign exception by ``world_fault``
     └── ProviderError                a provider answered with an error, or could not be reached
          └── TransportError          no usable HTTP answer: connection refused or reset,
                                      timeout, body too large; ``maybe_sent`` says whether the
                                      provider may have received the request

    Outside the tree, caught where they are raised and never reaching the user as such:
      ValueError
       ├── ImageError                 jobs/images.py: an image that cannot be used; becomes a
       │    └── ImagePathError        Problem of the manifest (row and field) before any submit
       └── KeyPoolError               keys.py: a ``<NAME>_API_KEYS`` that cannot be read; raised
                                      again as a ConfigError by catalog/settings.py
      AddressRefused (OSError)        transport.py: a connection the address policy refuses,
                                      before anything is sent; read as a TransportError
      ClaimLostError (Exception)      journal/sqlite.py: a shared journal's job claimed by another
                                      worker; the lifecycle sends nothing more for it
      ForeignError (Exception)        transport.py: a library error's type and redacted text, the
                                      ``__cause__`` of a TransportError
      _LimitError, _Stopped, _Moved,  private control flow of manifest/yaml_reader.py,
      _StopAfterDelay                 run/lifecycle.py and run/retry.py

A ProviderError carries data the retry policy reads: ``error_code`` (our own short
vocabulary, see ERROR_CODES), ``retryable``, ``http_status``, ``provider_code`` and
``provider_message`` (the provider's own), and ``retry_after`` (seconds or None).
Foreign exceptions (aiohttp, json) are converted once, in transport.py and the
adapters, with ``raise ... from exc``; those of the machine (OSError, sqlite3,
psycopg) once, by ``world_fault``, where the command line turns an error into its
exit status: every class carries its own ``exit_status``. No error message ever contains an API key:
ProviderError redacts every known key from the provider's text, and a Problem
masks anything shaped like a key (keyscan.mask) when printed.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from batch_runner.keys import redact
from batch_runner.keyscan import mask

__all__ = [
    "ERROR_CODES",
    "MAX_RETRY_AFTER_S",
    "TRANSIENT_CODES",
    "BatchRunnerError",
    "BudgetError",
    "ConfigError",
    "DownloadError",
    "JournalLostError",
    "ManifestError",
    "Problem",
    "ProviderError",
    "StateLockedError",
    "TransportError",
    "WorldError",
    "world_fault",
]

#: Our error vocabulary, as written to the results CSV column ``error_code``.
ERROR_CODES: dict[str, str] = {
    "rate_limited": "the provider answered 429 / rate limit and retries ran out",
    "quota_exhausted": "a daily or plan quota is used up (not a transient rate limit)",
    "not_on_plan": "the model or feature is not available on this account's plan",
    "content_policy": "the provider refused the prompt or image, or the generated video",
    "auth": "the API key is missing, invalid or not allowed (401/403)",
    "insufficient_balance": "the account has no credits or balance left",
    "invalid_request": "the provider rejected the request parameters (400)",
    "provider_error": "the provider failed (5xx or a server-side error code)",
    "bad_response": "the provider's answer was not the JSON its protocol documents",
    "unrecognised_answer": "every answer about the task was one the adapter cannot read (kept as captures); "
                           "its task id is kept: a later run polls it again",
    "connection_error": "the provider could not be reached",
    "timeout": "a request or the whole task took longer than allowed",
    "task_failed": "the provider accepted the task and then reported it failed",
    "unknown": "a submit was sent but its answer was lost: possibly submitted",
    "not_video": "the canary's video URL served something that is not a video (an HTML page, say)",
    "budget": "not submitted: its cost would pass --max-cost or --max-credits (status skipped_budget)",
    "cancelled": "the task was cancelled while queued (batch-runner cancel, or --cancel-replaced): not billed "
                 "where the provider says so (status cancelled)",
}

#: The failures a new try may mend: what ``run --retry-failed`` submits again (``--retry-failed=all``
#: also the others: a content-policy refusal, a bad key, no balance, a used-up quota, a request the
#: provider rejects, which a new submit would only pay or fail for again).
TRANSIENT_CODES: frozenset[str] = frozenset(
    {"rate_limited", "provider_error", "bad_response", "connection_error", "timeout", "task_failed"})


class BatchRunnerError(Exception):
    """Base of every error batch_runner raises on purpose. ``exit_status``: the
    command's exit status when the error ends it (1: a job or a download failed)."""

    exit_status = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest.

    ``where`` is the file and position (``manifest.csv: row 4`` or
    ``example.yaml: line 12``), ``field`` the job field (or "" for the whole
    row), ``message`` what is wrong and what is allowed. ``severity`` is
    ``error`` (the manifest is refused) or ``warning`` (printed, not fatal).
    """

    where: str
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        field = f", field '{self.field}'" if self.field else ""
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return mask(f"{self.where}{field}: {tag}{self.message}")


class ManifestError(BatchRunnerError):
    """A manifest with one or more errors; ``problems`` lists them all (the
    message shows the first MAX_SHOWN)."""

    MAX_SHOWN = 200
    exit_status = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        more = len(problems) - self.MAX_SHOWN
        super().__init__(
            f"{len(errors)} problem(s) in the manifest:\n"
            + "\n".join(f"  {p}" for p in problems[: self.MAX_SHOWN])
            + (f"\n  ... and {more} more" if more > 0 else "")
        )


class ConfigError(BatchRunnerError):
    """Bad settings or command-line use, or a path that cannot be used (exit status 2)."""

    exit_status = 2


class BudgetError(BatchRunnerError):
    """The run's plan exceeds a budget cap; nothing was sent (exit status 4)."""

    exit_status = 4


class StateLockedError(BatchRunnerError):
    """Another run is working on the same journal (exit status 3)."""

    exit_status = 3


class JournalLostError(BatchRunnerError):
    """The journal file a run opened is no longer at its path (deleted, moved or
    replaced during the run): the run sent no new submit after it noticed, and its
    message names the recovery copy of the records and what to do."""


class DownloadError(BatchRunnerError):
    """A video could not be saved; ``retryable``: trying again may work;
    ``url_gone``: the URL answered 403/404/410 (expired or gone: a fresh URL
    from the provider may work, run/url_refresh.py)."""

    def __init__(self, message: str, *, retryable: bool = False, url_gone: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.url_gone = url_gone


MAX_RETRY_AFTER_S = 120.0
"""The longest a provider's Retry-After makes us wait, in seconds: pacing, submit
and poll retries and downloads wait at most this long for one (then back off as
usual)."""


class ProviderError(BatchRunnerError):
    """A provider refused or failed a request.

    Attributes: provider (name), error_code (a key of ERROR_CODES), retryable
    (bool: sending the same request again may succeed), http_status (int or
    None), provider_code (the provider's own code as text, or ""),
    provider_message (the provider's own message, or ""), retry_after
    (seconds to wait before retrying, or None), answer (the raw answer a
    parser rejected, a providers.wire.HttpResponse, for ``bad_response`` from
    an adapter's parser; else None: never printed, kept as a capture).
    """

    def __init__(
        self,
        provider: str,
        error_code: str,
        message: str,
        *,
        retryable: bool = False,
        http_status: int | None = None,
        provider_code: str = "",
        retry_after: float | None = None,
        answer: object | None = None,
    ):
        message, provider_code = redact(str(message))[:2000], redact(str(provider_code))[:100]
        self.provider = provider
        self.error_code = error_code
        self.provider_message = message
        self.retryable = retryable
        self.http_status = http_status
        self.provider_code = provider_code
        self.retry_after = retry_after
        self.answer = answer
        status = f" HTTP {http_status}" if http_status is not None else ""
        code = f" [{provider_code}]" if provider_code else ""
        super().__init__(f"{provider}{status}{code}: {error_code}: {message}")


class TransportError(ProviderError):
    """No usable HTTP answer. ``maybe_sent`` is True when the request may have
    reached the provider (timeout, connection dropped after sending);
    ``retryable`` False when trying again cannot help (an address refused)."""

    def __init__(self, provider: str, error_code: str, message: str, *, maybe_sent: bool, retryable: bool = True):
        super().__init__(provider, error_code, message, retryable=retryable)
        self.maybe_sent = maybe_sent


class WorldError(BatchRunnerError):
    """Something outside batch-runner failed mid-run (exit status 1): a full disk,
    the journal's database server gone, a results path replaced by a folder. The
    message names the cause and what to do; the journal keeps every task id, so the
    same command run again polls them (nothing is paid twice)."""


_AGAIN = "run the same command again: the journal keeps every task id, nothing is paid twice"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def world_fault(exc: BaseException) -> WorldError | None:
    """The WorldError a foreign exception means, or None when it is not a fault of
    the machine (then it is a bug). Reads OSError (a full disk, a path that became a
    folder or vanished, an I/O error), sqlite3's errors (a full disk, a damaged WAL)
    and psycopg's / psycopg_pool's (the journal's server stopped or out of reach),
    by class name so this module imports neither database driver."""
    if isinstance(exc, WorldError):
        return exc
    kind = type(exc)
    module = kind.__module__ or ""
    text = mask(redact(" ".join(str(exc).split())))[:300]
    if module.startswith("psycopg"):  # AdminShutdown, OperationalError, PoolTimeout, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else kind.__name__
        return WorldError(f"the journal's PostgreSQL server stopped answering ({kind.__name__}: "
                          f"{mask(redact(first))[:200]}): start it again (or check the network to it) and {_AGAIN}")
    if isinstance(exc, OSError):
        name = exc.filename2 or exc.filename  # os.replace(temporary, target): the target
        where = f" ({name})" if name else ""
        reason = exc.strerror or text
        if exc.errno in _DISK_FULL:
            return WorldError(f"no space left on the disk{where}: free some space and {_AGAIN}")
        if isinstance(exc, IsADirectoryError):
            return WorldError(f"{name or 'a path'} is a folder now, where a file was to be written: "
                              f"move that folder away and {_AGAIN}")
        return WorldError(f"{reason}{where}: fix that path and {_AGAIN}")
    if module == "sqlite3":
        lowered = text.lower()
        if "full" in lowered:
            return WorldError(f"no space left on the journal's disk ({text}): free some space and {_AGAIN}")
        if "disk i/o" in lowered:
            return WorldError(f"the journal's file could not be written ({text}: a full disk, a file size limit "
                              f"or a failing disk): make room or fix the disk and {_AGAIN}")
        if "malformed" in lowered or "not a database" in lowered:
            return WorldError(f"the journal's file is damaged ({text}: its -wal file truncated or changed by "
                              "another program?): keep a copy of the journal and its -wal file, then run "
                              "`batch-runner status JOURNAL` to see what it still holds before running again")
        if "locked" in lowered or "readonly" in lowered or "unable to open" in lowered:
            return WorldError(f"the journal could not be written ({text}): check its file and folder and {_AGAIN}")
    return None
