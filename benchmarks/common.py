"""What every benchmark does at the end: write its result as JSON under benchmarks/results/ and print it."""

from __future__ import annotations

import json
from pathlib import Path


def write_result(path: str | Path, result: dict, indent: int = 1) -> dict:
    """Write `result` to `path` as JSON (folders made), print it, and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=indent)
    path.write_text(text + "\n")
    print(text)
    return result
