"""Readable topic labels and keyphrases, built from spaCy's noun phrases.

A label is one of the topic's own noun phrases ("payment error", "reset link"): frequent in
the topic, much rarer elsewhere, and, when the embedding model is at hand, the closest in
meaning to the topic's centroid. Where no parser analysed the tickets (the fast profile keeps
NER alone), runs of words within a clause stand in for noun phrases (`word_phrases`).
Placeholders of redacted PII never qualify, so no label can carry personal data; c-TF-IDF
keywords are the fallback when no phrase qualifies.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from persona_mining.text.pii import PLACEHOLDER_RE, TAGGED_RE

UNCLUSTERED = -1
UNCLUSTERED_LABEL = "Unclustered"
MAX_LABEL_CHARS = 40
KEYPHRASES = 5
_WORDY = re.compile(r"[a-z]")
#: What never belongs in a label, a keyword or a keyphrase a person reads: handles and
#: hashtags (`@morrisons`), template tokens of an export (`{product_purchased}`), ids and long
#: numbers (`117249`), URLs, markup, placeholders of redacted PII (`[EMAIL]`) and what is
#: left of one in a bracketed reference (`[Ticket [ID]]` made "ticket ] request").
_UNPRESENTABLE = re.compile(r"[@#{}<>_\\|=~\[\]]|https?:|www\.|\d{4,}")
#: Swearing, which angry tickets are full of and no label or keyword may show: a topic of
#: refund requests was labelled "Fucking reimbursement" (6 of its 172 tickets said it).
_PROFANE = re.compile(
    r"\b(?:fuck\w*|f\*+k\w*|motherf\w*|shit\w*|bullshit\w*|crap(?:py|s)?|god ?damn\w*|"
    r"damn(?:ed|it)?|ass(?:hole)?s?|bitch\w*|bastard\w*|dickheads?|piss(?:ed)?|wtf|stfu|cunts?)\b",
    re.IGNORECASE,
)
#: Minimum ratio of a phrase's share in the topic to its share in all tickets.
MIN_DISTINCTIVENESS = 1.5
#: Longest run of words a text's phrases have when no parser found its noun phrases.
WORD_PHRASE_WORDS = 3
_CLAUSE_BREAK = re.compile(r"[.!?;:,()\[\]\n\"]+")
_PLAIN_WORD = re.compile(r"[a-z][a-z'-]*")


@dataclass(frozen=True)
class TopicText:
    """The words that describe a topic."""

    label: str
    keyphrases: tuple[str, ...]


def describe_topics(
    assigned: np.ndarray,
    phrases: Sequence[Sequence[str]],
    keywords: dict[int, list[str]],
    centroids: dict[int, np.ndarray],
    embed: Callable[[list[str]], np.ndarray] | None = None,
    fixed: Mapping[int, str] | None = None,
) -> dict[int, TopicText]:
    """Label and keyphrases for every topic id in `centroids`. No two labels share a
    `label_key`, but `fixed` ones may, as they were given.

    Args:
        assigned: topic id per ticket.
        phrases: the noun phrases of each ticket (lower case, PII redacted).
        keywords: c-TF-IDF keywords per topic, the fallback.
        centroids: unit-length centroid per topic.
        embed: turns phrases into unit vectors (the embedding model); None ranks by counts.
        fixed: labels topics already have (a refit's topics that keep their key): kept as they
            are, and no other topic's label is taken for one of them.
    """
    topics = sorted(centroids)
    keywords = {t: [k for k in words if presentable(k)] for t, words in keywords.items()}
    overall: Counter[str] = Counter()
    per_topic: dict[int, Counter[str]] = {t: Counter() for t in topics}
    for topic, doc_phrases in zip(assigned.tolist(), phrases, strict=True):
        unique = {p for p in doc_phrases if _usable(p)}
        overall.update(unique)
        if topic in per_topic:
            per_topic[topic].update(unique)
    total = max(1, len(assigned))
    candidates: dict[int, list[tuple[float, str, int]]] = {}
    for topic in topics:
        size = max(1, int((assigned == topic).sum()))
        ranked = []
        for phrase, count in per_topic[topic].items():
            distinct = (count / size) / (overall[phrase] / total)
            if count >= max(3, 0.03 * size) and distinct >= MIN_DISTINCTIVENESS:
                ranked.append((count * math.log(distinct), phrase, count))
        candidates[topic] = sorted(ranked, reverse=True)[:15]
    similarity = _similarities(candidates, centroids, embed)
    described: dict[int, TopicText] = {}
    fixed = {t: label for t, label in (fixed or {}).items() if t in centroids}
    used = {label_key(label) for label in fixed.values()}
    for topic in topics:
        if topic == UNCLUSTERED:
            described[topic] = TopicText(UNCLUSTERED_LABEL, ())
            continue
        ranked = candidates[topic]
        keyphrases = tuple(p for _, p, _ in ranked[:KEYPHRASES])
        if topic in fixed:
            described[topic] = TopicText(
                fixed[topic], keyphrases or tuple(keywords.get(topic, [])[:KEYPHRASES])
            )
            continue
        label = _choose(ranked, similarity.get(topic, {}), used)
        if not label:
            words = keywords.get(topic, [])
            bigrams = [k for k in words[:5] if " " in k]
            label = bigrams[0] if bigrams else " / ".join(words[:2]) or f"topic {topic}"
        if label_key(label) in used:
            extra = next((k for k in keywords.get(topic, []) if k not in label), str(topic))
            label = f"{label} / {extra}"
        used.add(label_key(label))
        described[topic] = TopicText(
            label[:1].upper() + label[1:], keyphrases or tuple(keywords.get(topic, [])[:KEYPHRASES])
        )
    return described


def keyword_text(text: str) -> str:
    """What of a ticket's analysed text its topic's c-TF-IDF keywords are counted on: the
    text without placeholders of redacted PII (`[NAME]`), handles and hashtags, none of which
    a keyword may show (`presentable`). BERTopic drops every character but letters, digits and
    spaces before it counts words, so `@AmericanAir` would otherwise count as `americanair`."""
    return TAGGED_RE.sub(" ", PLACEHOLDER_RE.sub(" ", text))


def word_phrases(text: str, longest: int = WORD_PHRASE_WORDS) -> list[str]:
    """The candidate phrases of a text analysed without a parser (the fast profile's pipeline
    finds no noun phrases): every run of one to `longest` words that follow each
    other within a clause once stop words and contractions are left out ("I want to cancel my
    order" gives "cancel order", among others), lower-cased. Placeholders of redacted PII end a
    clause; a token of anything but letters (a handle, a number, an export's template token
    such as `{product_purchased}`) is never part of a phrase and ends a run. A word repeated
    next to itself ("send, send a new one") is one word: "send send new" names nothing."""
    stop_words = _stop_words()
    found: dict[str, None] = {}
    for clause in _CLAUSE_BREAK.split(PLACEHOLDER_RE.sub(".", text).lower()):
        runs: list[list[str]] = [[]]
        for token in clause.split():
            token = token.strip("'")
            if not _PLAIN_WORD.fullmatch(token):
                runs.append([])  # a handle, a number, a template token: shown never, joined never
            elif (
                len(token) > 1
                and token not in stop_words
                and "'" not in token
                and (not runs[-1] or runs[-1][-1] != token)
            ):
                runs[-1].append(token)
        for words in runs:
            for size in range(1, longest + 1):
                for start in range(len(words) - size + 1):
                    found.setdefault(" ".join(words[start : start + size]))
    return list(found)


def label_phrases(noun_phrases: Sequence[str], text: str, spacy_model: str) -> list[str]:
    """A ticket's candidate phrases for labels and keyphrases: the noun phrases its analysis
    (by `spacy_model`) found, or, where a pipeline without a parser analysed it (the blank one,
    or NER alone in the fast profile), its `word_phrases`."""
    # Imported here: spaCy stays out of the start-up of the trends and the alerts.
    from persona_mining.text.nlp import finds_noun_phrases

    return list(noun_phrases) if finds_noun_phrases(spacy_model) else word_phrases(text)


#: Words that say nothing of an issue, beside scikit-learn's stop words (spaCy has them, and
#: scikit-learn's list lacks them): they labelled two topics of tweets "Just" and "Really".
_MORE_STOP_WORDS = frozenset({"just", "really"})


@functools.cache
def _stop_words() -> frozenset[str]:
    """scikit-learn's English stop words and `_MORE_STOP_WORDS` (imported on first use: the
    trends and the alerts import this module, and need no scikit-learn)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _MORE_STOP_WORDS


def presentable(term: str) -> bool:
    """Whether a word or phrase may be shown as (part of) a topic's description."""
    return (
        bool(term.strip())
        and _WORDY.search(term) is not None
        and _UNPRESENTABLE.search(term) is None
        and _PROFANE.search(term) is None
    )


def _usable(phrase: str) -> bool:
    return presentable(phrase) and len(phrase) <= MAX_LABEL_CHARS and len(phrase.split()) <= 5


def _similarities(
    candidates: dict[int, list[tuple[float, str, int]]],
    centroids: dict[int, np.ndarray],
    embed: Callable[[list[str]], np.ndarray] | None,
) -> dict[int, dict[str, float]]:
    if embed is None:
        return {}
    phrases = sorted({p for ranked in candidates.values() for _, p, _ in ranked})
    if not phrases:
        return {}
    vectors = dict(zip(phrases, embed(phrases), strict=True))
    return {
        topic: {p: float(vectors[p] @ centroids[topic]) for _, p, _ in ranked}
        for topic, ranked in candidates.items()
    }


def label_key(label: str) -> str:
    """What two labels must not share: their words in lower case, without a plural's "s"
    ("Flight" and "Flights" would name two topics alike)."""
    return " ".join(word.removesuffix("s") for word in label.lower().split())


def _choose(
    ranked: list[tuple[float, str, int]], similarity: dict[str, float], used: set[str]
) -> str:
    """The best phrase whose `label_key` no other topic's label has: closest to the
    centroid, frequent phrases favoured."""
    if not ranked:
        return ""
    top_count = max(count for _, _, count in ranked)
    scored = []
    for rank_score, phrase, count in ranked:
        if label_key(phrase) in used:
            continue
        frequency = math.log1p(count) / math.log1p(top_count)
        if similarity:
            score = similarity[phrase] + 0.25 * frequency + 0.05 * (len(phrase.split()) > 1)
        else:
            score = rank_score * (1.2 if len(phrase.split()) > 1 else 1.0)
        scored.append((score, phrase))
    return max(scored)[1] if scored else ""
