"""The Sessions tab: robot types, sessions, metadata, the action table and frame navigation."""

from __future__ import annotations

from typing import Any

from sensorimotor.explorer.app import AppContext, guarded
from sensorimotor.explorer.plots import upscale
from sensorimotor.explorer.sessions import (
    action_table,
    frame_images,
    readable_sessions,
    robot_types,
    session_summary,
    sessions_of,
)

TABLE_HEADERS = ["index", "action", "count", "%", "count (all)", "% (all)"]


def build_sessions_tab(context: AppContext) -> tuple[Any, Any]:
    """Components and events of the Sessions tab; returns the page-load callback and its output."""
    import gradio as gr

    roots, logic = context.roots, context.logic
    with gr.Row():
        robot = gr.Dropdown(label="robot type", choices=[], elem_id="robot-type")
        session = gr.Dropdown(label="session", choices=[], elem_id="session")
        refresh = gr.Button("Refresh", elem_id="refresh-sessions", scale=0)
        open_button = gr.Button("Open", variant="primary", elem_id="open-session", scale=0)
    status = gr.Markdown("Pick a robot type and a session.", elem_id="session-status")
    with gr.Row():
        with gr.Column():
            metadata = gr.JSON(label="metadata")
        with gr.Column():
            table = gr.Dataframe(
                headers=TABLE_HEADERS, label="actions: this session vs all of the robot type"
            )
    with gr.Row():
        slider = gr.Slider(0, 1, step=1, value=0, label="frame", elem_id="frame-slider")
        index = gr.Number(value=0, precision=0, label="go to frame", elem_id="frame-index")
    frames = gr.Gallery(label="cameras", columns=4, height=320, format="png", elem_id="frames")

    def list_types() -> Any:
        types = robot_types(roots.sessions)
        return gr.update(choices=types, value=types[0] if types else None)

    def list_sessions(robot_type: str | None) -> Any:
        if not robot_type:
            return gr.update(choices=[], value=None)
        infos = sessions_of(roots.sessions, robot_type)
        choices = [(f"{s.name} ({s.steps} steps, {s.status})", str(s.path)) for s in infos]
        return gr.update(choices=choices, value=choices[-1][1] if choices else None)

    @guarded(5)
    def open_session(path: str | None) -> tuple:
        if not path:
            raise_user("pick a session first")
        reader = logic.open_session(path)
        others, notes = readable_sessions(roots.sessions, reader.robot_type)
        rows, more = action_table(reader, others)
        table_rows = [
            [r.index, r.action, r.count, r.percent, r.count_all, r.percent_all] for r in rows
        ]
        text = f"Opened **{reader.path.name}**: {len(reader)} steps" + (
            "" if reader.complete else " (recording was not closed cleanly)"
        )
        if notes or more:
            text += "\n\n" + "\n".join(f"- {n}" for n in notes + more)
        return (
            text,
            session_summary(reader),
            table_rows,
            gr.update(maximum=max(len(reader) - 1, 1), value=0),
            show_frame(0),
        )

    def show_frame(i: float) -> list[tuple[Any, str]]:
        reader = logic.require_session()
        images = frame_images(reader, int(i))
        return [(upscale(image, 224), f"{key} · frame {int(i)}") for key, image in images.items()]

    @guarded(2)
    def goto(i: float) -> tuple:
        return gr.skip(), show_frame(i)

    @guarded(3)
    def goto_typed(i: float) -> tuple:
        reader = logic.require_session()
        i = int(i or 0)
        if not 0 <= i < len(reader):
            raise_user(f"frame {i} is outside 0-{len(reader) - 1}")
        return gr.skip(), gr.update(value=i), show_frame(i)

    refresh.click(list_types, outputs=robot)
    robot.change(list_sessions, inputs=robot, outputs=session)
    open_button.click(
        open_session, inputs=session, outputs=[status, metadata, table, slider, frames]
    )
    # Frame navigation skips the queue: it is quick and must not wait behind a running job.
    slider.release(goto, inputs=slider, outputs=[status, frames], queue=False)
    index.submit(goto_typed, inputs=index, outputs=[status, slider, frames], queue=False)
    return list_types, robot


def raise_user(message: str) -> None:
    from sensorimotor.core.errors import UserError

    raise UserError(message)
