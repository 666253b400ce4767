"""Packaging: an SPDX licence, a version with the commit from a clone, `scan --version`, and
`pip install .` / `pip install git+file://...` into a fresh virtual environment with no
deprecation warning from the build."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

import scan

ROOT = Path(__file__).resolve().parents[1]

try:
    import tomllib
except ModuleNotFoundError:       # Python 3.10
    import tomli as tomllib


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_spdx_licence_and_licence_file():
    project = _pyproject()["project"]
    assert project["license"] == "MIT"                     # SPDX expression, not a table
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    requires = _pyproject()["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77
               for r in requires)                          # SPDX strings need setuptools 77


def test_extras():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert any(r.startswith("geopandas") for r in extras["geo"])
    assert {"mkdocs", "mkdocs-material"} <= {re.split(r"[<>=\[]", r)[0] for r in extras["docs"]}
    test = {re.split(r"[<>=\[]", r)[0] for r in extras["test"]}
    assert {"geopandas", "fastkml", "lxml", "dbfread", "nbclient", "ipykernel", "mkdocs",
            "mkdocs-material", "mkdocstrings-python"} <= test
    deps = {re.split(r"[<>=\[;]", r)[0].strip() for r in _pyproject()["project"]["dependencies"]}
    assert {"pyogrio", "shapely", "pyproj"} <= deps


def _git_commit() -> str | None:
    if not shutil.which("git") or not (ROOT / ".git").exists():
        return None
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    return out.stdout.strip() or None


def test_version_carries_the_commit_in_a_clone():
    commit = _git_commit()
    if commit is None:
        pytest.skip("not a git clone")
    assert scan.version_string() == f"{scan.__version__}+g{commit}"
    out = subprocess.run([sys.executable, "-m", "scan.cli", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"scan {scan.__version__}+g{commit}"


def test_version_is_single_sourced():
    assert _pyproject()["project"]["dynamic"] == ["version"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr":
                                                                      "scan.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", scan.__version__)


def _fresh_venv(path: Path) -> Path:
    """A new virtual environment that sees this one's installed dependencies (through a .pth
    to a folder of links to them, leaving out scan itself), so that `pip install` builds and
    installs scan without downloading the scientific stack again."""
    venv.EnvBuilder(with_pip=True).create(path)
    python = path / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    deps = path / "deps"
    deps.mkdir()
    for entry in ours.iterdir():
        name = entry.name.lower()
        if name.startswith(("scan", "__editable__", "_scan", "pip", "setuptools")) \
                or name.endswith(".pth"):
            continue
        (deps / entry.name).symlink_to(entry)
    (site / "deps.pth").write_text(str(deps) + "\n")
    return python


def _pip_install(python: Path, target: str, cwd: Path, *extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_USER"))}
    proc = subprocess.run([str(python), "-m", "pip", "install", "-v", "--no-cache-dir", *extra,
                           target], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=900)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout + proc.stderr


def _no_build_warnings(log: str) -> None:
    bad = [line for line in log.splitlines()
           if re.search(r"deprecat|BuildBackendWarning|SetuptoolsWarning|license.*table", line,
                        flags=re.I)]
    assert bad == []


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv(tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    log = _pip_install(python, str(ROOT), cwd=tmp_path)
    _no_build_warnings(log)
    where = subprocess.run([str(python), "-c", "import scan, scan.io.gis, scan.geo; "
                            "print(scan.__file__); print(scan.version_string())"],
                           capture_output=True, text=True, check=True, cwd=tmp_path)
    path, version = where.stdout.split()
    assert Path(path).is_relative_to(tmp_path / "venv")          # the installed copy
    assert version == scan.__version__                           # no clone beside it
    cli = subprocess.run([str(tmp_path / "venv" / "bin" / "scan"), "--version"],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    assert cli.stdout.strip() == f"scan {scan.__version__}"
    meta = subprocess.run([str(python), "-c", "from importlib.metadata import metadata; "
                           "m = metadata('scan'); print(m['License-Expression']); "
                           "print(m.get_all('License-File'))"],
                          capture_output=True, text=True, check=True, cwd=tmp_path)
    assert meta.stdout.splitlines()[0] == "MIT"
    assert "LICENSE" in meta.stdout.splitlines()[1]
    # and from a Git URL (the committed HEAD of this clone)
    if shutil.which("git") and (ROOT / ".git").exists():
        log = _pip_install(python, f"git+file://{ROOT}", tmp_path, "--force-reinstall",
                           "--no-deps")
        _no_build_warnings(log)
        assert "Successfully installed scan" in log
