"""The locked Python dependencies (requirements/*.txt, written by `bash scripts/lock`) agree with
the ranges pyproject.toml states, so a dependency added, removed or narrowed there without a new
lock fails the suite instead of installing something untested on the next fresh machine."""
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"run": (), "bench": ("bench",), "test": ("test", "bench")}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ \\]+)")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _declared(extras):
    project = _pyproject()["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    lines += _pyproject()["build-system"]["requires"]
    return [Requirement(line) for line in lines]


def _entries(lock_text):
    """name -> (version, hashes, the 'via' comment lines) of every pin in a lock file."""
    entries, current = {}, None
    for line in lock_text.splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            entries[current] = [match.group(2), 0, []]
        elif current and line.strip().startswith("--hash=sha256:"):
            entries[current][1] += 1
        elif current and line.strip().startswith("#"):
            entries[current][2].append(line.strip())
        elif not line.strip():
            current = None
    return entries


def _lock(name):
    return _entries((ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_declared_dependency_is_locked_within_its_range(name):
    pins = _lock(name)
    problems = []
    for req in _declared(LOCKS[name]):
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req.name}: in pyproject.toml, missing from requirements/{name}.txt")
        elif not req.specifier.contains(pin[0], prereleases=True):
            problems.append(f"{req.name}: locked {pin[0]}, pyproject.toml asks {req.specifier}")
    assert problems == [], "run `bash scripts/lock`: " + "; ".join(problems)


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_the_lock_names_nothing_directly_that_pyproject_dropped(name):
    declared = {canonicalize_name(r.name) for r in _declared(LOCKS[name])}
    direct = {pkg for pkg, (_v, _h, via) in _lock(name).items()
              if any("ynqs-approval (pyproject.toml)" in line for line in via)}
    assert direct - declared == set(), "run `bash scripts/lock`: stale direct pins"


@pytest.mark.parametrize("name", sorted(LOCKS) + ["pip"])
def test_every_pin_carries_a_hash(name):
    pins = _lock(name)
    assert pins, f"requirements/{name}.txt pins nothing"
    assert [pkg for pkg, (_v, hashes, _via) in pins.items() if hashes == 0] == []


@pytest.mark.parametrize("name", ["run", "bench"])
def test_the_test_lock_holds_every_pin_of_the_smaller_installs(name):
    """scripts/bootstrap lets a test install stand in for a run or bench install."""
    test_pins = {pkg: v[0] for pkg, v in _lock("test").items()}
    differing = {pkg: (v[0], test_pins.get(pkg)) for pkg, v in _lock(name).items()
                 if test_pins.get(pkg) != v[0]}
    assert differing == {}


def test_this_environment_is_the_test_lock():
    """What the suite runs on is exactly what the lock names (scripts/bootstrap installed it)."""
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {pkg: (v[0], installed.get(pkg)) for pkg, v in _lock("test").items()
             if installed.get(pkg) != v[0] and pkg not in ("pip",)}
    assert wrong == {}
