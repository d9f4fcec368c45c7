"""Make remote text safe to place in XML and HTML without hiding what a reader should see.

Remote output carries terminal colour codes, NUL bytes and stray surrogates. XML 1.0 forbids
most control characters outright (a JUnit file containing one is rejected whole by CI), and in
HTML they are invisible. C0 controls are shown as their Unicode "control pictures" (ESC as
U+241B, NUL as U+2400): still telling, valid everywhere, and left alone by JSON encoding, so
an output reads the same in every format. What has no picture becomes U+FFFD.
Markup escaping is not done here: Jinja2's autoescape and ElementTree do it, every time.
"""

from __future__ import annotations

import re
from typing import Any

#: C0 controls except tab/newline/carriage return, DEL, C1 controls, surrogates, U+FFFE/U+FFFF
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"


def visible(text: str) -> str:
    """`text` with the characters XML cannot hold (or a reader cannot see) replaced by pictures."""
    return _UNSAFE.sub(_picture, text)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else REPLACEMENT


def clean(value: Any) -> Any:
    """A copy of nested data with every string (keys too) passed through `visible`."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value
