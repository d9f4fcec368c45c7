"""The benchmark's tables, in Markdown (what bench/RESULTS.md shows)."""

from __future__ import annotations

from bench._measure import Cell
from bench._sidebyside import Row
from bench.workloads import target_for

ENGINE_TITLES = {
    "cutover": "cutover",
    "ansible": "ansible-core",
    "pyinfra": "pyinfra",
    "ssh-floor": "ssh floor",
    "cutover-early": "cutover, early connect",
}


def ratio(mine: Cell, other: Cell | None) -> float | None:
    if other is None or mine.median is None or other.median is None or other.median == 0:
        return None
    return mine.median / other.median


def _ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} ({1 / value:.1f}x)"


def side_by_side_table(rows: list[Row], engines: list[str]) -> str:
    others = [e for e in engines if e != "cutover"]
    head = ["workload", "via", "hosts x tasks", *(ENGINE_TITLES[e] for e in engines)]
    head += [f"cutover / {ENGINE_TITLES[e]}" for e in others] + ["target met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes: list[str] = []
    for row in rows:
        w = row.workload
        cells = [w.name, w.transport, f"{w.hosts} x {w.tasks}"]
        for name in engines:
            cell = row.cells[name]
            text = cell.describe()
            if cell.skipped or cell.failed or cell.note:
                notes.append(f"{w.key} {ENGINE_TITLES[name]}: {cell.skipped or cell.failed or cell.note}")
                text += f" [{len(notes)}]"
            cells.append(text)
        ratios = {e: ratio(row.cells["cutover"], row.cells.get(e)) for e in others}
        cells += [_ratio_text(ratios[e]) for e in others]
        cells.append(_target_text(row, ratios))
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines.append("")
        lines += [f"[{i}] {note.splitlines()[0][:300]}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines)


def cpu_table(rows: list[Row], engines: list[str]) -> str:
    """CPU seconds per run: the engine and the processes it waited for, plus the sshd's sessions."""
    others = [e for e in engines if e != "cutover"]
    head = ["workload", "via", "hosts x tasks", *(ENGINE_TITLES[e] for e in engines)]
    head += [f"cutover / {ENGINE_TITLES[e]}" for e in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        w = row.workload
        cells = [w.name, w.transport, f"{w.hosts} x {w.tasks}"]
        medians = {n: row.cells[n].cpu_median for n in engines}
        cells += ["-" if medians[n] is None else f"{medians[n]:.2f} s" for n in engines]
        for other in others:
            mine, theirs = medians["cutover"], medians[other]
            cells.append(_ratio_text(mine / theirs if mine is not None and theirs else None))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _target_text(row: Row, ratios: dict[str, float | None]) -> str:
    target = target_for(row.workload)
    if target is None:
        return ""
    verdicts = []
    for engine, limit in zip(("ansible", "pyinfra"), target, strict=True):
        value = ratios.get(engine)
        if value is None:
            verdicts.append(f"{engine}: not measured")
        else:
            verdicts.append(f"{engine}: {'yes' if value <= limit else 'NO'}")
    floor = ratios.get("ssh-floor")
    if floor is not None:  # the fallback: within 1.2x of the SSH handshake floor
        verdicts.append(f"floor: {'yes' if floor <= 1.2 else 'NO'} ({floor:.2f}x)")
    return ", ".join(verdicts)


def key_value_table(title: str, values: dict[str, str]) -> str:
    lines = [f"| {title} | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in values.items()]
    return "\n".join(lines)
