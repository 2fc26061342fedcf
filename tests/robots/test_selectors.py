import numpy as np
import pytest

from sensorimotor.core.errors import ConfigError
from sensorimotor.robots.interface import Box, Exhausted
from sensorimotor.robots.selectors import (
    NAMED_SEQUENCES,
    ConstantSelector,
    RandomDurationSelector,
    RandomDurationSelectorConfig,
    RecordedSelector,
    RecordedSelectorConfig,
    SequenceSelector,
    SequenceSelectorConfig,
    action_counts,
)

SPACE = [{"action": 0}, {"action": 1}]


def run(selector, n):
    return [selector({})["action"] for _ in range(n)]


def test_constant_and_named_sequences():
    assert run(ConstantSelector({"action": 1}), 3) == [1, 1, 1]
    assert run(SequenceSelectorConfig(sequence="ALTERNATE").make(SPACE), 5) == [0, 1, 0, 1, 0]
    assert run(SequenceSelectorConfig(sequence="always_move").make(SPACE), 3) == [1, 1, 1]
    assert run(SequenceSelectorConfig(sequence="ALWAYS_STAY").make(SPACE), 2) == [0, 0]
    assert run(SequenceSelectorConfig(sequence="DOUBLE_MOVE").make(SPACE), 6) == [1, 1, 0, 1, 1, 0]
    assert run(SequenceSelectorConfig(sequence="TRIPLE_MOVE").make(SPACE), 5) == [1, 1, 1, 0, 1]
    assert set(NAMED_SEQUENCES) == {
        "ALWAYS_MOVE",
        "ALWAYS_STAY",
        "ALTERNATE",
        "DOUBLE_MOVE",
        "TRIPLE_MOVE",
    }


def test_sequence_without_loop_is_exhausted():
    selector = SequenceSelector([{"action": 0}], loop=False)
    selector({})
    with pytest.raises(Exhausted):
        selector({})


def test_sequence_config_errors():
    with pytest.raises(ConfigError, match="unknown named sequence"):
        SequenceSelectorConfig(sequence="ZIGZAG").make(SPACE)
    with pytest.raises(ConfigError, match="out of range"):
        SequenceSelectorConfig(sequence=[0, 5]).make(SPACE)
    with pytest.raises(ConfigError, match="discrete action space"):
        SequenceSelectorConfig().make(Box((0.0,), (1.0,)))


def test_random_duration_holds_actions_within_bounds_and_is_seeded():
    actions = run(RandomDurationSelector(SPACE, 3, 5, seed=1), 2000)
    assert actions == run(RandomDurationSelector(SPACE, 3, 5, seed=1), 2000)
    assert actions != run(RandomDurationSelector(SPACE, 3, 5, seed=2), 2000)
    # Holds are drawn independently, so equal neighbours merge; every run is still >= min.
    runs, length = [], 1
    for a, b in zip(actions, actions[1:], strict=False):
        if a == b:
            length += 1
        else:
            runs.append(length)
            length = 1
    assert min(runs[1:]) >= 3
    assert 0.35 < np.mean(actions) < 0.65
    with pytest.raises(ConfigError, match="min_duration"):
        RandomDurationSelectorConfig(min_duration=5, max_duration=2).make(SPACE)


def test_random_duration_holds_exactly_when_actions_are_distinguishable():
    selector = RandomDurationSelector([{"a": i} for i in range(1000)], 2, 4, seed=0)
    actions = [selector({})["a"] for _ in range(3000)]
    lengths, length = [], 1
    for a, b in zip(actions, actions[1:], strict=False):
        if a == b:
            length += 1
        else:
            lengths.append(length)
            length = 1
    assert set(lengths) <= {2, 3, 4} and set(lengths) == {2, 3, 4}


def test_random_duration_on_a_box():
    box = Box((-1.0, 0.0), (1.0, 2.0))
    selector = RandomDurationSelector(box, 1, 1, seed=0)
    values = np.array([selector({})["action"] for _ in range(100)])
    assert values.shape == (100, 2)
    assert (values >= [-1, 0]).all() and (values <= [1, 2]).all()


def test_recorded_selector_replays_and_filters(recorded_session):
    reader = recorded_session
    expected = [a["action"] for a in reader.actions() if a is not None]
    selector = RecordedSelector(reader)
    assert [selector({})["action"] for _ in range(len(expected))] == expected
    with pytest.raises(Exhausted):
        selector({})
    only_moves = RecordedSelectorConfig(session=str(reader.path), actions=[1]).make(SPACE)
    assert set(run(only_moves, len(only_moves.actions))) == {1}
    assert len(only_moves.actions) == expected.count(1)
    window = RecordedSelector(reader, start=2, stop=5)
    assert [window({})["action"] for _ in range(3)] == expected[2:5]
    with pytest.raises(ConfigError, match="selector.session is required"):
        RecordedSelectorConfig().make(SPACE)


def test_action_counts():
    assert action_counts([{"action": 1}, {"action": 1}, None, {"action": 0}], SPACE) == {
        "0": 1,
        "1": 2,
    }
