"""The trainer end to end on tiny real clips: run dir, checkpoint round trip with stats, predictor,
evaluation, resume, and NaN detection naming the step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensorimotor.core.errors import ConfigError
from sensorimotor.core.numerics import NonFiniteError
from sensorimotor.core.tracking import read_metrics

pytestmark = pytest.mark.mujoco


def _cfg(clips: Path, root: Path, *extra: str):
    from sensorimotor.train.sequence import load_sequence_config

    return load_sequence_config(
        [
            "trainer=debug",
            "data=tiny",
            f"data.path={clips}",
            f"runs_root={root}",
            "model.d_model=16",
            "model.n_layers=1",
            "model.d_state=8",
            "model.controller_hidden=[16]",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def trained(tiny_clips: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from sensorimotor.train.sequence import train

    root = tmp_path_factory.mktemp("runs")
    return train(_cfg(tiny_clips, root, "model=s5_sic", "trainer.steps=12"))


def test_run_directory_metrics_report_and_loss_goes_down(trained: dict) -> None:
    run = Path(trained.run_dir)
    for name in ("config.yaml", "env.json", "metrics.jsonl", "report.html"):
        assert (run / name).is_file(), name
    records = read_metrics(run / "metrics.jsonl")
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses[-1] < losses[0]
    assert any("grad_norm" in r and "param_norm" in r for r in records)
    assert any("val/action/r2" in r for r in records)
    assert {"action/r2", "intention/r2"} <= set(trained.metrics["val"])
    assert "Predicted vs true" in (run / "report.html").read_text()


def test_checkpoint_round_trip_keeps_stats_and_predictions(trained: dict, tiny_clips: Path) -> None:
    import jax.numpy as jnp

    from sensorimotor.data.clips.datasets import ClipDataset
    from sensorimotor.sequence.predictor import Predictor, load_run
    from sensorimotor.train.sequence import run_dataset

    run = Path(trained.run_dir)
    model, norms, meta = load_run(run)
    cfg, _ = run_dataset(run)
    fresh = ClipDataset(cfg.data)  # stats recomputed from the clean training clips
    for k, n in fresh.normalizers.items():
        np.testing.assert_allclose(norms[k].shift, n.shift, rtol=1e-6)
        np.testing.assert_allclose(norms[k].scale, n.scale, rtol=1e-6)
    assert meta["target_dims"] == {"intention": 4, "action": 38}
    clip = fresh.clips("val")[0]
    pred = Predictor(model, norms, meta, window=8)
    steps = np.stack([pred.predict(x)["action"] for x in clip.x[:10]])
    full = model(jnp.asarray(norms["x"].normalize(clip.x[:10])[None]))[0]["action"][0]
    np.testing.assert_allclose(
        steps, norms["action"].denormalize(np.asarray(full)), rtol=1e-3, atol=1e-4
    )
    pred.reset()
    again = np.stack([pred.predict(x)["action"] for x in clip.x[:10]])
    np.testing.assert_allclose(again, steps, atol=1e-6)
    win = np.stack([pred.predict_window(x)["action"] for x in clip.x[:10]])
    assert win.shape == steps.shape and np.isfinite(win).all()
    with pytest.raises(Exception, match=r"shape \(373,\)"):
        pred.predict(np.zeros(5))


def test_evaluate_recurrent_step_agrees_with_parallel(trained: dict) -> None:
    from sensorimotor.train.sequence import evaluate_run

    m = evaluate_run(trained.run_dir, step_check_clips=1)
    assert m["val_recurrent_step/action/r2"] == pytest.approx(
        m["val_parallel_same_clips/action/r2"], abs=1e-3
    )


def test_resume_continues_from_the_latest_checkpoint(tiny_clips: Path, tmp_path: Path) -> None:
    from sensorimotor.core.checkpoint import CheckpointManager
    from sensorimotor.train.sequence import train

    first = train(_cfg(tiny_clips, tmp_path, "trainer.steps=10"))
    run = Path(first.run_dir)
    text = (run / "config.yaml").read_text().replace("steps: 10", "steps: 20")
    (run / "config.yaml").write_text(text)
    train(None, resume=run)
    assert CheckpointManager((run / "checkpoints").resolve()).latest().step == 20
    steps = [r["step"] for r in read_metrics(run / "metrics.jsonl") if "loss" in r]
    assert steps[-1] == 20 and 15 in steps


def test_non_finite_loss_stops_with_the_step_and_keeps_the_batch(
    tiny_clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sensorimotor.data.clips.datasets import ClipDataset
    from sensorimotor.train.sequence import train

    original = ClipDataset.batches

    def poisoned(self, split, batch_size, **kw):
        for i, batch in enumerate(original(self, split, batch_size, **kw)):
            if split == "train" and i == 6:
                batch["action"][0, 0, 0] = np.nan
            yield batch

    monkeypatch.setattr(ClipDataset, "batches", poisoned)
    with pytest.raises(NonFiniteError, match="at step 7") as info:
        train(_cfg(tiny_clips, tmp_path))
    assert info.value.step == 7
    run = next(tmp_path.iterdir())
    assert (run / "nonfinite_batch_step_7.h5").is_file()


def test_bad_overrides_are_config_errors(tiny_clips: Path, tmp_path: Path) -> None:
    from sensorimotor.train.sequence import load_sequence_config

    with pytest.raises(ConfigError, match="unknown model preset 'nope'"):
        load_sequence_config(["model=nope"])
    with pytest.raises(ConfigError, match="trainer"):
        load_sequence_config(["trainer.nope=1"])
    with pytest.raises(ConfigError, match="model.type"):
        load_sequence_config(["model.type=transformer"])
