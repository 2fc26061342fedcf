"""The HTML reports of staged training: one per stage (``run<chain>/stage<N>_report.html``) and the
dated final report (``final_report_<yyyy_mon_dd>.html``), rewritten after every stage and, marked
partial, after an interruption or a crash."""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.config import config_to_dict, load_config
from sensorimotor.core.rundir import RunDir
from sensorimotor.train.canvas.staged_config import StagedConfig
from sensorimotor.train.canvas.staged_stage import StagePlan
from sensorimotor.train.report import HtmlReport

#: The final report's sections, in order (a test checks every one is there).
SECTIONS = (
    "Summary",
    "Training curves",
    "Hybrid loss over the session",
    "Loss timeline across stages",
    "LR sweeps",
    "Plateau-sweep history",
    "Staged vs baseline",
    "Multi-run statistics",
    "Inference: actual vs predicted",
    "Inference: counterfactual grid",
    "Evaluation statistics",
    "Config diff against the last commit",
    "Environment",
)


def final_report_name(day: dt.date | None = None) -> str:
    """``final_report_<yyyy_mon_dd>.html`` (e.g. ``final_report_2026_dec_03.html``)."""
    day = day or dt.date.today()
    return f"final_report_{day.year}_{day.strftime('%b').lower()}_{day.day:02d}.html"


def collect(run: RunDir, config: StagedConfig) -> list[dict[str, Any]]:
    """Every chain's progress (finished stages and baselines)."""
    from sensorimotor.train.canvas.staged import read_progress

    return [read_progress(run.path, c) for c in range(config.runs_per_stage)]


def _figures(run: RunDir) -> Path:
    """Where finished stages' figures are kept once rendered (see :func:`_cached_figure`)."""
    return run.path / "figures"


def write_stage_report(
    run: RunDir, config: StagedConfig, plan: StagePlan, chain: int, progress: dict[str, Any]
) -> Path:
    """The report of one finished stage of one chain."""
    result = progress["stages"][str(plan.stage)]
    report = HtmlReport(f"Staged training — {run.name} — chain {chain}, stage {plan.stage}")
    report.text(
        f"{result['steps']} of {result['budget']} train steps + {result['sweep_steps']} in sweeps, "
        f"{result['seconds']:.0f} s, stopped by {result['stopped_by']}; best hybrid loss "
        f"{result['best_hybrid']:.4g} at step {result['best_step']}, final lr {result['lr_final']:.3g}."
    )
    report.section("Training curves")
    _curves(report, result, _figures(run))
    report.section("LR sweeps")
    _sweeps(report, [result], _figures(run))
    report.section("Evaluation statistics")
    _evaluation(report, [result])
    return report.write(run.path / f"run{chain}" / f"stage{plan.stage}_report.html")


def write_reports(
    run: RunDir, config: StagedConfig, plans: list[StagePlan], partial: bool = False
) -> dict[str, Any]:
    """Write the final report (every section); returns the run's summary (also ``summary.json``)."""
    chains = collect(run, config)
    results = [r for c in chains for r in c["stages"].values()]
    baselines = [r for c in chains for r in c["baseline"].values()]
    summary = _summary(results, baselines, partial)
    title = f"Staged training — {run.name}" + (" (partial: interrupted)" if partial else "")
    report = HtmlReport(title)
    report.section("Summary")
    report.text(
        f"{len(results)} stage runs finished of {len(plans) * config.runs_per_stage} planned; "
        f"{summary['train_steps']} train steps + {summary['sweep_steps']} sweep steps; "
        f"{summary['seconds']:.0f} s."
        + (" The run was interrupted: continue it with --resume." if partial else "")
    )
    report.table([_row(r) for r in results + baselines] or [{"stage": "none finished yet"}])
    report.section("Training curves")
    for r in results:
        _curves(report, r, _figures(run))
    report.section("Hybrid loss over the session")
    _hybrid(report, results)
    report.section("Loss timeline across stages")
    _timeline(report, [r for r in results if r["chain"] == 0])
    report.section("LR sweeps")
    _sweeps(report, results, _figures(run))
    report.section("Plateau-sweep history")
    rows = [_sweep_row(r, s) for r in results for s in r["sweeps"] if s["kind"] != "upfront"]
    report.table(rows or [{"plateau sweeps": "none triggered"}])
    report.section("Staged vs baseline")
    report.table(_comparison(results, baselines) or [{"baseline": "not run (baseline=true)"}])
    report.section("Multi-run statistics")
    report.table(_multi_run(results) or [{"stage": "none finished yet"}])
    _inference(report, config, results)
    report.section("Evaluation statistics")
    _evaluation(report, results)
    report.section("Config diff against the last commit")
    report.table(_config_diff(config) or [{"key": "(none: the committed preset)"}])
    report.section("Environment")
    env = run.path / "env.json"
    report.code(env.read_text() if env.is_file() else "env.json missing")
    report.write(run.path / final_report_name())
    report.write(run.report_path)
    (run.path / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


def _summary(results: list[dict], baselines: list[dict], partial: bool) -> dict[str, Any]:
    every = results + baselines
    return {
        "partial": partial,
        "stages": len(results),
        "train_steps": sum(r["steps"] for r in every),
        "sweep_steps": sum(r["sweep_steps"] for r in every),
        "seconds": sum(r["seconds"] for r in every),
        "best_hybrid": {f"{r['chain']}/{r['stage']}": r["best_hybrid"] for r in results},
    }


def _row(r: dict[str, Any]) -> dict[str, Any]:
    q = r["eval"].get("quality", {})
    return {
        "chain": r["chain"],
        "stage": r["stage"],
        "kind": "baseline" if r["baseline"] else "staged",
        "size": r["size"],
        "steps": r["steps"],
        "sweep steps": r["sweep_steps"],
        "seconds": r["seconds"],
        "stopped by": r["stopped_by"],
        "final lr": r["lr_final"],
        "best val": r["best_val"],
        "best hybrid": r["best_hybrid"],
        "held-out MSE": q.get("mse", math.nan),
        "counterfactual acc": q.get("counterfactual_accuracy", math.nan),
    }


def _curves(report: HtmlReport, r: dict[str, Any], cache: Path | None = None) -> None:
    t = r["timeline"]
    if not t:
        report.text(f"stage {r['stage']}: no validation check yet")
        return
    x = [c["step"] for c in t]

    def draw() -> Any:
        from sensorimotor.train.report import new_figure

        fig, ax = new_figure()
        ax.plot(x, [c["train_loss"] for c in t], label="train", linewidth=1.2)
        ax.plot(x, [c["val_loss"] for c in t], label="validation", linewidth=1.2)
        ax.set(xlabel="train step", ylabel="masked-slot MSE", yscale="log")
        ax.set_title(f"chain {r['chain']}, stage {r['stage']} (size {r['size']})")
        ax.legend()
        ax.grid(alpha=0.3)
        return fig

    _cached_figure(report, cache, f"chain{r['chain']}_stage{r['stage']}_curves", draw)


def _cached_figure(report: HtmlReport, cache: Path | None, key: str, draw: Any) -> None:
    """Add the figure ``draw()`` makes, rendered once: a finished stage's figures never change, and
    re-rendering every stage's figures for every report cost ~20 % of a small staged run's wall
    time (matplotlib layout on a loaded CPU). ``cache`` holds ``<key>.png``; ``None`` = no cache."""
    from PIL import Image

    path = cache / f"{key}.png" if cache is not None else None
    if path is not None and path.is_file():
        with Image.open(path) as image:
            report.image(np.asarray(image.convert("RGB")))
        return
    import matplotlib.pyplot as plt

    fig = draw()
    fig.canvas.draw()
    array = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)
    report.image(array)


def _hybrid(report: HtmlReport, results: list[dict[str, Any]]) -> None:
    series: dict[str, tuple[list, list]] = {}
    for r in results:
        xs, ys = series.setdefault(f"chain {r['chain']}", ([], []))
        xs.append(r["stage"])
        ys.append(r["best_hybrid"])
    if series:
        report.line_plot(series, "best hybrid loss per stage", "stage", "hybrid loss", logy=True)
    report.table(
        [
            {"chain": r["chain"], "stage": r["stage"], "hybrid": r["best_hybrid"]}
            | {"original session": r["best_original"], "validation": r["best_val"]}
            for r in results
        ]
        or [{"stage": "none finished yet"}]
    )


def _timeline(report: HtmlReport, results: list[dict[str, Any]]) -> None:
    xs, train, val, offset = [], [], [], 0
    for r in sorted(results, key=lambda r: r["stage"]):
        for c in r["timeline"]:
            xs.append(offset + c["step"])
            train.append(c["train_loss"])
            val.append(c["val_loss"])
        offset += r["steps"]
    if xs:
        report.line_plot(
            {"train": (xs, train), "validation": (xs, val)},
            "chain 0, every stage one after another",
            "train step (cumulative)",
            "masked-slot MSE",
            logy=True,
        )


def _sweep_row(r: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
    return {
        "chain": r["chain"],
        "stage": r["stage"],
        "sweep": s["kind"],
        "at step": s["at_step"],
        "lr before": s["lr_before"],
        "loss before": s["loss_before"],
        "winner lr": s["lr"],
        "winner loss": s["loss"],
        "from": s["source"],
        "accepted": s["accepted"],
        "trial steps": s["steps"],
    }


def _sweeps(report: HtmlReport, results: list[dict[str, Any]], cache: Path | None = None) -> None:
    sweeps = [(r, s) for r in results for s in r["sweeps"]]
    if not sweeps:
        report.text("no sweeps ran")
        return
    report.table([_sweep_row(r, s) for r, s in sweeps], caption="every sweep")
    for r, s in sweeps:
        fig_series = {}
        for phase in ("phase_a", "phase_b"):
            done = [t for t in s[phase] if t["state"] == "COMPLETE"]
            if done:
                fig_series[phase] = ([t["lr"] for t in done], [t["loss"] for t in done])
        if fig_series:
            key = f"chain{r['chain']}_stage{r['stage']}_sweep_{s['kind']}"
            title = f"chain {r['chain']} stage {r['stage']} {s['kind']}"
            _cached_figure(report, cache, key, lambda ser=fig_series, t=title: _scatter(ser, t))
        rows = [{"phase": "A", **t} for t in s["phase_a"]] + [
            {"phase": "B", **t} for t in s["phase_b"]
        ]
        report.table(rows, caption=f"{s['study']} trials ({s['storage']})")
        if s["ranking"]:
            report.table(s["ranking"], caption="phase B ranking")


def _scatter(series: dict[str, tuple[list, list]], title: str) -> Any:
    from sensorimotor.train.report import new_figure

    fig, ax = new_figure(6, 3)
    for name, (x, y) in series.items():
        ax.scatter(x, y, label=name, s=18)
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="best validation loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def _comparison(results: list[dict], baselines: list[dict]) -> list[dict[str, Any]]:
    base = {(b["chain"], b["stage"]): b for b in baselines}
    rows = []
    for r in results:
        b = base.get((r["chain"], r["stage"]))
        if b is None:
            continue
        winner = "staged" if r["best_hybrid"] <= b["best_hybrid"] else "baseline"
        rows.append(
            {
                "chain": r["chain"],
                "stage": r["stage"],
                "staged hybrid": r["best_hybrid"],
                "baseline hybrid": b["best_hybrid"],
                "staged steps": r["steps"] + r["sweep_steps"],
                "baseline steps": b["steps"],
                "winner": winner,
            }
        )
    return rows


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4g} ± {std:.2g} (n={len(values)})"


def _multi_run(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stages = sorted({r["stage"] for r in results})
    rows = []
    for stage in stages:
        rs = [r for r in results if r["stage"] == stage]
        q = [r["eval"].get("quality", {}) for r in rs]
        rows.append(
            {
                "stage": stage,
                "best hybrid": _mean_std([r["best_hybrid"] for r in rs]),
                "best val": _mean_std([r["best_val"] for r in rs]),
                "held-out MSE": _mean_std([x.get("mse", math.nan) for x in q]),
                "counterfactual acc": _mean_std(
                    [x.get("counterfactual_accuracy", math.nan) for x in q]
                ),
                "final lr": _mean_std([r["lr_final"] for r in rs]),
            }
        )
    return rows


def _evaluation(report: HtmlReport, results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        e = r["eval"]
        rows.append({"chain": r["chain"], "stage": r["stage"], "data": "validation", **e["loss"]})
        rows.append(
            {
                "chain": r["chain"],
                "stage": r["stage"],
                "data": "copy-last baseline",
                **e["baseline"],
            }
        )
    report.table(rows or [{"stage": "none finished yet"}], caption="masked-slot MSE per canvas")
    quality = [
        {"chain": r["chain"], "stage": r["stage"]}
        | {k: v for k, v in r["eval"].get("quality", {}).items() if isinstance(v, int | float)}
        for r in results
    ]
    if quality:
        report.table(quality, caption="held-out quality on the validation split")


def _inference(report: HtmlReport, config: StagedConfig, results: list[dict[str, Any]]) -> None:
    """Actual vs predicted frames and the counterfactual grid of the last stage's best weights."""
    from sensorimotor.train.canvas.report import _counterfactual_grid
    from sensorimotor.train.canvas.staged_train import build_model, load_stage_data, load_weights
    from sensorimotor.train.report import to_uint8

    done = sorted((r for r in results if r["chain"] == 0), key=lambda r: r["stage"])
    if not done:
        report.section("Inference: actual vs predicted").text("no finished stage yet")
        report.section("Inference: counterfactual grid").text("no finished stage yet")
        return
    r = done[-1]
    data = load_stage_data(config, r["train_session"], r["val_session"], [r["val_session"]])
    weights, _ = load_weights(r["checkpoint"])
    model = build_model(config, data, r["lr_final"], config.seed, weights)
    canvases = data.val.canvases[: min(8, len(data.val))]
    predicted, _ = model.predict_canvases(canvases)
    actual = model.layout.target(canvases)
    gap = np.full((actual.shape[1], 2, 3), 128, np.uint8)
    top = np.concatenate([x for a in actual for x in (a, gap)], axis=1)
    bottom = np.concatenate([x for p in predicted for x in (to_uint8(p), gap)], axis=1)
    report.section("Inference: actual vs predicted")
    report.image(
        np.concatenate([top, bottom], axis=0),
        f"stage {r['stage']} validation frames; top: actual, bottom: predicted",
        max(1, 112 // model.layout.frame_height),
    )
    frames = np.concatenate([f.frames for f in data.val_frames])
    actions = np.concatenate([f.actions for f in data.val_frames])
    report.section("Inference: counterfactual grid")
    report.text(f"stage {r['stage']}: the next frame under every action, on held-out canvases")
    _counterfactual_grid(report, model, {"frames": frames, "actions": actions}, 4)


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): data}


def _config_diff(config: StagedConfig) -> list[dict[str, Any]]:
    """Keys whose value differs from the preset as committed at HEAD (the package's preset when
    git has no commit for it)."""
    committed = _committed_preset()
    used = _flat(config_to_dict(config))
    base = _flat(committed)
    return [
        {"key": k, "committed": base.get(k, "(absent)"), "used": v}
        for k, v in used.items()
        if base.get(k, "(absent)") != v
    ]


def _committed_preset() -> dict[str, Any]:
    from sensorimotor.core.config import CONFIG_ROOT

    preset = load_config("robots", "canvas_staged", [], StagedConfig)
    base = config_to_dict(preset)
    path = CONFIG_ROOT / "robots" / "canvas_staged.yaml"
    try:
        shown = subprocess.run(
            ["git", "show", f"HEAD:./{path.name}"],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return base
    if shown.returncode != 0:
        return base
    import yaml

    committed = yaml.safe_load(shown.stdout) or {}
    committed.pop("defaults", None)
    return _merge(base, committed)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
