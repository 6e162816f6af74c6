#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with the project and its pinned stack.
# Quick when nothing changed: the install is skipped while pyproject.toml matches the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi

stamp=.venv/.space-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import space, torch, dlib, decord" 2>/dev/null; then
    echo "setup: .venv is up to date"
    exit 0
fi

.venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
# torch, torchaudio and torchvision are pinned in pyproject.toml (what whisperx 3.8.6 needs); installing them in
# the same resolve as everything else keeps any other package from pulling a different torch.
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/python - <<'PY'
import torch
assert torch.__version__.split("+")[0] == "2.8.0", f"unexpected torch {torch.__version__}"
PY
echo "$want" > "$stamp"
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
