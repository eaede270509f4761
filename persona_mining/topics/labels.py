"""Readable topic labels and keyphrases, built from spaCy's noun phrases and action phrases.

A label is one of the topic's own noun phrases ("payment error", "reset link") or action
phrases (a verb and its object: "cancel order"): frequent in the topic, much rarer elsewhere,
and, when the embedding model is at hand, the closest in meaning to the topic's centroid, with
a preference for the phrases whose words most of its tickets use. Placeholders of redacted PII
never qualify, so no label can carry personal data; c-TF-IDF keywords are the fallback when no
phrase qualifies.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from persona_mining.text.pii import PLACEHOLDER_RE

UNCLUSTERED = -1
UNCLUSTERED_LABEL = "Unclustered"
MAX_LABEL_CHARS = 40
KEYPHRASES = 5
_WORDY = re.compile(r"[a-z]")
#: What never belongs in a label, a keyword or a keyphrase a person reads: handles and
#: hashtags (`@morrisons`), template tokens of an export (`{product_purchased}`), ids and long
#: numbers (`117249`), URLs, markup, and placeholders of redacted PII (`[EMAIL]`).
_UNPRESENTABLE = re.compile(r"[@#{}<>_\\|=~]|https?:|www\.|\d{4,}|\[[A-Z]+\]")
#: Minimum ratio of a phrase's share in the topic to its share in all tickets.
MIN_DISTINCTIVENESS = 1.5
#: Weight, in a label's choice, of the share of the topic's tickets that hold all its head
#: words (`head_words`): a label says what most of its tickets are about.
SUPPORT_WEIGHT = 0.25
_WORD = re.compile(r"[a-z0-9]+")
_LETTER = re.compile(r"[a-z]")


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
    words: Sequence[frozenset[str]] | None = None,
) -> dict[int, TopicText]:
    """Label and keyphrases for every topic id in `centroids`.

    Args:
        assigned: topic id per ticket.
        phrases: the noun phrases and action phrases of each ticket (lower case, PII redacted).
        keywords: c-TF-IDF keywords per topic, the fallback.
        centroids: unit-length centroid per topic.
        embed: turns phrases into unit vectors (the embedding model); None ranks by counts.
        words: the `head_words` of each ticket (its text and lemmas): with `embed`, a phrase
            whose head words more of the topic's tickets hold is preferred as its label.
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
    support = _support(candidates, assigned, words) if words is not None else {}
    described: dict[int, TopicText] = {}
    used: set[str] = set()
    for topic in topics:
        if topic == UNCLUSTERED:
            described[topic] = TopicText(UNCLUSTERED_LABEL, ())
            continue
        ranked = candidates[topic]
        keyphrases = tuple(p for _, p, _ in ranked[:KEYPHRASES])
        label = _choose(ranked, similarity.get(topic, {}), used, support.get(topic, {}))
        if not label:
            fallback = keywords.get(topic, [])
            bigrams = [k for k in fallback[:5] if " " in k]
            label = bigrams[0] if bigrams else " / ".join(fallback[:2]) or f"topic {topic}"
        if label in used:
            extra = next((k for k in keywords.get(topic, []) if k not in label), str(topic))
            label = f"{label} / {extra}"
        used.add(label)
        described[topic] = TopicText(
            label[:1].upper() + label[1:], keyphrases or tuple(keywords.get(topic, [])[:KEYPHRASES])
        )
    return described


def head_words(text: str) -> frozenset[str]:
    """The content words of a label or a ticket, reduced so that the two can be compared.

    Placeholders of redacted PII (`[NAME]`, `[EMAIL]`) are dropped, the rest lower-cased and
    split on anything but letters and digits; English stop words, numbers and one-letter
    tokens are dropped, and a trailing "s" is stripped from words longer than three letters
    (not from "-ss", "-us", "-is": "address", "status", "analysis"), a crude plural rule
    applied to both sides alike ("refunds" = "refund").
    """
    stop_words = _stop_words()
    words = set()
    for word in _WORD.findall(PLACEHOLDER_RE.sub(" ", text).lower()):
        if len(word) < 2 or word in stop_words or not _LETTER.search(word):
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        words.add(word)
    return frozenset(words)


@functools.cache
def _stop_words() -> frozenset[str]:
    """scikit-learn's English stop words (imported on first use: the trends and the alerts
    import this module, and need no scikit-learn)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def presentable(term: str) -> bool:
    """Whether a word or phrase may be shown as (part of) a topic's description."""
    return (
        bool(term.strip())
        and _WORDY.search(term) is not None
        and _UNPRESENTABLE.search(term) is None
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


def _support(
    candidates: dict[int, list[tuple[float, str, int]]],
    assigned: np.ndarray,
    words: Sequence[frozenset[str]],
) -> dict[int, dict[str, float]]:
    """Per topic, the share of its tickets that hold every head word of each candidate."""
    support: dict[int, dict[str, float]] = {}
    for topic, ranked in candidates.items():
        held = [words[int(i)] for i in np.flatnonzero(assigned == topic)]
        if not held:
            continue
        support[topic] = {}
        for _, phrase, _ in ranked:
            wanted = head_words(phrase)
            found = sum(wanted <= w for w in held) if wanted else 0
            support[topic][phrase] = found / len(held)
    return support


def _choose(
    ranked: list[tuple[float, str, int]],
    similarity: dict[str, float],
    used: set[str],
    support: dict[str, float] | None = None,
) -> str:
    """The best free phrase: closest to the centroid, frequent phrases and phrases whose head
    words most of the topic's tickets hold favoured."""
    if not ranked:
        return ""
    top_count = max(count for _, _, count in ranked)
    scored = []
    for rank_score, phrase, count in ranked:
        if phrase in used:
            continue
        frequency = math.log1p(count) / math.log1p(top_count)
        if similarity:
            score = (
                similarity[phrase]
                + 0.25 * frequency
                + SUPPORT_WEIGHT * (support or {}).get(phrase, 0.0)
                + 0.05 * (len(phrase.split()) > 1)
            )
        else:
            score = rank_score * (1.2 if len(phrase.split()) > 1 else 1.0)
        scored.append((score, phrase))
    return max(scored)[1] if scored else ""
