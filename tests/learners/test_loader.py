"""Loading a checkpoint rebuilds a learner of the right kind, or says what the file holds."""

import pytest

from sensorimotor.agents import create_agent
from sensorimotor.core.errors import DataError
from sensorimotor.learners import LEARNER_KINDS, Learner, Spec, load_learner
from sensorimotor.policies import Policy, create_policy

SPEC = Spec(obs_dim=3, action_dim=2, action_low=(-1.0, -2.0), action_high=(1.0, 2.0))
TINY = {"hidden": [8]}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("learners")
    policy = create_policy("gaussian", SPEC, config=TINY)
    agent = create_agent("bc", SPEC, config={"policy": TINY})
    return {"policy": policy.save(root / "policy"), "agent": agent.save(root / "agent")}


def test_each_kind_loads_through_its_class_and_the_generic_loader(saved):
    assert isinstance(Policy.load(saved["policy"]), Policy)
    agent = Learner.load(saved["agent"])
    assert agent.kind == "agent" and agent.name == "bc"
    assert load_learner(saved["policy"]).kind == "policy"


def test_policy_load_on_an_agent_checkpoint_names_both_kinds(saved):
    with pytest.raises(
        DataError, match=r"holds a 'agent' checkpoint \('bc'\); expected a 'policy'"
    ):
        Policy.load(saved["agent"])


def test_agent_class_load_on_another_agent_names_the_classes(saved):
    from sensorimotor.agents.sac import SAC

    with pytest.raises(DataError, match="holds a BC .*expected a SAC"):
        SAC.load(saved["agent"])


def test_every_rl_kind_registers_itself():
    assert {"policy", "critic", "agent"} <= set(LEARNER_KINDS.names())


def test_an_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no intact checkpoint"):
        load_learner(tmp_path)


@pytest.mark.parametrize("package", ["learners", "policies", "agents"])
def test_every_public_name_resolves(package):
    import importlib

    module = importlib.import_module(f"sensorimotor.{package}")
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        module.nope  # noqa: B018
