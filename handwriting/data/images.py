"""Line images: loading any common PNG/JPEG mode as grey, cropping, and height normalisation.

Two pixel conventions, and one function that crosses between them:

* **paper** (what `load_image` returns, as the files hold it): uint8 [H, W], white paper = 255,
  dark ink = low values. `crop_to_ink` and `stretch_contrast` work in this convention.
* **ink** (what the network reads): uint8 [H, W], background = 0, ink = 255, so that zero padding
  of a batch looks like empty paper and the MDLSTM's input is zero where nothing is written
  (Graves & Schmidhuber 2009 feed raw pixel intensities, with no feature extraction).
  `normalize_height` inverts paper to ink while resizing; `to_float` maps ink to [0, 1].

Dimension letters: H = image height, W = image width (pixels).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from handwriting.data.report import DataError

# An image narrower or lower than this cannot hold a readable character (and a 1-pixel-wide line
# would give CTC a single frame), so the loader rejects it as bad input.
MIN_WIDTH = 2
MIN_HEIGHT = 2
# Pillow's 16-bit modes (and "I", as older Pillow versions opened 16-bit PNGs) hold 0..65535;
# 65535 / 257 = 255 exactly, so dividing by 257 maps the 16-bit range onto 0..255.
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# Modes whose pixels are colours that Pillow's ITU-R 601-2 luma conversion turns into grey.
_COLOUR_MODES = ("RGB", "CMYK", "YCbCr", "LAB", "HSV", "RGBX")
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
_WHITE = 255
# Paper pixels darker than this count as ink for cropping and for the blank-image check.
INK_THRESHOLD = 128


def _grey(img: Image.Image) -> np.ndarray:
  """The decoded image as uint8 [H, W] in paper convention; transparency shows white paper."""
  mode = img.mode
  if mode in _ALPHA_MODES or (mode in ("L", "RGB", "P") and "transparency" in img.info):
    # Transparent pixels (alpha, or a PNG tRNS colour key) are paper: composite on white.
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (_WHITE, _WHITE, _WHITE, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("L"), dtype=np.uint8)
  if mode in ("L", "P", "1") or mode in _COLOUR_MODES:
    return np.asarray(img.convert("L"), dtype=np.uint8)
  if mode in _SIXTEEN_BIT_MODES:
    wide = np.asarray(img).astype(np.int64)
    return np.clip(np.floor(wide / 257 + 0.5), 0, 255).astype(np.uint8)
  raise ValueError(f"unsupported image mode {mode!r}")


def pil_to_paper(img: Image.Image, name: str = "image") -> np.ndarray:
  """A decoded PIL image as uint8 [H, W] grey, paper convention; DataError for other modes."""
  try:
    return _grey(img)
  except ValueError as e:
    raise DataError(name, str(e)) from None


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
  """Reads an image file as uint8 [H, W] grey in paper convention (white 255, ink dark).

  Accepts Pillow's L, 1, P (palette, with or without transparency), RGB, RGBA, LA, CMYK and the
  16-bit modes I;16* / I (scaled by 1/257). Alpha, or a PNG transparency key, is composited
  on white paper.
  Raises DataError(path, reason) for a missing file, an empty (0-byte) file, a file that is not
  an image or is truncated, an unsupported mode, a zero-size image, or one narrower than
  MIN_WIDTH or lower than MIN_HEIGHT pixels.
  """
  path = Path(path)
  if not path.is_file():
    raise DataError(path, "missing file")
  if path.stat().st_size == 0:
    raise DataError(path, "empty file: 0 bytes")
  try:
    with Image.open(path) as img:
      img.load()  # decode now, so a truncated file fails here and not later
      # A photo may be stored sideways with an EXIF orientation tag: read it upright.
      upright = ImageOps.exif_transpose(img)
      if upright.width == 0 or upright.height == 0:
        raise DataError(path, f"zero-size image: {upright.width}x{upright.height}")
      grey_HxW = _grey(upright)
  except DataError:
    raise
  except UnidentifiedImageError:
    raise DataError(path, "not an image: Pillow cannot identify it") from None
  except Image.DecompressionBombError as e:
    raise DataError(path, f"not an image: too large ({e})") from None
  except ValueError as e:
    raise DataError(path, f"unsupported image: {e}") from None
  except (OSError, SyntaxError) as e:
    # Pillow reports truncated or corrupt data as OSError (or SyntaxError for broken headers).
    raise DataError(path, f"truncated or corrupt image: {e}") from None
  H, W = grey_HxW.shape
  if W < MIN_WIDTH or H < MIN_HEIGHT:
    raise DataError(path, f"too small to read: {W}x{H} pixels "
                          f"(needs at least {MIN_WIDTH}x{MIN_HEIGHT})")
  return grey_HxW


def ink_box(paper_HxW: np.ndarray,
            threshold: int = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
  """(top, bottom, left, right) half-open bounds of the pixels darker than `threshold`.

  None when no pixel is that dark: the image is blank.
  """
  ink = paper_HxW < threshold
  rows = np.flatnonzero(ink.any(axis=1))
  if rows.size == 0:
    return None
  cols = np.flatnonzero(ink.any(axis=0))
  return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_to_ink(paper_HxW: np.ndarray, margin: int = 8,
                threshold: int = INK_THRESHOLD) -> np.ndarray:
  """Crops paper-convention `paper_HxW` to its ink box plus `margin` pixels, clipped to the image.

  The margin keeps faint stroke ends (lighter than `threshold`) that lie just outside the box.
  A blank image (no pixel darker than `threshold`) raises ValueError.
  """
  box = ink_box(paper_HxW, threshold)
  if box is None:
    raise ValueError(f"blank image: no pixel darker than {threshold}")
  top, bottom, left, right = box
  H, W = paper_HxW.shape
  return paper_HxW[max(0, top - margin):min(H, bottom + margin),
                   max(0, left - margin):min(W, right + margin)]


def stretch_contrast(paper_HxW: np.ndarray, low: int | None = None,
                     high: int | None = None) -> np.ndarray:
  """Maps grey levels [low, high] linearly onto [0, 255], clipping outside.

  Defaults are the image's own darkest and lightest pixels, so faint scans use the full range.
  A flat image (low >= high) is returned unchanged.
  """
  lo = int(paper_HxW.min()) if low is None else low
  hi = int(paper_HxW.max()) if high is None else high
  if lo >= hi:
    return paper_HxW.copy()
  # Multiply before dividing: integer-valued products keep exact halves (127.5 -> 128).
  scaled = (paper_HxW.astype(np.float64) - lo) * 255.0 / (hi - lo)
  return np.clip(np.floor(scaled + 0.5), 0, 255).astype(np.uint8)


def scaled_width(H: int, W: int, height: int) -> int:
  """Width that keeps the aspect ratio at `height`: round(W * height / H), at least 1."""
  return max(1, int(np.floor(W * height / H + 0.5)))


def normalize_height(paper_HxW: np.ndarray, height: int) -> np.ndarray:
  """Paper-convention [H, W] -> ink-convention [height, W'] with W' = scaled_width(H, W, height).

  Inverts (background 0, ink 255, see the module docstring) and resizes keeping the aspect ratio.
  Shrinking averages the source pixels each output pixel covers (box filter: no ringing, the
  mean ink is kept); enlarging interpolates bilinearly (a box filter would repeat pixels).
  """
  if height < 1:
    raise ValueError(f"height must be positive, got {height}")
  H, W = paper_HxW.shape
  ink_HxW = (_WHITE - paper_HxW.astype(np.int16)).astype(np.uint8)
  new_W = scaled_width(H, W, height)
  if (new_W, height) == (W, H):
    return ink_HxW
  resample = Image.Resampling.BOX if height <= H else Image.Resampling.BILINEAR
  img = Image.fromarray(ink_HxW).resize((new_W, height), resample=resample)
  return np.asarray(img, dtype=np.uint8)


def to_float(ink_HxW: np.ndarray) -> np.ndarray:
  """uint8 ink-convention image -> float32 in [0, 1] (0 = paper, 1 = full ink)."""
  return np.asarray(ink_HxW, dtype=np.float32) / 255.0


IMAGE_NORMS = ("scan", "legacy")


def line_input(paper_HxW: np.ndarray, height: int, norm: str = "scan",
               name: str | os.PathLike[str] = "image") -> np.ndarray:
  """A paper-convention line image -> the network's ink-convention uint8 [height, W'].

  `norm` "scan": the one normalisation of data/line_norm.py (contrast, binarisation, clean-up,
  deskew, deslant, crop, height), which readers trained on `prepare render` data read with;
  "legacy": crop at INK_THRESHOLD and resize, what readers trained before it expect. A blank
  image raises DataError(name, "blank image: ...").
  """
  if norm == "scan":
    from handwriting.data.line_norm import BlankImage, normalize_line
    try:
      return normalize_line(paper_HxW, height)
    except BlankImage as e:
      raise DataError(name, str(e)) from None
  if norm != "legacy":
    raise ValueError(f"image normalisation must be one of {', '.join(IMAGE_NORMS)}, not {norm!r}")
  if ink_box(paper_HxW) is None:
    raise DataError(name, f"blank image: no pixel darker than {INK_THRESHOLD}")
  return normalize_height(crop_to_ink(paper_HxW), height)


def load_line_image(path: str | os.PathLike[str], height: int, crop: bool = True,
                    stretch: bool = False) -> np.ndarray:
  """One line image file -> ink-convention uint8 [height, W'] (the "legacy" normalisation).

  Loads (see load_image), optionally stretches the contrast, checks that some ink is there,
  optionally crops to the ink with a margin, then normalises the height. A blank image raises
  DataError(path, "blank image: ..."), like every load_image error.
  """
  paper_HxW = load_image(path)
  if stretch:
    paper_HxW = stretch_contrast(paper_HxW)
  if ink_box(paper_HxW) is None:
    raise DataError(path, f"blank image: no pixel darker than {INK_THRESHOLD}")
  if crop:
    paper_HxW = crop_to_ink(paper_HxW)
  return normalize_height(paper_HxW, height)
