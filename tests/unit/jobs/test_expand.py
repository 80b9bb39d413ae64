"""Expansion is pure, images are resolved once, defaults and image kinds have one source."""

from __future__ import annotations

import base64
import io
import json
from importlib import resources

import pytest
from PIL import Image

from batch_runner.catalog.facts import job_defaults
from batch_runner.jobs.encode import encode_images, to_wire
from batch_runner.jobs.expand import Expansion, expand
from batch_runner.jobs.images import ImagePathError, check_images, resolve_image
from batch_runner.manifest.load import load_manifest

KEYS = {f"{p.upper()}_API_KEY": "k" for p in ("minimax", "gptge", "gccai", "gptproto", "apiinone", "apiframe")}


def picture(fmt: str, w: int = 640, h: int = 480) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 90)).save(buf, fmt)
    return buf.getvalue()


def manifest(tmp_path, text: str, name: str = "m.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_manifest(path, strict=False)


def test_expand_returns_problems_and_warnings_and_leaves_the_manifest_alone(tmp_path):
    m = manifest(tmp_path, "prompt,provider,duration,resolution\n"
                           "ok,minimax|apiinone,6,768P\n"      # apiinone is image-to-video only: dropped
                           "bad,minimax,10,1080P\n")            # 1080P is 6 s only
    before = (list(m.warnings), list(m.problems))
    result = expand(m, KEYS)
    assert isinstance(result, Expansion)
    assert (m.warnings, m.problems) == before
    assert result.jobs == []  # nothing runs while a row has a problem
    assert [(p.where, p.field) for p in result.problems] == [("m.csv: row 3", "resolution")]
    assert "1080P with 10 s is not offered by minimax" in result.problems[0].message
    assert [p.message.split(":")[0] for p in result.warnings] == ["fallback apiinone dropped"]


def test_a_missing_key_is_a_problem_for_a_run_and_a_warning_for_a_plan(tmp_path):
    m = manifest(tmp_path, "prompt,provider\nhello,gccai\n")
    run = expand(m, {})
    assert [p.field for p in run.problems] == ["provider"] and "GCCAI_API_KEY" in run.problems[0].message
    plan = expand(m, {}, need_keys=False)
    assert plan.problems == [] and len(plan.jobs) == 1
    assert [p.severity for p in plan.warnings] == ["warning"] and "GCCAI_API_KEY" in plan.warnings[0].message


def test_duplicate_requests_are_one_job_and_a_warning(tmp_path):
    m = manifest(tmp_path, "prompt,provider\nsame,minimax\nsame,minimax\nother,minimax\n")
    result = expand(m, KEYS)
    assert [j.prompt for j in result.jobs] == ["same", "other"]
    assert len(result.warnings) == 1 and "same request as row 2" in result.warnings[0].message


def test_the_job_defaults_are_the_schemas_and_every_stage_uses_them(tmp_path):
    text = resources.files("batch_runner").joinpath("data/manifest.schema.json").read_text(encoding="utf-8")
    props = json.loads(text)["$defs"]["job_fields"]["properties"]
    d = job_defaults()
    assert (d.model, d.resolution, d.duration) == (props["model"]["default"], props["resolution"]["default"],
                                                    props["duration"]["default"])
    m = manifest(tmp_path, "prompt,provider\nhello,minimax\nhello auto,auto\n")
    jobs = expand(m, KEYS).jobs
    assert [(j.model, j.resolution, j.duration) for j in jobs] == [(d.model, d.resolution, d.duration)] * 2
    assert "$0.28" in jobs[1].route  # auto priced the default variant: minimax hailuo-2.3 768P 6 s
    # a model sold only at 1080P 6 s: the capability check applies the same defaults
    pro = expand(manifest(tmp_path, "prompt,provider,model,resolution\nhi,gptproto,hailuo-2.3-pro,\n"), KEYS)
    assert f"{d.resolution} with {d.duration} s is not offered by gptproto" in pro.problems[0].message


def test_the_job_carries_its_resolved_image_and_the_request_is_built_from_it(tmp_path):
    data = picture("PNG")
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "hero.jpg").write_bytes(data)  # a PNG named .jpg: the content decides
    (tmp_path / "link.jpg").symlink_to(tmp_path / "shots" / "hero.jpg")
    m = manifest(tmp_path, "prompt,provider,image\nhero,minimax,link.jpg\n")
    (job,) = expand(m, KEYS).jobs
    assert job.image == "link.jpg"  # as written: the job id and the results keep it
    assert job.image_file is not None and job.image_file.path == (tmp_path / "shots" / "hero.jpg").resolve()
    assert (job.image_file.facts.format, job.image_file.facts.mime) == ("PNG", "image/png")
    sent = encode_images(job)
    assert sent.image == "data:image/png;base64," + base64.b64encode(data).decode()
    assert sent.job_id == job.job_id and sent.image_file == job.image_file


def test_a_file_changed_after_its_check_is_not_sent(tmp_path):
    (tmp_path / "hero.png").write_bytes(picture("PNG"))
    (job,) = expand(manifest(tmp_path, "prompt,provider,image\nhero,minimax,hero.png\n"), KEYS).jobs
    (tmp_path / "hero.png").write_bytes(picture("PNG") + b"\0" * 10)
    with pytest.raises(ValueError, match="changed since it was checked"):
        encode_images(job)


def test_a_path_the_expansion_did_not_resolve_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not checked when the jobs were expanded"):
        to_wire("hero.png", None)
    assert to_wire("https://cdn.example/hero.png", None) == "https://cdn.example/hero.png"


def test_image_kinds_come_from_the_content_for_files_and_data_uris(tmp_path):
    (tmp_path / "a.png").write_bytes(picture("WEBP"))
    (tmp_path / "b.webp").write_bytes(picture("JPEG"))
    jpeg_declared = "data:image/jpeg;base64," + base64.b64encode(picture("PNG")).decode()
    found = check_images("m.csv: row 2", {"image": "a.png", "end_image": jpeg_declared}, tmp_path)
    assert found.problems == []
    assert (found.facts["image"].format, found.facts["image"].mime) == ("WEBP", "image/webp")
    assert found.facts["end_image"].format == "PNG"  # the declared type is not trusted
    assert set(found.files) == {"image"}  # a data URI has no file behind it
    assert resolve_image("b.webp", tmp_path).facts.mime == "image/jpeg"


def test_image_problems_are_reported_once_with_the_fix(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(picture("PNG"))
    (tmp_path / "campaign").mkdir()
    (tmp_path / "campaign" / "text.png").write_text("not an image")
    found = check_images("m.csv: row 2", {"image": "../secret.png", "end_image": "text.png"}, tmp_path / "campaign")
    assert [(p.field, p.message.split(" (")[0]) for p in found.problems] == [
        ("image", "../secret.png leads outside the manifest's folder"),
        ("end_image", "text.png is not a readable image"),
    ]
    assert found.files == {} and found.facts == {}
    with pytest.raises(ImagePathError, match="--allow-outside-paths"):
        resolve_image("../secret.png", tmp_path / "campaign")
    assert resolve_image("../secret.png", tmp_path / "campaign", allow_outside=True).path == outside.resolve()
