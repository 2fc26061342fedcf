"""The Gradio Blocks app: the Sessions tab plus the registered model kind's tabs; callbacks only
translate UI events into calls on the logic layer and its results (or errors) into components."""

from __future__ import annotations

import functools
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sensorimotor.core.errors import UserError
from sensorimotor.explorer.roots import Roots, instance_id

FIRST_PORT = 7861


@dataclass
class AppContext:
    """What every tab's builder gets: the roots, this instance's id and the model's logic object."""

    roots: Roots
    instance: str
    logic: Any


def error_text(error: BaseException) -> str:
    """The message the page shows for an error: the user's mistakes as they are, bugs with a hint."""
    if isinstance(error, UserError):
        return f"**Error:** {error}"
    return f"**Unexpected error** ({type(error).__name__}): {error}"


def guarded(n_outputs: int, status_index: int = 0) -> Callable:
    """Wrap a callback so an error becomes readable text in output ``status_index`` (the other
    outputs keep their values) and the app keeps serving. Works for plain and generator callbacks."""
    import inspect

    import gradio as gr

    def decorate(fn: Callable) -> Callable:
        def on_error(e: BaseException) -> Any:
            if not isinstance(e, UserError):
                traceback.print_exc()
            out = [gr.skip()] * n_outputs
            out[status_index] = error_text(e)
            return out[0] if n_outputs == 1 else tuple(out)

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen(*args: Any) -> Any:
                try:
                    yield from fn(*args)
                except Exception as e:  # noqa: BLE001 - shown in the page
                    yield on_error(e)

            return gen

        @functools.wraps(fn)
        def plain(*args: Any) -> Any:
            try:
                return fn(*args)
            except Exception as e:  # noqa: BLE001 - shown in the page
                return on_error(e)

        return plain

    return decorate


def build_app(roots: Roots, kind: str = "canvas", instance: str | None = None) -> Any:
    """The Blocks app for ``roots`` with the tabs of world-model ``kind``."""
    import gradio as gr

    from sensorimotor.explorer.sessions_ui import build_sessions_tab
    from sensorimotor.explorer.views import model_kind

    model = model_kind(kind)
    instance = instance or instance_id()
    context = AppContext(roots, instance, model.make_logic(roots, instance))
    with gr.Blocks(title="sensorimotor explorer", analytics_enabled=False) as app:
        gr.Markdown(
            f"# sensorimotor explorer\nsessions: `{roots.sessions}` · runs: `{roots.runs}` · "
            f"instance `{instance}` · model `{kind}`"
        )
        with gr.Tabs():
            with gr.Tab("Sessions", id="sessions"):
                on_load, load_output = build_sessions_tab(context)
            for view in model.make_views():
                with gr.Tab(view.title, id=view.title.lower().replace(" ", "-").replace("/", "")):
                    view.build(context)
        app.load(on_load, outputs=load_output)
    app.explorer_context = context
    return app


def free_port(host: str = "127.0.0.1", start: int = FIRST_PORT, tries: int = 100) -> int:
    """The first port from ``start`` that nothing listens on."""
    for port in range(start, start + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise UserError(f"no free port in {start}-{start + tries - 1} on {host}; pass --port")


def launch(
    roots: Roots,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    kind: str = "canvas",
    block: bool = True,
    quiet: bool = False,
) -> tuple[Any, str]:
    """Start the app; returns ``(app, url)``. Files are served only from the roots."""
    roots.sessions.mkdir(parents=True, exist_ok=True)
    roots.runs.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    app = build_app(roots, kind)
    app.queue(default_concurrency_limit=1)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        allowed_paths=roots.allowed(),
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
    )
    url = f"http://{host}:{port}/"
    if not quiet:
        print(f"sensorimotor explorer running at {url} (instance {app.explorer_context.instance})")
        print(f"  sessions: {roots.sessions}   runs: {roots.runs}   Ctrl-C to stop", flush=True)
    if block:
        try:
            app.block_thread()
        except KeyboardInterrupt:
            pass
        finally:
            app.close()
    return app, url
