#!/usr/bin/env bash
# Creates .venv and installs the harness with pinned torch/torchvision (x86_64 + Python 3.11 wheels).
# pip warnings such as "Location 'file:///opt/pypi/simple/<pkg>/' is ignored" come from the machine's pip
# configuration (`pip config list`: an extra-index-url of local file:// indexes that lack some packages), not from
# the flags below; they are harmless.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "installed: $(.venv/bin/python -c 'import torch, bench; print("bench", bench.__version__, "torch", torch.__version__)')"
