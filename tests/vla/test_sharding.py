"""Sharding: on 8 fake CPU devices (a subprocess with --xla_force_host_platform_device_count=8)
a (data=2, fsdp=4) train step gives the one-device loss, gradient norm and updated parameters
within float32 reduction-order tolerance (rtol 1e-5, atol 1e-6); a checkpoint saved from that mesh
restores bit-exactly onto a (data=4, fsdp=2) mesh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sensorimotor.core.errors import ConfigError
from sensorimotor.train.vla_sharding import first_host, init_distributed, leaf_spec, make_mesh

from .conftest import TINY


def test_sharded_step_equals_one_device_and_restores_on_another_mesh(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parents[2] / "src"), env.get("PYTHONPATH", "")]
    )
    script = Path(__file__).with_name("sharded_check.py")
    subprocess.run(
        [sys.executable, str(script), str(tmp_path), json.dumps(TINY)],
        check=True,
        env=env,
        timeout=600,
    )
    res = json.loads((tmp_path / "results.json").read_text())
    single, sharded = res["single"], res["data2_fsdp4"]
    assert sharded["sharded_leaves"] > 0, "no parameter was split over the fsdp axis"
    np.testing.assert_allclose(sharded["loss"], single["loss"], rtol=1e-5)
    np.testing.assert_allclose(sharded["grad_norm"], single["grad_norm"], rtol=1e-5)
    np.testing.assert_allclose(
        np.load(tmp_path / "data2_fsdp4.npy"),
        np.load(tmp_path / "single.npy"),
        rtol=1e-5,
        atol=1e-6,
    )
    assert res["restored_equal"]
    assert any("fsdp" in s for s in res["restored_specs"])


def test_partition_rule() -> None:
    assert tuple(leaf_spec((512, 2048), 4, 1024)) == (None, "fsdp")
    assert tuple(leaf_spec((512,), 4, 1024)) == ()  # small: replicated
    assert tuple(leaf_spec((6, 7), 4, 1)) == ()  # nothing divisible: replicated
    assert tuple(leaf_spec((512, 2048), 1, 1)) == ()


def test_mesh_and_slurm_settings() -> None:
    assert make_mesh(-1, 1).shape == {"data": 1, "fsdp": 1}
    with pytest.raises(ConfigError, match="cluster.fsdp=2 must be >= 1 and divide the 1 devices"):
        make_mesh(-1, 2)
    assert first_host("gpu[03-05,9]") == "gpu03"
    assert first_host("a1,b2") == "a1"
    assert init_distributed("local", 1) == {"processes": 1, "process_id": 0}
    with pytest.raises(ConfigError, match="SLURM_PROCID"):
        init_distributed("slurm", 1, env={"SLURM_NTASKS": "2"})
    one = {"SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_JOB_NODELIST": "node[07-08]"}
    assert init_distributed("slurm", 4000, env=one)["coordinator_address"] == "node07:4000"
