"""Deny-list matching against the instance's own identifiers.

A value from the header (``DOE^JOHN``, ``19450315``, ``1234567``) is searched for in a
*skeleton* of the text: upper case, full-width folded, separators and spaces removed, and
OCR-confusable characters folded to one class (O/0/Q, I/1/L/|, S/5, B/8, Z/2, G/6). Each
skeleton character remembers its original position, so a match maps back to an exact span
in the original text. Word-boundary checks on the original text keep short values (``LI``,
``1234``) from matching inside longer words or numbers.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from deid_node.identity import Identity

from .tokens import HAN_RE

_FOLD = str.maketrans({"O": "0", "Q": "0", "I": "1", "L": "1", "|": "1", "S": "5", "B": "8",
                       "Z": "2", "G": "6"})
_DROP = set(" \t\r\n^,.-/:;_'\"()[]{}#*+=~\u3000，。、：；（）")
_KIND_ENTITY = {"name": "PERSON", "id": "ID", "birth_date": "DATE", "event_date": "DATE",
                "address": "ADDRESS", "phone": "PHONE", "institution": "ORGANIZATION"}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_MIN_LEN = {"PERSON": 2, "ID": 4, "DATE": 6, "PHONE": 7, "ADDRESS": 5, "ORGANIZATION": 4}


def _fold_char(ch: str) -> str:
    if ord(ch) > 0x7F:
        n = unicodedata.normalize("NFKC", ch)
        ch = n if len(n) == 1 else ch
    return ch.upper().translate(_FOLD)


def skeleton(text: str) -> tuple[str, list[int]]:
    """Folded text without separators, and the original index of each kept character."""
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch in _DROP:
            continue
        chars.append(_fold_char(ch))
        index.append(i)
    return "".join(chars), index


@dataclass(frozen=True)
class Needle:
    skel: str
    entity: str
    alpha: bool       # the value is letters (names, places): matches must be mostly letters
    han: bool         # Han text: no word boundaries to check


def _date_variants(value: str) -> set[str]:
    d = re.sub(r"\D", "", value)
    if len(d) < 8:
        return {value} if len(d) >= 6 else set()
    y, m, dd = d[:4], d[4:6], d[6:8]
    yy, mi, di = y[2:], str(int(m)), str(int(dd))
    if not (1 <= int(m) <= 12):
        return {d}
    mon = _MONTHS[int(m) - 1]
    return {y + m + dd, m + dd + y, dd + m + y, m + dd + yy, dd + m + yy, yy + m + dd,
            mi + di + y, di + mi + y, dd + mon + yy, dd + mon + y, di + mon + y, mon + dd + y,
            mon + di + y, y + mon + dd, f"{y}年{mi}月{di}日", f"{y}年{m}月{dd}日",
            mon + y, f"{y}年{mi}月"}


def _name_variants(identity: Identity) -> set[str]:
    out = set(identity.name_parts)
    for full in identity.person_names:
        for group in full.split("="):
            parts = [p for p in re.split(r"[\^\s,]+", group) if p]
            if len(parts) >= 2:  # merged on images: JOHNDOE / DOEJOHN (any separators fold away)
                out.add(parts[0] + parts[1])
                out.add(parts[1] + parts[0])
            han = "".join(p for p in parts if HAN_RE.fullmatch(p[0]))
            if han and all(HAN_RE.match(c) for c in han):
                out.add(han)
                if len(han) >= 3:
                    out.add(han[1:])  # given name after a one-character family name
                out.update(p for p in parts if len(p) >= 2)
    return out


def _needles_for(kind: str, value: str) -> list[Needle]:
    entity = _KIND_ENTITY.get(kind, "ID")
    if kind in ("birth_date", "event_date"):
        values = _date_variants(value)
    elif kind == "phone":
        digits = re.sub(r"\D", "", value)
        values = {value, digits, digits[-8:] if len(digits) >= 10 else digits}
    elif kind == "address":
        values = {value} | {p.strip() for p in re.split(r"[,，\n]", value)}
    else:
        values = {value}
    out = []
    for v in values:
        skel, _ = skeleton(v)
        han = bool(HAN_RE.search(v))
        if len(skel) < (2 if han else _MIN_LEN.get(entity, 4)):
            continue
        alpha = sum(c.isalpha() for c in v) > sum(c.isdigit() for c in v)
        out.append(Needle(skel, entity, alpha, han))
    return out


@lru_cache(maxsize=64)
def needles(identity: Identity) -> tuple[Needle, ...]:
    """All search strings for one instance (cached: every text of an instance shares them)."""
    seen: dict[tuple[str, str], Needle] = {}
    items = [("name", n) for n in _name_variants(identity)]
    items += [(k, v) for k, v in identity.items() if k != "name"]
    for kind, value in items:
        for n in _needles_for(kind, value):
            seen.setdefault((n.skel, n.entity), n)
    return tuple(seen.values())


def _ok(text: str, s: int, e: int, n: Needle) -> bool:
    """Boundary and letter/digit checks on the original text."""
    if n.han:
        return True
    frag = text[s:e]
    letters = sum(c.isalpha() for c in frag)
    digits = sum(c.isdigit() for c in frag)
    if n.alpha and digits > letters:
        return False
    if not n.alpha and letters > digits + 3:
        return False
    before = text[s - 1] if s > 0 else " "
    after = text[e] if e < len(text) else " "
    if n.alpha:
        if len(n.skel) < 5:
            return not before.isalpha() and not after.isalpha() and not before.isdigit() \
                and not after.isdigit()
        return True
    return not before.isdigit() and not after.isdigit()


_INITIAL_AFTER = re.compile(r"[\s,^.]{1,3}([A-Za-z])\.?(?![A-Za-z])")
_INITIAL_BEFORE = re.compile(r"(?<![A-Za-z])([A-Za-z])\.?[\s,^]{1,3}$")


def find(text: str, identity: Identity) -> list[tuple[int, int, str]]:
    """(start, end, entity) of every occurrence of the instance's identifiers in *text*."""
    ns = needles(identity)
    if not ns or not text:
        return []
    skel, index = skeleton(text)
    hits: list[tuple[int, int, str]] = []
    for n in ns:
        at = skel.find(n.skel)
        while at >= 0:
            s, e = index[at], index[at + len(n.skel) - 1] + 1
            if _ok(text, s, e, n):
                hits.append((s, e, n.entity))
            at = skel.find(n.skel, at + 1)
    # A name part next to a lone initial of another part (DOE, J / J. DOE) takes the initial.
    initials = {p[0].upper() for p in identity.name_parts if p and p[0].isalpha()}
    extended = []
    for s, e, ent in hits:
        if ent == "PERSON":
            m = _INITIAL_AFTER.match(text, e)
            if m and m.group(1).upper() in initials:
                e = m.end()
            m = _INITIAL_BEFORE.search(text[:s])
            if m and m.group(1).upper() in initials:
                s = m.start()
        extended.append((s, e, ent))
    return extended
