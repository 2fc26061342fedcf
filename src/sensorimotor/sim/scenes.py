"""Scenes and robot models by name: the single way to load MJCF assets.

Assets live in ``sim/assets/``: ``scenes/<name>.xml`` and ``robots/<name>/<name>.xml``.
``load_scene("test_scene")`` (or a path to any ``.xml``) compiles the model and returns
``(model, data)`` with the data at the initial state (keyframe 0 if the model has one) and
``mj_forward`` applied.
"""

from __future__ import annotations

from pathlib import Path

import mujoco

from sensorimotor.core.errors import UserError

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
SCENES_DIR = ASSETS_DIR / "scenes"
ROBOTS_DIR = ASSETS_DIR / "robots"


class SceneNotFoundError(UserError):
    """A scene or robot name (or path) that does not exist."""


class SceneLoadError(UserError):
    """An MJCF file that MuJoCo cannot compile."""


def available_scenes() -> list[str]:
    """Names of the shipped scenes (``sim/assets/scenes/*.xml``)."""
    return sorted(p.stem for p in SCENES_DIR.glob("*.xml"))


def available_robots() -> list[str]:
    """Names of the shipped robot models (``sim/assets/robots/<name>/<name>.xml``)."""
    return sorted(p.name for p in ROBOTS_DIR.iterdir() if (p / f"{p.name}.xml").is_file())


def _looks_like_path(name: str | Path) -> bool:
    text = str(name)
    return isinstance(name, Path) or text.endswith(".xml") or "/" in text or "\\" in text


def resolve_scene_path(scene: str | Path) -> Path:
    """The MJCF file of a scene name (under the assets folder) or of a path to an ``.xml`` file."""
    if _looks_like_path(scene):
        path = Path(scene).expanduser()
        if not path.is_file():
            raise SceneNotFoundError(
                f"scene file {path} does not exist; shipped scenes: {available_scenes()}"
            )
        return path.resolve()
    path = SCENES_DIR / f"{scene}.xml"
    if not path.is_file():
        raise SceneNotFoundError(
            f"unknown scene {str(scene)!r}; available scenes: {available_scenes()} "
            f"(in {SCENES_DIR}), or pass a path to an .xml file"
        )
    return path


def resolve_robot_path(name: str) -> Path:
    """The MJCF file of a shipped robot model, ``sim/assets/robots/<name>/<name>.xml``."""
    path = ROBOTS_DIR / name / f"{name}.xml"
    if not path.is_file():
        raise SceneNotFoundError(
            f"unknown robot model {name!r}; available robot models: {available_robots()} "
            f"(in {ROBOTS_DIR})"
        )
    return path


def load_model(scene: str | Path) -> mujoco.MjModel:
    """Compile a scene (name or path) into an ``MjModel``; a clear error naming the file."""
    path = resolve_scene_path(scene)
    try:
        return mujoco.MjModel.from_xml_path(str(path))
    except ValueError as e:
        message = " ".join(str(e).split())
        raise SceneLoadError(f"{path}: MuJoCo could not compile the model: {message}") from None


def initial_data(model: mujoco.MjModel) -> mujoco.MjData:
    """Fresh ``MjData`` at the model's initial state (keyframe 0 if any), after ``mj_forward``."""
    data = mujoco.MjData(model)
    reset_data(model, data)
    return data


def reset_data(model: mujoco.MjModel, data: mujoco.MjData) -> None:
    """Reset ``data`` to the initial state (keyframe 0 if the model has one) and run ``mj_forward``."""
    if model.nkey > 0:
        mujoco.mj_resetDataKeyframe(model, data, 0)
    else:
        mujoco.mj_resetData(model, data)
    mujoco.mj_forward(model, data)


def load_scene(scene: str | Path) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """Load a scene by name (``"test_scene"``) or path; returns ``(model, data)`` ready to step."""
    model = load_model(scene)
    return model, initial_data(model)


def scene_name(scene: str | Path) -> str:
    """A short name for a scene: the file stem."""
    return Path(str(scene)).stem


def camera_names(model: mujoco.MjModel) -> list[str]:
    """Names of the model's cameras, in id order (unnamed cameras as ``"#<id>"``)."""
    return [model.camera(i).name or f"#{i}" for i in range(model.ncam)]


def actuator_names(model: mujoco.MjModel) -> list[str]:
    """Names of the model's actuators, in id order (unnamed as ``"#<id>"``)."""
    return [model.actuator(i).name or f"#{i}" for i in range(model.nu)]
