"""The canary's pure parts: which first bytes are a video, what a canary's end means,
and the plan's time of a provider on first contact."""

from __future__ import annotations

import struct
from typing import Any

from batch_runner.catalog.settings import resolve_settings
from batch_runner.jobs.model import Job
from batch_runner.journal import JobRecord, JobStatus
from batch_runner.run.canary import container_of, judge
from batch_runner.run.estimate import make_plan


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def test_known_containers_are_videos_and_a_web_page_is_not():
    assert container_of(box(b"ftyp", b"isom\x00\x00\x02\x00")) == "MP4"
    assert container_of(box(b"ftyp", b"qt  \x00\x00\x00\x00")) == "MOV"
    assert container_of(box(b"moov")) == "MOV"
    assert container_of(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81") == "WebM/Matroska"
    assert container_of(b"<!DOCTYPE html><html>") is None
    assert container_of(b'{"error": "expired"}') is None
    assert container_of(b"\x00\x00") is None


def record(status: JobStatus, code: str | None = None, provider: str = "gccai", message: str | None = None):
    fields: dict[str, Any] = dict.fromkeys(JobRecord.__dataclass_fields__)
    return JobRecord(**{**fields, "job_id": "j", "status": status, "provider": provider, "error_code": code,
                        "error_message": message})


def test_a_canary_end_is_judged_by_whose_fault_it_is():
    assert judge(record(JobStatus.SUCCEEDED), "gccai") == "video"
    assert judge(record(JobStatus.FAILED, "content_policy"), "gccai") == "next"
    assert judge(record(JobStatus.FAILED, "task_failed"), "gccai") == "next"
    assert judge(record(JobStatus.FAILED, "connection_error"), "gccai") == "next"
    assert judge(record(JobStatus.FAILED, "timeout"), "gccai") == "stop"  # polls never read: protocol
    assert judge(record(JobStatus.FAILED, "auth"), "gccai") == "stop"
    assert judge(record(JobStatus.UNKNOWN, "unknown", message="possibly submitted, answer lost (bad_response: x)"),
                 "gccai") == "stop"
    assert judge(record(JobStatus.UNKNOWN, "unknown", message="possibly submitted, answer lost (timeout: x)"),
                 "gccai") == "next"
    assert judge(record(JobStatus.PENDING), "gccai") == "undecided"


def test_the_plan_counts_one_more_generation_time_on_first_contact():
    settings = resolve_settings({"gccai": {"typical_generation_s": 100.0, "max_in_flight": 10, "rpm": 600}}, {})
    jobs = [Job.from_fields({"job_id": f"j{i}", "row": i + 2, "prompt": "p", "provider": "gccai"}) for i in range(4)]
    known = make_plan(jobs, settings).wall_s
    first = make_plan(jobs, settings, first_contact={"gccai"}).wall_s
    assert known == 100.0 + 0.3 and first == 100.0 + 100.0 + 0.2
    assert make_plan(jobs[:1], settings, first_contact={"gccai"}).wall_s == 100.0  # one job: the canary is it


def test_a_remembered_canary_failure_holds_until_the_base_url_a_key_or_an_override_changes():
    from dataclasses import replace

    from batch_runner.keys import Secret
    from batch_runner.run.canary import CanaryMemory

    from conftest import provider_settings

    settings = provider_settings()
    memory = CanaryMemory.loads(CanaryMemory.of(settings, "not_video", "an HTML page", at=1000.0).dumps())
    assert memory is not None and memory.holds_for(provider_settings()) and memory.at == 1000.0
    assert not memory.holds_for(replace(settings, base_url="http://127.0.0.1:9/other"))
    assert not memory.holds_for(replace(settings, api_key=Secret("another-key-0001"), keys=()))
    assert not memory.holds_for(replace(settings, model_ids={"hailuo-2.3": "new-id"}))
    assert CanaryMemory.loads("") is None and CanaryMemory.loads("{not json") is None
