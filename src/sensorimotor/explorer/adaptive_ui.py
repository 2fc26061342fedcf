"""The adaptive world model's tabs (its views in the plug-in registry): Predictions, Attention,
Weights. Callbacks only translate events to :class:`~sensorimotor.explorer.adaptive.AdaptiveExplorer`
calls."""

from __future__ import annotations

from sensorimotor.explorer import plots
from sensorimotor.explorer.app import AppContext, guarded
from sensorimotor.explorer.views import View


def views() -> list[View]:
    return [
        View("Predictions", build_predictions_tab),
        View("Attention", build_attention_tab),
        View("Weights", build_weights_tab),
    ]


def build_predictions_tab(context: AppContext) -> None:
    import gradio as gr

    ex = context.logic
    with gr.Row():
        run = gr.Textbox(label="run directory", elem_id="adaptive-run")
        index = gr.Number(value=2, precision=0, label="validation frame")
        go = gr.Button("Predict under every action", variant="primary", elem_id="adaptive-predict")
    status = gr.Markdown(elem_id="adaptive-status")
    gallery = gr.Gallery(label="next frame under each action (MSE vs actual)", columns=4)

    @guarded(2)
    def predict(path: str, i: float) -> tuple:
        message = ex.open_run(path) if ex.run_dir is None or str(ex.run_dir) != path else ""
        items = [
            (plots.upscale(frame, 160), f"action {a}: MSE {mse:.2e}")
            for a, frame, mse in ex.predictions(int(i))
        ]
        return message, items

    go.click(predict, [run, index], [status, gallery])


def build_attention_tab(context: AppContext) -> None:
    import gradio as gr

    ex = context.logic
    go = gr.Button("Attention metrics per layer", elem_id="adaptive-attention")
    table = gr.Dataframe(headers=["layer", "apa", "alf", "ttar", "ri16", "entropy"])

    @guarded(1)
    def show() -> list:
        return [
            [r["layer"], r["apa"], r["alf"], r["ttar"], r["ri16"], r["entropy"]]
            for r in ex.attention()
        ]

    go.click(show, None, table)


def build_weights_tab(context: AppContext) -> None:
    import gradio as gr

    ex = context.logic
    with gr.Row():
        part = gr.Textbox(value="encoder", label="part (encoder, decoder, level1/action, ...)")
        go = gr.Button("Histogram", elem_id="adaptive-weights")
    hist = gr.Image(label="histogram", interactive=False, format="png")

    @guarded(1)
    def show(name: str):
        values = ex.weights()
        if name not in values:
            from sensorimotor.core.errors import UserError

            raise UserError(f"unknown part {name!r}; parts: {sorted(values)}")
        return plots.histogram(values[name], f"{name} weights")

    go.click(show, part, hist)
