"""The curated public API: every lazily re-exported name resolves, and the package version is set."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "sensorimotor.core",
    "sensorimotor.nn",
    "sensorimotor.data",
    "sensorimotor.sim",
    "sensorimotor.robots",
    "sensorimotor.worldmodels",
    "sensorimotor.sequence",
    "sensorimotor.train.canvas",
    "sensorimotor.train.sequence",
    "sensorimotor.train.sweep",
    "sensorimotor.train.adaptive",
    "sensorimotor.worldmodels.adaptive",
    "sensorimotor.vla",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert sorted(dir(module)) == sorted(module.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


def test_documented_imports_work() -> None:
    from sensorimotor import __version__
    from sensorimotor.robots import make_robot
    from sensorimotor.worldmodels import CanvasWorldModel

    assert __version__ and __version__[0].isdigit()
    assert CanvasWorldModel.__name__ == "CanvasWorldModel"
    with make_robot("toroidal_dot", seed=1, width=16, height=16) as robot:
        assert robot.get_observation()["image"].shape == (16, 16, 3)


def test_factory_errors_name_the_key() -> None:
    from sensorimotor.core.errors import ConfigError
    from sensorimotor.robots import make_robot

    with pytest.raises(ConfigError, match="toroidal_dott"):
        make_robot("toroidal_dott")
    with pytest.raises(ConfigError, match="dot_radiuss"):
        make_robot("toroidal_dot", dot_radiuss=3)
