"""The page's labels: the catalog's ``page.*`` messages in the reader's language."""

from __future__ import annotations

from tools.core.messages import section

LABELS: dict[str, dict[str, str]] = section("page")  # the catalog's page.* codes, per language
