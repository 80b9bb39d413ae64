"""``run --trace-http FILE.har``: every HTTP exchange of a run as HAR 1.2.

HAR (HTTP Archive 1.2, http://www.softwareishard.com/blog/har-12-spec/, seen
2026-11) is the format browsers' developer tools export and open (Chrome,
Firefox: Network tab, "Import HAR"). API keys are redacted in URLs, headers
and bodies (credential headers replaced whole), and image data is cut short
(captures.py's rules), so a trace can be attached to a bug report. A streamed
answer (a video download) is listed with its status and headers, without its
body.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from batch_runner.errors import ProviderError
from batch_runner.keys import redact
from batch_runner.providers.wire import HttpRequest, HttpResponse
from batch_runner.run.captures import body_text, clean_headers, clean_json

__all__ = ["HarRecorder", "is_trace"]

_BODY_CHARS = 1 << 20
#: how a trace written by write() begins: an earlier trace may be replaced, no other file
_OURS = re.compile(rb'\A\s*\{\s*"log"\s*:\s*\{\s*"version"\s*:\s*"1\.2"\s*,'
                   rb'\s*"creator"\s*:\s*\{\s*"name"\s*:\s*"batch-runner"')


def is_trace(path: str | Path) -> bool:
    """Whether the file at ``path`` is a trace this module wrote (a HAR whose
    creator is batch-runner, seen in its first 512 bytes); False when unreadable."""
    try:
        with open(path, "rb") as fh:
            return bool(_OURS.match(fh.read(512)))
    except OSError:
        return False
_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
            301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request",
            401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
            409: "Conflict", 416: "Range Not Satisfiable", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


def _pairs(items: dict[str, str] | list[tuple[str, str]]) -> list[dict[str, str]]:
    pairs = items.items() if isinstance(items, dict) else items
    return [{"name": k, "value": v} for k, v in pairs]


class HarRecorder:
    """A transport.Recorder that keeps every exchange as a HAR 1.2 entry;
    ``write(path)`` writes the archive (atomically: a reader never sees half)."""

    def __init__(self, creator_version: str = "0.1.0") -> None:
        self.creator_version = creator_version
        self.entries: list[dict[str, Any]] = []

    def record(self, label: str, req: HttpRequest, resp: HttpResponse | None, error: BaseException | None,
               started: float, elapsed_s: float) -> None:
        """Keep one exchange (see transport.Recorder): ``label`` names the provider."""
        url = redact(req.url)
        request: dict[str, Any] = {
            "method": req.method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
            "headers": _pairs(clean_headers(req.headers)),
            "queryString": _pairs([(k, redact(v)) for k, v in parse_qsl(urlsplit(url).query)]),
            "headersSize": -1, "bodySize": -1,
        }
        if req.json is not None:
            text = json.dumps(clean_json(req.json, limit=2000), ensure_ascii=False)
            request["postData"] = {"mimeType": "application/json", "text": text}
            request["bodySize"] = len(text.encode())
        if resp is not None:
            mime = resp.headers.get("content-type", "")
            response: dict[str, Any] = {
                "status": resp.status, "statusText": _REASONS.get(resp.status, ""), "httpVersion": "HTTP/1.1",
                "cookies": [], "headers": _pairs(clean_headers(resp.headers)),
                "content": {"size": len(resp.body), "mimeType": mime, "text": body_text(resp.body, _BODY_CHARS)},
                "redirectURL": redact(resp.headers.get("location", "")), "headersSize": -1,
                "bodySize": len(resp.body) if resp.body else -1,
            }
        else:
            what = (f"{error.error_code}: {error.provider_message}" if isinstance(error, ProviderError)
                    else type(error).__name__)
            response = {"status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
                        "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1,
                        "bodySize": -1, "_error": redact(what)}
        ms = round(elapsed_s * 1000, 3)
        self.entries.append({
            "startedDateTime": datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds"),
            "time": ms, "request": request, "response": response, "cache": {},
            "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": ms, "receive": 0},
            "_provider": label,
        })

    def har(self) -> dict[str, Any]:
        """The archive: ``{"log": {"version": "1.2", "creator", "entries"}}``, entries by start time."""
        entries = sorted(self.entries, key=lambda e: str(e["startedDateTime"]))
        return {"log": {"version": "1.2", "creator": {"name": "batch-runner", "version": self.creator_version},
                        "pages": [], "entries": entries}}

    def write(self, path: str | Path) -> Path:
        """Write the archive to ``path`` (JSON, UTF-8); returns the path. Raises OSError."""
        path = Path(path)
        part = path.with_name(path.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private: it holds provider answers
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(self.har(), indent=1, ensure_ascii=False) + "\n")
        os.replace(part, path)
        return path
