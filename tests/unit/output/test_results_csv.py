"""The results CSV's bytes: text quoted and made inert, numbers bare, blanks empty,
exactly as the file has always been (it was written by pandas before), after a
UTF-8 byte-order mark."""

from __future__ import annotations

import codecs
import csv
import io
import json
import os

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_runner.journal import JobRecord, JobStatus
from batch_runner.output.results import RESULT_COLUMNS, safe_cell, write_results

_NUMERIC = {"row", "variant", "duration", "cost_credits", "cost_usd", "attempts", "elapsed_s", "bytes"}


def record(i: int, extras: dict | None = None, **state) -> JobRecord:
    job = {"row": 2 + i, "name": f"shot {i}", "variant": 1, "model": "hailuo-2.3", "scene": "text-to-video",
           "prompt": "a calm lake", "duration": 6, "resolution": "768P", "extras": extras or {}}
    fields = {"provider": "minimax", "status": "succeeded", "attempts": 1, **state}
    fields = {("size_bytes" if k == "bytes" else k): v for k, v in fields.items()}
    fields["status"] = JobStatus(fields["status"])
    return JobRecord(job_id=f"{i:016x}", job=json.dumps(job), **fields)


def by_pandas(records: list[JobRecord]) -> bytes:
    """The results CSV as pandas wrote it (the implementation before the csv module)."""
    from batch_runner.output.results import result_row

    rows = [result_row(r) for r in records]
    extras: list[str] = []
    for r in rows:
        extras += [k for k in r if k not in RESULT_COLUMNS and k not in extras]
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS + extras)
    frame["bytes"] = frame["bytes"].astype("Int64")
    for col in frame.columns:
        if col not in _NUMERIC:
            frame[col] = frame[col].map(safe_cell)
    frame = frame.rename(columns={c: safe_cell(c) for c in extras})
    out = io.StringIO()
    frame.to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return codecs.BOM_UTF8 + out.getvalue().encode()  # now with a BOM, so Excel reads UTF-8


def test_cells_are_typed_quoted_and_made_inert(tmp_path):
    path = tmp_path / "results.csv"
    records = [record(0, {"sku": "=1+2", "discount": -5}, cost_usd=0.34, cost_credits=None, bytes=1024,
                      submitted_at=1_790_000_000.0, finished_at=1_790_000_095.25, local_path="/v/0.mp4"),
               record(1, {"sku": "TR, 1"}, status="failed", cost_usd=None, error_message='said "no"\nthen')]
    assert write_results(path, records) == 2
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)  # Excel reads the file as UTF-8 only after a BOM
    lines = raw[len(codecs.BOM_UTF8):].decode().split(os.linesep)
    assert lines[0].startswith('"job_id","row","name",')
    assert lines[0].endswith('"sha256","qa_status","qa_problems","video_width","video_height","video_duration_s",'
                             '"video_codec","video_fps","delivered_url","in_manifest","review","review_note","sku","discount"')
    first = next(csv.reader([lines[1]]))
    assert lines[1].startswith('"0000000000000000",2,"shot 0",1,"minimax",')
    assert ',0.34,1,' in lines[1] and ',95.25,' in lines[1]
    assert lines[1].endswith(',1024,"","","","","","","","","","","","","\'=1+2",-5.0')
    assert first[RESULT_COLUMNS.index("submitted_at")] == "2026-09-21T14:13:20Z"
    # a blank is "" (quoted), a number column with a blank holds floats, a line break stays in its cell
    assert '"failed"' in lines[2] and '"said ""no""' in lines[2] and lines[3].startswith('then"')
    assert lines[3].endswith(',"","","","","","","","","","","TR, 1",""')


_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True),
                   st.text(alphabet="=+-@\t\r\n,\"' ab1.é", max_size=6))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["note", "-x", "n"]), _VALUE, max_size=3), min_size=1,
                max_size=5),
       st.lists(st.one_of(st.none(), st.integers(0, 9), st.floats(0, 9)), min_size=5, max_size=5))
def test_the_bytes_are_those_pandas_wrote(tmp_path, extras, costs):
    records = [record(i, e, cost_credits=costs[i % 5], cost_usd=costs[(i + 1) % 5],
                      bytes=None if costs[i % 5] is None else 7 * i) for i, e in enumerate(extras)]
    path = tmp_path / "results.csv"
    write_results(path, records)
    assert path.read_bytes() == by_pandas(records)
