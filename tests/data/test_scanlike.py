"""Scan-like renderings: deterministic, paper convention, every effect where it belongs, and the
same normalised form as a clean rendering; `prepare render` writes a folder the recognizer
trains on and whose normalisation it keeps."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from handwriting.data import synthetic
from handwriting.data.line_norm import normalize_line
from handwriting.data.prepared import Prepared
from handwriting.data.render import RenderError, render_strokes
from handwriting.data.render_set import render_prepared
from handwriting.data.scanlike import ScanJitter, render_for_training, render_scanlike
from handwriting.data.synthetic import write_text

LINE = write_text("a quick brown fox", np.random.default_rng(5)).strokes
OTHER = write_text("jumps over the lazy dog", np.random.default_rng(6)).strokes


def _fixed(**values) -> ScanJitter:
  """Every range collapsed to one value: the defaults' midpoints, overridden by `values`."""
  base = ScanJitter()
  mids = {f.name: (sum(getattr(base, f.name)) / 2,) * 2 for f in dataclasses.fields(base)}
  mids.update({k: (v, v) for k, v in values.items()})
  return ScanJitter(**mids)


def test_deterministic_and_paper_convention():
  a = render_scanlike(LINE, np.random.default_rng(1))
  b = render_scanlike(LINE, np.random.default_rng(1))
  np.testing.assert_array_equal(a, b)
  assert a.dtype == np.uint8 and np.median(a) > 150  # mostly paper, paper is light
  assert not np.array_equal(a, render_scanlike(LINE, np.random.default_rng(2)))


def test_paper_ink_levels_and_noise_follow_the_jitter():
  clean = _fixed(paper=230.0, ink_grey=40.0, texture=0.0, noise=0.0, blur_px=0.0,
                 ink_density=1.0, speed_thinning=0.0, margin_y=0.3)
  img = render_scanlike(LINE, np.random.default_rng(0), clean)
  assert img[0].min() == img[0].max() == 230  # the top margin is bare paper
  assert img.min() == 40  # the densest ink
  noisy = render_scanlike(LINE, np.random.default_rng(0),
                          dataclasses.replace(clean, noise=(8.0, 8.0)))
  assert 6 < np.std(noisy[0].astype(float)) < 10


def test_pen_width_scales_the_ink():
  thin = render_scanlike(LINE, np.random.default_rng(0), _fixed(pen_width=0.015))
  thick = render_scanlike(LINE, np.random.default_rng(0), _fixed(pen_width=0.06))
  assert np.sum(thick < 128) > 2.5 * np.sum(thin < 128)


def test_neighbours_only_reach_into_the_margins():
  j = _fixed(margin_y=0.4, neighbour_gap=0.05, noise=0.0, texture=0.0)
  found = False
  for seed in range(8):  # a neighbour is left out 40 % of the time
    alone = render_scanlike(LINE, np.random.default_rng(seed), j)
    withn = render_scanlike(LINE, np.random.default_rng(seed), j, neighbours=[OTHER, OTHER])
    if withn.shape == alone.shape:
      extra = (withn < 128) & ~(alone < 128)
      if extra.any():
        rows = np.flatnonzero(extra.any(1))
        H = alone.shape[0]
        assert np.all((rows < 0.3 * H) | (rows > 0.7 * H))  # margins, not the line's body
        found = True
        break
  assert found


def test_normalised_scan_matches_normalised_clean_rendering():
  # The point of one normalisation: a grey, blurred, textured scan and a clean rendering of the
  # same strokes reach the network in (nearly) the same form.
  scan = render_scanlike(LINE, np.random.default_rng(0),
                         _fixed(slant=0.0, rotation=0.0, elastic=0.0, pen_width=0.04,
                                speed_thinning=0.0, body_px=100.0))
  clean = 255 - render_strokes(LINE, height=120, pen_width=0.04 * 100 / 120)
  a, b = normalize_line(scan, 32), normalize_line(clean, 32)
  assert abs(a.shape[1] - b.shape[1]) <= 0.03 * a.shape[1]
  w = min(a.shape[1], b.shape[1])
  ink_a, ink_b = a[:, :w] > 127, b[:, :w] > 127
  near_a, near_b = (ndimage.binary_dilation(x, np.ones((3, 3))) for x in (ink_a, ink_b))
  # Strokes one pixel apart are the same stroke at this size: compare within a pixel.
  assert np.mean(near_b[ink_a]) > 0.9 and np.mean(near_a[ink_b]) > 0.9
  assert 0.6 < ink_a.sum() / ink_b.sum() < 1.6


def test_render_for_training_gives_network_input():
  img = render_for_training(LINE, np.random.default_rng(0), 32, [OTHER])
  assert img.shape[0] == 32 and img.dtype == np.uint8 and img.max() == 255
  with pytest.raises(RenderError):
    render_scanlike([np.zeros((0, 2))], np.random.default_rng(0))


@pytest.fixture(scope="module")
def strokes_folder(tmp_path_factory):
  out = tmp_path_factory.mktemp("syn")
  synthetic.prepare(str(out), lines=12, seed=2, valid_fraction=0.25, test_fraction=0.0)
  return out


def test_prepare_render_writes_an_image_folder(strokes_folder, tmp_path):
  from handwriting.recognition.configs import get_config
  from handwriting.recognition.task import RecognitionTask
  out = tmp_path / "scan"
  summary = render_prepared([strokes_folder, strokes_folder], out, height=32, copies=2,
                            workers=1)
  src = Prepared(strokes_folder)
  data = Prepared(out)
  n_train = len(src.strokes("train"))
  # Train: two copies of the folder's lines plus two of the extra folder's; valid: one each.
  assert summary["splits"]["train"] == 4 * n_train
  assert summary["splits"]["valid"] == len(src.strokes("valid"))
  assert data.meta["image_norm"] == "scan" and data.meta["image_height"] == 32
  ids = list(data.images("train").ids)
  assert len(set(ids)) == len(ids) and any(i.startswith("src1/") for i in ids)
  first = data.image("train", 0)
  assert first.shape[0] == 32
  cfg = get_config("tiny", "mdlstm")
  cfg.data, cfg.image_height = str(out), 32
  task = RecognitionTask(cfg)
  assert task.image_norm == "scan" and task.checkpoint_meta()["image_norm"] == "scan"
