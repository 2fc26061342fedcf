"""The RL run report: final evaluation, learning curves (with published reference returns), config."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sensorimotor.core.config import config_to_dict
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import read_metrics
from sensorimotor.train.rl_config import RLTrainConfig


def _series(records: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, int | float) and math.isfinite(v):
            xs.append(r["step"])
            ys.append(v)
    return xs, ys


def write_rl_report(
    run: RunDir,
    cfg: RLTrainConfig,
    last_eval: Mapping[str, float],
    published: Mapping[int, tuple[float, ...]] | None = None,
) -> Path:
    """``report.html``: config, learning curves, final evaluation (and ``published`` returns of
    the agent on this task, ``{step: (seed returns, ...)}``, as a reference curve)."""
    from sensorimotor.train.report import HtmlReport

    records = read_metrics(run.metrics_path)
    rep = HtmlReport(f"RL: {cfg.algo.name} on {cfg.task.name} (seed {cfg.seed})")
    rep.section("Final evaluation")
    rep.table({k: round(v, 4) for k, v in last_eval.items()} or {"evaluation": "none"})
    rep.section("Learning curves")
    curves = {"evaluation return": _series(records, "evaluation/return_mean")}
    tr = _series(records, "training/episode_return")
    if tr[0]:
        curves["training episode return"] = tr
    if published:
        xs = sorted(published)
        label = f"published {cfg.algo.name} (mean of {len(published[xs[0]])} seeds)"
        curves[label] = (xs, [float(np.mean(published[x])) for x in xs])
    rep.line_plot(curves, "return", "step", "return")
    loss_keys = sorted(
        {k for r in records for k in r if k.startswith("training/") and k.endswith("loss")}
    )
    if loss_keys:
        rep.line_plot({k[9:]: _series(records, k) for k in loss_keys}, "losses", "step", "loss")
    mode_keys = [f"evaluation/mode_{k}" for k in (0, 1, 2, 3, "none")]
    if any(k in r for r in records for k in mode_keys):
        rep.line_plot(
            {k.split("/")[1]: _series(records, k) for k in mode_keys},
            "fraction of sampled actions per mode", "step", "fraction",
        )  # fmt: skip
    rep.section("Config")
    rep.code(json.dumps(config_to_dict(cfg), indent=2))
    return rep.write(run.report_path)
