"""Structured content (SR ContentSequence, Acquisition Context, Specimen Preparation).

Content items are cleaned at any depth by the normal rules plus two facts of the SR model:
TextValue carries free text (tier 2, or a dummy when it cannot be cleaned, since it is
Type 1 in a TEXT item), and observer-context items (TID 1002/1004) identify a person,
organisation or device by their concept name, whatever their value type.
"""
from __future__ import annotations

from typing import Any, Mapping

from pydicom.dataset import Dataset

CONTENT_SEQUENCES = frozenset({0x0040A730, 0x00400555, 0x00400610, 0x00400612})
TEXT_VALUE = 0x0040A160
VALUE_TAGS = frozenset({0x0040A160, 0x0040A123, 0x0040A124, 0x0040A120, 0x0040A121,
                        0x0040A122})


def concept_code(item: Dataset) -> str | None:
    """CodeValue of the item's concept name when it is a DCM code."""
    seq = item.get(0x0040A043)
    try:
        code = seq.value[0] if seq is not None and seq.value else None
    except Exception:
        return None
    if code is None:
        return None
    scheme = str(code.get("CodingSchemeDesignator", "") or "")
    value = str(code.get("CodeValue", "") or "")
    return value if scheme == "DCM" and value else None


def observer_action(item: Dataset, table: Mapping[str, Mapping[str, Any]],
                    options: tuple[str, ...]) -> str | None:
    """The action for the value of an observer-context item, or None for other items."""
    code = concept_code(item)
    if code is None or code not in table:
        return None
    entry = table[code]
    keep_with = entry.get("keep_with")
    if keep_with and keep_with in options:
        return "K"
    return str(entry.get("action", "D"))
