"""Character-set fixes the engine needs from pydicom (3.0.2) to re-encode values correctly.

ISO 2022 IR 58 (GB 2312 in G1, designated by ESC $ ) A): pydicom lists it among the
encodings whose escape sequences Python's codec writes and strips itself, but Python's
``gb2312`` codec is EUC-CN and knows no escape sequences. pydicom therefore writes GB 2312
bytes with no designation (read back as Latin-1 garbage) and keeps ``$)A`` in decoded text.
Treating it like the other G1 sets (ISO 2022 IR 149, ...) makes pydicom add the escape
sequence when encoding and strip it when decoding, per PS3.5 6.1.2.5.
"""
from __future__ import annotations

import pydicom.charset as _charset

_PATCHED = False


def apply_fixes() -> None:
    """Idempotent; called when the engine module is imported."""
    global _PATCHED
    if _PATCHED:
        return
    handled = tuple(e for e in _charset.handled_encodings if e != "iso_ir_58")
    _charset.handled_encodings = handled
    _PATCHED = True


def iso_ir_58_roundtrips() -> bool:
    """True when GB 2312 text survives an encode/decode cycle under ISO 2022 IR 58."""
    encodings = _charset.convert_encodings(["", "ISO 2022 IR 58"])
    text = "胸部 CT"
    try:
        raw = _charset.encode_string(text, encodings)
        return raw.startswith(b"\x1b$)A") and _charset.decode_bytes(raw, encodings, set()) == text
    except Exception:
        return False
