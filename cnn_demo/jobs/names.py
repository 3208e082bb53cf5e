"""Display names students give themselves, so the teacher's list of jobs says who is who.

A display name is shown to the teacher (page and command line), never used to decide anything: it is checked like
a class name (no control or text-direction characters, a length cap) and stored with each job the student submits.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from cnn_demo.errors import InputError

#: Longest display name, in characters.
MAX_DISPLAY_NAME = 40

#: Characters that reorder the text around them (right-to-left override and friends): a name holding one reads
#: differently from what it is.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ZERO_WIDTH_JOINER = "\u200d"  # joins emoji sequences: allowed


def clean_display_name(name: object) -> str:
    """``name`` with its spaces tidied; ``""`` for none. Raises :class:`InputError` when it is not text, too long,
    or holds control, invisible formatting or text-direction characters."""
    if name is None:
        return ""
    if not isinstance(name, str):
        raise InputError("A name must be text.")
    if any(ch in _BIDI_CONTROLS for ch in name):
        raise InputError("A name cannot contain invisible text-direction characters (they make it read backwards).")
    for ch in name:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co") or (category == "Cf" and ch != _ZERO_WIDTH_JOINER):
            raise InputError("A name cannot contain control or invisible characters.")
    clean = " ".join(name.split())
    if len(clean) > MAX_DISPLAY_NAME:
        raise InputError(f"That name is too long; at most {MAX_DISPLAY_NAME} characters.")
    return clean


def stored_display_name(params: dict[str, Any]) -> str:
    """The display name stored with a job (``""`` when it has none, or one that does not pass the checks now)."""
    try:
        return clean_display_name(params.get("display_name"))
    except InputError:
        return ""
