"""``validate`` and ``run`` give an image the same verdict: one size limit, from data/providers.yaml."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from batch_runner.app import RunRequest, execute
from batch_runner.catalog.facts import catalog
from batch_runner.errors import ManifestError

from conftest import sim_env


def png(path, size_bytes):
    """A 640x480 PNG padded with trailing bytes to exactly ``size_bytes``."""
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(buf, "PNG")
    data = buf.getvalue()
    path.write_bytes(data + b"\0" * (size_bytes - len(data)))
    return path


def test_the_limit_is_the_data_files():
    assert catalog()["minimax"].image_limits["max_bytes"] == 20_971_520  # 20 MiB: 20,500,000 bytes fit


# aiohttp warns of any request body over 1 MiB sent from bytes (a JSON body here)
@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
async def test_a_20_5_mb_png_passes_validate_and_is_sent_by_run(tmp_path, cli, sim):
    image = png(tmp_path / "hero.png", 20_500_000)
    manifest = tmp_path / "m.csv"
    manifest.write_text("prompt,provider,image\nhero shot,minimax,hero.png\n")
    result = cli("validate", manifest, "--simulate")
    assert result.exit_code == 0, result.output
    status = await execute(RunRequest(manifest, tmp_path / "r.csv", environ=sim_env(sim), speedup=60, quiet=True))
    assert status == 0
    sent = sim.store.submissions["minimax"][0].body["first_frame_image"]
    assert sent.startswith("data:image/png;base64,")
    assert base64.b64decode(sent.split(",", 1)[1]) == image.read_bytes()


async def test_one_byte_over_the_limit_is_refused_by_both(tmp_path, cli, sim):
    png(tmp_path / "hero.png", 20_971_521)
    manifest = tmp_path / "m.csv"
    manifest.write_text("prompt,provider,image\nhero shot,minimax,hero.png\n")
    result = cli("validate", manifest, "--simulate")
    assert result.exit_code == 2
    assert "hero.png is 20.0 MB; at most 20 MB is taken" in result.output
    with pytest.raises(ManifestError, match="at most 20 MB is taken"):
        await execute(RunRequest(manifest, tmp_path / "r.csv", environ=sim_env(sim), speedup=60, quiet=True))
    assert not sim.store.submissions.get("minimax")
