"""What every e2e module shares: one stand-in upstream per module, so that each module's call
counts are its own."""

from __future__ import annotations

import pytest

from litellm_semcache.testing import StandInModel


@pytest.fixture(scope="module")
def upstream():
    with StandInModel() as model:
        yield model
