"""Key pools: <NAME>_API_KEYS parsing, per-key settings, redaction, the plan's time."""

from __future__ import annotations

import pytest

from batch_runner.catalog.settings import merge_overrides, resolve_settings
from batch_runner.errors import ConfigError
from batch_runner.journal import JobRecord, JobStatus
from batch_runner.keys import KeyPoolError, has_key, pool_from_env, redact, remember_keys
from batch_runner.output.results import summarize
from batch_runner.run.estimate import wall_time_s

from conftest import provider_settings

A, B, C = "alpha-key-0001", "bravo-key-0002", "charlie-key-03"


def test_labelled_and_unlabelled_keys_get_ids_never_the_key():
    pool = pool_from_env("MINIMAX_API_KEY", {"MINIMAX_API_KEYS": f" team-a={A}, {B} ,, team-c = {C},"})
    assert [k.label for k in pool] == ["team-a", "key2", "team-c"]
    assert [k.secret.reveal() for k in pool] == [A, B, C]
    assert all(k.key_id.startswith(f"{k.label}:") and len(k.key_id.split(":")[1]) == 8 for k in pool)
    assert not any(key in k.key_id for k in pool for key in (A, B, C))


def test_single_key_is_a_pool_of_one_and_the_pool_wins():
    assert [k.label for k in pool_from_env("GCCAI_API_KEY", {"GCCAI_API_KEY": A})] == ["key1"]
    assert pool_from_env("GCCAI_API_KEY", {"GCCAI_API_KEY": " "}) == ()
    both = pool_from_env("GCCAI_API_KEY", {"GCCAI_API_KEY": A, "GCCAI_API_KEYS": f"{B},{C}"})
    assert [k.secret.reveal() for k in both] == [B, C]
    assert has_key("GCCAI_API_KEY", {"GCCAI_API_KEYS": B}) and not has_key("GCCAI_API_KEY", {"GCCAI_API_KEYS": ","})


def test_a_base64_key_ending_in_equals_signs_is_not_a_label():
    (key,) = pool_from_env("GCCAI_API_KEY", {"GCCAI_API_KEYS": "QWxhZGRpbjpvcGVu=="})
    assert key.label == "key1" and key.secret.reveal() == "QWxhZGRpbjpvcGVu=="


@pytest.mark.parametrize("value, said", [
    (f"{A},{B},{A}", "entry 3 (key3) is the same key as key1"),
    (f"x={A},x={B}", "the label 'x' is given twice"),
    (f"team-a=,{B}", "entry 1 (team-a=) has no key"),
    (" , ,", "holds no key"),
])
def test_bad_pools_name_the_variable_and_the_entry_never_the_key(value, said):
    with pytest.raises(KeyPoolError) as caught:
        pool_from_env("APIFRAME_API_KEY", {"APIFRAME_API_KEYS": value})
    message = str(caught.value)
    assert message.startswith("APIFRAME_API_KEYS: ") and said in message
    assert A not in message and B not in message


def test_settings_refuse_a_bad_pool_as_a_config_error():
    with pytest.raises(ConfigError, match="GPTGE_API_KEYS: entry 2"):
        resolve_settings(None, {"GPTGE_API_KEYS": f"{A},{A}"})


def test_every_pooled_key_is_redacted():
    remember_keys({"GCCAI_API_KEYS": f"team-a={A},{B}"})
    assert redact(f"sent {A} and {B} as team-a={A}") == "sent *** and *** as ***"


def test_per_key_overrides_layer_and_apply_to_that_key_only():
    merged = merge_overrides({"minimax": {"rpm": 5, "keys": {"team-a": {"rpm": 20}, "key2": {"max_in_flight": 2}}}},
                             {"minimax": {"keys": {"team-a": {"max_in_flight": 7}}}})
    assert merged["minimax"]["keys"] == {"team-a": {"rpm": 20, "max_in_flight": 7}, "key2": {"max_in_flight": 2}}
    s = resolve_settings(merged, {"MINIMAX_API_KEYS": f"team-a={A},{B}"})["minimax"]
    a, b = (s.for_key(k) for k in s.pool)
    assert (a.rpm, a.max_in_flight, a.api_key.reveal()) == (20.0, 7, A)
    assert (b.rpm, b.max_in_flight, b.api_key.reveal()) == (5.0, 2, B)
    assert s.pool_rpm == 25.0


def test_the_plan_is_k_times_shorter_with_k_keys_when_the_key_limit_binds():
    one = provider_settings(rpm=6, max_in_flight=100, typical_generation_s=60.0)
    pool = resolve_settings(None, {"GCCAI_API_KEYS": f"{A},{B},{C}"})["gccai"]
    three = provider_settings(rpm=6, max_in_flight=100, typical_generation_s=60.0, keys=pool.keys)
    t1, t3 = wall_time_s(600, one), wall_time_s(600, three)
    assert t1 == pytest.approx(599 * 10 + 60)
    assert (t1 - 60) / (t3 - 60) == pytest.approx(3, rel=0.01)


def test_the_summary_shows_videos_and_cost_per_key_of_a_pool():
    def rec(i: int, key: str | None, provider: str = "minimax") -> JobRecord:
        return JobRecord(f"j{i}", provider=provider, status=JobStatus.SUCCEEDED, cost_usd=0.25, key_id=key)

    summary = summarize([rec(1, "team-a:1a2b3c4d"), rec(2, "team-a:1a2b3c4d"), rec(3, "key2:99887766"),
                         rec(4, "key1:00aa00aa", "gccai"), rec(5, None)])
    lines = summary.lines()
    assert "    key team-a:1a2b3c4d: 2 videos, $0.50" in lines
    assert "    key key2:99887766: 1 video, $0.25" in lines
    assert not any("key1:00aa00aa" in line for line in lines)  # a provider with one key: no per-key line
    assert summary.by_key_json() == {"minimax": {"team-a:1a2b3c4d": {"videos": 2, "credits": 0.0, "usd": 0.5},
                                                 "key2:99887766": {"videos": 1, "credits": 0.0, "usd": 0.25}}}


def test_a_per_key_setting_for_no_key_of_the_pool_is_named():
    from batch_runner.catalog.settings import unused_key_settings

    s = resolve_settings({"minimax": {"keys": {"team-z": {"rpm": 9}, "team-a": {"rpm": 3}}}},
                         {"MINIMAX_API_KEYS": f"team-a={A},{B}"})
    assert unused_key_settings(s, ["minimax", "gccai"]) == [
        "providers: minimax: keys: team-z: no key of that label in MINIMAX_API_KEYS (labels: team-a, key2): "
        "its settings are not used"]


def test_a_journal_made_with_one_key_of_a_pool_takes_the_pool_and_refuses_other_keys(tmp_path):
    from batch_runner.journal import Journal
    from batch_runner.world import WorldMismatchError, check_worlds, world_of

    def world(value: str):
        return {"gccai": world_of(resolve_settings(None, {"GCCAI_API_KEYS": value,
                                                          "GCCAI_BASE_URL": "https://api.example.com"})["gccai"],
                                  simulated=False)}

    with Journal(tmp_path / "j.sqlite") as journal:
        journal.add_jobs([])
        check_worlds(journal, world(A), ["gccai"])
        journal.db.execute("INSERT INTO jobs (job_id, job, provider, status, task_id, updated_at) "
                           "VALUES ('j1', '{}', 'gccai', 'submitted', 't1', 0)")
        check_worlds(journal, world(f"{A},{B}"), ["gccai"])  # the pool holds the key that made the tasks
        check_worlds(journal, world(B), ["gccai"])  # B is now known to this journal's world
        with pytest.raises(WorldMismatchError, match=r"its gccai tasks were made on api\.example\.com"):
            check_worlds(journal, world(C), ["gccai"])
