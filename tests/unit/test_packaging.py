"""What an adopter's tools read (issue 20): one version, written once in sav/__init__.py;
`py.typed` shipped; the metadata a package index shows; `python -m sav` is the `sav` command.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from sav import __version__

ROOT = Path(__file__).parents[2]


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_written_once_and_read_by_the_build() -> None:
    config = pyproject()
    assert "version" not in config["project"]
    assert "version" in config["project"]["dynamic"]
    source = config["tool"]["hatch"]["version"]["path"]
    assert source == "sav/__init__.py"
    # The line hatchling's regex source reads (`__version__ = "..."`).
    assert re.search(r'^__version__ = "([^"]+)"$', (ROOT / source).read_text(), re.M)


def test_deployments_pin_the_image_of_this_version() -> None:
    """YAML and .env files cannot import the version: a release bumps them with it."""
    pinned = {
        "k8s/kustomization.yaml newTag": re.findall(
            r'newTag:\s*"?([^"\s]+)', (ROOT / "k8s" / "kustomization.yaml").read_text()),
        "docker/.env.example SAV_VERSION": re.findall(
            r"^SAV_VERSION=(\S+)", (ROOT / "docker" / ".env.example").read_text(), re.M),
        "docker/docker-compose.yml default": re.findall(
            r"\$\{SAV_VERSION:-([^}]+)\}", (ROOT / "docker" / "docker-compose.yml").read_text()),
    }
    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        pinned[f"{path.relative_to(ROOT)} image"] = re.findall(
            r"image:\s*sav-service:(\S+)", path.read_text())
    assert pinned["k8s/kustomization.yaml newTag"], "no image tag found in kustomization"
    wrong = {where: tags for where, tags in pinned.items()
             if any(tag != __version__ for tag in tags)}
    assert wrong == {}, f"bump these with sav/__init__.py ({__version__})"


def test_py_typed_ships_in_the_package() -> None:
    assert (ROOT / "sav" / "py.typed").is_file()
    wheel = pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["sav"]  # every file of sav/, py.typed included
    assert not any("py.typed" in pattern for pattern in wheel.get("exclude", []))


def test_metadata_a_package_index_shows() -> None:
    project = pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert project["authors"] == [{"name": "The SAV developers"}]
    assert {"Homepage", "Repository", "Issues", "Changelog"} <= set(project["urls"])
    assert "Typing :: Typed" in project["classifiers"]
    assert project["keywords"]


def test_python_dash_m_sav_is_the_sav_command() -> None:
    done = subprocess.run([sys.executable, "-m", "sav", "--version"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert (done.returncode, done.stdout.strip()) == (0, f"sav {__version__}"), done.stderr
    helped = subprocess.run([sys.executable, "-m", "sav", "db", "--help"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert helped.returncode == 0 and "upgrade" in helped.stdout
