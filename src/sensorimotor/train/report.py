"""Self-contained HTML reports: text, tables, plots and images in one file (images inlined)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figcaption{color:#555;font-size:90%}img{max-width:100%;image-rendering:pixelated}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}
"""


class HtmlReport:
    """Build a report piece by piece, then :meth:`write` one self-contained HTML file."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = []

    def section(self, title: str) -> HtmlReport:
        """Start a new section."""
        self._parts.append(f"<h2>{html.escape(title)}</h2>")
        return self

    def text(self, text: str) -> HtmlReport:
        """A paragraph of plain text."""
        self._parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def code(self, text: str) -> HtmlReport:
        """A preformatted block (configs, logs)."""
        self._parts.append(f"<pre>{html.escape(text)}</pre>")
        return self

    def table(
        self, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], caption: str = ""
    ) -> HtmlReport:
        """A table from a list of row dicts (columns = union of keys) or one key → value dict."""
        if isinstance(rows, Mapping):
            rows = [{"name": k, "value": v} for k, v in rows.items()]
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(_format(row.get(c, '')))}</td>" for c in columns)
            + "</tr>"
            for row in rows
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._parts.append(f"<table>{cap}<tr>{head}</tr>{body}</table>")
        return self

    def image(self, array: Any, caption: str = "", scale: int = 1) -> HtmlReport:
        """An image (uint8 or [0, 1] float; ``H, W`` or ``H, W, C``), optionally upscaled."""
        array = to_uint8(array)
        if scale > 1:
            array = np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)
        self._figure_tag(_png_base64(array), caption)
        return self

    def figure(self, fig: Any, caption: str = "") -> HtmlReport:
        """A matplotlib figure (closed after rendering)."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        self._figure_tag(base64.b64encode(buffer.getvalue()).decode(), caption)
        return self

    def line_plot(
        self,
        series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
        title: str = "",
        xlabel: str = "step",
        ylabel: str = "",
        logy: bool = False,
        caption: str = "",
    ) -> HtmlReport:
        """One plot with a line per ``name → (x, y)`` series."""
        fig, ax = new_figure()
        for name, (x, y) in series.items():
            ax.plot(np.asarray(x), np.asarray(y), label=name, linewidth=1.2)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if logy:
            ax.set_yscale("log")
        if len(series) > 1:
            ax.legend()
        ax.grid(alpha=0.3)
        return self.figure(fig, caption)

    def html(self) -> str:
        """The whole document."""
        body = "\n".join(self._parts)
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the report (atomically) and return its path."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.html())
        tmp.replace(path)
        return path

    def _figure_tag(self, png_b64: str, caption: str) -> None:
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(f"<figure><img src='data:image/png;base64,{png_b64}'>{cap}</figure>")


def new_figure(width: float = 8.0, height: float = 3.5) -> tuple[Any, Any]:
    """A matplotlib figure and axes on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def to_uint8(array: Any) -> np.ndarray:
    """An image as uint8: floats are taken as [0, 1] and clipped."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = (np.clip(array.astype(np.float32), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return array


def _png_base64(array: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[-1] == 1 else array).save(
        buffer, format="png"
    )
    return base64.b64encode(buffer.getvalue()).decode()


def _format(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)
