"""One tokenizer shared by training and inference.

Han characters become one token each (names are two or three characters with no
separators), runs of other letters/digits stay whole (``16cm``, ``MRN1234567`` as OCR
merges them), and every other non-space character is its own token. Offsets are kept
against the original string, so spans map back exactly whatever spaCy does with spaces.
"""
from __future__ import annotations

import re

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RE = re.compile(f"[{_HAN}]")
_TOKEN = re.compile(f"[{_HAN}]|[^\\W_{_HAN}]+|\\S")


def tokenize(text: str) -> list[tuple[int, int]]:
    """(start, end) of every token of *text*."""
    return [m.span() for m in _TOKEN.finditer(text)]


def words_and_spaces(text: str, offsets: list[tuple[int, int]]) -> tuple[list[str], list[bool]]:
    """Words and trailing-space flags for building a spaCy ``Doc`` on these tokens."""
    words = [text[s:e] for s, e in offsets]
    spaces = [i + 1 < len(offsets) and offsets[i + 1][0] > e for i, (_, e) in enumerate(offsets)]
    return words, spaces
