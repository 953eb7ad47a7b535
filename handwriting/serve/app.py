"""`handwriting serve`: one local page and a small JSON API over the Python API (handwriting/api).

  GET  /                  the page (static/index.html; every script and style served from here)
  GET  /api/info          models, shipped styles, alphabet, limits
  POST /api/write         {text, bias, seed, style | style_data, width, retries, attention}
                          -> NDJSON: {"type": "progress", "done", "total"} lines, then
                             {"type": "page", "svg", "lines": [{text, points, attention?}]}
  POST /api/read/strokes  {strokes: [[[x, y, t], ...], ...], beam, lm} -> {"text"}
  POST /api/read/image    multipart `file` (a PNG/JPEG scan) -> {"text"}
  POST /api/style         {text, strokes} -> {"style": a style file's JSON (api/style.py)}

Safe to leave running: models are named when the server starts, never by a request (no path is
ever taken from a request); every bad request is a 4xx with {"error": message}; limits on text
length, points, image size and body size; the models are shared by all requests, each used
under its own lock, and the compiled functions are reused across requests (lengths and batch
sizes are bucketed: synthesis/sample.py, recognition/inference.py).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from handwriting import pretrained
from handwriting.api.page import Page
from handwriting.api.reader import Reader
from handwriting.api.style import Style
from handwriting.api.writer import DEFAULT_BIAS, DEFAULT_RETRIES, DEFAULT_WIDTH, Writer
from handwriting.data.alphabet import UnknownCharacterError
from handwriting.data.batching import pad_to_power_of_two
from handwriting.data.report import DataError
from handwriting.serve.ink import MAX_POINTS, MAX_STROKES, drawing_to_points

STATIC = Path(__file__).parent / "static"
MAX_TEXT = 400  # characters per write request (about ten lines)
MAX_BODY = 8 * 1024 * 1024  # bytes of any request body
MAX_IMAGE_PIXELS = 6000 * 6000
MAX_BEAM = 25
MAX_RETRIES = 4  # rewrites of a stalled line; each costs up to one more sampling of its chunk
CHUNK = 4  # lines written per batch: the page shows progress after each
log = logging.getLogger("handwriting.serve")
UPLOAD = File(...)  # the scan of /api/read/image, a multipart field named `file`


class WriteRequest(BaseModel):
  text: str = Field(min_length=1, max_length=MAX_TEXT)
  bias: float = Field(DEFAULT_BIAS, ge=0.0, le=10.0)
  seed: int = Field(0, ge=0, lt=2**31)
  style: str | None = Field(None, max_length=100)  # a shipped style's name
  style_data: dict[str, Any] | None = None  # a style file's JSON (the user's own hand)
  width: int = Field(DEFAULT_WIDTH, ge=10, le=80)
  retries: int = Field(DEFAULT_RETRIES, ge=0, le=MAX_RETRIES)  # rewrites of a stalled line
  attention: bool = False  # also return the window weights per line


class StrokesRequest(BaseModel):
  strokes: list[list[list[float]]] = Field(min_length=1, max_length=MAX_STROKES)
  beam: int = Field(1, ge=1, le=MAX_BEAM)
  lm: bool = False


class StyleRequest(BaseModel):
  text: str = Field(min_length=1, max_length=200)
  strokes: list[list[list[float]]] = Field(min_length=1, max_length=MAX_STROKES)


@dataclasses.dataclass
class Models:
  """The models every request shares, each with the lock its use is serialised by."""

  writer: Writer
  online: Reader
  offline: Reader
  lm: str | None = None
  locks: dict[str, threading.Lock] = dataclasses.field(
    default_factory=lambda: {k: threading.Lock() for k in ("writer", "online", "offline")})

  @classmethod
  def load(cls, synthesis: str | None = None, online_reader: str | None = None,
           offline_reader: str | None = None, lm: str | None = None) -> Models:
    writer = Writer.load(synthesis)
    online = Reader.load(online_reader or pretrained.reader_for(writer.workdir))
    if online.kind != "strokes":
      raise DataError(online.workdir, "the online reader must read pen strokes")
    offline = Reader.load(offline_reader)
    if offline.kind != "images":
      raise DataError(offline.workdir, "the scan reader must read images")
    return cls(writer, online, offline, lm)

  def warm_up(self) -> None:
    """Restores every model and compiles the common shapes, so the first request is quick."""
    with self.locks["writer"]:
      self.writer.write("warm up", seed=0)
    with self.locks["online"]:
      self.online.read(np.array([[0, 0, 0], [10, 5, 0], [20, 0, 1]], np.float32))


def _error(status: int, message: str) -> JSONResponse:
  return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
  parts = []
  for e in exc.errors()[:3]:
    if e.get("type") == "json_invalid":
      return f"malformed JSON: {e.get('ctx', {}).get('error', 'cannot parse the body')}"
    where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
    parts.append(f"{where}: {e.get('msg', 'invalid')}")
  return "; ".join(parts) or "invalid request"


def _page_json(page: Page, attention: bool) -> dict[str, Any]:
  lines = []
  for line in page.lines:
    item: dict[str, Any] = {"text": line.text, "finished": line.finished,
                            "points": np.round(line.points, 2).tolist()}
    if attention and line.phi is not None:
      item["attention"] = np.round(line.phi, 3).tolist()
    lines.append(item)
  return {"type": "page", "svg": page.svg(), "text": page.text, "lines": lines}


def _write_stream(models: Models, request: WriteRequest, lines: list[str],
                  style: Style | None) -> Iterator[bytes]:
  """Writes the lines in chunks, all in one style, yielding progress and then the page.

  Without a style the lines are written one at a time in the network's own hand until one
  finishes (its window reached the end of its text), and that line primes the rest, so a page of
  several lines keeps one consistent style, never that of a line that stalled."""
  writer, done, written = models.writer, 0, []
  total = len(lines)
  yield (json.dumps({"type": "progress", "done": 0, "total": total}) + "\n").encode()
  while done < total:
    size = 1 if style is None else min(CHUNK, total - done)
    chunk = lines[done:done + size]
    with models.locks["writer"]:
      pages = writer.write(pad_to_power_of_two(chunk), bias=request.bias, seed=request.seed + done, style=style,
                           width=10**6, retries=request.retries)
    written += [page.lines[0] for page in pages[:len(chunk)]]
    if style is None and written[-1].finished:
      style = Style.from_page(Page(written[-1:]))
    done += len(chunk)
    yield (json.dumps({"type": "progress", "done": done, "total": total}) + "\n").encode()
  page = Page(written)
  yield (json.dumps(_page_json(page, request.attention)) + "\n").encode()


def create_app(models: Models) -> FastAPI:
  app = FastAPI(title="handwriting", docs_url=None, redoc_url=None, openapi_url=None)
  app.mount("/static", StaticFiles(directory=STATIC), name="static")

  @app.middleware("http")
  async def limit_body(request: Request, call_next):
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
      return _error(413, f"request body over {MAX_BODY // (1024 * 1024)} MB")
    return await call_next(request)

  @app.exception_handler(RequestValidationError)
  async def invalid(request: Request, exc: RequestValidationError):
    return _error(422, _validation_message(exc))

  @app.exception_handler(DataError)
  async def data_error(request: Request, exc: DataError):
    return _error(400, str(exc))

  @app.exception_handler(UnknownCharacterError)
  async def unknown_chars(request: Request, exc: UnknownCharacterError):
    shown = " ".join(repr(c) for c in exc.chars)
    return _error(400, f"characters this writer cannot write: {shown}")

  @app.exception_handler(ValueError)
  async def value_error(request: Request, exc: ValueError):
    return _error(400, str(exc))

  @app.exception_handler(Exception)
  async def internal(request: Request, exc: Exception):
    log.exception("internal error on %s", request.url.path)
    return _error(500, "internal error (logged by the server)")

  @app.get("/")
  def index() -> FileResponse:
    return FileResponse(STATIC / "index.html")

  @app.get("/api/info")
  def info() -> dict[str, Any]:
    return {"writer": models.writer.name, "styles": models.writer.styles,
            "alphabet": models.writer.alphabet, "online_reader": models.online.name,
            "offline_reader": models.offline.name, "lm": models.lm is not None,
            "defaults": {"bias": DEFAULT_BIAS, "width": DEFAULT_WIDTH, "retries": DEFAULT_RETRIES},
            "limits": {"text": MAX_TEXT, "strokes": MAX_STROKES, "points": MAX_POINTS,
                       "image_pixels": MAX_IMAGE_PIXELS, "body_bytes": MAX_BODY,
                       "beam": MAX_BEAM, "retries": MAX_RETRIES}}

  @app.post("/api/write")
  def write(request: WriteRequest) -> StreamingResponse:
    # Everything that can be refused is checked before the stream starts (a 4xx, not a
    # broken stream): the text's characters, the style.
    lines = models.writer.lines(request.text, request.width)
    style = None
    if request.style_data is not None:
      style = Style.from_json(request.style_data, "style_data")
      models.writer.spec.alphabet.encode(style.text)
    elif request.style:
      if request.style not in models.writer.styles:
        raise DataError("style", f"unknown style {request.style!r} (shipped: "
                                 f"{', '.join(models.writer.styles) or 'none'})")
      style = models.writer.style(request.style)
    return StreamingResponse(_write_stream(models, request, lines, style),
                             media_type="application/x-ndjson")

  @app.post("/api/read/strokes")
  def read_strokes(request: StrokesRequest) -> dict[str, str]:
    points = drawing_to_points(request.strokes)
    if request.lm and models.lm is None:
      raise DataError("lm", "this server has no language model (start it with --lm FILE)")
    with models.locks["online"]:
      (text,) = models.online.read(points, beam=request.beam,
                                   lm=models.lm if request.lm else None)
    return {"text": text}

  @app.post("/api/read/image")
  def read_image(file: UploadFile = UPLOAD) -> dict[str, str]:
    from PIL import Image, UnidentifiedImageError
    data = file.file.read(MAX_BODY + 1)
    if not data:
      raise DataError("file", "the upload is empty")
    try:
      image = Image.open(io.BytesIO(data))
      if image.width * image.height > MAX_IMAGE_PIXELS:
        raise DataError("file", f"image too large: {image.width} x {image.height} pixels "
                                f"(at most {MAX_IMAGE_PIXELS:,})")
      image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
      raise DataError("file", f"not an image (PNG or JPEG expected): {type(e).__name__}") \
          from None
    with models.locks["offline"]:
      (text,) = models.offline.read(image)
    return {"text": text}

  @app.post("/api/style")
  def make_style(request: StyleRequest) -> dict[str, Any]:
    models.writer.spec.alphabet.encode(request.text)  # unknown characters: 400
    points = drawing_to_points(request.strokes)
    style = Style.from_strokes(points, request.text.strip(), rescale=True)
    return {"style": style.to_json()}

  return app


def serve(host: str = "127.0.0.1", port: int = 8000, *, synthesis: str | None = None,
          online_reader: str | None = None, offline_reader: str | None = None,
          lm: str | None = None, warm_up: bool = True) -> None:
  """Loads the models and serves until interrupted (uvicorn)."""
  import uvicorn
  models = Models.load(synthesis, online_reader, offline_reader, lm)
  if warm_up:
    models.warm_up()
  uvicorn.run(create_app(models), host=host, port=port, log_level="warning")
