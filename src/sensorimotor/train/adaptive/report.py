"""Terminal summary and ``report.html`` of an adaptive run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensorimotor.train.report import HtmlReport

_CURVES = {
    "losses": ("recon_error", "level1/patch_loss", "level1/latent_loss", "level1/action_loss"),
    "prediction": ("pred_error", "level1/r2_vs_copy", "uncertainty", "action_sensitivity"),
    "gradients": (
        "level1/grad_norm/action",
        "level1/grad_norm/predictor",
        "level1/grad_norm/encoder",
    ),
}


def write_report(
    path: Path,
    summary: dict[str, Any],
    logs: list[dict[str, float]],
    quality_history: list[dict[str, Any]],
) -> Path:
    """One self-contained HTML page: summary, targets, curves, held-out quality and attention."""
    report = HtmlReport("adaptive world model run")
    report.section("summary").table(
        {k: v for k, v in summary.items() if not isinstance(v, dict | list)}
    )
    report.table(summary["levels"], caption="hierarchy levels")
    if summary.get("targets"):
        report.section("targets").table(
            {k: "met" if v else "NOT met" for k, v in summary["targets"].items()}
        )
    for title, keys in _CURVES.items():
        series = {
            k: ([r["iteration"] for r in logs if k in r], [r[k] for r in logs if k in r])
            for k in keys
            if any(k in r for r in logs)
        }
        if series:
            report.section(title).line_plot(series, xlabel="iteration", logy=title != "prediction")
    quality = summary.get("quality") or {}
    if quality:
        report.section("held-out quality (canvas protocol)").table(
            {k: v for k, v in quality.items() if isinstance(v, int | float)}
        )
        attention = quality.get("attention", {})
        if attention:
            layers = sorted({k.split("/")[0] for k in attention})
            rows = [
                {
                    "layer": layer,
                    **{
                        k.split("/")[1]: v
                        for k, v in attention.items()
                        if k.startswith(layer + "/")
                    },
                }
                for layer in layers
            ]
            report.section("attention (query tokens)").table(rows)
    if len(quality_history) > 1:
        report.section("quality over the run").table(
            [
                {
                    k: q.get(k)
                    for k in (
                        "iteration",
                        "mse",
                        "position_error_px",
                        "counterfactual_accuracy",
                        "shuffle_ratio",
                    )
                }
                for q in quality_history
            ]
        )
    return report.write(path)


def print_summary(summary: dict[str, Any], run_dir: Path) -> None:
    """A few lines on the terminal."""
    q = summary.get("quality") or {}
    print(
        f"adaptive run: {summary['iterations']} iterations ({summary['robot_steps']} robot steps, "
        f"{summary['gated_steps']} gated), {len(summary['levels'])} level(s), {summary['seconds']:.0f} s"
    )
    if q.get("position_error_px") is not None:
        print(
            f"held-out: position error {q['position_error_px']:.2f} px, counterfactual accuracy "
            f"{q['counterfactual_accuracy']:.1%}, shuffled/true error {q.get('shuffle_ratio', float('nan')):.1f}x"
        )
    for name, ok in summary.get("targets", {}).items():
        print(f"  {'ok ' if ok else 'NO '} {name}")
    print(f"run directory: {run_dir}")
