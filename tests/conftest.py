"""Shared fixtures for the whole suite."""

from __future__ import annotations

import os

# Keep boa's compile cache inside the project, never the home directory.
os.environ.setdefault("DEPIN_TEST", "1")
