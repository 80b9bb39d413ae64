"""Property-based fuzzing: hostile manifests and hostile provider answers end in
our own documented errors (ManifestError, ProviderError), within bounded time.

Budget: FUZZ_EXAMPLES examples per target (about 20 s for the whole module on
one core); see the counts with ``pytest tests/fuzz --hypothesis-show-statistics``.
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import json
import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_runner.app import RunRequest, load_jobs
from batch_runner.errors import ERROR_CODES, ManifestError, ProviderError
from batch_runner.keys import Secret
from batch_runner.providers import ADAPTERS, HttpResponse
from batch_runner.providers.guard import safe_id
from batch_runner.providers.url_safety import check_video_url

FUZZ_EXAMPLES = int(__import__("os").environ.get("FUZZ_EXAMPLES", 200))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=5000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KEYS = {f"{p.upper()}_API_KEY": "fuzz-key-0123456789" for p in ADAPTERS}
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WORK = Path(tempfile.mkdtemp(prefix="fuzz-"))

# -- values a spreadsheet or a provider might hold --------------------------------
SPECIAL_TEXT = [
    "", " ", "minimax", "apiframe", "gccai", "hailuo-2.3", "768P", "1080p", "6", "10", "-6", "6.0", "6.5",
    "1e400", "nan", "NaN", "inf", "-inf", "0", "007", "true", "no", "yes", "null", "~", "NA",
    "=HYPERLINK(\"http://x\")", "+1", "@SUM(A1)", "\t=1", "\x00", "\x07bell", "\u202eevil", "\ud800",
    "sk-abcdefghijklmnopqrstuvwxyz012345", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "[推进] 海边",
    "../../etc/passwd", "/etc/passwd", "images/x.png", "https://cdn.example.com/v.mp4",
    "file:///etc/passwd", "http://127.0.0.1/v.mp4", "http://169.254.169.254/", "javascript:alert(1)",
    "data:image/png;base64,AAAA", "Success", "Fail", "Failed", "completed", "COMPLETED", "FAILED",
    "processing", "Queueing", "QUEUED", "success", "pending", "error", "x" * 3000,
]
texts = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(max_size=40))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-10, 20),
    st.floats(allow_nan=True, allow_infinity=True), texts,
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=12
)
FIELDS = ["prompt", "provider", "model", "duration", "resolution", "image", "end_image", "name",
          "variants", "prompt_optimizer", "fast_pretreatment", "watermark", "sku", "api_key", "Prompt "]
field_names = st.one_of(st.sampled_from(FIELDS), st.text(max_size=12))


def _load(name: str, data: bytes | str) -> None:
    """Load a manifest file as `batch-runner validate` does: only ManifestError may come out."""
    path = WORK / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    try:
        jobs, _manifest = load_jobs(RunRequest(path), KEYS)
    except ManifestError as exc:
        assert exc.problems
        for problem in exc.problems:  # each names the file and says what is wrong, on its own
            assert problem.where.startswith(path.name) and problem.message.strip(), problem
            assert str(problem).startswith(problem.where)
        return
    assert len(jobs) >= 1 and all(j.prompt for j in jobs)


# -- YAML -------------------------------------------------------------------------
YAML_TOKENS = ["jobs", "defaults", "providers", "prompt", "provider", "minimax", "duration", ":", ": ",
               " ", "  ", "\n", "\n  - ", "- ", "&a ", "*a", "&b ", "*b", "<<: ", "[", "]", "{", "}",
               ", ", "!!binary ", "!!python/object:os.system ", "!!set ", "'", '"', "# c", "---\n",
               "...\n", "? ", "|\n  ", ">\n  ", "\t", ".nan", ".inf", "-6", "6.0", "1e400", "~", "yes",
               "2026-03-01", "12:30", "\x07", "\u202e", "0x1F", "image", "../x.png", "variants", "100",
               "rpm", "poll_interval_s", "%YAML 1.1\n", "!!int ", "=1+1"]


@FUZZ
@given(st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=3), max_size=60).map("".join))
def test_fuzz_yaml_token_soup(text):
    _load("soup.yaml", text)


@FUZZ
@given(st.fixed_dictionaries(
    {"jobs": st.lists(st.dictionaries(field_names, json_values, max_size=6), max_size=4)},
    optional={"defaults": st.dictionaries(field_names, scalars, max_size=4),
              "providers": st.dictionaries(st.sampled_from([*ADAPTERS, "x"]),
                                           st.dictionaries(st.sampled_from(["rpm", "max_in_flight",
                                                           "poll_interval_s", "api_key"]), scalars, max_size=3),
                                           max_size=2)},
))
def test_fuzz_yaml_documents(doc):
    _load("doc.yaml", yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.binary(max_size=600) | st.tuples(st.sampled_from([codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]),
                                            st.binary(max_size=600)).map(b"".join))
def test_fuzz_yaml_bytes(data):
    _load("bytes.yaml", data)


# -- CSV --------------------------------------------------------------------------
def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',;\t|"\n') else text


@FUZZ
@given(st.lists(field_names, min_size=1, max_size=6), st.lists(st.lists(texts, max_size=7), max_size=5),
       st.sampled_from([",", ";", "\t", "|"]), st.sampled_from(["\n", "\r\n"]))
def test_fuzz_csv_tables(header, rows, sep, newline):
    lines = [sep.join(_csv_cell(h) for h in header)] + [sep.join(_csv_cell(c) for c in r) for r in rows]
    _load("table.csv", newline.join(lines) + newline)


#: arbitrary bytes, also after a byte-order mark (else the UTF-16 decoder is never reached)
BOMS = st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])
any_bytes = st.tuples(BOMS, st.binary(max_size=600)).map(b"".join)


@FUZZ
@given(any_bytes | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_fuzz_csv_bytes(data):
    _load("bytes.csv", data)


# -- provider answers ----------------------------------------------------------------
#: documented bodies (tests/fixtures/<provider>/) plus the shapes docs/providers.md
#: describes without an example file (gptge is MiniMax's protocol)
SHAPES = {name: [json.loads(p.read_bytes()) for p in sorted((FIXTURES / name).glob("*.json"))] for name in ADAPTERS}
SHAPES["gptge"] += SHAPES["minimax"]
SHAPES["minimax"] += [
    {"task_id": "1", "status": "Fail", "base_resp": {"status_code": 1026, "status_msg": "sensitive"}},
    {"task_id": "1", "status": "Processing", "base_resp": {"status_code": 0, "status_msg": "success"}},
]
SHAPES["gptproto"] += [{"data": {"id": "4ec5", "status": "failed", "error": "content policy"}, "code": 200},
                       {"data": {"id": "4ec5", "status": "created"}, "code": 200}]
SHAPES["apiinone"] += [{"code": 200, "data": {"task_id": "n51", "status": "completed",
                                              "output": {"video_url": "https://cdn.example.com/v.mp4"}}},
                       {"code": 200, "data": {"task_id": "n51", "status": "failed", "error": {"message": "nsfw"}}}]
BODIES = [body for bodies in SHAPES.values() for body in bodies]
STATUSES = st.sampled_from([200, 202]) | st.sampled_from(
    [200, 201, 202, 204, 301, 302, 400, 401, 402, 403, 404, 422, 429, 500, 502, 503])
HEADERS = st.dictionaries(st.sampled_from(["retry-after", "content-type", "x-other"]),
                          st.sampled_from(["1", "-5", "1e309", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT",
                                           "Mon, 31 Feb 99999 99:99:99 GMT", "soon", ""]) | st.text(max_size=12),
                          max_size=2)


STATUS_WORDS = ["Success", "Fail", "Failed", "failed", "FAILED", "completed", "COMPLETED", "success",
                "processing", "PROCESSING", "Queueing", "Preparing", "QUEUED", "pending", "submitted",
                "created", "cancelled", "CANCELLED", "error", "in_progress", "running", "succeeded", ""]
leaf = st.one_of(st.sampled_from(STATUS_WORDS), scalars, st.sampled_from(SPECIAL_TEXT))


words = st.sampled_from(STATUS_WORDS)
codes: st.SearchStrategy[object] = st.sampled_from(
    [0, 1026, 1027, 1008, 2013, 99999, -1, "x", "1026", None, float("nan"), 1e300, [], {}])
SLOTS = {"status": words | leaf, "status_code": codes | leaf}


def _obj(*keys: str, value=leaf):
    return st.fixed_dictionaries({}, optional={k: SLOTS.get(k, value) for k in keys})


#: every key any adapter reads, where it reads it, with status words weighted up
protocol_soup = _obj(
    "status", "task_id", "file_id", "jobId", "progress", "completedAt", "id", "message", "code",
    value=leaf,
).flatmap(lambda top: st.fixed_dictionaries({}, optional={
    "base_resp": _obj("status_code", "status_msg"),
    "file": _obj("download_url", "backup_download_url"),
    "error": leaf | _obj("message", "type", "code"),
    "result": _obj("videoUrl") | _obj("videos", value=st.lists(_obj("url", "expires_at", value=leaf | st.lists(leaf)))),
    "output": _obj("video_url"),
    "outputs": st.lists(leaf, max_size=2),
    "data": leaf | st.lists(_obj("task_id"), max_size=2) | _obj(
        "task_id", "status", "file_id", "video_url", "id", "progress", "error") .flatmap(
        lambda d: st.fixed_dictionaries({}, optional={
            "outputs": st.lists(leaf, max_size=2), "output": _obj("video_url"),
            "result": _obj("videos", value=st.lists(_obj("url", "expires_at", value=leaf | st.lists(leaf)))),
        }).map(lambda extra: {**d, **extra})),
}).map(lambda nested: json.dumps({**top, **nested}).encode()))

HOSTILE: list[object] = [None, True, False, 0, -1, 1, 2**63, 1.5, float("nan"), float("inf"), [], {}, [[]], {"a": {}},
                         "", "x", "1026", "0", *SPECIAL_TEXT]
CODES = [0, 1000, 1002, 1004, 1008, 1026, 1027, 2013, 2049, 2056, 99999, "x", "1026", None, float("nan"), [], {}]


@st.composite
def mutated_bodies(draw, name: str):
    """A documented body (mostly the provider's own, else any provider's) whose
    values are each kept, removed or replaced with a hostile value (status words
    and codes where the protocols have them). The walk uses a seeded uniform
    random (hypothesis' own choices cluster and rarely change two leaves at once)."""
    rnd = draw(st.randoms(use_true_random=True))

    def value(key):
        if key == "status" and rnd.random() < 0.7:
            return rnd.choice(STATUS_WORDS)
        if key == "status_code" and rnd.random() < 0.7:
            return rnd.choice(CODES)
        return copy.deepcopy(rnd.choice(HOSTILE + BODIES))

    def walk(obj, key=None):
        if rnd.random() < (0.5 if key in ("status", "status_code") else 0.25):
            return value(key)
        if isinstance(obj, dict):
            return {k: walk(v, k) for k, v in obj.items() if rnd.random() > 0.1}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    template = rnd.choice(SHAPES[name]) if rnd.random() < 0.75 else rnd.choice(BODIES)
    return json.dumps(walk(copy.deepcopy(template))).encode()


raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(BODIES).map(lambda b: json.dumps(b).encode()).flatmap(
        lambda raw: st.integers(0, len(raw)).map(lambda n: raw[:n])),  # truncated answers
    st.just(b"[" * 100_000), st.just(b'{"a":' * 50_000),  # nesting deeper than the json module goes
)


def _check_answer(adapter, resp: HttpResponse) -> None:
    """Only ProviderError leaves the parsers; what read_* return is clean."""
    for parse in (adapter.parse_submit, adapter.parse_poll):
        try:
            parse(resp)
        except ProviderError as exc:
            assert exc.error_code in ERROR_CODES
            assert exc.retry_after is None or 0 <= exc.retry_after <= 600
    with contextlib.suppress(ProviderError):
        assert safe_id(adapter.read_submit(resp)) is not None
    try:
        state = adapter.read_poll(resp)
    except ProviderError:
        return
    assert state.status in ("pending", "running", "succeeded", "failed")
    if state.status == "succeeded":
        assert check_video_url(state.video_url, trusted_hosts=["example.test"])
    assert state.url_expires_at is None or math.isfinite(state.url_expires_at)
    assert state.follow_up is None or state.follow_up.url.startswith("https://example.test/")


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@FUZZ
@given(status=STATUSES, headers=HEADERS, data=st.data())
def test_fuzz_adapters_with_mutated_documented_answers(name, status, headers, data):
    body = data.draw(mutated_bodies(name))
    _check_answer(ADAPTERS[name]("https://example.test", Secret("fuzz-key-0123456789")),
                  HttpResponse(status, headers, body))


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@FUZZ
@given(status=STATUSES | st.integers(100, 599), headers=HEADERS, body=raw_bodies)
def test_fuzz_adapters_with_arbitrary_bytes(name, status, headers, body):
    _check_answer(ADAPTERS[name]("https://example.test", Secret("fuzz-key-0123456789")),
                  HttpResponse(status, headers, body))


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@FUZZ
@given(status=STATUSES, headers=HEADERS, body=protocol_soup)
def test_fuzz_adapters_with_protocol_shaped_json(name, status, headers, body):
    _check_answer(ADAPTERS[name]("https://example.test", Secret("fuzz-key-0123456789")),
                  HttpResponse(status, headers, body))
