from dataclasses import dataclass, field

import pytest

from sensorimotor.core.config import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    load_saved_config,
    save_config,
)
from sensorimotor.core.errors import ConfigError
from sensorimotor.robots.runner import RecordJobConfig
from sensorimotor.robots.selectors import SequenceSelectorConfig
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig


def load(*overrides):
    return load_config("robots", "record", list(overrides), RecordJobConfig)


def test_defaults_compose_into_typed_configs():
    cfg = load()
    assert isinstance(cfg.robot, ToroidalDotConfig)
    assert cfg.robot.width == 224 and cfg.robot.dot_radius == 5 and cfg.robot.move_pixels == 27
    assert cfg.selector.type == "random_duration"
    assert cfg.steps == 1000


def test_group_selection_and_dotted_overrides():
    cfg = load(
        "selector=sequence", "selector.sequence=TRIPLE_MOVE", "robot.dot_radius=7", "steps=5"
    )
    assert isinstance(cfg.selector, SequenceSelectorConfig)
    assert cfg.selector.sequence == "TRIPLE_MOVE"
    assert cfg.robot.dot_radius == 7 and cfg.steps == 5


def test_override_reaches_a_key_the_yaml_leaves_at_its_default():
    cfg = load("selector=constant", "selector.seed=3")  # constant.yaml has no seed key
    assert cfg.selector.seed == 3


def test_list_and_null_overrides():
    cfg = load("selector=sequence", "selector.sequence=[0,1,1]", "steps=null")
    assert cfg.selector.sequence == [0, 1, 1] and cfg.steps is None


def test_unknown_key_lists_valid_keys():
    with pytest.raises(
        ConfigError,
        match=r"unknown config key robot\.dot_radiuss; valid keys of robot: \[.*'dot_radius'",
    ):
        load("robot.dot_radiuss=3")


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match=r"unknown config key stepz.*'steps'"):
        load("stepz=3")


def test_wrong_type_names_key_expected_and_actual():
    with pytest.raises(ConfigError, match=r"robot\.dot_radius: expected int, got 'big' \(str\)"):
        load("robot.dot_radius=big")


def test_invalid_value_is_a_config_error():
    with pytest.raises(ConfigError, match="dot_radius must be in"):
        load("robot.dot_radius=500")


def test_unknown_group_option_lists_options():
    with pytest.raises(
        ConfigError, match=r"unknown robot option 'nope'; expected one of \[.*'toroidal_dot'"
    ):
        load("robot=nope")


def test_malformed_override():
    with pytest.raises(ConfigError, match="expected key=value"):
        load("steps")


def test_unknown_type_lists_registered_types():
    with pytest.raises(ConfigError, match=r"unknown robot 'flying'; expected one of"):
        load("robot.type=flying")


def test_save_and_load_round_trip(tmp_path):
    cfg = load("robot.dot_radius=6", "selector=sequence")
    save_config(cfg, tmp_path / "config.yaml")
    again = load_saved_config(tmp_path / "config.yaml", RecordJobConfig)
    assert config_to_dict(again) == config_to_dict(cfg)


def test_load_saved_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_saved_config(tmp_path / "missing.yaml", RecordJobConfig)
    (tmp_path / "bad.yaml").write_text("robot: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_saved_config(tmp_path / "bad.yaml", RecordJobConfig)


def test_apply_overrides_validates_again():
    cfg = apply_overrides(load(), ["robot.dot_radius=4", "steps=10"])
    assert cfg.robot.dot_radius == 4 and cfg.steps == 10
    with pytest.raises(ConfigError, match="expected int"):
        apply_overrides(cfg, ["steps=many"])


@dataclass
class _Inner:
    ratio: float = 0.5
    sizes: tuple[int, ...] = (1, 2)


@dataclass
class _Outer:
    name: str
    inner: _Inner = field(default_factory=_Inner)
    maybe: int | None = None


def test_config_from_dict_converts_nested_types():
    cfg = config_from_dict(
        _Outer, {"name": "x", "inner": {"ratio": 1, "sizes": [3, 4]}, "maybe": 2}
    )
    assert cfg.inner.ratio == 1.0 and isinstance(cfg.inner.ratio, float)
    assert cfg.inner.sizes == (3, 4)
    with pytest.raises(ConfigError, match="missing required key"):
        config_from_dict(_Outer, {})
    with pytest.raises(ConfigError, match=r"inner\.sizes\[1\]: expected int"):
        config_from_dict(_Outer, {"name": "x", "inner": {"sizes": [1, "a"]}})
    with pytest.raises(ConfigError, match=r"expected bool"):
        config_from_dict(SequenceSelectorConfig, {"loop": "yes"})


def test_the_old_runs_root_spelling_still_works_with_a_note(tmp_path, capsys) -> None:
    from dataclasses import dataclass

    from sensorimotor.core.config import config_from_dict, load_saved_config

    @dataclass
    class Job:
        runs_root: str = "runs"
        name: str | None = None

    assert config_from_dict(Job, {"run_root": "elsewhere"}).runs_root == "elsewhere"
    assert "run_root is deprecated; use runs_root" in capsys.readouterr().err
    saved = tmp_path / "config.yaml"
    saved.write_text("run_root: old_runs\nname: a\n")  # a config saved before the rename
    assert load_saved_config(saved, Job).runs_root == "old_runs"
    assert config_from_dict(Job, {"runs_root": "new"}).runs_root == "new"
    assert capsys.readouterr().err.count("deprecated") == 1
