"""The simulator's clips: what each provider's submit body orders, what a fault delivers."""

from __future__ import annotations

import base64
import io

from PIL import Image

from batch_runner.simulator.clips import OPENING_PX, delivered, first_frame, opening_picture, ordered


def test_the_order_is_read_from_every_providers_body_shape():
    assert ordered({"resolution": "1080P", "duration": 6}) == ("1080P", 6)  # MiniMax, gpt.ge, gptproto
    assert ordered({"resolution": "768p", "duration": 10}) == ("768P", 10)  # gccai
    assert ordered({"resolution": "768P", "duration": "10"}) == ("768P", 10)  # apiin.one: a string
    assert ordered({"hailuoParams": {"resolution": "1080p", "duration": 6}}) == ("1080P", 6)  # apiframe
    assert ordered({}) == ordered(None) == ordered({"duration": "soon"}) == ("768P", 6)


def test_faults_change_what_is_delivered():
    order = {"resolution": "1080P", "duration": 6}
    assert delivered(order, None) == (1920, 1080, 6)
    assert delivered(order, "wrong_resolution") == (1366, 768, 6)
    assert delivered({"resolution": "768P", "duration": 10}, "short") == (1366, 768, 5)
    assert delivered({"resolution": "768P", "duration": 6}, "wrong_resolution") == (912, 512, 6)


def test_the_first_frame_image_is_taken_from_a_data_uri_only():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert first_frame({"first_frame_image": uri}) == buffer.getvalue()
    assert first_frame({"hailuoParams": {"image": uri}}) == buffer.getvalue()
    assert first_frame({"image": "https://example.com/a.png"}) is None
    assert first_frame({"prompt": "text only"}) is None
    grey = opening_picture({"first_frame_image": uri})
    assert grey is not None and len(grey) == OPENING_PX[0] * OPENING_PX[1]  # a small cache key, whatever the image
    assert opening_picture({"first_frame_image": "data:image/png;base64,bm90IGFuIGltYWdl"}) is None
