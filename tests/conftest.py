"""Shared test set-up: Hypothesis profiles and seeding.

``MINISSL_HYPOTHESIS_PROFILE=ci`` (the default) is derandomized and quick;
``dev`` draws many more examples for a deeper search when changing an op.
"""
import os

import pytest
from hypothesis import HealthCheck, settings

import minissl as ms

settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("MINISSL_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    ms.manual_seed(0)
    yield
