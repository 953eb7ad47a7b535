"""The page's JSON API (serve/app.py) through a test client: writing with progress and one style,
reading drawings and scans, styles from a drawing, and a 4xx with a message for every bad
request."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

from handwriting.recognition.metrics import char_errors
from handwriting.serve import app as app_lib
from tests.serve.conftest import WRITER


def _events(response) -> list[dict]:
  assert response.status_code == 200, response.text
  return [json.loads(line) for line in response.text.splitlines()]


def _to_screen(points: list[list[float]], scale: float = 0.25) -> list[list[list[float]]]:
  """A written line's points as a browser would send them: pixels, y down, timed strokes."""
  strokes, current = [], []
  for i, (x, y, up) in enumerate(points):
    current.append([x * scale + 20, 150 - y * scale, 8.0 * i])
    if up > 0.5:
      strokes.append(current)
      current = []
  return strokes


@pytest.fixture(scope="module")
def written(client) -> list[dict]:
  return _events(client.post("/api/write", json={
    "text": "one line of text here and a second line of text", "width": 30, "attention": True,
    "seed": 3}))


def test_info_names_models_styles_and_limits(client):
  info = client.get("/api/info").json()
  assert info["writer"] == WRITER and "style-1" in info["styles"]
  assert info["limits"]["text"] == app_lib.MAX_TEXT and info["defaults"]["bias"] == 1.0
  assert info["defaults"]["retries"] == app_lib.DEFAULT_RETRIES == 4
  assert info["limits"]["retries"] == app_lib.MAX_RETRIES
  page = client.get("/")
  assert page.status_code == 200 and "<canvas id=\"pad\"" in page.text
  assert client.get("/static/app.js").status_code == 200
  assert "http://" not in page.text and "https://" not in page.text  # nothing from outside


def test_write_streams_progress_then_a_page_in_one_style(written):
  progress = [e for e in written if e["type"] == "progress"]
  page = written[-1]
  assert page["type"] == "page" and page["text"] == "one line of text here and a\nsecond line of text"
  assert [p["done"] for p in progress] == [0, 1, 2] and progress[-1]["total"] == 2
  assert page["svg"].count("<path") > 10
  first = page["lines"][0]
  points = np.array(first["points"])
  assert points.shape[1] == 3 and points[-1, 2] == 1
  assert np.array(first["attention"]).shape == (len(points) - 1, len(first["text"]) + 1)


def test_several_lines_keep_the_first_lines_style(client, models, written):
  # Without a style, line 2 is primed with line 1 (as written): the same request written by
  # hand that way gives line 2 back exactly.
  from handwriting.api.style import Style
  page = written[-1]
  (first,) = models.writer.write([page["lines"][0]["text"]], bias=1.0, seed=3, width=10**6)
  np.testing.assert_allclose(np.array(page["lines"][0]["points"]), first.strokes[0], atol=0.01)
  (second,) = models.writer.write([page["lines"][1]["text"]], bias=1.0, seed=3 + 1,
                                  style=Style.from_page(first), width=10**6)
  np.testing.assert_allclose(np.array(page["lines"][1]["points"]), second.strokes[0], atol=0.02)


def test_a_line_that_stalled_primes_nothing(client, models, monkeypatch):
  # Line 1 comes back unfinished: line 2 is written alone, unprimed, and, finished, primes line 3.
  real, styles = models.writer.write, []

  def write(texts, **kw):
    styles.append(kw.get("style"))
    pages = real(texts, **kw)
    if len(styles) == 1:
      pages[0].lines[0].finished = False
    return pages
  monkeypatch.setattr(models.writer, "write", write)
  events = _events(client.post("/api/write", json={"text": "one line\nsecond\nthird one",
                                                   "width": 12, "seed": 1}))
  assert [line["finished"] for line in events[-1]["lines"]] == [False, True, True]
  assert styles[0] is None and styles[1] is None and len(styles) == 3
  assert styles[2].text == "second"


def test_read_a_drawing_and_make_a_style_of_it(client, written):
  line = written[-1]["lines"][0]
  strokes = _to_screen(line["points"])
  read = client.post("/api/read/strokes", json={"strokes": strokes})
  assert read.status_code == 200
  assert char_errors([line["text"]], [read.json()["text"]]).rate < 0.4, read.json()
  style = client.post("/api/style", json={"strokes": strokes, "text": line["text"]})
  assert style.status_code == 200
  data = style.json()["style"]
  assert data["format"] == "handwriting-style" and data["text"] == line["text"]
  again = _events(client.post("/api/write", json={"text": "in my hand", "style_data": data}))
  assert again[-1]["svg"].count("<path") > 3


def test_read_a_scan(client, models):
  (page,) = models.writer.write("reading a page", seed=1)
  buffer = io.BytesIO()
  page.image().save(buffer, format="PNG")
  r = client.post("/api/read/image", files={"file": ("page.png", buffer.getvalue(), "image/png")})
  assert r.status_code == 200 and r.json()["text"].strip()


@pytest.mark.parametrize("path, body, status, message", [
  ("/api/write", b"{not json", 422, "malformed JSON"),
  ("/api/write", {"text": ""}, 422, "text"),
  ("/api/write", {"text": "x" * (app_lib.MAX_TEXT + 1)}, 422, "at most"),
  ("/api/write", {"text": "caf\u00e9"}, 400, "cannot write: '\u00e9'"),
  ("/api/write", {"text": "hi", "style": "../../etc/passwd"}, 400, "unknown style"),
  ("/api/write", {"text": "hi", "style_data": {"format": "x"}}, 400, "not a style file"),
  ("/api/write", {"text": "hi", "bias": -1}, 422, "bias"),
  ("/api/write", {"text": "hi", "retries": app_lib.MAX_RETRIES + 1}, 422, "retries"),
  ("/api/write", [1, 2], 422, "body"),
  ("/api/read/strokes", {"strokes": [[[1, 2]]]}, 400, "single dot"),
  ("/api/read/strokes", {"strokes": [[[0, 0], [1, 1]]], "lm": True}, 400, "no language model"),
  ("/api/read/strokes", {"strokes": "abc"}, 422, "strokes"),
  ("/api/read/strokes", {"strokes": [[[0, 0]] * 30_000]}, 400, "too many points"),
  ("/api/style", {"text": "\u2603", "strokes": [[[0, 0], [5, 5]]]}, 400, "cannot write"),
])
def test_bad_requests_are_4xx_with_a_message(client, path, body, status, message):
  if isinstance(body, bytes):
    r = client.post(path, content=body, headers={"content-type": "application/json"})
  else:
    r = client.post(path, json=body)
  assert r.status_code == status, r.text
  assert message in r.json()["error"]


def test_bad_uploads_and_bodies_are_4xx(client):
  r = client.post("/api/read/image", files={"file": ("x.png", b"not an image", "image/png")})
  assert r.status_code == 400 and "not an image" in r.json()["error"]
  r = client.post("/api/read/image", files={"file": ("x.png", b"", "image/png")})
  assert r.status_code == 400 and "empty" in r.json()["error"]
  r = client.post("/api/read/image")
  assert r.status_code == 422
  huge = io.BytesIO()
  Image.new("1", (7000, 7000), 1).save(huge, format="PNG")  # small file, too many pixels
  r = client.post("/api/read/image", files={"file": ("big.png", huge.getvalue(), "image/png")})
  assert r.status_code == 400 and "too large" in r.json()["error"]
  r = client.post("/api/write", content=b"x", headers={"content-type": "application/json",
                                                       "content-length": str(app_lib.MAX_BODY + 1)})
  assert r.status_code == 413
  assert client.get("/api/nothing").status_code == 404
  assert client.get("/api/info").status_code == 200  # still serving


def test_concurrent_requests_share_the_models(client):
  results: list[int] = []

  def go(i: int) -> None:
    r = client.post("/api/write", json={"text": f"request {i}", "seed": i})
    results.append(r.status_code)

  threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert results == [200] * 4
