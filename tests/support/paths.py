"""Where the team's shared media lives (beside the checkout), for the tests that skip without it."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHARED_WEIGHTS = SHARED_DATA.parent / "weights"

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no shared media at {SHARED_DATA}")
