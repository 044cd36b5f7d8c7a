"""The table: per row and server the median with min–max over repeats, and flowport / best stock (the
better of the two stock configurations for that row)."""

from __future__ import annotations

import statistics
from typing import Any

from bench.servers import FLOWPORT, STOCK
from bench.workloads import FLOOR, Results, Row


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def summarize(results: Results, rows: list[Row], columns: list[str]) -> list[dict[str, Any]]:
    summary = []
    for row in rows:
        cells = {}
        for column in (FLOOR, *columns):
            values = results.values.get(column, {}).get(row.key)
            if values:
                cells[column] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                    "values": values,
                }
        if not cells:
            continue
        entry: dict[str, Any] = {**vars(row), "columns": cells, "best_stock": None, "ratio": None}
        stock = {c: cells[c]["median"] for c in STOCK if c in cells}
        if stock:
            pick = min if row.better == "lower" else max
            best = pick(stock, key=stock.get)
            entry["best_stock"] = best
            if row.compare and FLOWPORT in cells and stock[best]:
                entry["ratio"] = cells[FLOWPORT]["median"] / stock[best]
        summary.append(entry)
    return summary


def markdown(summary: list[dict[str, Any]], columns: list[str]) -> str:
    """One line per row: `median (min–max)` per server; the ratio is flowport / best stock, and which way
    is better says whether below or above 1 is the win."""
    shown = ([FLOOR] if any(FLOOR in e["columns"] for e in summary) else []) + columns
    head = ["row", "unit", *shown, "flowport / best stock"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in summary:
        cells = []
        for column in shown:
            cell = entry["columns"].get(column)
            if cell is None:
                cells.append("")
            elif len(cell["values"]) == 1:
                cells.append(_fmt(cell["median"]))
            else:
                cells.append(f"{_fmt(cell['median'])} ({_fmt(cell['min'])}–{_fmt(cell['max'])})")
        ratio = entry["ratio"]
        if ratio is None:
            verdict = ""
        else:
            times = (1 / ratio if entry["better"] == "lower" else ratio) if ratio else 0
            verdict = f"{_fmt(ratio)} ({_fmt(times)}× {'better' if times >= 1 else 'worse'})"
        arrow = "↓" if entry["better"] == "lower" else "↑"
        lines.append("| " + " | ".join([entry["label"], f"{entry['unit']} {arrow}", *cells, verdict]) + " |")
    return "\n".join(lines)
