"""Small helpers shared by the CLI command modules."""

from __future__ import annotations

import argparse


def add_overrides(parser: argparse.ArgumentParser, example: str | None = None) -> None:
    """The trailing ``key=value`` config overrides of a command; ``example`` is that command's own."""
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides: group=option or dotted keys"
        + (f", e.g. {example}" if example else " (group.key=value)"),
    )


def format_bytes(n: float) -> str:
    """``1234567`` → ``'1.2 MB'``."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Left-aligned plain-text table."""
    widths = {
        c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in columns
    }
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))
