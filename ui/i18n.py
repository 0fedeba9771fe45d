"""The page's labels: the catalog's ``page.*`` messages in the reader's language."""

from __future__ import annotations

from tools.core.messages import say, section

LABELS: dict[str, dict[str, str]] = section("page")  # the catalog's page.* codes, per language


def L(key: str, lang: str, **kw: object) -> str:  # noqa: N802 - short name used in the page code
    return say(f"page.{key}", lang, **kw)
