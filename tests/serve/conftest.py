"""One set of shipped models for every test of the page (loaded and compiled once).

The page is tested with the small writer: what it tests (requests, streaming, styles, errors) does
not depend on the network's size, and the default writer (3 x 256) takes about twice as long a
line. That `Writer.load()` picks the default is tested in tests/test_api.py and test_pretrained.py.
"""

from __future__ import annotations

import pytest

WRITER = "synthesis-iam-ondb-small"


@pytest.fixture(scope="session")
def models():
  from handwriting.serve.app import Models
  return Models.load(synthesis=WRITER)


@pytest.fixture(scope="session")
def client(models):
  from fastapi.testclient import TestClient

  from handwriting.serve.app import create_app
  return TestClient(create_app(models))
