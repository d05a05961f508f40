"""Search text of ``searchable`` models (DynamoBao's ``_searchText``, spec §5.13).

``build_search_text`` joins the configured source fields and normalises them as DynamoBao
does: every character that is not a letter, a number or whitespace becomes a space, text is
lower-cased (unless ``caseSensitive``), whitespace runs collapse to one space; with
``minTermLength`` > 1 or ``dedupe``, short tokens are dropped and repeats removed (first wins).
The search queries themselves (``search_all``) come with the iteration issue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SEARCH_TEXT_ATTRIBUTE", "normalize", "build_search_text"]

SEARCH_TEXT_ATTRIBUTE = "_searchText"


def normalize(text: str, case_sensitive: bool = False) -> str:
    cleaned = "".join(c if c.isalnum() or c.isspace() else " " for c in text)
    if not case_sensitive:
        cleaned = cleaned.lower()
    return " ".join(cleaned.split())


def build_search_text(config: Mapping[str, Any], values: Mapping[str, Any]) -> str | None:
    """The ``_searchText`` of an item with these field values (None when it would be empty)."""
    sources = [values.get(name) for name in config.get("fields", ())]
    joined = " ".join(str(v) for v in sources if v is not None)
    text = normalize(joined, bool(config.get("caseSensitive", False)))
    min_length = int(config.get("minTermLength", 1))
    if min_length > 1 or config.get("dedupe"):
        tokens = [token for token in text.split(" ") if len(token) >= min_length]
        if config.get("dedupe"):
            tokens = list(dict.fromkeys(tokens))
        text = " ".join(tokens)
    return text or None
