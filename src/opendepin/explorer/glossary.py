"""What each reason code means to an operator, as `docs/reasons.md` says it.

`docs/reasons.md` is the one page that explains every code opendepin publishes: one table per
stage or kind, one row per code — `| \\`code\\` | meaning | what an operator can do |`. The
explorer ships a byte-for-byte copy of it as package data (`explorer/data/reasons.md`; the
test suite fails when the copy and the page differ) and parses those rows, so a device page
can put the operator-facing text next to every reason it shows, also where the repository's
`docs/` is not installed.

Codes a third-party kind adds are documented by that kind, not on this page: `explain`
answers them with `None`, and the pages say the code comes from a plugin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Final

from markupsafe import Markup, escape

REASONS_RESOURCE: Final = "data/reasons.md"
"""The packaged copy of docs/reasons.md, relative to the `opendepin.explorer` package."""

_ROW = re.compile(r"^\| `([a-z0-9_]+)` \| (.+?) \| (.+?) \|\s*$")
_HEADING = re.compile(r"^## (.+?)\s*$")
_CODE_SPAN = re.compile(r"`([^`]+)`")


@dataclass(frozen=True, slots=True)
class ReasonText:
    """One documented reason code."""

    code: str
    section: str
    """The heading it is listed under, e.g. `Heartbeat (\\`proofs.heartbeat\\`)`."""
    meaning: str
    """What the code means (Markdown inline text)."""
    action: str
    """What an operator can do about it (Markdown inline text)."""

    @property
    def meaning_html(self) -> Markup:
        return inline_markdown(self.meaning)

    @property
    def action_html(self) -> Markup:
        return inline_markdown(self.action)


def inline_markdown(text: str) -> Markup:
    """HTML of a table cell: escaped, with `code spans` as <code> (the only markup used there)."""
    parts: list[str] = []
    last = 0
    for m in _CODE_SPAN.finditer(text):
        parts.append(str(escape(text[last : m.start()])))
        parts.append(f"<code>{escape(m.group(1))}</code>")
        last = m.end()
    parts.append(str(escape(text[last:])))
    return Markup("".join(parts))


def parse_reasons(markdown: str) -> dict[str, ReasonText]:
    """Every `| \\`code\\` | meaning | action |` row of the page, by code (first one wins)."""
    out: dict[str, ReasonText] = {}
    section = ""
    for line in markdown.splitlines():
        if heading := _HEADING.match(line):
            section = heading.group(1)
        elif row := _ROW.match(line):
            code, meaning, action = row.groups()
            out.setdefault(code, ReasonText(code, section, meaning.strip(), action.strip()))
    return out


def packaged_text() -> str:
    """The text of the packaged copy of docs/reasons.md."""
    return resources.files("opendepin.explorer").joinpath(REASONS_RESOURCE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def glossary() -> dict[str, ReasonText]:
    """The parsed packaged page (parsed once per process)."""
    return parse_reasons(packaged_text())


def explain(code: str) -> ReasonText | None:
    """The documented text of `code`, or None for a code this page does not list."""
    return glossary().get(code)
