"""A job that fails to start (bad config, missing data) leaves no run folder behind."""

import pytest

from sensorimotor.cli import main


@pytest.mark.parametrize(
    "args",
    [
        ["rl", "train", "algo=sac", "algo.agent.gama=0.9", "steps=1"],
        ["rl", "train", "algo=bc", "task=pendulum"],
        ["sequence", "train", "model=s5_sa", "data.path=missing_clips", "trainer=debug"],
    ],
)
def test_a_failed_start_leaves_no_run_folder(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert "error:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
