"""Registries of robot and action-selector configs (type name → config class, imported lazily)."""

from __future__ import annotations

from sensorimotor.core.registry import Registry

ROBOTS = Registry(
    "robot",
    {
        "toroidal_dot": "sensorimotor.robots.toroidal_dot:ToroidalDotConfig",
        "mujoco": "sensorimotor.robots.mujoco:MujocoRobotConfig",
        "dm_control": "sensorimotor.robots.dm_control:DmControlRobotConfig",
        "replay": "sensorimotor.robots.session:ReplayRobotConfig",
        "jetbot": "sensorimotor.robots.jetbot.client:JetBotConfig",
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
