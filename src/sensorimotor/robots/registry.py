"""Registries of robot and action-selector configs (type name → config class, imported lazily)."""

from __future__ import annotations

from sensorimotor.core.registry import Registry

ROBOTS = Registry(
    "robot",
    {
        "toroidal_dot": "sensorimotor.robots.toroidal_dot:ToroidalDotConfig",
        "mujoco": "sensorimotor.sim.robot:MujocoRobotConfig",
        "dm_control": "sensorimotor.sim.dm_control_robot:DmControlRobotConfig",
        "so101_sim": "sensorimotor.robots.so101.sim:SO101SimConfig",
    },
)

SELECTORS = Registry(
    "selector",
    {
        "constant": "sensorimotor.robots.selectors:ConstantSelectorConfig",
        "sequence": "sensorimotor.robots.selectors:SequenceSelectorConfig",
        "random_duration": "sensorimotor.robots.selectors:RandomDurationSelectorConfig",
        "recorded": "sensorimotor.robots.selectors:RecordedSelectorConfig",
    },
)
