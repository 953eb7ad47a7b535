import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from handwriting.data import images
from handwriting.data.report import DataError


def _grey_HxW(H: int = 12, W: int = 20, seed: int = 0) -> np.ndarray:
  """Every level 0..255 is hard to hit in a small image; random levels plus both extremes."""
  g = np.random.default_rng(seed).integers(0, 256, size=(H, W)).astype(np.uint8)
  g[0, 0], g[0, 1] = 0, 255
  return g


def _save(img: Image.Image, path, **kw):
  img.save(path, **kw)
  return path


# ---------------------------------------------------------------------------------- modes


def test_grey_rgb_palette_1bit_roundtrip_exactly(tmp_path):
  g = _grey_HxW()
  np.testing.assert_array_equal(images.load_image(_save(Image.fromarray(g), tmp_path / "l.png")), g)
  rgb = Image.fromarray(np.stack([g, g, g], axis=-1))
  assert rgb.mode == "RGB"
  np.testing.assert_array_equal(images.load_image(_save(rgb, tmp_path / "rgb.png")), g)
  # Palette image whose entry i is grey level i: the indices are the grey values.
  pal = Image.fromarray(g).convert("P")
  pal.putdata(list(g.ravel()))
  pal.putpalette([v for i in range(256) for v in (i, i, i)])
  path = _save(pal, tmp_path / "p.png")
  assert Image.open(path).mode == "P"
  np.testing.assert_array_equal(images.load_image(path), g)
  bits = g > 127
  one = Image.fromarray(bits)
  assert one.mode == "1"
  np.testing.assert_array_equal(images.load_image(_save(one, tmp_path / "one.png")),
                                np.where(bits, 255, 0))


def test_alpha_is_composited_on_white(tmp_path):
  g = _grey_HxW()
  a = _grey_HxW(seed=1)
  a[0, 2] = 0  # fully transparent: paper
  a[0, 3] = 255  # opaque: the grey value itself
  expected = g * (a / 255.0) + 255 * (1 - a / 255.0)
  rgba = Image.fromarray(np.stack([g, g, g, a], axis=-1))
  assert rgba.mode == "RGBA"
  got = images.load_image(_save(rgba, tmp_path / "rgba.png")).astype(float)
  np.testing.assert_allclose(got, expected, atol=1.01)
  assert got[0, 2] == 255 and got[0, 3] == g[0, 3]
  la = Image.fromarray(np.stack([g, a], axis=-1))
  assert la.mode == "LA"
  got = images.load_image(_save(la, tmp_path / "la.png")).astype(float)
  np.testing.assert_allclose(got, expected, atol=1.01)
  # A palette image with a transparent entry shows paper there.
  pal = Image.fromarray(g).convert("P")
  pal.putdata(list(g.ravel()))
  pal.putpalette([v for i in range(256) for v in (i, i, i)])
  path = _save(pal, tmp_path / "pt.png", transparency=int(g[0, 0]))
  got = images.load_image(path)
  np.testing.assert_array_equal(got[g == g[0, 0]], 255)
  np.testing.assert_array_equal(got[g != g[0, 0]], g[g != g[0, 0]])
  # So does a grey PNG with a tRNS colour key.
  path = _save(Image.fromarray(g), tmp_path / "lt.png", transparency=int(g[0, 5]))
  assert "transparency" in Image.open(path).info
  got = images.load_image(path)
  np.testing.assert_array_equal(got, np.where(g == g[0, 5], 255, g))


def test_sixteen_bit_scaled_by_257(tmp_path):
  g = _grey_HxW()
  # 16-bit values near g * 257, within half a step, must round back to g.
  noise = np.random.default_rng(2).integers(-128, 129, size=g.shape)
  g16 = np.clip(g.astype(np.int64) * 257 + noise, 0, 65535).astype(np.uint16)
  img = Image.fromarray(g16)
  assert img.mode == "I;16"
  path = _save(img, tmp_path / "g16.png")
  assert Image.open(path).mode.startswith("I")
  np.testing.assert_array_equal(images.load_image(path), g)
  # Mode "I" (32-bit int: how older Pillow opened 16-bit PNGs) follows the same 16-bit rule.
  img32 = Image.fromarray(g16.astype(np.int32))
  assert img32.mode == "I"
  path = _save(img32, tmp_path / "g32.tif")
  assert Image.open(path).mode == "I"
  np.testing.assert_array_equal(images.load_image(path), g)


def test_jpeg_grey_and_cmyk_load_close(tmp_path):
  g = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (16, 1))  # smooth: little JPEG loss
  got = images.load_image(_save(Image.fromarray(g), tmp_path / "g.jpg", quality=100))
  assert np.abs(got.astype(int) - g).max() <= 3
  cmyk = Image.fromarray(np.stack([g, g, g], axis=-1)).convert("CMYK")
  got = images.load_image(_save(cmyk, tmp_path / "c.jpg", quality=100))
  assert np.abs(got.astype(int) - g).max() <= 3


def test_exif_orientation_is_applied(tmp_path):
  g = _grey_HxW(H=12, W=20)
  img = Image.fromarray(g)
  exif = img.getexif()
  exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
  got = images.load_image(_save(img, tmp_path / "rot.jpg", exif=exif, quality=100))
  assert got.shape == (20, 12)
  assert np.abs(got.astype(int) - np.rot90(g, k=-1)).mean() < 8


# ------------------------------------------------------------------------------ bad input


def _png_with_size(W: int, H: int) -> bytes:
  def chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
  ihdr = struct.pack(">IIBBBBB", W, H, 8, 0, 0, 0, 0)
  return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
          + chunk(b"IEND", b""))


def _bad_files(tmp_path):
  noise = np.random.default_rng(0).integers(0, 256, size=(64, 64)).astype(np.uint8)
  whole = _save(Image.fromarray(noise), tmp_path / "whole.png").read_bytes()
  files = {
    "missing": tmp_path / "nope.png",
    "empty": tmp_path / "empty.png",
    "text": tmp_path / "text.png",
    "truncated": tmp_path / "truncated.png",
    "zero_size": tmp_path / "zero.png",
    "one_px_wide": _save(Image.fromarray(noise[:, :1]), tmp_path / "narrow.png"),
    "one_px_high": _save(Image.fromarray(noise[:1, :]), tmp_path / "low.png"),
    "float_mode": _save(Image.fromarray(noise.astype(np.float32)), tmp_path / "f.tif"),
  }
  files["empty"].write_bytes(b"")
  files["text"].write_text("this is not an image\n")
  files["truncated"].write_bytes(whole[: len(whole) // 2])
  files["zero_size"].write_bytes(_png_with_size(0, 5))
  return files


@pytest.mark.parametrize("case", ["missing", "empty", "text", "truncated", "zero_size",
                                  "one_px_wide", "one_px_high", "float_mode"])
def test_bad_input_raises_data_error_naming_the_file(tmp_path, case):
  path = _bad_files(tmp_path)[case]
  with pytest.raises(DataError) as info:
    images.load_image(path)
  assert info.value.path == str(path) and str(path) in str(info.value)
  expected = {"missing": "missing file", "empty": "empty file", "text": "not an image",
              "truncated": "truncated", "one_px_wide": "too small", "one_px_high": "too small",
              "float_mode": "unsupported"}.get(case, "")
  assert expected in info.value.reason


def test_minimum_size_is_accepted(tmp_path):
  g = _grey_HxW(H=images.MIN_HEIGHT, W=images.MIN_WIDTH)
  np.testing.assert_array_equal(images.load_image(_save(Image.fromarray(g), tmp_path / "m.png")),
                                g)


# -------------------------------------------------------------------- height normalisation


@pytest.mark.parametrize("H,W,height,new_W", [
  (30, 100, 12, 40), (7, 10, 3, 4), (4, 5, 2, 3), (100, 2, 10, 1), (10, 7, 40, 28)])
def test_normalize_height_keeps_aspect_ratio(H, W, height, new_W):
  out = images.normalize_height(_grey_HxW(H, W), height)
  assert out.shape == (height, new_W) and out.dtype == np.uint8
  assert new_W == max(1, int(W * height / H + 0.5))  # the stated rule, by hand


def test_normalize_height_inverts_to_ink_convention():
  g = _grey_HxW()
  np.testing.assert_array_equal(images.normalize_height(g, g.shape[0]), 255 - g.astype(int))
  white = np.full((40, 90), 255, np.uint8)
  assert images.normalize_height(white, 16).max() == 0  # paper -> background 0
  black = np.zeros((10, 30), np.uint8)
  assert images.normalize_height(black, 25).min() == 255  # ink -> 255, enlarging too


def test_shrinking_averages_blocks():
  """Slow obvious reference: halving the size is the mean of each 2x2 block."""
  g = _grey_HxW(8, 12)
  ink = 255.0 - g
  blocks = ink.reshape(4, 2, 6, 2).mean(axis=(1, 3))
  np.testing.assert_allclose(images.normalize_height(g, 4), blocks, atol=1.0)


def test_to_float_range():
  f = images.to_float(np.array([[0, 51, 255]], np.uint8))
  assert f.dtype == np.float32
  np.testing.assert_allclose(f, [[0.0, 0.2, 1.0]])


# ----------------------------------------------------------------------- crop and stretch


def test_crop_to_ink_with_margin_clipped_to_image():
  paper = np.full((40, 60), 255, np.uint8)
  paper[10:15, 20:31] = 30  # ink box rows 10..14, cols 20..30
  paper[5, 2] = 200  # too light to count as ink
  np.testing.assert_array_equal(images.crop_to_ink(paper, margin=3), paper[7:18, 17:34])
  assert images.crop_to_ink(paper, margin=50).shape == paper.shape
  with pytest.raises(ValueError, match="blank"):
    images.crop_to_ink(np.full((5, 5), 250, np.uint8))


def test_stretch_contrast_maps_range_linearly():
  img = np.array([[50, 125, 200]], np.uint8)
  np.testing.assert_array_equal(images.stretch_contrast(img), [[0, 128, 255]])
  np.testing.assert_array_equal(images.stretch_contrast(img, low=100, high=150),
                                [[0, 128, 255]])
  flat = np.full((3, 3), 77, np.uint8)
  np.testing.assert_array_equal(images.stretch_contrast(flat), flat)


def test_load_line_image_on_drawn_text(tmp_path):
  img = Image.new("L", (200, 50), 255)
  ImageDraw.Draw(img).text((20, 15), "Hello there", fill=0)
  path = _save(img, tmp_path / "line.png")
  out = images.load_line_image(path, height=32)
  paper = images.crop_to_ink(np.asarray(img))
  assert out.shape == (32, images.scaled_width(*paper.shape, 32))
  assert out.max() > 128 and out[0, 0] == 0  # ink high, margin background 0
  uncropped = images.load_line_image(path, height=32, crop=False)
  assert uncropped.shape == (32, 128)
  blank = _save(Image.new("L", (50, 20), 240), tmp_path / "blank.png")
  with pytest.raises(DataError, match="blank image") as info:
    images.load_line_image(blank, height=32)
  assert info.value.path == str(blank)
