"""LeRobot plugin: the ``simple_joint`` policy. Importing it registers the policy type."""

from lerobot_policy_simple_joint.configuration_simple_joint import SimpleJointConfig

__all__ = ["SimpleJointConfig"]
