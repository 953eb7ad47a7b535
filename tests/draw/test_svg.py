import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from handwriting.draw.svg import layout, smooth_path, write_svg


def test_smooth_path_passes_through_ends_and_midpoints():
  d = smooth_path(np.array([[0, 0], [2, 2], [4, 0]]))
  assert d.startswith("M0.00,0.00") and d.endswith("L4.00,0.00")
  assert "Q2.00,2.00 3.00,1.00" in d  # control at the sample, anchor at the midpoint
  assert smooth_path(np.array([[1, 1]])).startswith("M1.00,1.00")


def test_layout_flips_y_and_stacks_rows():
  up = [np.array([[0.0, 0.0], [0.0, 10.0]])]  # a stroke drawn upwards in data coordinates
  placed, width, height = layout([up, up], line_height=50, margin=10)
  first = placed[0][0]
  assert first[1, 1] < first[0, 1]  # higher in the data = smaller SVG y
  assert placed[1][0][:, 1].mean() == pytest.approx(first[:, 1].mean() + 50)
  assert height == 2 * 10 + 2 * 50 and width >= 20


def test_write_svg_is_valid_xml_with_one_group_per_line(tmp_path):
  rng = np.random.default_rng(0)
  lines = [[rng.normal(size=(5, 2)).cumsum(0), rng.normal(size=(3, 2)).cumsum(0)],
           [rng.normal(size=(7, 2)).cumsum(0)]]
  path = tmp_path / "page.svg"
  write_svg(path, lines, colour=["black", "blue"], stroke_width=1.5)
  root = ET.parse(path).getroot()
  ns = "{http://www.w3.org/2000/svg}"
  groups = root.findall(f"{ns}g")
  assert [g.get("stroke") for g in groups] == ["black", "blue"]
  assert [len(g.findall(f"{ns}path")) for g in groups] == [2, 1]
  assert re.match(r"0 0 [\d.]+ [\d.]+", root.get("viewBox"))
  with pytest.raises(ValueError, match="2 colours for 1 lines"):
    write_svg(path, lines[:1], colour=["a", "b"])
