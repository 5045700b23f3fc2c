"""Untrusted text made safe for each output of a report.

Env names, window ids, client and toxic names, browser errors, server log lines and notes come
from a user's Visdom and run: a renderer writes them through one of these, never raw.
report.html uses `html.escape` (quotes too); plots draw with mathtext off (`plots.write_plots`).
tests/test_report_escaping.py feeds hostile names through every renderer.
"""

from __future__ import annotations

import re
from html import escape as _html
from typing import Any

from rich.markup import escape as _rich

# C0 controls but tab and newline, DEL and C1: a terminal obeys them (ESC starts a sequence)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# what XML 1.0 cannot hold at all, escaped or not (ElementTree writes them, no parser reads them)
XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# what Markdown acts on inside a line: `|` ends a table cell, a backtick opens a code span,
# brackets make links, `*` and `~` emphasis, `$` GitHub's math; and the escaping backslash.
# `_` is left alone: the reports are full of identifiers (`final_view`, `render_writeback`), an
# underscore inside a word is never emphasis, and around one it can only italicise
MD_PUNCT = re.compile(r"([\\`*~$\[\]|])")


def _visible(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"


def md(value: Any) -> str:
    """Text for report.md, in a table cell, a list item or a heading.

    A Markdown viewer renders raw HTML, so `<`, `>`, `&` become entities: they read right
    rendered in every context but a code span, which is why untrusted text is never put in
    one (a code span cannot hold an entity, nor a `\\|` outside a table). Markdown's own
    punctuation is backslash-escaped; line breaks, which would end a table row, are spaces."""
    text = CONTROL.sub(_visible, str(value).replace("\r\n", " ").replace("\n", " "))
    return MD_PUNCT.sub(r"\\\1", _html(text, quote=False))


def term(value: Any) -> str:
    """Text for the terminal (rich): markup shown, not obeyed; control characters made visible."""
    return _rich(CONTROL.sub(_visible, str(value)))


def xml(value: Any) -> str:
    """Text for junit.xml: ElementTree escapes markup; this drops what XML cannot carry."""
    return XML_INVALID.sub(_visible, str(value))
