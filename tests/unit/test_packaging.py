"""Packaging metadata setuptools accepts without a deprecation warning (issue 17, item 12)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_license_is_an_spdx_expression_for_a_setuptools_that_reads_it() -> None:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    # A table ({text = "MIT"}) makes setuptools >= 77 warn at every install (PEP 639).
    assert data["project"]["license"] == "MIT"
    [setuptools] = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    found = re.search(r">=\s*(\d+)", setuptools)
    assert found is not None and int(found.group(1)) >= 77  # the first to take an SPDX string


def test_the_dashboards_script_and_style_are_package_data() -> None:
    """The dashboard loads nothing from elsewhere: its files must ship in the wheel."""
    from fnmatch import fnmatch

    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["bot"]
    static = PYPROJECT.parent / "bot" / "dashboard" / "static"
    files = [path.relative_to(PYPROJECT.parent / "bot").as_posix() for path in static.iterdir()]
    assert files and all(any(fnmatch(f, p) for p in patterns) for f in files), files
