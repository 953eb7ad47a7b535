"""The page in a real browser: Debian's headless Chromium driven by selenium against a local
server. Set HANDWRITING_SCREENSHOTS=DIR to keep a screenshot of each state (the README's).

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian's chromium and chromium-driver, which
.ci/run installs); skipped where they are missing, except in CI (CI=true), where that fails.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
  if os.environ.get("CI") == "true":
    raise RuntimeError("CI must install Debian's chromium and chromium-driver (.ci/run)")
  pytest.skip("Debian's chromium and chromium-driver are not installed", allow_module_level=True)

from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

SHOTS = os.environ.get("HANDWRITING_SCREENSHOTS")


@pytest.fixture(scope="module")
def server(models):
  import uvicorn

  from handwriting.serve.app import create_app
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  config = uvicorn.Config(create_app(models), host="127.0.0.1", port=port, log_level="warning")
  srv = uvicorn.Server(config)
  thread = threading.Thread(target=srv.run, daemon=True)
  thread.start()
  deadline = time.time() + 30
  while not srv.started and time.time() < deadline:
    time.sleep(0.05)
  yield f"http://127.0.0.1:{port}/"
  srv.should_exit = True
  thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(server):
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--window-size=1100,1400"):
    options.add_argument(flag)
  driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER),
                            options=options)
  driver.get(server)
  WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body")
                                  .get_attribute("data-ready") == "1")
  yield driver
  driver.quit()


def _shot(driver, name: str) -> None:
  if SHOTS:
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(Path(SHOTS) / f"page_{name}.png"))


def _ink_paths(driver) -> int:
  return len(driver.find_elements(By.CSS_SELECTOR, "#output svg path"))


def _write(driver, text: str) -> None:
  box = driver.find_element(By.ID, "text")
  box.clear()
  box.send_keys(text)
  before = driver.find_element(By.ID, "output").get_attribute("innerHTML")
  driver.find_element(By.ID, "write").click()
  WebDriverWait(driver, 60).until(
    lambda d: d.find_element(By.ID, "output").get_attribute("innerHTML") != before
    or d.find_element(By.ID, "write-error").text)
  assert not driver.find_element(By.ID, "write-error").text


def _draw(driver, models, text: str) -> None:
  """Draws a line the shipped writer wrote, scaled into the pad, with pointer actions."""
  (page,) = models.writer.write(text, seed=2)
  points = page.strokes[0]
  pad = driver.find_element(By.ID, "pad")
  width, height = pad.size["width"], pad.size["height"]
  xy = points[:, :2] - points[:, :2].min(0)
  scale = min((width - 40) / max(np.ptp(xy[:, 0]), 1), (height - 40) / max(np.ptp(xy[:, 1]), 1))
  px = 20 + xy[:, 0] * scale
  py = height - 20 - xy[:, 1] * scale  # y up in the data, down on the screen
  # Offsets from the pad's centre (selenium's origin for move_to_element_with_offset).
  screen = np.stack([px - width / 2, py - height / 2], 1).round().astype(int)
  driver.find_element(By.ID, "clear").click()
  start, stroke = 0, []
  for i, up in enumerate(points[:, 2]):
    if up > 0.5:
      stroke = screen[start:i + 1][::2].tolist() + [screen[i].tolist()]
      chain = ActionChains(driver, duration=0)
      chain.move_to_element_with_offset(pad, *stroke[0]).click_and_hold()
      for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
        chain.move_by_offset(x1 - x0, y1 - y0)
      chain.release().perform()
      start = i + 1


def test_type_a_text_and_see_it_written(browser):
  _shot(browser, "start")
  _write(browser, "hello from a browser")
  assert _ink_paths(browser) > 5
  assert browser.find_element(By.ID, "download-svg").get_attribute("href").startswith("blob:")
  browser.find_element(By.ID, "show-attention").click()
  _write(browser, "attention, please")
  assert browser.find_element(By.ID, "attention").is_displayed()
  _shot(browser, "written")


def test_a_line_that_never_finished_is_named(browser, models, monkeypatch):
  real = models.writer.write

  def write(texts, **kw):  # the server's writer, with its first line reported stalled
    pages = real(texts, **kw)
    pages[0].lines[0].finished = False
    return pages
  monkeypatch.setattr(models.writer, "write", write)
  _write(browser, "a stalled line")
  note = browser.find_element(By.ID, "write-note").text
  assert 'Line 1 ("a stalled line") did not reach the end' in note, note
  monkeypatch.setattr(models.writer, "write", real)
  _write(browser, "a finished line")
  assert browser.find_element(By.ID, "write-note").text == ""


def test_draw_a_line_and_have_it_read(browser, models):
  _draw(browser, models, "simple words")
  browser.find_element(By.ID, "read").click()
  WebDriverWait(browser, 60).until(
    lambda d: d.find_element(By.ID, "transcription").text not in ("", "…")
    or d.find_element(By.ID, "read-error").text)
  assert not browser.find_element(By.ID, "read-error").text
  read = browser.find_element(By.ID, "transcription").text
  from handwriting.recognition.metrics import char_errors
  assert char_errors(["simple words"], [read]).rate < 0.6, read
  _shot(browser, "read")


def test_make_a_style_from_a_drawn_line_and_write_with_it(browser, models):
  _draw(browser, models, "my own hand")
  browser.find_element(By.ID, "style-text").send_keys("my own hand")
  browser.find_element(By.ID, "make-style").click()
  WebDriverWait(browser, 30).until(
    lambda d: d.find_element(By.ID, "style-status").text or d.find_element(By.ID,
                                                                           "style-error").text)
  assert not browser.find_element(By.ID, "style-error").text
  chosen = Select(browser.find_element(By.ID, "style")).first_selected_option.text
  assert chosen.startswith("my hand")
  assert browser.find_element(By.ID, "download-style").is_displayed()
  _write(browser, "written in my hand")
  assert _ink_paths(browser) > 5
  _shot(browser, "own_hand")
