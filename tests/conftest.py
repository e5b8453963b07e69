from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PUBLISHED = SHARED / "data" / "taskonomy-2018"


@pytest.fixture(scope="session")
def published_dir() -> Path:
    """The published 2018 results (read-only, beside the checkout)."""
    if not (PUBLISHED / "affinities" / "all_affinities_16k.pkl").is_file():
        pytest.fail(f"published 2018 results not found at {PUBLISHED}; they ship in ../shared")
    return PUBLISHED
