"""Image checks before anything is sent: local files and base64 by content, remote URLs on request."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from aiohttp import web
from PIL import Image

from batch_runner.app import RunRequest, execute

from conftest import sim_env

MiB = 2**20


def image(path, w, h, fmt="PNG", pad_to=None):
    """An image file of w x h pixels; ``pad_to`` bytes by trailing padding."""
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 80, 40)).save(buf, fmt)
    data = buf.getvalue()
    if pad_to is not None:
        data += b"\0" * (pad_to - len(data))
    path.write_bytes(data)
    return path


def sheet(write, provider, *images):
    rows = "".join(f"shot {i} [推进],{provider},images/{name}\n" for i, name in enumerate(images))
    return write("m.csv", "prompt,provider,image\n" + rows)


@pytest.fixture
def imgdir(tmp_path):
    (tmp_path / "images").mkdir()
    return tmp_path / "images"


def test_limits_just_inside_pass(cli, write, imgdir):
    image(imgdir / "short301.png", 301, 301)
    image(imgdir / "narrow.png", 400, 1000)          # exactly 2:5
    image(imgdir / "wide.jpg", 1000, 400, "JPEG")    # exactly 5:2
    image(imgdir / "max.png", 400, 400, pad_to=20 * MiB)  # exactly 20 MB
    image(imgdir / "photo.jpg", 640, 480, "PNG")     # a PNG named .jpg: content decides
    image(imgdir / "webp.webp", 640, 480, "WEBP")    # MiniMax takes WebP
    path = sheet(write, "minimax", "short301.png", "narrow.png", "wide.jpg", "max.png", "photo.jpg", "webp.webp")
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 0, result.output
    assert "6 jobs" in result.output


def test_limits_just_outside_fail_with_the_rule(cli, write, imgdir):
    image(imgdir / "short300.png", 300, 300)
    image(imgdir / "narrow.png", 400, 1001)
    image(imgdir / "wide.png", 1001, 400)
    image(imgdir / "big.png", 400, 400, pad_to=20 * MiB + 1)
    image(imgdir / "anim.gif", 640, 480, "GIF")
    (imgdir / "fake.png").write_text("not an image")
    path = sheet(write, "gccai", "short300.png", "narrow.png", "wide.png", "big.png", "anim.gif", "fake.png",
                 "nope.png")
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    out = result.output
    assert "m.csv: row 2, field 'image': images/short300.png is 300x300 px; its short side must be over 300 px" in out
    assert ("m.csv: row 3, field 'image': images/narrow.png has aspect ratio 400:1001; "
            "gccai takes between 2:5 and 5:2") in out
    assert "m.csv: row 4, field 'image': images/wide.png has aspect ratio 1001:400" in out
    assert "m.csv: row 5, field 'image': images/big.png is 20.0 MB; at most 20 MB is taken" in out
    assert "m.csv: row 6, field 'image': images/anim.gif is a GIF image; gccai takes JPEG or PNG" in out
    assert "m.csv: row 7, field 'image': images/fake.png is not a readable image" in out
    assert "m.csv: row 8, field 'image': images/nope.png no such image file" in out


def test_format_and_exclusive_bounds_are_per_provider_with_a_suggestion(cli, write, imgdir):
    image(imgdir / "webp.webp", 640, 480, "WEBP")
    result = cli("validate", sheet(write, "gccai", "webp.webp"), "--simulate")
    assert result.exit_code == 2
    assert "webp.webp is a WEBP image; gccai takes JPEG or PNG (providers that can: minimax, gptge)" in result.output
    image(imgdir / "narrow.png", 400, 1000)  # 2:5 exactly: "greater than 2:5" on gptproto
    result = cli("validate", sheet(write, "gptproto", "narrow.png"), "--simulate")
    assert result.exit_code == 2
    assert "gptproto takes strictly between 2:5 and 5:2 (providers that can: minimax, gptge, gccai)" in result.output


def test_url_only_provider_says_so_and_suggests_one_that_takes_the_file(cli, write, imgdir):
    image(imgdir / "hero.png", 640, 480)
    result = cli("validate", sheet(write, "apiframe", "hero.png"), "--simulate")
    assert result.exit_code == 2
    assert ("field 'image': apiframe takes image URLs only, not a local file: host it at an https URL "
            "(providers that can: minimax, gptge, gccai, gptproto)") in result.output


def test_base64_images_are_checked_too(cli, write):
    buf = io.BytesIO()
    Image.new("RGB", (200, 200)).save(buf, "PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    result = cli("validate", write("b.csv", f"prompt,provider,image\nhi,gccai,\"{uri}\"\n"), "--simulate")
    assert result.exit_code == 2
    assert "field 'image': the base64 image is 200x200 px; its short side must be over 300 px" in result.output


async def test_local_image_is_sent_as_a_data_uri(tmp_path, sim, write, imgdir):
    image(imgdir / "hero.png", 640, 480)
    path = sheet(write, "gccai", "hero.png")
    status = await execute(RunRequest(path, tmp_path / "r.csv", environ=sim_env(sim), speedup=60, quiet=True))
    assert status == 0
    body = sim.store.submissions["gccai"][0].body
    sent = body["first_frame_image"]
    assert sent.startswith("data:image/png;base64,")
    assert base64.b64decode(sent.split(",", 1)[1]) == (imgdir / "hero.png").read_bytes()


@pytest.fixture
async def image_server(aiohttp_server):
    """Images over HTTP on 127.0.0.1; ``seen`` records (method, path)."""
    files = {}
    for name, (w, h, fmt, pad) in {"ok.png": (640, 480, "PNG", None), "small.jpg": (300, 300, "JPEG", None),
                                   "tall.png": (400, 1001, "PNG", None),
                                   "big.png": (400, 400, "PNG", 20 * MiB + 1)}.items():
        buf = io.BytesIO()
        Image.new("RGB", (w, h)).save(buf, fmt)
        files[name] = buf.getvalue() + b"\0" * ((pad or 0) - len(buf.getvalue()) if pad else 0)
    files["page.png"] = b"<html>sign in</html>"
    seen = []

    async def serve(request):
        seen.append((request.method, request.match_info["name"]))
        data = files.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/png")

    app = web.Application()
    app.router.add_get("/img/{name}", serve)
    server = await aiohttp_server(app)
    server.seen = seen
    return server


async def test_check_urls_fetches_headers_only_and_applies_the_limits(cli, write, image_server):
    base = f"http://127.0.0.1:{image_server.port}/img"
    rows = "".join(f"shot {i} [推进],gccai,{base}/{n}\n" for i, n in enumerate(
                   ("ok.png", "small.jpg", "tall.png", "big.png", "page.png", "gone.png", "ok.png")))
    path = write("u.csv", "prompt,provider,image\n" + rows)
    offline = await asyncio.to_thread(cli, "validate", path, "--simulate")
    assert offline.exit_code == 0 and image_server.seen == []  # nothing fetched by default
    refused = await asyncio.to_thread(cli, "validate", path, "--simulate", "--check-urls")
    assert refused.exit_code == 2 and image_server.seen == []  # 127.0.0.1 is refused unless allowed
    result = await asyncio.to_thread(cli, "validate", path, "--simulate", "--check-urls", "--allow-private-urls")
    assert result.exit_code == 2
    out = result.output
    assert "row 2" not in out and "row 8" not in out  # ok.png, fetched once for both rows
    assert f"u.csv: row 3, field 'image': {base}/small.jpg is 300x300 px; its short side must be over 300 px" in out
    assert f"u.csv: row 4, field 'image': {base}/tall.png has aspect ratio 400:1001" in out
    assert f"u.csv: row 5, field 'image': {base}/big.png is 20.0 MB; at most 20 MB is taken" in out
    assert f"u.csv: row 6, field 'image': {base}/page.png is not a readable image" in out
    assert f"u.csv: row 7, field 'image': {base}/gone.png answers HTTP 404" in out
    assert ("GET", "big.png") not in image_server.seen  # refused from its Content-Length
    assert image_server.seen.count(("GET", "ok.png")) == 1
