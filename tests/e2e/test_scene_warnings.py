"""The scene is never a surprise; one mistake, one message (through the CLI).

A sheet column the manifest does not map (``Hero Image``, ``End Frame``,
``Length (s)`` ...) used to validate clean and run as text-to-video. Each one
is now a warning naming the column and the fix (``--map`` / ``columns:``);
``plan``, ``run``'s start line and its summary count text-to-video and
image-to-video jobs per provider; a header typo, a missing ``prompt`` column
and a template typo in ``defaults`` are one line each, not one per row.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, sim_env, simulator_in_thread

IMAGE = ROOT / "manifests" / "images" / "trail-runner.png"
LOOK_ALIKES = {  # header -> (cells, the job field it looks like)
    "Hero Image": ("trail-runner.png", "image"),
    "Product Image": ("trail-runner.png", "image"),
    "Photo": ("trail-runner.png", "image"),
    "Start Image": ("https://cdn.example-shop.com/img/tr100-hero.jpg", "image"),
    "End Frame": ("trail-runner.png", "end_image"),
    "Video Prompt": ("A trail runner on a beach", "prompt"),
    "Length (s)": ("10", "duration"),
}


def sheet(tmp_path: Path, header: str, cell: str, rows: int = 3, prompt: bool = True) -> Path:
    """A CSV manifest of ``rows`` gccai jobs with one extra column, and the image beside it."""
    shutil.copy(IMAGE, tmp_path / IMAGE.name)
    head = ("prompt," if prompt else "") + f"provider,{header}\n"
    body = "".join((f"A shoe on trail {i}," if prompt else "") + f"gccai,{cell}\n" for i in range(rows))
    path = tmp_path / "campaign.csv"
    path.write_text(head + body, encoding="utf-8")
    return path


def problem_lines(output: str) -> list[str]:
    """The lines of the output that name a place in the manifest."""
    return [line.strip() for line in output.splitlines() if ": row " in line or ": line " in line]


@pytest.mark.parametrize("header", list(LOOK_ALIKES))
def test_a_column_that_looks_like_a_job_field_is_one_line_naming_it_and_the_fix(cli, tmp_path, header):
    cell, target = LOOK_ALIKES[header]
    path = sheet(tmp_path, header, cell, prompt=target != "prompt")
    result = cli("validate", path, "--simulate")
    lines = [line for line in problem_lines(result.output) if f"'{header}'" in line]
    assert len(lines) == 1, result.output
    assert "looks like" in lines[0] and f'--map "{header}={target}"' in lines[0]
    if target == "prompt":  # no prompt at all: the column is the reason, and the only message
        assert result.exit_code == 2 and problem_lines(result.output) == lines
    else:
        assert result.exit_code == 0 and "warning:" in lines[0]
        assert f"'{target}'" in lines[0]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_strict_refuses_a_column_that_looks_like_the_image(cli, tmp_path, command):
    path = sheet(tmp_path, "Hero Image", "trail-runner.png")
    extra = ["-o", tmp_path / "results.csv"] if command == "run" else []
    result = cli(command, path, "--simulate", "--strict", *extra)
    assert result.exit_code == 2
    assert "'Hero Image'" in result.output and '--map "Hero Image=image"' in result.output
    assert not (tmp_path / "results.csv").exists()  # nothing was run


def test_plan_and_run_warn_about_the_column_and_count_the_scenes(cli, tmp_path):
    path = sheet(tmp_path, "Hero Image", "trail-runner.png")
    plan = cli("plan", path, "--simulate")
    assert plan.exit_code == 0
    assert "'Hero Image'" in plan.output and '--map "Hero Image=image"' in plan.output
    assert "scenes: gccai 3 text-to-video, 0 image-to-video" in plan.output
    mapped = cli("plan", path, "--simulate", "--map", "Hero Image=image")
    assert "'Hero Image'" not in mapped.output
    assert "scenes: gccai 0 text-to-video, 3 image-to-video" in mapped.output
    run = cli("run", path, "--simulate", "-o", tmp_path / "results.csv", "--map", "hero image=image")
    assert run.exit_code == 0, run.output
    start, summary = [line for line in run.output.splitlines() if "scenes: " in line]
    assert "3 jobs: 3 to submit" in start and start.endswith("scenes: gccai 0 text-to-video, 3 image-to-video")
    assert summary.strip() == "scenes: gccai 0 text-to-video, 3 image-to-video"


def test_the_counts_are_per_provider(cli, tmp_path):
    shutil.copy(IMAGE, tmp_path / IMAGE.name)
    path = tmp_path / "mixed.csv"
    path.write_text("prompt,provider,image\na shoe,gccai,trail-runner.png\na mug,gccai,\na cat,minimax,\n",
                    encoding="utf-8")
    result = cli("plan", path, "--simulate", "--format", "json")
    assert result.exit_code == 0
    assert '"gccai": {\n      "text-to-video": 1,\n      "image-to-video": 1\n    }' in result.output
    result = cli("plan", path, "--simulate")
    assert "scenes: gccai 1 text-to-video, 1 image-to-video; minimax 1 text-to-video, 0 image-to-video" \
        in result.output


@pytest.fixture
def simulator() -> Iterator:
    """A simulator of every provider on 127.0.0.1 in its own thread (0.3 s tasks), so
    the CLI runs in real mode against it and the test reads what it received."""
    with simulator_in_thread(generation_s=0.3) as running:
        yield running


def test_map_makes_the_column_the_first_frame_the_simulator_receives(cli, tmp_path, simulator):
    sheet(tmp_path, "Hero Image", "trail-runner.png", rows=2)
    manifest = tmp_path / "campaign.yaml"
    manifest.write_text("source: campaign.csv\nproviders:\n  gccai: {rpm: 600, poll_interval_s: 0.1, "
                        "typical_generation_s: 0.3}\n", encoding="utf-8")
    env = sim_env(simulator)
    plain = cli("run", manifest, "-o", tmp_path / "plain.csv", env=env)
    assert plain.exit_code == 0, plain.output
    assert "map it under columns: in campaign.yaml" in plain.output
    sent = simulator.store.submissions["gccai"]
    assert len(sent) == 2 and not any("first_frame_image" in s.body for s in sent)
    mapped = cli("run", manifest, "-o", tmp_path / "mapped.csv", "--map", "Hero Image=image", env=env)
    assert mapped.exit_code == 0, mapped.output
    sent = simulator.store.submissions["gccai"][2:]
    assert len(sent) == 2
    assert all(s.body["first_frame_image"].startswith("data:image/png;base64,") for s in sent)
    assert "'Hero Image'" not in mapped.output


def test_a_header_typo_is_one_line_not_one_per_row(cli, tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("Promt,provider\n" + "a shoe,gccai\n" * 5, encoding="utf-8")
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    assert problem_lines(result.output) == [
        "typo.csv: row 1, field 'Promt': unknown field; did you mean 'prompt'? Column 'Promt' is not a job "
        "field: rename the header, or map it: --map \"Promt=prompt\""]


def test_a_missing_prompt_column_is_one_line(cli, tmp_path):
    path = tmp_path / "noprompt.csv"
    path.write_text("provider,sku\n" + "gccai,TR-100\n" * 5, encoding="utf-8")
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    (line,) = problem_lines(result.output)
    assert line.startswith("noprompt.csv: row 1, field 'prompt': no 'prompt' is given: add a 'prompt' column")


def test_a_template_typo_in_defaults_points_at_its_yaml_line(cli, tmp_path):
    (tmp_path / "products.csv").write_text("product,sku\n" + "Trail Runner,TR-100\n" * 5, encoding="utf-8")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("source: products.csv\ndefaults:\n  provider: gccai\n  prompt: \"{prodcut} on a beach\"\n",
                        encoding="utf-8")
    result = cli("validate", manifest, "--simulate")
    assert result.exit_code == 2
    assert problem_lines(result.output) == [
        "m.yaml: line 4, field 'defaults.prompt': template variable {prodcut} names no column, default or "
        "matrix entry: did you mean {product}?"]


def test_a_key_typo_in_yaml_jobs_is_one_line_naming_its_lines(cli, tmp_path):
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text("defaults: {provider: gccai}\njobs:\n" + "  - promt: a shoe\n" * 3, encoding="utf-8")
    result = cli("validate", manifest, "--simulate")
    assert result.exit_code == 2
    assert problem_lines(result.output) == [
        "jobs.yaml: line 3, line 4, line 5, field 'promt': unknown field; did you mean 'prompt'? Key 'promt' "
        "is not a job field: rename the key to 'prompt'"]
