"""Pre/post-processors of ``simple_joint``: a batch dimension and the device; no normalisation
(the policy works in the robot's own position units)."""

from __future__ import annotations

from typing import Any

from lerobot.processor import (
    AddBatchDimensionProcessorStep,
    DeviceProcessorStep,
    PolicyAction,
    PolicyProcessorPipeline,
)
from lerobot.processor.converters import policy_action_to_transition, transition_to_policy_action
from lerobot.utils.constants import (
    POLICY_POSTPROCESSOR_DEFAULT_NAME,
    POLICY_PREPROCESSOR_DEFAULT_NAME,
)

from lerobot_policy_simple_joint.configuration_simple_joint import SimpleJointConfig


def make_simple_joint_pre_post_processors(
    config: SimpleJointConfig, dataset_stats: dict | None = None
) -> tuple[PolicyProcessorPipeline[dict[str, Any], dict[str, Any]], PolicyProcessorPipeline]:
    """The input pipeline (batch dim, device) and the output pipeline (to CPU)."""
    pre = PolicyProcessorPipeline[dict[str, Any], dict[str, Any]](
        steps=[AddBatchDimensionProcessorStep(), DeviceProcessorStep(device=config.device)],
        name=POLICY_PREPROCESSOR_DEFAULT_NAME,
    )
    post = PolicyProcessorPipeline[PolicyAction, PolicyAction](
        steps=[DeviceProcessorStep(device="cpu")],
        name=POLICY_POSTPROCESSOR_DEFAULT_NAME,
        to_transition=policy_action_to_transition,
        to_output=transition_to_policy_action,
    )
    return pre, post
