"""``report.html`` of a sequence run: loss curves, gradient norms, R² table, predicted vs true traces."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from sensorimotor.core.config import config_to_dict
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import read_metrics
from sensorimotor.data.clips.datasets import ClipDataset
from sensorimotor.sequence.config import SequenceConfig
from sensorimotor.sequence.models import SequenceModel
from sensorimotor.sequence.training import forward


def write_sequence_report(
    run: RunDir,
    cfg: SequenceConfig,
    dataset: ClipDataset,
    model: SequenceModel,
    final: dict[str, dict[str, float]],
) -> Path:
    """HTML report: loss curves, gradient norms, R² table, predicted vs true traces."""
    from sensorimotor.train.report import HtmlReport, new_figure

    rep = HtmlReport(f"sequence run {run.name} ({cfg.name}, mode {cfg.data.mode})")
    records = read_metrics(run.metrics_path)
    rep.section("Held-out quality (teacher-forced, whole validation clips)")
    rows = [
        {"split": split, **{k: round(v, 4) for k, v in m.items()}} for split, m in final.items()
    ]
    rep.table(rows)
    losses = {
        k: ([r["step"] for r in records if k in r], [r[k] for r in records if k in r])
        for k in ("loss", *[f"loss/{n}" for n in dataset.target_dims])
    }
    rep.section("Training")
    rep.line_plot(losses, title="training loss", ylabel="MSE (normalised)", logy=True)
    rep.line_plot(
        {
            "grad_norm": (
                [r["step"] for r in records if "grad_norm" in r],
                [r["grad_norm"] for r in records if "grad_norm" in r],
            )
        },
        title="gradient global norm",
        logy=True,
    )
    r2_keys = sorted({k for r in records for k in r if k.startswith("val/") and k.endswith("/r2")})
    if r2_keys:
        rep.line_plot(
            {
                k: ([r["step"] for r in records if k in r], [r[k] for r in records if k in r])
                for k in r2_keys
            },
            title="validation R²",
        )
    clip = dataset.clips("val")[0]
    out = forward(model, jnp.asarray(dataset.normalizers["x"].normalize(clip.x)[None], jnp.float32))
    rep.section(f"Predicted vs true on {clip.path.name}")
    for name, y in clip.targets.items():
        pred = np.asarray(dataset.normalizers[name].denormalize(out[name][0]))
        dims = np.argsort(-y.std(0))[:4]
        fig, axes = new_figure(9, 1.8 * len(dims))
        fig.clf()
        for i, d in enumerate(dims):
            ax = fig.add_subplot(len(dims), 1, i + 1)
            ax.plot(y[:, d], label="true", lw=1.2)
            ax.plot(pred[:, d], label="predicted", lw=1.0, ls="--")
            ax.set_ylabel(f"{name}[{d}]")
            if i == 0:
                ax.legend(loc="upper right")
        rep.figure(fig, caption=f"{name}: the 4 most variable dimensions")
    rep.section("Config")
    import yaml

    rep.code(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return rep.write(run.report_path)
