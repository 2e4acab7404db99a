"""The project as a newcomer installs it: license metadata, the README's install lines and CI's
scratch folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_is_a_file_and_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # The table form ({text = "MIT"}) is deprecated by setuptools (an error from 2027).
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_the_readme_says_which_torch_to_install_and_which_python():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme[readme.index("## Install") : readme.index("## Quick start")]
    assert "Python >= 3.11" in install
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in install
    assert "\npip install torch " in install  # the CUDA build, on a line of its own


def test_ci_removes_its_scratch_folder_when_it_fails(tmp_path):
    """.ci/run stops at its first failing command (here: creating the venv) and leaves no
    temporary folder behind."""
    bin_dir, scratch = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    scratch.mkdir()
    python3 = bin_dir / "python3"
    python3.write_text("#!/bin/sh\nexit 3\n", encoding="utf-8")
    python3.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(scratch)}
    result = subprocess.run([str(ROOT / ".ci" / "run")], env=env, capture_output=True,
                            timeout=60)
    assert result.returncode == 3
    assert list(scratch.iterdir()) == []


HELP_CHECK = """
import runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    assert stop.code == 0, stop.code
print("torch loaded:", "torch" in sys.modules)
"""


@pytest.mark.parametrize("script", ["train.py", "chat.py", "compare.py"])
def test_help_answers_without_loading_torch(script):
    """--help must not wait seconds for torch (6-7 s on a busy 2-core machine)."""
    result = subprocess.run([sys.executable, "-c", HELP_CHECK, str(ROOT / script)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("torch loaded: False")
    assert "usage:" in result.stdout
    if script == "chat.py":  # a run folder offers selected.pt first
        assert "(its selected.pt, else best.pt" in " ".join(result.stdout.split())
