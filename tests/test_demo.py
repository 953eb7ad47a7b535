from PIL import Image

from handwriting import cli, pretrained


def test_demo_writes_pages_plots_and_prepared_data(tmp_path, capsys):
  out = tmp_path / "demo"
  assert cli.main(["demo", "--out", str(out), "--lines", "30", "--text", "hello world"]) == 0
  shipped = pretrained.DEFAULTS["synthesis"]
  for name in ("line_0.png", "written_bias0.svg", "written_bias1.png", "written_style0.svg",
               "written_style1.png", "written_synthetic.png", "attention.png",
               f"training_curve_{shipped}.png", "synthetic/meta.json"):
    assert (out / name).stat().st_size > 0, name
  page = Image.open(out / "written_bias1.png")
  assert page.width > page.height > 0
  out_text = capsys.readouterr().out
  assert "written: 'hello world'" in out_text and "CER of the text read back by" in out_text
  assert "read-back CER per page: written_bias0" in out_text
