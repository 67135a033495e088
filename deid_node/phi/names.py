"""Name-lexicon recognisers for names the tagger cannot see as one word.

OCR runs a first and last name together (``NANCYTHOMAS``, ``BARNESJ``) or splits one inside
(``SM ITH``, ``CATHE RINE``); to the tagger these are unknown words, and teaching it such
shapes made it flag unknown clinical words too (docs/phi.md, Training). A lexicon of common
given names and surnames decides instead: a glued run is a name when it splits into known
name parts, split fragments are a name when they join into one, and a model name span that
is all known names (and no clinical or ordinary word) gets a higher score.

The lexicon is data, built at load time from lists the node already ships: Faker's en_US and
zh_CN (romanised) name providers, minus every word that appears in lower case in the
clinical concept names of pydicom's code dictionaries or in Faker's English word lists (lorem
and company phrases), so ``WHITE``, ``LONG``, ``MARK`` never count as names here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Sequence

from . import patterns

GLUED_SCORE = 0.8      # a run that splits into given name + surname (or surname + initial)
SPLIT_SCORE = 0.8      # fragments that join into one known name
PAIR_SCORE = 0.7       # a known given name next to a known surname
LEXICON_BOOST = 0.3    # added to a model name span made only of known names
_MIN_JOINED = 4        # letters of a name joined from fragments
_MIN_GLUED = 5         # letters of a glued run
_MIN_LONE = 3          # letters of a known name that earns the boost alone (not HU, MA ...)
# OCR reads letters as look-alike digits; name lookups fold them back.
_FOLD = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G", "|": "I"})
_RUN = re.compile(r"[A-Za-z0-9]+")
_NO_INITIAL = frozenset("S")  # BROWNS, HILLS: plurals, not surname + initial (nor HORNE+D)
_CONTRACTION = re.compile(r"[A-Za-z]['’](?:T|LL|RE|VE)(?![A-Za-z])", re.IGNORECASE)
_MIN_INITIAL_HEAD = 5  # letters of a surname glued to an initial (not MORA+L)


@dataclass(frozen=True)
class Lexicon:
    """Upper-case name lists and the words that are never names here: ``common`` (clinical
    and English words), ``english`` (only the ordinary English word lists)."""

    given: frozenset[str]
    surnames: frozenset[str]
    zh_given: frozenset[str]
    common: frozenset[str]
    english: frozenset[str]

    def is_name(self, word: str) -> bool:
        return (word in self.given or word in self.surnames) and word not in self.common


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The name lexicon (built once per process, about 0.5 s)."""
    from faker.providers.company.en_US import Provider as Company
    from faker.providers.lorem.en_US import Provider as Words
    from faker.providers.person.en_US import Provider as En
    from faker.providers.person.zh_CN import Provider as Zh

    english = {w.upper() for w in Words.word_list}
    english |= {w.upper() for group in (*Company.catch_phrase_words, *Company.bsWords) for phrase in group
                for w in phrase.split()}
    english |= patterns.LABEL_WORDS | patterns.NAME_STOP
    zh_given = {n.upper() for n in Zh.first_romanized_names}
    return Lexicon(given=frozenset({n.upper() for n in En.first_names} | zh_given),
                   surnames=frozenset(n.upper() for n in (*En.last_names, *Zh.last_romanized_names)),
                   zh_given=frozenset(zh_given), common=frozenset(english | _clinical_words()),
                   english=frozenset(english))


def _clinical_words() -> set[str]:
    """Words written in lower case somewhere in pydicom's concept names (SNOMED CT, FMA,
    RadLex, DCM, LOINC ...): ordinary clinical words; eponyms are capitalised, so stay names."""
    import pydicom.sr._concepts_dict as concepts

    out: set[str] = set()
    for table in concepts.concepts.values():
        for entries in table.values():
            for meaning, _ in entries.values():
                out.update(w.upper() for w in re.findall(r"[a-z]+", meaning) if len(w) > 1)
    return out


def fold(word: str) -> str:
    """Upper case with OCR digit confusions folded back to letters (``C0LE`` -> ``COLE``)."""
    return word.upper().translate(_FOLD)


def _letters(word: str) -> bool:
    """Mostly letters: at most two look-alike digits, never only digits."""
    digits = sum(c.isdigit() for c in word)
    return digits <= 2 and digits * 2 < len(word) and fold(word).isalpha()


def split_glued(word: str, lex: Lexicon | None = None) -> tuple[str, ...] | None:
    """The name parts of a glued upper-case run (``NANCYTHOMAS`` -> NANCY, THOMAS;
    ``BARNESJ`` -> BARNES, J), or None when it is no such run."""
    lex = lex or lexicon()
    w = fold(word)
    if len(w) < _MIN_GLUED or not w.isalpha() or w in lex.common or lex.is_name(w):
        return None
    for k in range(2, len(w) - 1):
        a, b = w[:k], w[k:]
        if (a in lex.common and b in lex.common) or max(len(a), len(b)) < 4:
            continue
        if (a in lex.given and b in lex.surnames) or (a in lex.surnames and _given_after_surname(b, lex)):
            return a, b
    head, tail = w[:-1], w[-1]
    if len(head) >= _MIN_INITIAL_HEAD and head in lex.surnames and head not in lex.common \
            and tail not in _NO_INITIAL and not (tail == "D" and head.endswith("E")):
        return head, tail
    return None


def _given_after_surname(b: str, lex: Lexicon) -> bool:
    """LAST FIRST glued (WANGWEI): a given name of four letters at least or a romanised Chinese
    one, so suffix-like names (IAN, ANA) do not split words such as HUNTERIAN."""
    return b in lex.given and (len(b) >= 4 or b in lex.zh_given)


def _glued_ok(text: str, s: int, e: int) -> bool:
    """Upper-case runs split anywhere; mixed case only where a capital starts the surname."""
    word = text[s:e]
    return word.isupper() or bool(re.fullmatch(r"[A-Z][a-z]+[A-Z][a-z]+", word))


def find(text: str) -> Iterator[tuple[int, int, str, float, str]]:
    """Glued names (``glued_name``), names OCR split into fragments (``split_name``) and
    given name + surname pairs (``name_pair``)."""
    lex = lexicon()
    runs = [m.span() for m in _RUN.finditer(text)]
    for s, e in runs:
        if _letters(text[s:e]) and _glued_ok(text, s, e) and split_glued(text[s:e], lex):
            yield s, e, "PERSON", GLUED_SCORE, "glued_name"
    yield from _split_names(text, runs, lex)
    yield from _name_pairs(text, runs, lex)


def _name_pairs(text: str, runs: Sequence[tuple[int, int]], lex: Lexicon
                ) -> Iterator[tuple[int, int, str, float, str]]:
    """A known given name and a known surname side by side in the same case (``DALE
    FRANCIS``, OCR-damaged ``TRAVI5 CO0K``): a full name wherever it stands."""
    for (s1, e1), (s2, e2) in zip(runs, runs[1:]):
        a, b = text[s1:e1], text[s2:e2]
        if not (1 <= s2 - e1 <= 2 and text[e1:s2].strip() == "" and _same_case(a, b)):
            continue
        fa, fb = fold(a), fold(b)
        if min(len(fa), len(fb)) >= _MIN_LONE and _letters(a) and _letters(b) \
                and fa in lex.given and fb in lex.surnames and lex.is_name(fa) and lex.is_name(fb):
            yield s1, e2, "PERSON", PAIR_SCORE, "name_pair"


def _same_case(a: str, b: str) -> bool:
    return (a.isupper() and b.isupper()) or (a.istitle() and b.istitle())


def _split_names(text: str, runs: Sequence[tuple[int, int]], lex: Lexicon
                 ) -> Iterator[tuple[int, int, str, float, str]]:
    """Two or three upper-case fragments one or two spaces apart that join into a known
    name, or into a glued name, while not every fragment is a word or name of its own."""
    for i in range(len(runs)):
        for n in (2, 3):
            group = runs[i:i + n]
            if len(group) < n or not all(_fragment_gap(text, a[1], b[0]) for a, b in zip(group, group[1:])):
                break
            words = [text[s:e] for s, e in group]
            if not all(w.isupper() and _letters(w) for w in words):
                break
            folded = [fold(w) for w in words]
            if any(len(f) >= 3 and f in lex.english and f not in lex.given for f in folded) \
                    or all(f in lex.common or lex.is_name(f) for f in folded):
                continue  # AND RESELLERS, MIA ROSE: words or names of their own
            joined = "".join(folded)
            if len(joined) >= _MIN_JOINED and (lex.is_name(joined) or split_glued(joined, lex)):
                yield group[0][0], group[-1][1], "PERSON", SPLIT_SCORE, "split_name"
                break


def _fragment_gap(text: str, a: int, b: int) -> bool:
    return 1 <= b - a <= 2 and text[a:b].strip() == ""


def boost(text: str, start: int, end: int, score: float) -> float | None:
    """A higher score for a model name span whose words are all known names (initials aside),
    or None when the lexicon has nothing to add."""
    lex = lexicon()
    if _CONTRACTION.search(text, start, min(len(text), end + 3)):
        return None  # DON'T, WON'T
    words = [fold(m.group()) for m in _RUN.finditer(text, start, end)]
    names = [w for w in words if len(w) > 1]
    if not names or not all(lex.is_name(w) and len(w) >= _MIN_LONE for w in names):
        return None
    return min(0.95, score + LEXICON_BOOST)
