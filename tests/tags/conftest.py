"""Fixtures of the tag engine tests (helpers live in helpers.py)."""
from __future__ import annotations

import pytest

from deid_node.tags import ProfileSettings, TagEngine

from .helpers import KEY


@pytest.fixture(scope="session")
def engine() -> TagEngine:
    """The default profile with no analyzer: tier 2 fails closed."""
    return TagEngine(ProfileSettings.default(), KEY)
