"""When a saved video URL counts as expired, and the summary's warning of a run
without --download (time arithmetic on a fixed clock)."""

from __future__ import annotations

from batch_runner.journal import JobRecord, JobStatus
from batch_runner.run.url_refresh import expiring_soon, expiry_lines

NOW = 1_800_000_000.0


def record(job_id: str, provider: str, expires_in_s: float | None, *, saved: bool = False,
           status: JobStatus = JobStatus.SUCCEEDED) -> JobRecord:
    return JobRecord(job_id, provider=provider, status=status, video_url="https://cdn.example/v.mp4",
                     url_expires_at=None if expires_in_s is None else NOW + expires_in_s,
                     local_path="/v/x.mp4" if saved else None)


def test_a_url_is_refreshed_from_a_minute_before_its_end():
    assert not expiring_soon(record("a", "minimax", 61.0), NOW)
    assert expiring_soon(record("a", "minimax", 60.0), NOW)
    assert expiring_soon(record("a", "minimax", -3600.0), NOW)
    assert not expiring_soon(record("a", "gptproto", None), NOW)  # undocumented lifetime: never assumed


def test_the_summary_warns_per_provider_of_unsaved_videos_whose_urls_expire_within_12_h():
    records = [record("a", "minimax", 3600.0), record("b", "minimax", 3000.0),
               record("c", "minimax", 600.0, saved=True),  # saved: nothing to lose
               record("d", "apiframe", 86400.0),  # 24 h: beyond the 12 h horizon
               record("e", "gccai", 11 * 3600.0),
               record("f", "gptproto", None),
               record("g", "minimax", 60.0, status=JobStatus.FAILED)]
    lines = expiry_lines(records, NOW)
    assert len(lines) == 2
    assert lines[0].startswith("  1 gccai video URL expires in 660 min")
    assert lines[1].startswith("  2 minimax video URLs expire in 50 min")
    assert expiry_lines([record("a", "minimax", -10.0)], NOW)[0].startswith("  1 minimax video URL expires now")
    assert expiry_lines(records[3:4], NOW) == []
