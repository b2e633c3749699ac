"""Keeps conftest's list of torch-importing test modules complete, so a torch-free run never crashes at import."""

import re
from pathlib import Path

from conftest import TORCH_TEST_MODULES


def test_every_module_importing_torch_at_top_is_listed():
    here = Path(__file__).parent
    importing = {p.name for p in here.glob("test_*.py")
                 if re.search(r"^(import torch|from torch)", p.read_text(encoding="utf-8"), re.MULTILINE)}
    assert importing <= set(TORCH_TEST_MODULES)
