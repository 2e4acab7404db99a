"""Markdown tables, the one format of every table a person reads here: report.md, sweep.md,
and TensorBoard's text cards (which render Markdown)."""

from __future__ import annotations


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; numbers are right-aligned by the caller's formatting only."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
