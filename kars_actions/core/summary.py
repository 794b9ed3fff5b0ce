"""A step summary within GitHub's size limit: its parts by importance, the least important cut first, and said.

GitHub drops a whole step summary over 1 MiB (with an error annotation), so the summary a command writes is
fitted before it is written. It is read as sections of one of four kinds, in the order they matter:

- ``text``: headings and sentences (the verdict, why, what serves now) — kept; only if they alone are too big
  is their end cut.
- ``table``: kept with its first rows; rows are cut from the end, and a line says how many.
- ``code``: code blocks and charts — cut whole.
- ``details``: ``<details>`` blocks (log tails, release notes, lists already counted elsewhere) — cut first,
  whole: a part folded away is, by the author's own choice, the least needed.

Within a kind, later sections go before earlier ones (a summary starts with what matters most). Each cut leaves
a line in its place, and one line at the end lists what was cut. Sizes are bytes of UTF-8 *after* redaction,
which is what reaches the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# GitHub refuses a step summary over 1024 KiB. A few KiB stay free for what a failing step appends after it
# (its error) and for the notes that say what was cut.
SUMMARY_LIMIT = 1024 * 1024
SUMMARY_MARGIN = 8 * 1024
# The kinds in the order they are cut.
_CUT_ORDER = ("details", "code", "table", "text")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_DETAILS_OPEN = re.compile(r"^\s*<details\b", re.IGNORECASE)
_SUMMARY_TAG = re.compile(r"<summary>(.*?)</summary>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_LISTED = 20  # cut parts named one by one in the closing note; the rest are counted


@dataclass
class Section:
    """One part of a summary: its Markdown, its kind (``text``, ``table``, ``code``, ``details``), and the name
    a note says it was cut by."""

    markdown: str
    kind: str
    title: str


@dataclass
class Fitted:
    """What is written, and what had to go."""

    markdown: str
    cut: tuple[str, ...] = ()  # the names of what was cut, in document order
    cut_text: str = ""  # the Markdown that was cut (for the log)

    @property
    def whole(self) -> bool:
        return not self.cut


def sections(markdown: str) -> list[Section]:
    """``markdown`` read as sections: each heading with its sentences, each table, code block and details block."""
    found: list[Section] = []
    lines = markdown.splitlines(keepends=True)
    heading = ""
    prose: list[str] = []

    def flush_prose() -> None:
        if prose:
            found.append(Section("".join(prose), "text", heading))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if _DETAILS_OPEN.match(line):
            end = _details_end(lines, i)
            block = "".join(lines[i : end + 1])
            flush_prose()
            found.append(Section(block, "details", _details_title(block) or heading))
            i = end + 1
            continue
        fence = _FENCE.match(line)
        if fence:
            marker = fence.group(1)
            end = _fence_end(lines, i, marker)
            block = "".join(lines[i : end + 1])
            flush_prose()
            label = line.strip()[len(marker) :].strip()
            title = "Mermaid chart" if label == "mermaid" else "code block"
            found.append(Section(block, "code", f"{title} ({heading})" if heading else title))
            i = end + 1
            continue
        if line.lstrip().startswith("|"):
            end = i
            while end + 1 < len(lines) and lines[end + 1].lstrip().startswith("|"):
                end += 1
            flush_prose()
            found.append(Section("".join(lines[i : end + 1]), "table", heading or "table"))
            i = end + 1
            continue
        match = _HEADING.match(line)
        if match:
            flush_prose()
            heading = _plain(match.group(1))
        prose.append(line)
        i += 1
    flush_prose()
    return found


def _details_end(lines: Sequence[str], start: int) -> int:
    """The index of the line that closes the ``<details>`` opened at ``start`` (nested ones counted); the last
    line when it is never closed."""
    depth = 0
    for index in range(start, len(lines)):
        text = lines[index].lower()
        depth += text.count("<details") - text.count("</details>")
        if depth <= 0:
            return index
    return len(lines) - 1


def _fence_end(lines: Sequence[str], start: int, marker: str) -> int:
    """The index of the line that closes the code block opened at ``start``; the last line if none does."""
    for index in range(start + 1, len(lines)):
        if lines[index].strip() == marker:
            return index
    return len(lines) - 1


def _details_title(block: str) -> str:
    match = _SUMMARY_TAG.search(block)
    return _plain(match.group(1)) if match else ""


def _plain(text: str) -> str:
    """A heading or summary line as words: tags, emphasis and backticks left out, spaces tidied."""
    words = _TAG.sub("", text).replace("`", "").replace("**", "")
    return " ".join(words.split())[:120]


def fit(parts: Sequence[Section], budget: int, measure: Callable[[str], int], *, where: str = "") -> Fitted:
    """The sections joined, within ``budget`` bytes as ``measure`` counts them (after redaction).

    ``where`` says where the cut parts can be read whole (the step's log), for the closing note."""
    sizes = [measure(p.markdown) for p in parts]
    total = sum(sizes)
    if total <= budget:
        return Fitted("".join(p.markdown for p in parts))
    kept: list[str | None] = [p.markdown for p in parts]
    notes: dict[int, str] = {}
    names: dict[int, str] = {}
    cut_text: dict[int, str] = {}
    room = budget - _NOTE_ROOM
    for kind in _CUT_ORDER[:-1]:
        for index in reversed(range(len(parts))):
            part, markdown = parts[index], kept[index]
            if total <= room:
                break
            if markdown is None or part.kind != kind or index in notes:
                continue
            title = part.title or kind
            if kind == "table":
                # The note says how many rows went: room for it with the largest count it could say.
                need = total - room + measure(_rows_note(markdown.count("\n")))
                shrunk, left_out, rows = _shrink_table(markdown, need, measure)
                if shrunk is not None:
                    note = _rows_note(rows)
                    total += measure(shrunk) + measure(note) - sizes[index]
                    kept[index], notes[index] = shrunk, note
                    names[index], cut_text[index] = f"{rows:,} row(s) of {title}", left_out
                    continue
            note = f"*✂️ {_md(title)}: cut, step summaries are limited to 1 MiB.*\n\n"
            total += measure(note) - sizes[index]
            kept[index], notes[index] = None, note
            names[index], cut_text[index] = title, markdown
    body = "".join((kept[i] or "") + notes.get(i, "") for i in range(len(parts)))
    rest = ""
    if total > room:  # the sentences alone are too long: keep the beginning, the most important part
        end_note = "\n*…the rest of this summary was cut: step summaries are limited to 1 MiB.*\n"
        body, rest = _truncate(body, room - measure(end_note), measure)
        body += end_note
    cut = [names[i] for i in sorted(names)] + (["the end of the summary"] if rest else [])
    listed = "; ".join(cut[:_LISTED]) + (f"; and {len(cut) - _LISTED} more" if len(cut) > _LISTED else "")
    closing = f"\n---\n✂️ Cut to stay within GitHub's 1 MiB step summary limit: {_md(listed)}."
    closing += (f" {where}" if where else "") + "\n"
    return Fitted(body + closing, tuple(cut), "".join(cut_text[i] for i in sorted(cut_text)) + rest)


def _rows_note(rows: int) -> str:
    return f"\n*…and {rows:,} more row(s) cut: step summaries are limited to 1 MiB.*\n\n"


# Bytes kept free for the notes that say what was cut (at most _LISTED names of up to 120 characters).
_NOTE_ROOM = 4 * 1024


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")  # names are one line already


def _shrink_table(table: str, excess: int, measure: Callable[[str], int]) -> tuple[str | None, str, int]:
    """The table without enough of its last rows to save ``excess`` bytes: (table, rows cut, how many);
    None when even its header and first row would not save enough (then it goes whole)."""
    lines = table.splitlines(keepends=True)
    header, rows = lines[:2], lines[2:]
    saved = 0
    count = 0
    while rows and saved < excess:
        saved += measure(rows[-1])
        rows.pop()
        count += 1
    if saved < excess or not rows:
        return None, "", 0
    return "".join(header + rows), "".join(lines[2 + len(rows) :]), count


def _truncate(text: str, budget: int, measure: Callable[[str], int]) -> tuple[str, str]:
    """(the beginning of ``text`` within ``budget`` bytes, the rest): cut at a line's end, or within the line
    that does not fit whole (at a character, never inside one)."""
    kept: list[str] = []
    used = 0
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        size = measure(line)
        if used + size > budget:
            room = max(budget - used, 0)
            head = line.encode("utf-8")[:room].decode("utf-8", "ignore")
            while head and measure(head) > room:
                head = head[: -max(1, len(head) // 10)]
            kept.append(head + "\n" if head else "")
            return "".join(kept), line[len(head) :] + "".join(lines[index + 1 :])
        kept.append(line)
        used += size
    return "".join(kept), ""
