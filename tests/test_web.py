"""`apdraw serve`: the HTTP API through FastAPI's TestClient, and the page in a real browser.

The browser test drives Debian's chromium (``apt-get install chromium``; .ci/run does) with
Playwright's Python API and never downloads a browser; without chromium or playwright it
skips with the reason. Set ``APDRAW_WRITE_SCREENSHOT=1`` to refresh docs/img/web_ui.png.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from apdraw.cli import main

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "examples" / "grace_hopper.jpg"
INK = 192  # luminance below which a pixel is a stroke (as in test_cli)

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def _web():
    pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[web]'")
    pytest.importorskip("python_multipart", reason="the web extra is not installed: pip install -e '.[web]'")
    pytest.importorskip("httpx", reason="the web extra is not installed: pip install -e '.[web]'")
    from fastapi.testclient import TestClient

    from apdraw.web.app import create_app

    return TestClient, create_app


def _fake_formats():
    """png plus a stand-in "svg" encoder: the API and page must offer whatever the registry holds."""
    from apdraw.registry import Registry
    from apdraw.web.formats import FORMATS, OutputFormat

    class FakeSvg(OutputFormat):
        def load(self):
            def encode(drawings, frame):
                h, w = drawings[0].photo_hw if frame == "photo" else drawings[0].image.shape
                return f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><!-- {len(drawings)} --></svg>'.encode()

            return encode

    class Broken(OutputFormat):
        def load(self):
            def encode(drawings, frame):
                raise RuntimeError("a bug with a secret inside")

            return encode

    reg = Registry("format")
    reg.register(FORMATS.get("png"))
    reg.register(FakeSvg("svg", "test stand-in", "image/svg+xml", ".svg", "unused"))
    reg.register(Broken("broken", "an encoder with a bug", "image/png", ".png", "unused"))
    return reg


@pytest.fixture(scope="module")
def client():
    """The app with the default style (built once for the module) and the stand-in svg format."""
    TestClient, create_app = _web()
    with TestClient(create_app(formats=_fake_formats(), workers=1)) as c:
        yield c


@pytest.fixture(scope="module")
def small_client():
    """No models: a 50 KB / 1 MP cap, a queue of 1, a 1 s timeout (for the refusals)."""
    TestClient, create_app = _web()
    app = create_app(max_upload_bytes=50_000, max_pixels=1_000_000, queue_size=1, timeout=1.0, workers=1, preload=False)
    with TestClient(app) as c:
        yield c


def _post(client, data: bytes, name="photo.jpg", **fields):
    return client.post("/api/draw", files={"image": (name, data, "image/jpeg")}, data=fields)


def _png(image: np.ndarray | Image.Image) -> bytes:
    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def _gray(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def _error(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] == code and body["message"] and "Traceback" not in body["message"]
    return body["message"]


# --------------------------------------------------------------------------- the API


def test_styles_formats_and_health(client):
    from apdraw.styles import DEFAULT_STYLE, STYLES

    s = client.get("/api/styles").json()
    assert s["default"] == DEFAULT_STYLE
    assert [x["name"] for x in s["styles"]] == STYLES.names()
    assert {x["name"]: x["learned"] for x in s["styles"]} == {x.name: x.learned for x in STYLES}
    assert s["formats"] == ["png", "svg", "broken"] and s["frames"] == ["aligned", "photo"] and s["faces"] == ["largest", "all"]
    assert s["limits"]["max_upload_bytes"] == 10 * 2**20
    f = client.get("/api/formats").json()["formats"]
    assert [(x["name"], x["media_type"]) for x in f] == [("png", "image/png"), ("svg", "image/svg+xml"), ("broken", "image/png")]
    h = client.get("/healthz")
    assert h.status_code == 200 and h.json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # The page is self-contained: nothing it loads names another host.
    html = page.text.lower()
    assert "http://" not in html.replace('http://www.w3.org', '') and "https://" not in html and "//cdn" not in html
    assert client.get("/docs").status_code == 404  # FastAPI's docs page would load a CDN
    assert _error(client.get("/nope"), 404, "not_found")


def test_default_formats_offer_png_svg_and_gcode():
    from apdraw.web.formats import FORMATS

    assert [f.name for f in FORMATS if f.available()] == ["png", "svg", "gcode"]


def test_vector_encoders_on_real_drawings():
    """The real SVG and G-code encoders, on the NPR drawing of the example (aligned, two faces side by side, photo)."""
    import xml.etree.ElementTree as ET

    from apdraw.pipeline import PortraitPipeline
    from apdraw.web.formats import encode_gcode, encode_svg

    drawings = PortraitPipeline.from_style("npr")(PHOTO)
    for frame, ds in (("aligned", drawings), ("aligned", drawings * 2), ("photo", drawings)):
        svg = ET.fromstring(encode_svg(ds, frame))
        assert svg.tag.endswith("svg") and any(e.tag.endswith(("polyline", "path")) for e in svg.iter())
        gcode = encode_gcode(ds, frame).decode()
        assert gcode.count("G1") > 50 and "G0" in gcode


def test_draw_returns_a_png_with_ink_and_writes_no_file(client, monkeypatch):
    def no_files(*args, **kwargs):
        raise AssertionError("the server wrote an upload to disk")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_files)
    r = _post(client, PHOTO.read_bytes(), name="grace hopper.jpg")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and r.headers["cache-control"] == "no-store"
    assert 'filename="grace_hopper_drawing.png"' in r.headers["content-disposition"]
    d = _gray(r.content)
    assert d.shape == (512, 512) and d[0, 0] > 240 and 0.02 < (d < INK).mean() < 0.6


def test_draw_photo_frame_all_faces_and_other_formats(client):
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    r = _post(client, PHOTO.read_bytes(), style="npr", frame="photo", faces="all")
    assert r.status_code == 200, r.text
    d = _gray(r.content)
    assert d.shape == photo.shape[:2] and 0.005 < (d < INK).mean() < 0.5
    r = _post(client, PHOTO.read_bytes(), format="svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.content.startswith(b"<svg") and b'width="512"' in r.content


def test_a_bug_is_a_500_without_details(client):
    TestClient, _ = _web()
    quiet = TestClient(client.app, raise_server_exceptions=False)  # the same app, already started
    r = _post(quiet, PHOTO.read_bytes(), format="broken")
    assert "secret" not in _error(r, 500, "internal") and "secret" not in r.text
    assert _post(client, b"hello").status_code == 422  # the worker is still there


def test_bad_values_are_422(client):
    data = PHOTO.read_bytes()
    assert "choose from" in _error(_post(client, data, style="nope"), 422, "bad_request")
    assert "not available" in _error(_post(client, data, format="gcode"), 422, "bad_request")
    assert "choose from" in _error(_post(client, data, frame="poster"), 422, "bad_request")
    assert "choose from" in _error(_post(client, data, faces="some"), 422, "bad_request")
    assert "field 'image'" in _error(client.post("/api/draw", files={"style": (None, "npr")}), 422, "no_image")
    _error(client.post("/api/draw", content=b"x", headers={"content-type": "text/plain"}), 400, "bad_request")


def test_not_an_image_and_no_face_are_422(client):
    assert "not an image" in _error(_post(client, b"hello, not a photo"), 422, "not_an_image")
    buf = io.BytesIO()
    Image.fromarray(np.asarray(Image.open(PHOTO).convert("RGB"))).save(buf, format="JPEG")
    assert "truncated" in _error(_post(client, buf.getvalue()[:3000]), 422, "bad_image")
    blank = _png(np.full((240, 320, 3), 255, np.uint8))
    assert "no face found" in _error(_post(client, blank, name="blank.png"), 422, "no_face")


def test_oversize_uploads_are_413(small_client):
    msg = _error(_post(small_client, b"\xff\xd8" + bytes(60_000)), 413, "too_large")
    assert "limit" in msg
    # Under the byte cap, over the pixel cap: refused from the header, before decoding.
    bomb = _png(Image.new("1", (2000, 2000)))
    assert len(bomb) < 50_000
    assert "megapixels" in _error(_post(small_client, bomb, name="bomb.png"), 413, "too_large")


def _hold_worker(service) -> threading.Event:
    """Occupy the single worker until the returned event is set, and wait until it has started."""
    release, started = threading.Event(), threading.Event()
    service.submit(lambda: (started.set(), release.wait(10)))
    assert started.wait(10)
    return release


def test_full_queue_is_503_with_retry_after(small_client):
    service = small_client.app.state.service
    release = _hold_worker(service)
    try:
        service.submit(lambda: None)  # the one queue slot
        r = _post(small_client, PHOTO.read_bytes()[:100])
        assert "busy" in _error(r, 503, "busy")
        assert int(r.headers["retry-after"]) >= 1
    finally:
        release.set()
    for _ in range(100):  # the queue drains
        if service.pending == 0:
            break
        time.sleep(0.02)
    assert small_client.get("/healthz").json()["refused"] >= 1


def test_slow_drawing_is_504_and_its_job_is_dropped(small_client):
    service = small_client.app.state.service
    failed = service.failed
    release = _hold_worker(service)
    try:
        t = time.monotonic()
        r = _post(small_client, b"never decoded")
        assert "took longer" in _error(r, 504, "timeout")
        assert 0.9 < time.monotonic() - t < 5
    finally:
        release.set()
    for _ in range(100):
        if service.pending == 0:
            break
        time.sleep(0.02)
    time.sleep(0.1)
    assert service.failed == failed  # the cancelled job never ran (it would fail: not an image)


# --------------------------------------------------------------------------- the command


def test_serve_without_the_web_extra_says_how_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'apdraw[web]'" in err and "fastapi" in err


@pytest.mark.parametrize("argv", [["serve", "--port", "0"], ["serve", "--queue", "0"], ["serve", "--timeout", "-1"],
                                  ["serve", "--style", "nope"], ["serve", "--max-upload-mb", "x"]])  # fmt: skip
def test_serve_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


# --------------------------------------------------------------------------- the page, in chromium


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, proc: subprocess.Popen, log: Path, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"apdraw serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if b'"ready":true' in r.read():
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"apdraw serve was not ready in {limit:.0f} s:\n{log.read_text()}")


def test_page_in_a_real_browser(tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run installs it)")
    _web()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "apdraw", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)  # fmt: skip
    requests: list[str] = []
    try:
        _wait_ready(port, proc, log)
        with sync_api.sync_playwright() as pw:
            # Any name but 127.0.0.1 fails to resolve: a stray external request could not leave the machine.
            browser = pw.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])  # fmt: skip
            try:
                page = browser.new_context(viewport={"width": 1000, "height": 760}, accept_downloads=True).new_page()
                page.on("request", lambda r: requests.append(r.url))
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("body[data-state=ready]", timeout=15_000)
                # A file that says it is a JPEG but is not: the server's message is shown.
                page.set_input_files("#file", files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}])
                page.wait_for_selector("body[data-state=error]", timeout=15_000)
                assert "not an image" in page.inner_text("#error").lower()
                # The photo: drawn, shown beside it, downloadable as PNG.
                page.set_input_files("#file", str(PHOTO))
                page.wait_for_selector("body[data-state=done]", timeout=60_000)
                assert page.is_visible("#photo") and page.is_visible("#drawing") and not page.is_visible("#error")
                assert page.eval_on_selector("#drawing", "img => [img.naturalWidth, img.naturalHeight]") == [512, 512]
                with page.expect_download() as download:
                    page.click("#download-png")
                assert download.value.suggested_filename == "grace_hopper_drawing.png"
                d = _gray(Path(download.value.path()).read_bytes())
                assert d.shape == (512, 512) and 0.02 < (d < INK).mean() < 0.6
                page.screenshot(path=str(tmp_path / "web_ui.png"), full_page=True)
                if os.environ.get("APDRAW_WRITE_SCREENSHOT"):
                    shutil.copy(tmp_path / "web_ui.png", REPO / "docs" / "img" / "web_ui.png")
                # A phone-sized screen: nothing wider than the screen, the drawing still in view.
                page.set_viewport_size({"width": 390, "height": 844})
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
                assert page.eval_on_selector("#drawing", "img => img.getBoundingClientRect().width") <= 390
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert requests
    hosts = {urlsplit(u.removeprefix("blob:")).hostname for u in requests if not u.startswith("data:")}
    assert hosts == {"127.0.0.1"}, requests
