"""Does OCR text contain one of the instance's own identifiers? Tolerant of OCR and formats.

OCR confuses O/0/D/Q, I/l/1/|, S/5, B/8, Z/2, G/6: both sides are folded to one class per
confusion group before comparing. Dates are tried in the formats ultrasound and X-ray
devices print (2024-03-15, 15/03/2024, 03/15/2024, 15.03.2024, 15-Mar-2024, 15 MAR 24...).
Long values also match with a small edit distance, so one misread character still counts.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Iterator

from deid_node.identity import Identity

_FOLD = str.maketrans({
    "O": "0", "Q": "0", "D": "0", "U": "0",
    "I": "1", "L": "1", "|": "1", "!": "1", "J": "1", "T": "7",
    "S": "5", "B": "8", "Z": "2", "G": "6", "A": "4",
})
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_NON_ALNUM = re.compile(r"[^0-9A-Z]+")


def fold(text: str) -> str:
    """Upper-case, drop everything but letters/digits, fold OCR-confusable characters."""
    t = text.upper()
    t = (t.replace("Ä", "A").replace("Ö", "O").replace("Ü", "U").replace("É", "E")
         .replace("È", "E").replace("Ç", "C").replace("Ñ", "N"))
    return _NON_ALNUM.sub("", t).translate(_FOLD)


def _tokens(text: str) -> list[str]:
    return [fold(t) for t in re.split(r"[\s^,;:/\\]+", text) if fold(t)]


def date_variants(value: str) -> set[str]:
    """Folded spellings of a DICOM date (YYYYMMDD) as devices print it."""
    v = re.sub(r"\D", "", value)
    if len(v) != 8:
        return {fold(value)} if len(fold(value)) >= 6 else set()
    y, m, d = v[:4], v[4:6], v[6:8]
    mi = int(m)
    out = {y + m + d, d + m + y, m + d + y, y[2:] + m + d, d + m + y[2:], m + d + y[2:]}
    if 1 <= mi <= 12:
        mon = _MONTHS[mi - 1]
        out |= {d + mon + y, d + mon + y[2:], mon + d + y, y + mon + d}
    return {fold(o) for o in out}


def _within(a: str, b: str, k: int) -> bool:
    """Edit distance of a and b ≤ k (banded)."""
    if abs(len(a) - len(b)) > k:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        lo = max(1, i - k)
        hi = min(len(b), i + k)
        if lo > 1:
            cur[lo - 1] = k + 1
        for j in range(lo, hi + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != b[j - 1]))
        for j in range(hi + 1, len(b) + 1):
            cur[j] = k + 1
        if min(cur) > k:
            return False
        prev = cur
    return prev[len(b)] <= k


def _fuzzy_in(needle: str, hay: str) -> bool:
    if not needle:
        return False
    if needle in hay:
        return True
    k = 1 if len(needle) >= 5 else 0
    if len(needle) >= 12:
        k = 2
    if k == 0:
        return False
    n = len(needle)
    for L in range(n - k, n + k + 1):
        for s in range(0, max(1, len(hay) - L + 1)):
            if _within(needle, hay[s:s + L], k):
                return True
    return False


@lru_cache(maxsize=256)
def _needles(identity: Identity) -> tuple[tuple[str, str, bool], ...]:
    """(kind, folded value, token_only) for every identifier worth looking for."""
    out: list[tuple[str, str, bool]] = []
    for kind, value in identity.items():
        if kind in ("birth_date", "event_date"):
            out.extend((kind, v, False) for v in date_variants(value))
            continue
        f = fold(value)
        if len(f) < 2:
            continue
        # short values (2-3 chars, e.g. the name "Li") only match as a whole token
        out.append((kind, f, len(f) < 4))
        if kind in ("institution", "address") and len(value.split()) > 1:
            out.extend((kind, fold(w), True) for w in value.split() if len(fold(w)) >= 5)
    for name in identity.person_names:
        parts = [fold(p) for p in re.split(r"[\^ ,]+", name) if fold(p)]
        for f in parts:
            if len(f) >= 2:
                out.append(("name", f, len(f) < 4))
        # the whole name, its parts run together in either order: "DOE^RAJ" read with the
        # caret as a letter ("DOEARAJ") is one token, where short parts only match whole
        # tokens; 5+ characters, so the edit distance of long values applies
        if len(parts) >= 2:
            for whole in ("".join(parts), "".join(reversed(parts))):
                if len(whole) >= 5:
                    out.append(("name", whole, False))
    return tuple(dict.fromkeys(out))


def identity_hits(text: str, identity: Identity | None) -> list[str]:
    """Kinds of the instance's identifiers found in ``text`` (empty when none)."""
    if identity is None or not identity or not text.strip():
        return []
    hay = fold(text)
    toks = set(_tokens(text))
    hits: list[str] = []
    for kind, needle, token_only in _needles(identity):
        if token_only:
            ok = needle in toks
        else:
            ok = _fuzzy_in(needle, hay)
        if ok and kind not in hits:
            hits.append(kind)
    return hits


def unread_ends(text: str, identity: Identity | None, min_chars: int = 5) -> tuple[int, int]:
    """Characters of the instance's institution or address left unread before and after
    the words of it that ``text`` holds: "MEDICAL CENTER", read of a detection that
    stopped short of "UNIVERSITY MEDICAL CENTER", leaves 11 before. Words read count
    when a token of the reading equals one (folded; one edit for 5+ characters) and
    together they hold ``min_chars`` or more ("ST" is no part of "St. Mary's Hospital"
    read). (0, 0) when no value is read in part."""
    if identity is None or not identity:
        return (0, 0)
    toks = _tokens(text)
    best = (0, 0, 0)  # characters read, before, after
    for kind, value in identity.items():
        if kind not in ("institution", "address"):
            continue
        words = value.split()
        read = [i for i, w in enumerate(words) if (f := fold(w)) and any(
            t == f or len(f) >= 5 and _within(t, f, 1) for t in toks)]
        n_read = sum(len(fold(words[i])) for i in read)
        if len(words) < 2 or n_read < min_chars or n_read <= best[0]:
            continue
        i, j = read[0], read[-1]
        before = len(" ".join(words[:i])) + (1 if i else 0)
        after = len(" ".join(words[j + 1:])) + (1 if j + 1 < len(words) else 0)
        best = (n_read, before, after)
    return best[1], best[2]


def identity_fragment(text: str, identity: Identity | None) -> bool:
    """Could a token of ``text`` be a piece of one of the instance's identifiers (folded, it
    lies inside one, or is one edit from one of 3+ characters)? "Ra" read next to
    "Patel" may be the head of "Raj"; "AP" is no piece of "Klinikum Nord". Without an
    identity nothing is known, and every token could be one."""
    if identity is None or not identity:
        return True
    needles = [n for _, n, _ in _needles(identity)]
    for t in _tokens(text):
        if any(t in n or len(n) >= 3 and _within(t, n, 1) for n in needles):
            return True
    return False


def label_hit(text: str, labels: Iterable[str]) -> str | None:
    """A PHI label (``Operator:``, ``Ref Dr``, ``DOB``...) followed by more text, tolerant of
    OCR misreads ('Openator') and of a space read inside a label of 5+ letters ('Oper
    ator'): the value after such a label is PHI even when no model recognises it (a rare
    surname, a misread digit)."""
    toks = [fold(t) for t in re.split(r"[^0-9A-Za-zÀ-ÿ]+", text) if t]
    toks = [t for t in toks if t]
    if len(toks) < 2:
        return None
    folded = {fold(lab): lab for lab in labels}
    for i in range(len(toks) - 1):
        for span in (1, 2):
            tok = "".join(toks[i:i + span])
            rest = "".join(toks[i + span:])
            if len(rest) < 2 or (span == 2 and len(tok) < 5):
                continue
            for flab, lab in folded.items():
                if tok == flab or (len(flab) >= 5 and _within(tok, flab, 1)):
                    return lab
    return None


def word_hit(text: str, words: Iterable[str]) -> str | None:
    """One of ``words`` (pixels.yaml phi_words: "Hospital", "Klinikum", "医院") anywhere in
    the reading: equal after folding OCR confusions, else one edit away for words of 5+
    letters ("Hospifal"); a word of several parts ("Medical Center") as consecutive tokens;
    a Han word as written (no spaces between words)."""
    toks = [f for t in re.split(r"[^0-9A-Za-zÀ-ÿ]+", text) if (f := fold(t))]
    latin: list[tuple[str, str, int]] = []
    for word in words:
        if any("\u3400" <= ch <= "\u9fff" for ch in word):
            if word in text:
                return word
            continue
        parts = [f for p in word.split() if (f := fold(p))]
        latin.append((word, "".join(parts), len(parts)))
    for edits in (0, 1):
        for word, target, n in latin:
            if edits and len(target) < 5:
                continue
            for i in range(len(toks) - n + 1):
                if _within("".join(toks[i:i + n]), target, edits):
                    return word
    return None


_LABEL_PUNCT = " \t:#.;,=_~'\"|()[]-"


def _plain(text: str) -> str:
    """Case-folded, whitespace collapsed, label punctuation ("Pt:", "ACC#") stripped."""
    return " ".join(text.strip().strip(_LABEL_PUNCT).casefold().split())


def label_alone(text: str, labels: Iterable[str]) -> str | None:
    """The reading is a PHI label and nothing else ("Pt:", "NAME", "ACC#", "DOB", "姓名"): the
    detector cut the line short and the value is beside it. Exact after dropping case and
    punctuation, or equal after folding OCR confusions ("Pl:" for "Pt:"; a reading with no
    letter never counts: "10" is not "ID"), or one edit away for labels of 5+ letters
    ("Patlent")."""
    t = _plain(text)
    if not t or not any(ch.isalpha() for ch in t):
        return None
    ft = fold(t)
    for lab in labels:
        pl = _plain(lab)
        if not pl:
            continue
        if t == pl:
            return lab
        fl = fold(pl)
        if len(fl) < 2 or not ft:
            continue
        if ft == fl or (len(fl) >= 5 and _within(ft, fl, 1)):
            return lab
    return None


def label_at_end(text: str, labels: Iterable[str]) -> str | None:
    """The reading ends with a PHI label after other text ("FOV 350 D0B:", "Gn 62 Pt:"): the
    detector stopped at the label and its value lies beyond the box (label_alone on the
    last one to three words)."""
    toks = text.split()
    for k in (3, 2, 1):
        if len(toks) > k and (lab := label_alone(" ".join(toks[-k:]), labels)):
            return lab
    return None


_PROBE_NAME = re.compile(r"^[A-Z]{1,3}\d{1,2}-\d{1,2}[A-Z]?$", re.I)


def digit_fragment(text: str, max_alnum: int = 8) -> bool:
    """A short, mostly-digit reading of one token ("266", "4066", "-07", "1/07"): alone it
    looks harmless, beside a blanked PHI box on the same line it is a piece of the split ID
    or date. Not a setting with its term ("P 100%"), nor a probe name ("C5-1", "L12-5":
    letters, digits, a hyphen, digits; IDs and dates do not take that shape)."""
    if len(text.split()) != 1 or _PROBE_NAME.match(text.strip()):
        return False
    alnum = [ch for ch in text if ch.isalnum()]
    digits = sum(ch.isdigit() for ch in alnum)
    return 0 < len(alnum) <= max_alnum and digits >= 1 and 2 * digits >= len(alnum)


def head_fragment(text: str, max_alnum: int = 4) -> bool:
    """A short word closed by a label's or an abbreviation's mark ("Rej:", "CD:", "St.",
    "ACC#"): alone it reads as a harmless label or term; right before a blanked PHI box on
    the same line it is the head of that line, cut off by the detector ("Ref: Dr Rossi",
    "ID: 9789892", "St. Mary's Hospital")."""
    t = text.strip()
    if len(t.split()) != 1 or t[-1:] not in (":", ".", "#"):
        return False
    alnum = [ch for ch in t if ch.isalnum()]
    return 0 < len(alnum) <= max_alnum and sum(ch.isalpha() for ch in alnum) >= len(alnum) - 1


def label_piece(text: str, labels: Iterable[str], safe_words: frozenset[str] | set[str]
                ) -> str | None:
    """The reading is a one-word PHI label cut short by the detector: without its first
    character ("OB" of "DOB", "RN:" of "MRN:") or its last one or two ("DO" of "DOB", "MR"
    of "MRN"; not a device term: "PA" of "PAT" is posteroanterior). Only labels of 3+
    characters, and two characters kept at least."""
    t = _plain(text)
    if len(t) < 2 or " " in t:
        return None
    for lab in labels:
        pl = _plain(lab)
        if len(pl) < 3 or " " in pl:
            continue
        if pl[1:] == t or (len(t) < len(pl) <= len(t) + 2 and pl.startswith(t)
                           and t.upper() not in safe_words):
            return lab
    return None


_GARBLE = set("{}[]?~`\\<>@$&*!;_=§¢€£¥©®°¬¦«»¿¡")


def garbled(text: str) -> bool:
    """A reading made largely of symbols that screen text does not carry ("E {AO,{?"): the
    recogniser saw something it could not read, whatever its confidence says. Two or more
    such symbols, a quarter or more of the non-space characters."""
    chars = [ch for ch in text if not ch.isspace()]
    bad = sum(ch in _GARBLE for ch in chars)
    return bad >= 2 and 4 * bad >= len(chars)


_NUMBER = re.compile(r"^[-+x×]?\d{1,4}([.,]\d{1,2})?%?$", re.I)
_PROBE = re.compile(r"^[A-Z]{1,3}\d{1,2}(-\d{1,2})?[A-Z]?$", re.I)   # C5-1, L12-5, P4-2
# a date (also one cut short after its second separator: "01/16/2" of "01/16/2007", the
# same separator twice) or a clock time
_DATE_OR_TIME = re.compile(r"\d{1,4}\s*([./-])\s*\d{1,2}\s*\1"
                           r"|\d{1,4}\s*[./-]\s*\d{1,2}\s*[./-]\s*\d{2,4}"
                           r"|\d{1,2}\s*:\s*\d{2}")
_MONTH = re.compile(r"(?i)\b(" + "|".join(_MONTHS) + r")[A-Z]*\b")


def short_number(text: str, start: int = 0, end: int | None = None) -> bool:
    """``text[start:end]`` is a number of at most 4 digits ("9123", "5.0", "75%"): on a
    screen a setting, a counter or a year, never an identifier by itself (digits next to a
    blanked ID are joined to it by the redactor). Not when the token around it is a date
    or a clock time: "45" of "5:45" is part of one."""
    end = len(text) if end is None else end
    if not _NUMBER.match(text[start:end].strip()):
        return False
    left = text.rfind(" ", 0, start) + 1
    right = text.find(" ", end)
    return not _DATE_OR_TIME.search(text[left:len(text) if right < 0 else right])


def safe_reading(text: str, safe_words: frozenset[str] | set[str], max_digits: int = 6,
                 fuzzy_min_letters: int | None = None, unsure: bool = False) -> bool:
    """Every token of the reading is a device/setting term from ``safe_words`` (exact,
    case-insensitive, or equal after folding OCR confusions for terms of 3+ letters) or a
    short number (≤ 4 digits, e.g. "0.3", "75%", "x1.2", "-40", "34/120"), numbers next to
    each other hold no more than ``max_digits`` digits together (an ID split by misread
    spaces stays out; "TR 500 TE 15 FR 25" has a term between its numbers) and nothing is
    shaped like a date, a time or a month name. Such a reading carries no identifier even
    when the recogniser is unsure of a letter.

    ``fuzzy_min_letters`` given (lenient; only for a reading the PHI analyzer found nothing
    in, see redactor): a token may also be a number glued to its unit ("60dB", "Gn62",
    "TE15") or a term of that many letters one edit away ("Persist" read "Pegsist"), see
    :func:`lenient_token`.

    ``unsure`` (a reading under the OCR floor): a probe name must be written as one, with
    its hyphen ("C5-1"): letters glued to digits are what a misread ID or name looks like
    ("BLL06E" of "3390118" read upside down)."""
    if not safe_words or not text.strip():
        return False
    if _DATE_OR_TIME.search(text) or _MONTH.search(text):
        return False
    toks = [t for t in re.split(r"[\s/:;,]+", text) if t]
    if not toks:
        return False
    run = 0  # digits of the numbers since the last token without one
    for tok in toks:
        digits = sum(ch.isdigit() for ch in tok)
        run = run + digits if digits else 0
        if run > max_digits:
            return False
        t = tok.strip(".()[]'\"")
        if not t or _safe_token(t, safe_words, unsure):
            continue
        if fuzzy_min_letters is not None and lenient_token(t, safe_words, fuzzy_min_letters):
            continue
        return False
    return True


def _safe_token(t: str, safe_words: frozenset[str] | set[str], unsure: bool = False) -> bool:
    """One token: a safe word (exact or OCR-folded for 2+ characters), a short number or a
    probe name (``unsure``: one with its hyphen)."""
    if (t.upper() in safe_words or _NUMBER.match(t)
            or (_PROBE_NAME if unsure else _PROBE).match(t)):
        return True
    f = fold(t)
    return len(t) >= 2 and not f.isdigit() and f in _folded(frozenset(safe_words))


_NUMBER_HEAD = re.compile(r"^[-+x×]?\d{0,4}([.,]\d{0,2})?%?$", re.I)
# characters no setting line is written with: a constrained search would waste its beams
# on them (safe_reading strips some of them from its tokens)
_NOT_ON_SETTINGS = re.compile(r"[^A-Za-z0-9 .,%/:;+×()-]")
_PROBE_HEAD = re.compile(r"^[A-Z]{1,3}\d{0,2}(-\d{0,2})?[A-Z]?$", re.I)


def setting_head(text: str, safe_words: frozenset[str] | set[str]) -> bool:
    """Can a reading that begins with ``text`` still turn out all device terms
    (:func:`safe_reading`, strict)? Every finished token is a safe token and the last one
    begins a safe word, a short number or a probe name. What a constrained reading of an
    unsure crop may grow into (ocr.Recogniser.alternatives ``allowed``)."""
    if _NOT_ON_SETTINGS.search(text):
        return False
    *done, last = re.split(r"[\s/:;,]+", text)
    for tok in done:
        t = tok.strip(".()[]'\"")
        if t and not _safe_token(t, safe_words):
            return False
    t = last.strip("()[]'\"")
    if not t or _NUMBER_HEAD.match(t) or _PROBE_HEAD.match(t):
        return True
    heads, folded_heads = _heads(frozenset(safe_words))
    t = t.rstrip(".")
    return t.upper() in heads or fold(t) in folded_heads


@lru_cache(maxsize=8)
def _heads(words: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Every beginning of every safe word, as listed (upper case) and folded."""
    return (frozenset(w[:k] for w in words for k in range(1, len(w) + 1)),
            frozenset(f[:k] for f in _folded(words) for k in range(1, len(f) + 1)))


_GLUED = re.compile(r"[A-Za-z%]+|[-+x×]?\d+(?:[.,]\d+)?%?")


def lenient_token(t: str, safe_words: frozenset[str] | set[str], fuzzy_min_letters: int) -> bool:
    """Shapes of setting tokens that the strict rule refuses: a number glued to a term
    ("60dB", "16cm", "60Gn62", "FR25Hz": at most two short numbers and two terms of two or
    more letters, each a safe term: "B2C4" is no setting) or a term of
    ``fuzzy_min_letters``+ letters (pixels.fuzzy_min_letters) one edit from a safe term at least as long (short words
    are left alone: one edit turns "Stone" into "Store"). Nothing here vouches for a
    reading by itself: the redactor asks it only of readings the PHI analyzer found
    nothing in."""
    pieces = _GLUED.findall(t)
    if "".join(pieces) == t and len(pieces) >= 2:
        words = [p for p in pieces if p[-1].isalpha()]
        if len(words) <= 2 and len(pieces) - len(words) <= 2 and all(
                len(w) >= 2 for w in words) and all(
                _safe_token(p, safe_words) for p in pieces):
            return True
    letters = t.strip(".-+%")
    if len(letters) < fuzzy_min_letters or not letters.isalpha():
        return False
    up = letters.upper()
    return any(len(w) >= fuzzy_min_letters and w.isalpha() and _within(up, w, 1)
               for w in safe_words)


def has_safe_word(text: str, safe_words: frozenset[str] | set[str], min_letters: int,
                  exact: bool = False) -> bool:
    """At least one token is a safe word of *min_letters* or more letters (not just
    numbers or a letter); ``exact``: spelled as listed (case aside), not only equal after
    folding OCR confusions ("euge" folds like "Edge")."""
    for _, t in _setting_tokens(text):
        if sum(ch.isalpha() for ch in t) >= min_letters and (
                t.upper() in safe_words
                or not exact and fold(t) in _folded(frozenset(safe_words))):
            return True
    return False


def safe_word_spans(text: str, safe_words: frozenset[str] | set[str], min_letters: int
                    ) -> list[tuple[int, int]]:
    """Where in ``text`` the safe words of *min_letters*+ letters spelled as listed (case
    aside) are, as (start, end) character offsets: the tokens ``has_safe_word(...,
    exact=True)`` finds."""
    return [(at, at + len(t)) for at, t in _setting_tokens(text)
            if sum(ch.isalpha() for ch in t) >= min_letters and t.upper() in safe_words]


def _setting_tokens(text: str) -> Iterator[tuple[int, str]]:
    """The tokens of a reading as the safe-word checks see them (split at spaces, "/", ":",
    ";" and ",", brackets, quotes and dots stripped), each with its offset in ``text``."""
    for m in re.finditer(r"[^\s/:;,]+", text):
        tok = m.group()
        t = tok.strip(".()[]'\"")
        if t:
            yield m.start() + len(tok) - len(tok.lstrip(".()[]'\"")), t


_WORD = re.compile(r"[A-Za-zÀ-ÿ]+")


def unknown_word(text: str, safe_words: frozenset[str] | set[str], min_letters: int
                 ) -> str | None:
    """The first word of ``min_letters``+ letters that is no device term ("Patel" of "Dr.
    Patel" read without its title, "Oubos"), or None. Known: a safe word, equal after
    folding OCR confusions ("AUTD"), or, for a term of 5+ letters, one edit away ("Axtal",
    "LIER", "epth") and, for a word of 8+ letters, two ("Obstetnc"). Four-letter terms
    need the exact spelling: one letter turns "Neck" into "Nick". Two terms read as one
    word are known when both have 2+ letters and one 3+ ("PWMap", "cmZoom"; not "AUTOB":
    "Wang" is "W" and "Ang", "Mira" is "MI" and "RA"), and so is one term read as two
    words ("Thyr oid"). Words are the letter runs of the reading, so "Gn62" is "Gn"."""
    terms = _terms(frozenset(safe_words))

    def known(w: str) -> bool:
        f, k, u = fold(w), 2 if len(w) >= 8 else 1, w.upper()
        return u in safe_words or any(
            f == t or len(t) >= 5 and _within(f, t, k) for t in terms) or any(
            u[:i] in safe_words and u[i:] in safe_words and max(i, len(u) - i) >= 3
            for i in range(2, len(u) - 1))

    words = _WORD.findall(text)
    for i, w in enumerate(words):
        if len(w) < min_letters or known(w):
            continue
        # a term read with a space inside ("Thyr oid")
        if any(0 <= j and j + 1 < len(words) and known(words[j] + words[j + 1])
               for j in (i - 1, i)):
            continue
        return w
    return None


@lru_cache(maxsize=8)
def _terms(words: frozenset[str]) -> frozenset[str]:
    """Safe words of 4+ letters, folded (digits included: "AUTO" folds to "4070")."""
    return frozenset(fold(w) for w in words if sum(ch.isalpha() for ch in w) >= 4)


@lru_cache(maxsize=8)
def _folded(words: frozenset[str]) -> frozenset[str]:
    return frozenset(fold(w) for w in words if len(w) >= 2 and not fold(w).isdigit())


def any_hit(texts: Iterable[str], identity: Identity | None) -> bool:
    return any(identity_hits(t, identity) for t in texts)


_FIELD = re.compile(r"^\W*[A-Za-z][A-Za-z.]{1,15}\s*[:;]\s*(?P<value>\S.*)$")


def field_value(text: str, safe_words: frozenset[str] | set[str]) -> bool:
    """A "Field: Value" reading whose value is words, none a device term ("Openbr: Tanaka",
    "Operabr: Noa"): the label was misread beyond what ``phi_labels`` tolerates, but screens
    print settings as numbers or device terms ("Gain: 45", "Preset: Abdomen"), so a word
    value after a colon is taken for a name."""
    m = _FIELD.match(text.strip())
    if not m:
        return False
    value = m.group("value")
    if any(ch.isdigit() for ch in value):
        return False
    words = [w for w in re.split(r"[^A-Za-zÀ-ÿ]+", value) if w]
    if not words or sum(len(w) for w in words) < 2:
        return False
    return not all(_safe_token(w, safe_words) for w in words)
