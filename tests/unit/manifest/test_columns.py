"""Which job field an unmapped column looks like, and which columns are left alone."""

from __future__ import annotations

import pytest

from batch_runner.errors import ManifestError
from batch_runner.manifest.columns import guess_field, looks_like_image
from batch_runner.manifest.load import load_manifest
from batch_runner.manifest.mistakes import ENUMS
from batch_runner.manifest.options import parse_map
from batch_runner.manifest.schema import JOB_FIELDS
from batch_runner.manifest.sheets import header_key


def guess(header: str, *cells: str) -> tuple[str, str] | None:
    found = guess_field(header, header_key(header), list(cells), JOB_FIELDS, ENUMS)
    return (found.field, found.how) if found else None


@pytest.mark.parametrize(("header", "cells", "expected"), [
    ("Hero Image", ["hero.jpg"], ("image", "synonym")),
    ("Picture", ["https://cdn.example.com/p?id=4"], ("image", "synonym")),  # the header says image: any URL
    ("Last Frame Pic", ["end.png"], ("end_image", "synonym")),
    ("Closing Still", ["shots/end.webp"], ("end_image", "synonym")),
    ("English Prompt", ["a shoe"], ("prompt", "synonym")),
    ("Runtime", ["6", "10"], ("duration", "synonym")),
    ("Length [sec]", ["10"], ("duration", "synonym")),
    ("Video Resolution", ["720p"], ("resolution", "synonym")),
    ("Vendor", ["gccai", "minimax|apiframe"], ("provider", "synonym")),
    ("Takes", ["3"], ("variants", "synonym")),
    ("Asset", ["https://cdn.example.com/a.jpg", "b.png", "c.jpeg"], ("image", "cells")),
    ("durtion", ["6"], ("duration", "typo")),
])
def test_a_look_alike_is_judged_by_its_header_and_cells(header, cells, expected):
    assert guess(header, *cells) == expected


@pytest.mark.parametrize(("header", "cells"), [
    ("Product Name", ["Trail Runner"]),        # a campaign column, not the job's name
    ("Mood", ["calm"]),
    ("SKU", ["TR-100"]),
    ("Channel", ["tiktok"]),
    ("Owner", ["sam@brand.example"]),
    ("Length (cm)", ["28"]),                   # a length, but not in seconds
    ("Length", ["long"]),                      # not a number of seconds
    ("Model", ["Anna", "Ben"]),                # the person in the shot, not a model id
    ("Photo credit", ["Jo Smith"]),            # its cells are no images
    ("Negative prompt", ["blurry"]),
    ("Product URL", ["https://shop.example.com/tr-100"]),  # a web page, not an image
    ("Hero Image", []),                        # no cell: nothing is lost
])
def test_campaign_columns_are_left_alone(header, cells):
    assert guess(header, *cells) is None


def test_image_cells_are_urls_data_uris_or_paths_with_an_image_suffix():
    assert looks_like_image("https://cdn.example.com/x.JPG?w=800")
    assert looks_like_image("data:image/png;base64,iVBOR")
    assert looks_like_image("images/a b.png")
    assert not looks_like_image("https://shop.example.com/tr-100")
    assert looks_like_image("https://shop.example.com/tr-100", header_says_image=True)
    assert not looks_like_image("a sneaker on a beach")


def test_a_sheet_with_campaign_columns_loads_without_warnings(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("prompt,provider,image,Product Name,Mood,SKU,Photo credit,Length (cm)\n"
                    "a shoe,gccai,a.png,Trail Runner,calm,TR-100,Jo Smith,28\n", encoding="utf-8")
    assert load_manifest(path).warnings == []


def test_image_cells_beside_an_image_column_suggest_the_last_frame(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("prompt,provider,image,Asset\na shoe,gptproto,a.png,b.png\n", encoding="utf-8")
    (warning,) = load_manifest(path).warnings
    assert warning.field == "Asset" and '--map "Asset=end_image"' in warning.message


def test_a_column_used_by_a_template_is_not_a_look_alike(tmp_path):
    (tmp_path / "s.csv").write_text("Hero Image,sku\nhero.png,TR-100\n", encoding="utf-8")
    manifest = tmp_path / "m.yaml"
    manifest.write_text('source: s.csv\ndefaults: {provider: gccai, prompt: "a shoe {sku}", '
                        'image: "{hero_image}"}\n', encoding="utf-8")
    loaded = load_manifest(manifest)
    assert loaded.warnings == [] and loaded.rows[0].fields["image"] == "hero.png"


def test_a_yaml_key_that_looks_like_the_image_warns_once_with_its_lines(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("defaults: {provider: gccai}\njobs:\n"
                        "  - {prompt: a, hero_image: a.png}\n  - {prompt: b, hero_image: b.png}\n", encoding="utf-8")
    (warning,) = load_manifest(manifest).warnings
    assert warning.where == "m.yaml: line 3, line 4" and "rename the key to 'image'" in warning.message


def test_map_pairs_and_their_mistakes():
    assert parse_map(["Hero Image=image", " Clip = end_image "]) == {"Hero Image": "image", "Clip": "end_image"}
    with pytest.raises(ManifestError, match='use --map "HEADER=field"'):
        parse_map(["Hero Image"])


def test_map_is_refused_for_a_yaml_jobs_list(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("jobs:\n  - {prompt: a, provider: gccai}\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="--map names sheet headers"):
        load_manifest(manifest, columns={"Hero Image": "image"})
