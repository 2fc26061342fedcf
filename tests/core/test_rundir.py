import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from sensorimotor.core.errors import UserError
from sensorimotor.core.rundir import RunDir
from sensorimotor.robots.runner import RecordJobConfig
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig


def test_create_writes_config_and_environment(tmp_path):
    config = RecordJobConfig(robot=ToroidalDotConfig(seed=3))
    run = RunDir.create(tmp_path, name="demo", config=config, seed=3)
    assert run.path == tmp_path / "demo"
    assert yaml.safe_load(run.config_path.read_text())["robot"]["seed"] == 3
    env = json.loads((run.path / "env.json").read_text())
    assert env["seed"] == 3
    assert env["python"].count(".") == 2
    assert "numpy" in env["packages"] and env["cpu"]["count"] >= 1
    assert isinstance(env["cpu"]["isa"], list)  # e.g. ["sse4_2", "avx", "avx2", ...] on x86
    assert run.metrics_path.name == "metrics.jsonl" and run.checkpoints_dir.name == "checkpoints"


def test_names_never_collide_across_threads(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda _: RunDir.create(tmp_path, name="same"), range(16)))
    assert len({r.path for r in runs}) == 16


def test_names_never_collide_across_processes(tmp_path):
    code = "import sys; from sensorimotor.core.rundir import RunDir; print(RunDir.create(sys.argv[1], prefix='p').path)"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    paths = [p.communicate()[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(paths)) == 4


def test_open_requires_a_run_directory(tmp_path):
    with pytest.raises(UserError, match="not a run directory"):
        RunDir.open(tmp_path)
    with pytest.raises(UserError, match="bad name"):
        RunDir.create(tmp_path, name="a/b")
