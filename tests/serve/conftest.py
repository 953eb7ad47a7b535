"""One set of shipped models for every test of the page (loaded and compiled once)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def models():
  from handwriting.serve.app import Models
  return Models.load()


@pytest.fixture(scope="session")
def client(models):
  from fastapi.testclient import TestClient

  from handwriting.serve.app import create_app
  return TestClient(create_app(models))
