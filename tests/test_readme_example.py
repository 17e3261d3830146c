"""The README's library example (score, select and train without Hydra) runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_readme_library_example_runs(tmp_path):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### The library without Hydra") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 22
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = re.search(r"kept 1000 of 2000 examples: test error (\S+)", out.stdout)
    assert line and 0.0 <= float(line.group(1)) < 0.6  # better than chance (0.9) on 10 classes
