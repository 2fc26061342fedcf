"""Every Python example in docs/api.md runs as written (``tmp`` is a fresh folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def _examples() -> list[tuple[str, str]]:
    """(section title, code) of every ```python block in docs/api.md."""
    text = API.read_text()
    found = []
    for match in re.finditer(r"```python\n(.*?)```", text, re.S):
        title = re.findall(r"^## (.+)$", text[: match.start()], re.M)
        found.append((title[-1] if title else "intro", match.group(1)))
    return found


def test_the_page_has_one_example_per_capability() -> None:
    titles = [t for t, _ in _examples()]
    assert len(titles) >= 5, titles


@pytest.mark.mujoco
@pytest.mark.parametrize(("title", "code"), _examples(), ids=[t for t, _ in _examples()])
def test_example_runs(title: str, code: str, tmp_path: Path) -> None:
    exec(compile(code, f"docs/api.md ({title})", "exec"), {"tmp": tmp_path, "__name__": "docs"})
