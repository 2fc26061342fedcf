"""A short ``sensorimotor run`` gives bit-identical parameters in two fresh processes."""

import os
import subprocess
import sys

import jax
import numpy as np

from sensorimotor.core.checkpoint import CheckpointManager

ARGS = [
    "model=canvas_tiny",
    "trainer=debug",
    "steps=12",
    "robot.width=32",
    "robot.height=32",
    "robot.dot_radius=3",
    "robot.move_pixels=7",
    "validation.steps=0",
    "record=false",
    "progress=false",
]


def _run(tmp_path, name):
    env = {**os.environ, "PYTHONHASHSEED": name}  # different hash seeds must not matter
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensorimotor",
            "run",
            *ARGS,
            f"runs_root={tmp_path}",
            f"name={name}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    state, meta = CheckpointManager(tmp_path / name / "checkpoints").restore()
    return state, meta


def test_two_fresh_processes_give_identical_parameters(tmp_path):
    (a, meta_a), (b, meta_b) = _run(tmp_path, "1"), _run(tmp_path, "2")
    assert meta_a["iteration"] == meta_b["iteration"] == 12 and meta_a["train_steps"] > 0
    leaves_a = jax.tree_util.tree_flatten_with_path(a)[0]
    leaves_b = jax.tree_util.tree_flatten_with_path(b)[0]
    assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
    compared = 0
    for (path, x), (_, y) in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind in "fc":
            compared += x.size
        assert x.dtype == y.dtype and x.shape == y.shape, jax.tree_util.keystr(path)
        assert x.tobytes() == y.tobytes(), f"{jax.tree_util.keystr(path)} differs"
    assert compared > 1000
