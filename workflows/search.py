"""A change-only upsert of the typed search-attribute keys (defined in domain.names).

Search attributes are stored in clear (codecs never see them), so every text value is
masked for card numbers here, whatever workflow upserts it.
"""

from __future__ import annotations

from typing import Any, Final

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.pan import mask_pans


class SearchAttributes:
    """Remembers what was upserted so an unchanged value costs no history event."""

    def __init__(self) -> None:
        self._current: dict[str, Any] = {}

    def seed(self, present: TypedSearchAttributes, keys: list[SearchAttributeKey[Any]]) -> None:
        """Take `keys` as already upserted with the values the run started with (the
        client sets them on start; absent means unset), so repeating them costs nothing."""
        for key in keys:
            self._current[key.name] = present.get(key)

    def upsert(self, values: dict[SearchAttributeKey[Any], Any]) -> None:
        updates: list[SearchAttributeUpdate[Any]] = []
        for key, value in values.items():
            if isinstance(value, str):
                value = mask_pans(value)
            if self._current.get(key.name, _MISSING) == value:
                continue
            self._current[key.name] = value
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)


_MISSING: Final = object()
