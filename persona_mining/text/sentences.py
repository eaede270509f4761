"""Sentences and questions of cleaned ticket texts, by rules alone.

Every ticket gets its sentences and questions here (`ticket_questions`), so this is plain
Python and regular expressions: no spaCy, no tokenizer. A sentence ends after sentence-final
punctuation ("." "!" "?" and their counterparts in other scripts), with any closing quotes or
brackets, where white space and more text follow; ideographic full stops end one without the
white space. A line break ends one too where it reads as a new sentence (`sentence_pieces`).
Not an end:
- a title ("Mr.", "Dr.");
- an abbreviation ("U.S.", "a.m.", "e.g.", "approx.", "No.") or an ellipsis, unless a capital
  letter follows;
- punctuation inside a word or a number ("v2.0", "file.txt"), or followed by more punctuation
  ("information?, please").

What a person sees comes from the spaCy analysis of `persona_mining.text.nlp`, which redacts
names and splits by its own pipeline; the helpers for questions are shared with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from persona_mining.text.normalise import has_word

__all__ = [
    "DEFAULT_MAX_CHARS",
    "SentenceSplit",
    "is_question",
    "sentence_pieces",
    "sentences_of",
    "shorten_question",
    "split_for_analysis",
    "split_sentences",
]

#: Characters of each text split into sentences (and given to spaCy) by default.
DEFAULT_MAX_CHARS = 5_000

# Sentence-final punctuation: Latin, Armenian, Arabic, Syriac, Devanagari, Myanmar, Ethiopic,
# the interrobangs, the small and full-width forms and the ideographic full stops.
_TERMINALS = "!.?…‼‽⁇⁈⁉։؟۔܀܁܂।॥။።፧፨﹒﹖﹗！．？｡。"
_IDEOGRAPHIC = "｡。！？"
_CLOSING = "\"'”’»)]}"
# A whole run of sentence-final punctuation and its closing quotes or brackets, then
# (captured, not consumed) the first character of what follows the white space; after an
# ideographic full stop, of what follows at once. The run starts where the punctuation does
# and its quantifiers are possessive, so a long run that ends no sentence ("!!!...!x") is
# scanned once, not once per character.
_END_RE = re.compile(
    rf"(?<![{re.escape(_TERMINALS)}])[{re.escape(_TERMINALS)}]++"
    rf"(?:[{re.escape(_CLOSING)}]*+(?=\s+(\S))|(?<=[{re.escape(_IDEOGRAPHIC)}])"
    rf"[{re.escape(_CLOSING)}]*+(?=(\S)))"
)
# The word before a full stop: a run of letters, or letters with full stops between them.
_LAST_WORD_RE = re.compile(r"(?:[^\W\d_]+\.)*[^\W\d_]+$")
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof"})
_ABBREVIATIONS = frozenset({"approx", "ca", "etc", "incl", "no", "nr", "ref", "tel", "vs"})
_ELLIPSIS = frozenset(".…")

# Line breaks inside a sentence that still end a sentence: a blank line, a break after
# sentence punctuation, or a break before a capitalised line, a bullet or a number.
# Hard-wrapped lines (continuing in lower case) stay joined.
_SENTENCE_BREAK_RE = re.compile(
    r"\n[^\S\n]*\n\s*|(?<=[.!?:;])[^\S\n]*\n\s*|\n(?=[^\S\n]*[A-Z0-9\-*•\[(\"'])"
)
_LEADING_WORDS_RE = re.compile(r"[^\w\[]*([A-Za-z']+)(?:[^\w\[]+([A-Za-z'\[\]]+))?")
_MAX_QUESTION_CHARS = 300

_WH_WORDS = frozenset({"how", "what", "why", "which", "who", "whom", "whose"})
_WHEN_WHERE = frozenset({"when", "where"})
_AUXILIARIES = frozenset(
    """can could is are am was were do does did will would should shall may might must
    has have had""".split()  # noqa: SIM905
)
_SUBJECT_WORDS = frozenset(
    """i you we they he she it there this that these those the a an my our your their his
    her its someone anyone anybody somebody everyone anything something [name]""".split()  # noqa: SIM905
)
_SUBJECT_PRONOUNS = frozenset({"i", "we", "you", "they", "he", "she"})
#: Auxiliaries that open a condition in a letter's closing lines ("Should you need further
#: information, ...", "Had you ..."), which asks nothing unless it ends with "?".
_CONDITIONAL_INVERSIONS = frozenset({"should", "had", "were"})


@dataclass(frozen=True)
class SentenceSplit:
    """The sentences of one cleaned text, found by rules alone (no names redacted).

    Attributes:
        sentences: Sentences, whitespace collapsed.
        questions: The sentences that read as questions, at most ~300 characters.
    """

    sentences: tuple[str, ...]
    questions: tuple[str, ...]


def split_sentences(
    texts: Sequence[str],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    report_every: int = 256,
    on_split: Callable[[int], None] | None = None,
) -> list[SentenceSplit]:
    """Sentences and questions of cleaned texts by rules alone, for every ticket.

    Names are not redacted here; what a person sees comes from
    :func:`persona_mining.text.nlp.analyze_texts` (see `persona_mining.text.analysis`).

    Args:
        texts: Texts already cleaned by :func:`persona_mining.text.cleaning.clean_text`.
        max_chars: Characters of each text split (0: all of it).
        report_every: Distinct texts split between two calls of `on_split`.
        on_split: Called with the number of input texts split so far.

    Returns:
        One :class:`SentenceSplit` per input text, in order.
    """
    if not texts:
        return []
    heads = [split_for_analysis(text, max_chars)[0] if max_chars > 0 else text for text in texts]
    unique = list(dict.fromkeys(heads))
    found: dict[str, SentenceSplit] = {}
    step = max(1, report_every)
    for n, head in enumerate(unique, start=1):
        sentences = sentences_of(head)
        found[head] = SentenceSplit(
            sentences, tuple(shorten_question(s) for s in sentences if is_question(s))
        )
        if on_split is not None and (n % step == 0 or n == len(unique)):
            on_split(round(n * len(texts) / len(unique)))
    return [found[head] for head in heads]


def sentences_of(text: str) -> tuple[str, ...]:
    """The sentences of one cleaned text, whitespace collapsed (see the module's rules)."""
    sentences: list[str] = []
    start = 0
    for match in _END_RE.finditer(text):
        following = match.group(1) or match.group(2)
        if _ends_sentence(text, match.start(), match.group(0), following):
            sentences += sentence_pieces(text[start : match.end()])
            start = match.end()
    sentences += sentence_pieces(text[start:])
    return tuple(sentences)


def _ends_sentence(text: str, at: int, punctuation: str, following: str) -> bool:
    """Whether `punctuation`, found at `at` in `text` and followed by `following` (the first
    character of what comes next), ends a sentence."""
    marks = punctuation.rstrip(_CLOSING)
    if set(marks) <= _ELLIPSIS and marks != ".":  # an ellipsis: "See if... is free"
        return following.isupper()
    if marks != ".":
        return True
    word = _LAST_WORD_RE.search(text, max(0, at - 40), at)
    if word is None:
        return True
    name = word.group(0).lower()
    if name in _TITLES:
        return False
    if name in _ABBREVIATIONS or "." in name:  # "approx. 3", "U.S. locations", "e.g. this"
        return following.isupper()
    return True


def sentence_pieces(span: str) -> Iterator[str]:
    """The sentences of one span of text that ends no sentence inside (by punctuation), split
    further at sentence-ending line breaks, whitespace collapsed; pieces without a word left
    out. Shared with the spaCy analysis, whose spans are its pipeline's sentences."""
    for piece in _SENTENCE_BREAK_RE.split(span):
        sentence = " ".join(piece.split())
        if has_word(sentence):
            yield sentence


def split_for_analysis(text: str, limit: int) -> tuple[str, str]:
    """Split ``text`` into the part analysed (at most ``limit`` chars) and the rest."""
    if len(text) <= limit:
        return text, ""
    cut = max(text.rfind(" ", max(0, limit - 200), limit), text.rfind("\n", 0, limit))
    if cut < limit - 200 or cut <= 0:
        cut = limit
    return text[:cut], text[cut:]


def is_question(sentence: str) -> bool:
    """Whether a sentence reads as a question."""
    if sentence.endswith("?"):
        return True
    match = _LEADING_WORDS_RE.match(sentence)
    if match is None:
        return False
    first = match.group(1).lower()
    second = (match.group(2) or "").lower()
    if first in _WH_WORDS:
        return second not in _SUBJECT_PRONOUNS  # "What I need is ..." is a statement
    if first in _WHEN_WHERE:
        return second in _AUXILIARIES  # "When I click save, ..." is a statement
    if first in _CONDITIONAL_INVERSIONS and second in ("you", "there"):
        return False  # "Should you need anything, call me." opens a condition
    return first in _AUXILIARIES and second in _SUBJECT_WORDS


def shorten_question(sentence: str) -> str:
    """Trim a sentence to at most ~300 characters at a word boundary."""
    if len(sentence) <= _MAX_QUESTION_CHARS:
        return sentence
    cut = sentence.rfind(" ", 0, _MAX_QUESTION_CHARS - 1)
    if cut < _MAX_QUESTION_CHARS // 2:
        cut = _MAX_QUESTION_CHARS - 1
    return sentence[:cut].rstrip() + "…"
