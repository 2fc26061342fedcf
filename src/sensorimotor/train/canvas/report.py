"""Terminal summary and ``report.html`` of the canvas world-model jobs (online and batch)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.config import (
    config_to_dict,
)
from sensorimotor.core.rundir import RunDir
from sensorimotor.train.canvas.config import CanvasTrainConfig
from sensorimotor.worldmodels.online import to_uint8


def print_summary(summary: dict[str, Any], run_dir: Path) -> None:
    """A short human summary of a run."""
    print(
        f"{summary['iterations']} iterations ({summary['train_steps']} train steps, "
        f"{summary['skipped_train_steps']} skipped) in {summary['seconds']:.0f} s — {summary['stopped_by']}"
    )
    q = summary.get("quality") or {}
    if "mse" in q:
        print(
            f"held-out ({q['heldout']} canvases, {q['dropped_seen']} dropped as seen): "
            f"MSE {q['mse']:.2e} vs baseline {q['mse_baseline']:.2e} (ratio {q['mse_ratio']:.3f})"
        )
    if "position_error_px" in q:
        print(
            f"position error {q['position_error_px']:.2f} px (baseline {q['position_error_baseline_px']:.2f}); "
            f"counterfactual accuracy {100 * q['counterfactual_accuracy']:.1f} % "
            f"(baseline {100 * q['counterfactual_accuracy_baseline']:.1f} %)"
        )
    for name, ok in (summary.get("targets") or {}).items():
        print(f"  target {name}: {'met' if ok else 'NOT met'}")
    print(f"run directory: {run_dir} (report.html)")


def write_run_report(driver: Any, quality: dict[str, Any], seconds: float, stopped_by: str) -> Path:
    """``report.html`` of an online run: curves, frame strip, counterfactual grid, quality."""
    from sensorimotor.core.tracking import read_metrics
    from sensorimotor.train.report import HtmlReport

    model, run, cfg = driver.model, driver.rundir, driver.config
    report = HtmlReport(f"Canvas world model — {run.name}")
    report.text(
        f"{model.iteration} iterations on robot {cfg.robot.type!r} with selector {cfg.selector.type!r}; "
        f"{model.train_steps} train steps ({model.skipped} skipped below the threshold); "
        f"{seconds:.0f} s this session, stopped by: {stopped_by}. Model: {model.num_params:,} parameters, "
        f"canvas {model.layout.shape[0]}x{model.layout.shape[1]}, patch {model.layout.patch_size}."
    )
    _quality_section(report, quality, model.num_actions)
    records = read_metrics(run.metrics_path) if run.metrics_path.is_file() else []
    curves = {
        name: ([r["step"] for r in records if name in r], [r[name] for r in records if name in r])
        for name in ("loss", "pred_error")
    }
    curves = {k: v for k, v in curves.items() if v[0]}
    if curves:
        report.section("Loss and prediction error")
        report.line_plot(
            curves,
            "training loss and next-frame prediction error (MSE)",
            "iteration",
            "MSE",
            logy=True,
        )
    if len(driver.quality_history) > 1:
        series = {}
        for key in ("mse_ratio", "counterfactual_accuracy"):
            xs = [q["iteration"] for q in driver.quality_history if key in q]
            if xs:
                series[key] = (xs, [q[key] for q in driver.quality_history if key in q])
        if series:
            report.line_plot(series, "held-out quality over the run", "iteration", "")
    _visual_section(report, model, driver.strip)
    if driver.validation is not None:
        _counterfactual_grid(report, model, driver.validation, cfg.validation.grid_frames)
    report.section("Config")
    import yaml

    report.code(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return report.write(run.report_path)


def _quality_section(report: Any, quality: dict[str, Any], num_actions: int) -> None:
    from sensorimotor.worldmodels.quality import meets_target

    if not quality or "mse" not in quality:
        return
    report.section("Quality on held-out data")
    report.text(
        f"{quality['heldout']} held-out canvases from a validation session recorded with another seed "
        f"({quality['dropped_seen']} dropped because their (frame, action) pair occurred in training)."
    )
    rows = [
        {
            "metric": "masked-slot MSE",
            "model": quality["mse"],
            "copy-last-frame baseline": quality["mse_baseline"],
        }
    ]
    if "position_error_px" in quality:
        rows.append(
            {
                "metric": "position error (px, mean)",
                "model": quality["position_error_px"],
                "copy-last-frame baseline": quality["position_error_baseline_px"],
            }
        )
        rows.append(
            {
                "metric": "counterfactual accuracy",
                "model": quality["counterfactual_accuracy"],
                "copy-last-frame baseline": quality["counterfactual_accuracy_baseline"],
            }
        )
    report.table(rows)
    report.table(
        {k: ("met" if v else "NOT met") for k, v in meets_target(quality).items()},
        caption="targets",
    )


def _visual_section(
    report: Any, model: Any, strip: Sequence[tuple[np.ndarray, np.ndarray]]
) -> None:
    scale = max(1, 168 // model.layout.frame_height)
    v = model.visual
    if v.canvas is not None:
        report.section("The newest training canvas")
        stack = np.concatenate([v.canvas, v.mask_overlay, v.inpainted, v.composite], axis=0)
        report.image(
            stack,
            "rows: the canvas as trained (after the augmentation's rolls), mask, the decoder's "
            "output, composite (visible + inpainted target)",
            scale,
        )
    if strip:
        gap = np.full((strip[0][0].shape[0], 2, 3), 128, np.uint8)
        actual = np.concatenate([x for a, _ in strip for x in (a, gap)], axis=1)
        predicted = np.concatenate([x for _, p in strip for x in (p, gap)], axis=1)
        report.section("Actual vs predicted frames (the last online steps)")
        report.image(
            np.concatenate([actual, predicted], axis=0), "top: actual, bottom: predicted", scale
        )


def _counterfactual_grid(report: Any, model: Any, validation: dict[str, Any], rows: int) -> None:
    from sensorimotor.worldmodels.quality import HeldOutSet

    if rows == 0 or model.normalizer is None:
        return
    data = HeldOutSet.from_frames(
        validation["frames"], validation["actions"], model.layout.slots, model.seen_pairs, rows
    )
    if len(data) == 0:
        return
    cf = model.counterfactual(data.context, data.actions[:, :-1])
    h = model.layout.frame_height
    gap = np.full((h, 3, 3), 128, np.uint8)
    lines = []
    for i in range(len(data)):
        parts = [x for frame in data.context[i] for x in (frame, gap)]
        parts += [x for a in range(model.num_actions) for x in (to_uint8(cf[i, a]), gap)]
        parts.append(data.targets[i])
        lines.append(np.concatenate(parts, axis=1))
        lines.append(np.full((3, lines[-1].shape[1], 3), 128, np.uint8))
    labels = ", ".join(f"action {a} ({model.actions[a]})" for a in range(model.num_actions))
    report.section("Counterfactual predictions (held-out frames)")
    report.image(
        np.concatenate(lines, axis=0),
        f"each row: context frames | prediction under {labels} | what actually happened "
        f"(under action {', '.join(str(int(a)) for a in data.actions[:, -1])})",
        max(1, 112 // h),
    )


def write_batch_report(
    run: RunDir, model: Any, summary: dict[str, Any], config: CanvasTrainConfig
) -> None:
    import yaml

    from sensorimotor.core.tracking import read_metrics
    from sensorimotor.train.report import HtmlReport

    report = HtmlReport(f"Canvas world model (batch) — {run.name}")
    report.text(
        f"{summary['train_steps']} train steps on {len(config.sessions)} session(s) in {summary['seconds']:.0f} s."
    )
    report.section("Loss statistics (masked slot MSE per canvas)")
    rows = [
        {"data": "train", **summary["train"]["loss"]},
        {"data": "train baseline", **summary["train"]["baseline"]},
    ]
    if "eval" in summary:
        rows += [
            {"data": "eval", **summary["eval"]["loss"]},
            {"data": "eval baseline", **summary["eval"]["baseline"]},
        ]
    report.table(rows)
    if "eval" in summary:
        _quality_section(report, summary["eval"].get("quality", {}), model.num_actions)
    records = read_metrics(run.metrics_path) if run.metrics_path.is_file() else []
    xs = [r["step"] for r in records if "loss" in r]
    if xs:
        report.section("Training loss")
        report.line_plot(
            {"loss": (xs, [r["loss"] for r in records if "loss" in r])},
            "",
            "train step",
            "MSE",
            logy=True,
        )
    report.section("Config")
    report.code(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    report.write(run.report_path)
