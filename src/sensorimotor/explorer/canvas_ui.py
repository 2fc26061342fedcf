"""The canvas world model's tabs (its views in the plug-in registry): Run, Train / evaluate,
Inference, Attention, Weights, Checkpoints. Callbacks only translate events to logic calls."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from sensorimotor.core.errors import UserError
from sensorimotor.explorer import plots
from sensorimotor.explorer.app import AppContext, guarded
from sensorimotor.explorer.views import View

MODEL_PRESETS = ["canvas_tiny", "canvas", "canvas_224"]
TRAINER_PRESETS = ["online", "debug", "batch"]
ROLLING_WINDOW = 100
PLOT_EVERY_S = 2.0  # redraw the plots at most this often while running (they cost more than a step)
IMAGES_EVERY_S = 1.0  # the canvas views and frames
TEXT_EVERY_S = 0.3  # the progress line


def views() -> list[View]:
    """The canvas model's tabs, in page order."""
    return [
        View("Run", build_run_tab),
        View("Train / evaluate", build_train_tab),
        View("Inference", build_inference_tab),
        View("Attention", build_attention_tab),
        View("Weights", build_weights_tab),
        View("Checkpoints", build_checkpoints_tab),
    ]


def _img(image: np.ndarray | None) -> np.ndarray | None:
    return None if image is None else plots.upscale(image, 160)


def _fmt(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.3e}"


# ---------------------------------------------------------------------------------- Run


def build_run_tab(context: AppContext) -> None:
    import gradio as gr

    ex = context.logic
    with gr.Row():
        model_preset = gr.Dropdown(MODEL_PRESETS, value=ex.model_preset, label="model preset")
        trainer_preset = gr.Dropdown(
            TRAINER_PRESETS, value=ex.trainer_preset, label="trainer preset"
        )
        overrides = gr.Textbox(label="overrides (e.g. trainer.lr=1e-3)", elem_id="run-overrides")
        new_model = gr.Button("New model", elem_id="new-model", scale=0)
    with gr.Row():
        iterations = gr.Number(value=20, precision=0, label="iterations", elem_id="run-iterations")
        start = gr.Button("Run", variant="primary", elem_id="run-start", scale=0)
        stop = gr.Button("Stop", variant="stop", elem_id="run-stop", scale=0)
    progress = gr.Markdown(
        "No model yet: press Run (a new model is made) or New model.", elem_id="run-progress"
    )
    with gr.Row():
        canvas = gr.Image(label="canvas", interactive=False, format="png")
        overlay = gr.Image(label="mask overlay", interactive=False, format="png")
        inpainted = gr.Image(label="inpainting (every patch)", interactive=False, format="png")
        composite = gr.Image(label="composite", interactive=False, format="png")
    with gr.Row():
        predicted = gr.Image(label="predicted frame", interactive=False, format="png")
        actual = gr.Image(label="actual frame", interactive=False, format="png")
        error = gr.Image(label="error map", interactive=False, format="png")
    with gr.Row():
        loss_all = gr.Image(label="loss (full history)", interactive=False, format="png")
        loss_recent = gr.Image(
            label=f"loss (last {ROLLING_WINDOW})", interactive=False, format="png"
        )
        lr_plot = gr.Image(label="learning rate (log)", interactive=False, format="png")
    images = [canvas, overlay, inpainted, composite, predicted, actual, error]
    outputs = [progress, *images, loss_all, loss_recent, lr_plot]

    @guarded(1)
    def make_model(m: str, t: str, o: str) -> str:
        ex.configure(m, t, o.split())
        ex.new_model()
        return f"New model: {ex.status()}"

    def visuals(pending: np.ndarray | None) -> list[Any]:
        v = ex.model.visual
        err = None
        if pending is not None and v.actual_frame is not None:
            err = plots.error_map(pending, v.actual_frame)
        return [
            _img(x)
            for x in (
                v.canvas,
                v.mask_overlay,
                v.inpainted,
                v.composite,
                pending,
                v.actual_frame,
                err,
            )
        ]

    def curves() -> list[np.ndarray]:
        r = ex.record
        series = {"loss": r.loss, "prediction error": r.pred_error}
        return [
            plots.curve(r.iteration, series, "loss", log_y=True),
            plots.curve(r.iteration, series, "loss (rolling)", log_y=True, window=ROLLING_WINDOW),
            plots.curve(r.iteration, {"lr": r.lr}, "learning rate", log_y=True),
        ]

    @guarded(len(outputs))
    def run(m: str, t: str, o: str, n: float):
        if ex.model is None:
            ex.configure(m, t, o.split())
            ex.new_model()
        # Page updates cost time in series with training (drawing, PNG encoding, sending), so each
        # kind is sent at most every *_EVERY_S seconds; together they take at most ~10 % of the time.
        last = {"text": 0.0, "images": 0.0, "plots": 0.0}
        cost = {"text": 0.0, "images": 0.0, "plots": 0.0}
        every = {"text": TEXT_EVERY_S, "images": IMAGES_EVERY_S, "plots": PLOT_EVERY_S}
        share = {"text": 30, "images": 25, "plots": 25}  # 1/30 + 1/25 + 1/25 of the time ~ 11 %
        for p in ex.run(int(n or 0)):
            now = time.perf_counter()
            due = {
                k: p.finished or now - last[k] >= max(every[k], share[k] * cost[k]) for k in last
            }
            if not due["text"]:
                continue
            text = (
                f"iteration **{p.iteration}** ({p.done}/{p.total}) · prediction error {_fmt(p.pred_error)}"
                f" · loss {_fmt(p.loss)} · lr {_fmt(p.lr)} · {1e3 * p.seconds:.0f} ms/iteration"
            )
            if p.finished:
                text = (
                    f"{p.note}: iteration **{p.iteration}** · {ex.elapsed_rate():.1f} iterations/s"
                )
            pics = visuals(_u8(ex.last_prediction)) if due["images"] else [gr.skip()] * len(images)
            yield (text, *pics, *(curves() if due["plots"] else (gr.skip(),) * 3))
            done = time.perf_counter()
            kind = "plots" if due["plots"] else "images" if due["images"] else "text"
            cost[kind] = done - now
            for k in ("text", "images", "plots"):
                if due[k]:
                    last[k] = done
                if k == kind:
                    break

    new_model.click(make_model, [model_preset, trainer_preset, overrides], progress)
    start.click(run, [model_preset, trainer_preset, overrides, iterations], outputs)
    stop.click(lambda: ex.stop(), None, None, queue=False)


def _u8(frame: np.ndarray | None) -> np.ndarray | None:
    from sensorimotor.worldmodels.online import to_uint8

    return None if frame is None else to_uint8(frame)


# ---------------------------------------------------------------------------------- Train / evaluate


def build_train_tab(context: AppContext) -> None:
    import gradio as gr

    from sensorimotor.explorer.training import evaluate_session, train_batches

    ex = context.logic
    with gr.Row():
        steps = gr.Number(value=50, precision=0, label="batch train steps", elem_id="train-steps")
        train = gr.Button("Train", variant="primary", elem_id="train-start", scale=0)
        stop = gr.Button("Stop", variant="stop", elem_id="train-stop", scale=0)
        evaluate = gr.Button("Evaluate session", elem_id="eval-start", scale=0)
        record = gr.Checkbox(value=False, label="record diagnostics (sensorimotor diagnose)")
    status = gr.Markdown(
        "Batch training on every canvas of the open session.", elem_id="train-status"
    )
    loss_plot = gr.Image(label="batch loss", interactive=False, format="png")
    with gr.Row():
        stats = gr.JSON(label="evaluation (masked-slot MSE per canvas)")
        over_time = gr.Image(label="loss over the session", interactive=False, format="png")
        hist = gr.Image(label="loss histogram", interactive=False, format="png")

    @guarded(2)
    def run_train(n: float, diagnostics: bool):
        last = 0.0
        for p in train_batches(ex, int(n or 0), diagnostics=bool(diagnostics)):
            now = time.perf_counter()
            text = (
                f"step {p.done}/{p.total} (train step {p.train_steps}) · loss {_fmt(p.loss)} · "
                f"lr {_fmt(p.lr)} · {p.samples_per_s:.0f} samples/s"
            )
            if p.finished:
                text = f"{p.note}: {text}"
                if diagnostics:
                    text += f" · diagnostics in `{ex.roots.runs}/explore-{ex.instance}-diagnostics`"
            if p.finished or now - last >= PLOT_EVERY_S:
                last = now
                losses = ex.batch_losses
                yield (
                    text,
                    plots.curve(np.arange(len(losses)), {"loss": losses}, "batch loss", log_y=True),
                )
            else:
                yield text, gr.skip()

    @guarded(4)
    def run_eval():
        result = evaluate_session(ex)
        losses = result["losses"]
        text = (
            f"evaluated {len(losses)} canvases: mean {_fmt(result['loss']['mean'])} vs "
            f"copy-last-frame baseline {_fmt(result['baseline']['mean'])}"
        )
        summary = {"model": result["loss"], "copy-last-frame baseline": result["baseline"]}
        return (
            text,
            summary,
            plots.curve(np.arange(len(losses)), {"loss": losses}, "loss per canvas", log_y=True),
            plots.histogram(losses, "loss histogram"),
        )

    train.click(run_train, [steps, record], [status, loss_plot])
    stop.click(lambda: ex.stop(), None, None, queue=False)
    evaluate.click(run_eval, None, [status, stats, over_time, hist])


# ---------------------------------------------------------------------------------- Inference


def build_inference_tab(context: AppContext) -> None:
    import gradio as gr

    ex = context.logic
    with gr.Row():
        frame = gr.Number(value=5, precision=0, label="frame", elem_id="infer-frame")
        predict = gr.Button("Predict this frame", elem_id="infer-run", scale=0)
        sweep = gr.Button("Action sweep", variant="primary", elem_id="sweep-run", scale=0)
    status = gr.Markdown(
        "One frame without training, or the next frame under every action.", elem_id="infer-status"
    )
    with gr.Row():
        canvas = gr.Image(label="canvas", interactive=False, format="png")
        composite = gr.Image(label="composite", interactive=False, format="png")
        predicted = gr.Image(label="predicted", interactive=False, format="png")
        actual = gr.Image(label="actual", interactive=False, format="png")
        error = gr.Image(label="error map", interactive=False, format="png")
    grid = gr.Image(label="action sweep", interactive=False, format="png", elem_id="sweep-grid")
    table = gr.Dataframe(
        headers=["action", "label", "MSE", "recorded"], label="sweep", elem_id="sweep-table"
    )

    @guarded(6)
    def infer(t: float) -> tuple:
        r = ex.infer(int(t or 0))
        return (
            f"frame {int(t)}: MSE {_fmt(r['mse'])}",
            _img(r["canvas"]),
            _img(r["composite"]),
            _img(r["predicted"]),
            _img(r["actual"]),
            _img(plots.error_map(r["predicted"], r["actual"])),
        )

    @guarded(3)
    def run_sweep(t: float) -> tuple:
        r = ex.sweep(int(t or 0))
        rows = [
            [i, label, float(m), "yes" if i == r["recorded"] else ""]
            for i, (label, m) in enumerate(zip(r["labels"], r["mse"], strict=True))
        ]
        best = int(np.argmin(r["mse"]))
        text = (
            f"sweep after frame {int(t)}: recorded action {r['recorded']}, lowest MSE under action "
            f"{best}" + (" (the recorded one)" if best == r["recorded"] else "")
        )
        frames = [plots.upscale(f, 96) for f in r["frames"]]
        return text, plots.sweep_grid(frames, r["labels"], r["mse"], r["recorded"]), rows

    predict.click(infer, frame, [status, canvas, composite, predicted, actual, error])
    sweep.click(run_sweep, frame, [status, grid, table])


# ---------------------------------------------------------------------------------- Attention


def build_attention_tab(context: AppContext) -> None:
    import gradio as gr

    ex = context.logic
    with gr.Row():
        frame = gr.Number(value=5, precision=0, label="frame", elem_id="attn-frame")
        part = gr.Radio(["decoder", "encoder"], value="decoder", label="attention of")
        mode = gr.Radio(
            ["auto (bright patches)", "typed"], value="auto (bright patches)", label="patches"
        )
        threshold = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="brightness threshold")
        typed = gr.Textbox(value="0,5,10-15", label="patches (typed)", elem_id="attn-patches")
    with gr.Row():
        layers = gr.Textbox(value="all", label="layers (all or e.g. 0,2-3)")
        heads = gr.Textbox(value="all", label="heads (all or e.g. 0,1)")
        over_heads = gr.Dropdown(["mean", "max", "sum"], value="mean", label="over heads")
        over_patches = gr.Dropdown(["mean", "max", "sum"], value="mean", label="over patches")
        keep = gr.Slider(1, 100, value=10, step=1, label="show the strongest %")
        show = gr.Button("Show attention", variant="primary", elem_id="attn-run", scale=0)
    status = gr.Markdown(
        "Attention from the selected patches to every patch.", elem_id="attn-status"
    )
    with gr.Row():
        lines = gr.Image(
            label="patch-to-patch (colour = layer, width = weight)",
            interactive=False,
            format="png",
            elem_id="attn-lines",
        )
        matrix = gr.Image(label="attention matrix", interactive=False, format="png")
        overlay = gr.Image(label="heatmap on the canvas", interactive=False, format="png")
    stats = gr.JSON(label="statistics")

    @guarded(5)
    def run(t, part_, mode_, thr, typed_, layers_, heads_, oh, op, keep_):
        from sensorimotor.explorer.attention import (
            aggregate,
            attention_stats,
            bright_patches,
            head_matrix,
            parse_patch_ranges,
            quantile_filter,
        )

        maps = ex.attention_maps(int(t or 0))
        att = maps[part_]
        n_layers, n_heads, n = att.shape[:3]
        patch = ex.model.layout.patch_size
        if mode_.startswith("auto"):
            sources = bright_patches(maps["canvas"], patch, float(thr))
            if part_ == "encoder":  # masked patches do not reach the encoder
                visible = ~np.asarray(ex.model.layout.target_mask)
                sources = [s for s in sources if visible[s]]
            if not sources:
                raise UserError(
                    f"no patch is brighter than {thr}; lower the threshold or type patches"
                )
        else:
            sources = parse_patch_ranges(typed_, n)
        sel_layers = _indices(layers_, n_layers, "layers")
        sel_heads = _indices(heads_, n_heads, "heads")
        weights = aggregate(
            att, sources, layers=sel_layers, heads=sel_heads, over_heads=oh, over_patches=op
        )
        kept = quantile_filter(weights, float(keep_))
        s = attention_stats(kept, att, sources, sel_layers)
        grid = maps["grid"]
        names = [f"{part_} layer {i}" for i in sel_layers]
        places = ", ".join(f"{i}: {ex.patch_place(i)}" for i in sources[:8])
        text = f"{len(sources)} source patches ({places}{' …' if len(sources) > 8 else ''})"
        return (
            text,
            plots.attention_lines(maps["canvas"], kept, sources, grid, patch, names),
            plots.attention_matrix(
                head_matrix(att, layers=sel_layers, heads=sel_heads, over_heads=oh),
                f"{part_} attention",
            ),
            plots.attention_overlay(maps["canvas"], kept.sum(axis=0), grid, patch),
            {"sources": sources, **s.__dict__},
        )

    show.click(
        run,
        [frame, part, mode, threshold, typed, layers, heads, over_heads, over_patches, keep],
        [status, lines, matrix, overlay, stats],
    )


def _indices(text: str, count: int, what: str) -> list[int]:
    from sensorimotor.explorer.attention import parse_patch_ranges

    if text.strip().lower() in ("", "all"):
        return list(range(count))
    try:
        return parse_patch_ranges(text, count)
    except UserError as e:
        raise UserError(f"{what}: {e}") from None


# ---------------------------------------------------------------------------------- Weights


def build_weights_tab(context: AppContext) -> None:
    import gradio as gr

    from sensorimotor.explorer.weights import COMPONENTS, component_values, leaf_stats

    ex = context.logic
    with gr.Row():
        component = gr.Dropdown(list(COMPONENTS), value="attention", label="component")
        refresh = gr.Button("Show weights", variant="primary", elem_id="weights-run", scale=0)
    status = gr.Markdown(
        "Weight histograms and norms per transformer component.", elem_id="weights-status"
    )
    with gr.Row():
        hist = gr.Image(label="histogram", interactive=False, format="png")
        history = gr.Image(label="component norms during training", interactive=False, format="png")
    table = gr.Dataframe(
        headers=["name", "component", "shape", "norm", "mean", "std"], label="layers"
    )

    @guarded(4)
    def show(c: str) -> tuple:
        model = ex.require_model()
        values = component_values(model.params)
        rows = [
            [s.name, s.component, str(s.shape), s.norm, s.mean, s.std]
            for s in leaf_stats(model.params)
        ]
        h = ex.weight_history
        steps = [x["train_steps"] for x in h]
        series = {k: [x[k] for x in h] for k in COMPONENTS}
        return (
            f"{model.num_params} parameters after {model.train_steps} train steps",
            plots.histogram(values.get(c, np.zeros(0)), f"{c} weights"),
            plots.curve(steps, series, "L2 norm per component"),
            rows,
        )

    refresh.click(show, component, [status, hist, history, table])


# ---------------------------------------------------------------------------------- Checkpoints


def build_checkpoints_tab(context: AppContext) -> None:
    import gradio as gr

    from sensorimotor.explorer.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint

    ex = context.logic
    with gr.Row():
        name = gr.Textbox(value="checkpoint", label="name", elem_id="ckpt-name")
        save = gr.Button("Save", variant="primary", elem_id="ckpt-save", scale=0)
        refresh = gr.Button("List", elem_id="ckpt-list-refresh", scale=0)
    with gr.Row():
        path = gr.Textbox(label="run directory to load", elem_id="ckpt-path")
        load = gr.Button("Load", elem_id="ckpt-load", scale=0)
    status = gr.Markdown(
        f"Checkpoints are run directories under `{context.roots.runs}`; names carry this instance's id "
        f"`{context.instance}`. `sensorimotor run --resume DIR` continues one.",
        elem_id="ckpt-status",
    )
    table = gr.Dataframe(
        headers=["run directory", "step", "kind", "saved", "iteration", "train steps"],
        label="checkpoints",
        elem_id="ckpt-table",
    )

    def rows() -> list[list[Any]]:
        return [
            [str(r.run_dir), r.step, r.kind, r.saved, r.iteration, r.train_steps]
            for r in list_checkpoints(context.roots.runs)
        ]

    @guarded(3)
    def do_save(n: str) -> tuple:
        run_dir = save_checkpoint(ex, n.strip())
        return f"Saved iteration {ex.model.iteration} to `{run_dir}`", str(run_dir), rows()

    @guarded(2)
    def do_load(p: str) -> tuple:
        meta = load_checkpoint(ex, p.strip())
        return (
            f"Loaded `{p.strip()}` (step {meta.get('step')}): {ex.status()}",
            rows(),
        )

    save.click(do_save, name, [status, path, table])
    load.click(do_load, path, [status, table])
    refresh.click(rows, None, table)
