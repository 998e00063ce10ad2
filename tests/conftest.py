import pytest
import torch

from archs import _registry


@pytest.fixture
def registry_snapshot():
    """Undo whatever a test registers."""
    saved = dict(_registry._ENTRIES)
    yield
    _registry._ENTRIES.clear()
    _registry._ENTRIES.update(saved)


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)
