"""Manifest validation: every problem at once, with file, row/line, field and a fix."""

from __future__ import annotations

import base64

from batch_runner.app import RunRequest, load_jobs

from conftest import DATA, ROOT

KEYS = {f"{p.upper()}_API_KEY": "k-123456" for p in
        ("minimax", "gptge", "gccai", "gptproto", "apiinone", "apiframe")}


def test_example_manifests_are_valid(cli):
    for name in ("example.yaml", "example.csv"):
        result = cli("validate", ROOT / "manifests" / name, "--simulate")
        assert result.exit_code == 0, result.output
        assert "17 jobs" in result.output


def test_yaml_and_csv_of_one_campaign_give_the_same_job_ids():
    ids = []
    for name in ("example.yaml", "example.csv"):
        jobs, _ = load_jobs(RunRequest(ROOT / "manifests" / name), KEYS)
        ids.append([j.job_id for j in jobs])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 17  # variants give distinct ids


def test_job_ids_are_stable_and_change_with_the_request(write):
    a = write("a.csv", "prompt,provider\nhello [推进],apiframe\n")
    b = write("b.csv", "prompt,provider,variants\nhello [推进],apiframe,2\n")
    c = write("c.csv", "prompt,provider\nhello again,apiframe\n")
    ja, _ = load_jobs(RunRequest(a), KEYS)
    jb, _ = load_jobs(RunRequest(b), KEYS)
    jc, _ = load_jobs(RunRequest(c), KEYS)
    assert ja[0].job_id == jb[0].job_id != jb[1].job_id
    assert jc[0].job_id != ja[0].job_id


def test_every_problem_is_reported_at_once_with_row_and_field(cli, write):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 20).decode()
    path = write(
        "bad.csv",
        "name,prompt,provider,model,duration,resolution,image\n"
        "ok,fine,apiframe,,6,768p,\n"                                # row 2: valid
        "long,x,minimax,,10,1080P,\n"                                # row 3: 1080P + 10 s
        "textonly,hello,apiinone,,6,768P,\n"                         # row 4: text-only on image-only
        f'b64,hi,apiinone,,6,768P,"data:image/png;base64,{png}"\n'     # row 5: base64 on URL-only
        "unsold,hi,minimax,hailuo-2.3-pro,6,768P,\n"                 # row 6: model not sold there
        "dur,hi,gccai,,7,768P,\n"                                    # row 7: bad duration
        "prov,hi,openai,,6,768P,\n"                                  # row 8: unknown provider
        "fast-t2v,hi,minimax,hailuo-2.3-fast,6,768P,\n"              # row 9: fast is i2v only
        f"empty,,gccai,,6,768P,\n",                                  # row 10: no prompt
    )
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    out = result.output
    assert "row 2" not in out
    assert "bad.csv: row 3, field 'resolution': 1080P with 10 s is not offered" in out
    assert "bad.csv: row 4, field 'image': apiinone runs hailuo-2.3 as image-to-video only" in out
    assert "bad.csv: row 5, field 'image': apiinone takes image URLs only" in out
    assert "bad.csv: row 6, field 'model': minimax does not sell hailuo-2.3-pro" in out
    assert ("bad.csv: row 7, field 'resolution': 768P with 7 s is not offered by gccai for hailuo-2.3; "
            "allowed: 768P 6 s, 768P 10 s, 1080P 6 s") in out  # 7 s is a duration of h3 only
    assert ("bad.csv: row 8, field 'provider': 'openai' is not a provider or a list of providers. "
            "Allowed: minimax") in out
    assert "bad.csv: row 9, field 'image': minimax runs hailuo-2.3-fast as image-to-video only" in out
    assert "bad.csv: row 10, field 'prompt'" in out
    assert "Traceback" not in out


def test_yaml_errors_name_the_line(cli, write):
    path = write(
        "bad.yaml",
        "defaults:\n  provider: gccai\njobs:\n  - prompt: ok\n  - prompt: hi\n    duration: 11\n",
    )
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    assert "bad.yaml: line 5, field 'resolution': 768P with 11 s is not offered by gccai" in result.output


def test_broken_yaml_is_a_clear_error(cli, write):
    result = cli("validate", write("x.yaml", "jobs: [\n  - prompt: a\n"), "--simulate")
    assert result.exit_code == 2
    assert "x.yaml: line" in result.output and "not valid YAML" in result.output


def test_missing_key_names_the_variable(cli):
    result = cli("validate", ROOT / "manifests" / "example.yaml")
    assert result.exit_code == 2
    assert "set the environment variable APIFRAME_API_KEY" in result.output
    result = cli("validate", ROOT / "manifests" / "example.yaml", env=KEYS)
    assert result.exit_code == 0


def test_typo_column_gets_a_suggestion(cli, write):
    path = write("t.csv", "promt,provider\nhello,apiframe\n")
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    assert "field 'promt': unknown field; did you mean 'prompt'?" in result.output


def test_csv_cells_are_typed_and_normalised(write):
    path = write(
        "t.csv",
        "prompt,provider,duration,resolution,prompt_optimizer,variants,sku\n"
        "hi,gccai,10,768p,TRUE,2,007\n",
    )
    jobs, _ = load_jobs(RunRequest(path), KEYS)
    assert len(jobs) == 2
    j = jobs[0]
    assert (j.duration, j.resolution, j.prompt_optimizer) == (10, "768P", True)
    assert j.extras == {"sku": "007"}  # campaign columns stay text


def test_spring_launch_runs_on_apiframe_and_is_refused_on_apiinone(cli):
    sheet = DATA / "spring-launch.csv"
    ok = cli("validate", sheet, "--set", "provider=apiframe", "--simulate")
    assert ok.exit_code == 0, ok.output
    bad = cli("validate", sheet, "--set", "provider=apiinone", "--simulate")
    assert bad.exit_code == 2
    for row in (10, 13, 14, 16, 17, 25):
        assert f"spring-launch.csv: row {row}, field 'image'" in bad.output


def test_set_rejects_unknown_fields(cli):
    result = cli("validate", ROOT / "manifests" / "example.csv", "--set", "colour=red", "--simulate")
    assert result.exit_code == 2
    assert "--set, field 'colour': not a job field" in result.output
