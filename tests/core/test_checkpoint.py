import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.errors import DataError


def _tree():
    return {
        "params": {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3, jnp.bfloat16)},
        "layers": [np.zeros(2, np.int32), np.full(1, 7.0)],
        "step": 12,
        "kind": "zscore",
        "key": jax.random.key(4),
    }


def test_round_trip_without_target(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save(5, _tree(), {"config": {"lr": 0.1}, "loss": np.float32(0.5)})
    tree, meta = manager.restore()
    assert meta["step"] == 5 and meta["config"] == {"lr": 0.1} and meta["loss"] == 0.5
    np.testing.assert_array_equal(tree["params"]["w"], np.arange(6.0).reshape(2, 3))
    assert tree["params"]["b"].dtype == jnp.bfloat16
    assert tree["step"] == 12 and tree["kind"] == "zscore"
    np.testing.assert_array_equal(tree["layers"][1], [7.0])
    np.testing.assert_array_equal(tree["key"], jax.random.key_data(jax.random.key(4)))


def test_restore_into_optimizer_state_target(tmp_path):
    params = {"w": jnp.ones(3)}
    opt = optax.adamw(1e-2)
    state = opt.init(params)
    _, state = (
        opt.update({"w": jnp.full(3, 0.5)}, state, params),
        opt.update({"w": jnp.full(3, 0.5)}, state, params)[1],
    )
    manager = CheckpointManager(tmp_path)
    manager.save(1, {"opt": state})
    restored, _ = manager.restore(target={"opt": opt.init(params)})
    assert type(restored["opt"][0]) is type(state[0])
    np.testing.assert_allclose(restored["opt"][0].mu["w"], state[0].mu["w"])
    assert int(restored["opt"][0].count) == 1


def test_keeps_the_newest_and_skips_half_written(tmp_path):
    manager = CheckpointManager(tmp_path, keep=2)
    for step in (1, 2, 3):
        manager.save(step, {"x": np.full(2, step)})
    assert [c.step for c in manager.checkpoints()] == [2, 3]
    (tmp_path / "step_00000009").mkdir()  # no metadata: not intact
    (tmp_path / ".tmp-step_00000010-1-deadbeef").mkdir()
    with pytest.warns(UserWarning, match="step_00000009 lacks a readable metadata.json"):
        assert manager.latest().step == 3
    tree, _ = manager.restore()
    np.testing.assert_array_equal(tree["x"], [3, 3])


def test_damaged_latest_falls_back_to_previous(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3)
    manager.save(1, {"x": np.ones(2)})
    manager.save(2, {"x": np.full(2, 2.0)})
    for f in (tmp_path / "step_00000002" / "state").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="could not be restored"):
        tree, meta = manager.restore()
    assert meta["step"] == 1


def test_missing_checkpoint_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no intact checkpoint"):
        CheckpointManager(tmp_path).restore()
    manager = CheckpointManager(tmp_path)
    manager.save(1, {"x": np.ones(1)})
    with pytest.raises(DataError, match="step 4"):
        manager.restore(step=4)
    with pytest.raises(TypeError, match="JSON"):
        manager.save(2, {"x": np.ones(1)}, {"bad": object()})


_SAVER = """
import sys, numpy as np
from sensorimotor.core.checkpoint import CheckpointManager
manager = CheckpointManager(sys.argv[1], keep=2)
big = np.random.default_rng(0).normal(size=(4000, 4000)).astype(np.float32)  # 64 MB: saving takes a while
manager.save(1, {"x": np.ones(3)})
print("first", flush=True)
step = 2
while True:
    manager.save(step, {"x": np.full(3, float(step)), "big": big})
    step += 1
"""


def test_kill_during_save_leaves_previous_good_checkpoint(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "first"
        deadline = time.time() + 60
        while time.time() < deadline and not list(tmp_path.glob(".tmp-step_00000002-*")):
            time.sleep(0.005)
        time.sleep(0.05)
        assert list(tmp_path.glob(".tmp-*")), "the save was not caught in progress"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    manager = CheckpointManager(tmp_path)
    latest = manager.latest()
    assert latest is not None
    tree, meta = manager.restore()
    assert meta["step"] == latest.step
    np.testing.assert_array_equal(tree["x"], np.full(3, float(latest.step)))
    assert json.loads((latest.path / "metadata.json").read_text())["step"] == latest.step


def test_relative_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manager = CheckpointManager("runs/x/checkpoints")
    manager.save(1, {"x": np.ones(2), "kind": "minmax"})
    tree, _ = manager.restore()
    assert tree["kind"] == "minmax"
    np.testing.assert_array_equal(tree["x"], [1.0, 1.0])


# --------------------------------------------------------------------------------------------
# The pytree <-> dict serialiser and the JSON sanitiser
# --------------------------------------------------------------------------------------------


def _nnx_state():
    from flax import nnx

    return nnx.state(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), nnx.Param)


@pytest.mark.parametrize("sep", [None, "."])
def test_tree_to_nested_round_trips_an_nnx_state(sep):
    from sensorimotor.core.checkpoint import nested_to_tree, tree_to_nested

    state = _nnx_state()
    data = tree_to_nested(state, sep=sep, strip_value=sep is not None)
    if sep:
        assert set(data) == {"bias", "kernel"}  # readable flat keys, ".value" stripped
    zeros = jax.tree.map(jnp.zeros_like, state)
    back = nested_to_tree(zeros, data, sep=sep, strip_value=sep is not None)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nested_to_tree_names_the_missing_unexpected_and_misshapen_leaf():
    from sensorimotor.core.checkpoint import nested_to_tree, tree_to_nested

    target = {"a": {"w": jnp.zeros((2, 3))}, "b": jnp.zeros(2, jnp.int32)}
    data = tree_to_nested(target)
    assert nested_to_tree(target, data)["b"].dtype == jnp.int32
    with pytest.raises(DataError, match=r"ckpt: missing entry a/w"):
        nested_to_tree(target, {"b": data["b"]}, where="ckpt")
    with pytest.raises(DataError, match=r"a/w has shape \(3,\); expected \(2, 3\)"):
        nested_to_tree(target, {**data, "a": {"w": np.zeros(3)}})
    flat = tree_to_nested(target, sep=".")
    with pytest.raises(DataError, match=r"missing \['a.w'\], unexpected \['c'\]"):
        nested_to_tree(target, {"b": flat["b"], "c": 1}, sep=".")


def test_to_jsonable_converts_arrays_paths_and_refuses_objects(tmp_path):
    from sensorimotor.core.checkpoint import to_jsonable

    out = to_jsonable({"a": (1, np.float32(2.5)), 3: np.arange(2), "p": tmp_path, "j": jnp.ones(1)})
    assert out == {"a": [1, 2.5], "3": [0, 1], "p": str(tmp_path), "j": [1.0]}
    json.dumps(out)
    with pytest.raises(TypeError, match="must be JSON data; got object"):
        to_jsonable({"x": object()})
