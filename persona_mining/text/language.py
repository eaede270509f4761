"""Language detection of ticket text, offline (lingua's models ship inside its wheel)."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from persona_mining.text.pii import PLACEHOLDER_RE, TAGGED_RE

UNDETERMINED = "und"
#: Texts with fewer letters than this are too short to tell ("ok thanks"): undetermined.
MIN_LETTERS = 20
#: From this many letters on, lingua's low-accuracy mode is as good and ten times faster.
FAST_MIN_LETTERS = 120
#: Languages told apart: the common help-desk languages. A smaller set is faster and makes
#: fewer mistakes on short texts than all of lingua's 75.
DETECTED_LANGUAGES = (
    "en", "de", "fr", "es", "pt", "it", "nl", "sv", "da", "nb", "fi", "pl", "cs", "ru", "uk",
    "tr", "ar", "he", "hi", "ja", "zh", "ko", "id", "vi", "el", "ro", "hu",
)  # fmt: skip
#: A short text detected in a language outside the preferred ones keeps the best preferred
#: language when lingua's confidence in it is at least this fraction of the top language's.
#: Short English questions are often near ties: on HWU64's 11,036 requests the accurate mode
#: gave 76 to another language, 10 with the rule; of 595 short German, French, Spanish and
#: Portuguese subjects (the multilingual set) 23 would be taken for English.
PREFERRED_CONFIDENCE_RATIO = 0.5
#: Words that mark a text as English: common English function words that are not words of
#: the other detected languages (no "is", "of", "to", "a", "was", "for": Dutch, Polish,
#: Spanish, German and Danish have them too).
ENGLISH_MARKERS = frozenset((
    "the", "you", "your", "and", "with", "this", "that", "what", "how", "please", "not", "have",
    "i'm", "can't", "don't", "it's", "my", "would", "could", "should", "there", "which", "when",
    "where", "why", "does", "doesn't",
))  # fmt: skip
#: A text with at least this many distinct markers, and no letter outside ASCII, is English
#: without asking lingua. On the labelled sets: 91% of the demo's tickets, 62% of Bitext's and
#: 33% of HWU64's requests; none of the multilingual set's 681 German, Spanish, French and
#: Portuguese tickets; lingua disagreed on 3 of 40,000 (Bitext, all English).
ENGLISH_MARKERS_NEEDED = 2
#: In a short text (fewer than `FAST_MIN_LETTERS` letters, where lingua reads only a few
#: n-grams), one of these words is enough: English function words that are no word of another
#: detected language, not even as a loanword ("my" is Polish and Czech for "we", "have"
#: Danish, "and" Danish for "duck", "the" opens English titles quoted in any language ("The
#: Witcher 3 startet nicht"); "want" is Dutch, "will" German, "show" and "hello" loanwords
#: everywhere; "can" is kept though Turkish has it, as a name and for "soul", because "can I ..."
#: opens so many English requests and Turkish text seldom goes without its letters outside
#: ASCII). lingua took "Do you want to play solitaire" for French and "What is job title
#: of Jan Medvesek?" for Hungarian, and left them out of the topics: on HWU64's requests this
#: keeps 3 more in scope, on Bitext's 8; of 8,584 German, Spanish, French and Portuguese
#: sentences of 20 to 120 letters (the multilingual set's tickets and answers) it takes none
#: for English that lingua did not already.
SHORT_TEXT_MARKERS = (ENGLISH_MARKERS - {"my", "have", "and", "the"}) | frozenset((
    "can", "cannot", "about", "need", "from", "some", "any", "know", "they", "their", "who",
    "tell", "wanna", "i've", "i'll", "i'd", "isn't", "won't", "didn't",
))  # fmt: skip
#: A text written mostly in a script other than Latin (kana, Hangul, Cyrillic, Arabic, ...)
#: is told apart by its script from this many letters on: "ありがとうございます" is Japanese
#: at 10 letters, where a Latin text that short could be any of a dozen languages.
MIN_SCRIPT_LETTERS = 4
_LETTERS = re.compile(r"[^\W\d_]")
_LATIN_LETTERS = re.compile(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]")
_MARKER_WORDS = re.compile(r"[a-z']+")


#: The detection modes whose models are being loaded or loaded in this process (`preload`).
_PRELOADING: dict[str, threading.Thread] = {}


def preload(mode: str) -> None:
    """Load lingua's models for `mode` ("accurate" or "fast"; "off" needs none) in a background
    thread, for a prepare stage that is coming, and return at once.

    The first detection of a short text otherwise loads them on the spot: about 3-5 s of the
    prepare stage on two cores, however few tickets it prepares. lingua keeps its models once
    per process, for every detector, and loads them without holding Python's GIL, so a caller
    that waits meanwhile (the CLI, while Prefect's temporary server starts) gets them for free;
    a detection that comes before they are loaded waits for them or loads what it needs.
    Memory: a few hundred MB for the accurate mode's models of the 27 languages, most of which
    a prepare stage of short texts loads anyway. Once per mode and process; a failure is left
    to the detection. `finish_preloads` waits for the load.
    """
    if mode not in ("accurate", "fast") or mode in _PRELOADING:
        return
    thread = threading.Thread(target=_load_models, args=(mode,), name=f"lingua-{mode}", daemon=True)
    _PRELOADING[mode] = thread
    thread.start()


def finish_preloads() -> None:
    """Wait for the models `preload` is loading: a process does not end in the middle of it."""
    for loading in list(_PRELOADING.values()):
        loading.join()


def _load_models(mode: str) -> None:
    try:
        _builder(DETECTED_LANGUAGES, fast=mode == "fast").with_preloaded_language_models().build()
    except Exception:  # the detection loads them itself, or says what is wrong
        return


def _builder(languages: Sequence[str], *, fast: bool) -> Any:
    """lingua's detector builder for `languages` (ISO 639-1 codes), in its low accuracy mode
    where `fast`."""
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, code.upper()) for code in languages]
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    return builder.with_low_accuracy_mode() if fast else builder


class LanguageDetector:
    """ISO 639-1 codes for texts; "und" where a text is too short to tell."""

    def __init__(
        self,
        languages: Sequence[str] = DETECTED_LANGUAGES,
        *,
        mode: str = "accurate",
        preferred: Sequence[str] = (),
    ):
        """`mode` "accurate" uses lingua's n-gram models below 120 letters, "fast" never does.

        A short text detected outside `preferred` (the languages analysed) is checked again,
        so that no short ticket in a preferred language is lost to a near tie: "accurate"
        weighs lingua's confidences (`PREFERRED_CONFIDENCE_RATIO`); "fast", whose short-text
        calls cannot be trusted, records it as undetermined, which keeps it in scope.
        """
        self._preferred = {code for code in preferred if code in languages}
        # lingua's fast mode is reliable from about 120 characters; shorter texts, most
        # tickets among them, need the slower n-gram models (about 1,000 texts/s here).
        self._fast = _builder(languages, fast=True).build()
        self._accurate = _builder(languages, fast=False).build() if mode == "accurate" else None
        self._english = "en" in languages

    def detect(self, texts: Sequence[str]) -> list[str]:
        """One language code per text, in order.

        Plainly English texts (`is_plainly_english`) are English without lingua, whose
        n-gram models cost about 1-3 ms a ticket: most of the prepare stage on English desks.
        """
        # Placeholders, handles and hashtags are not words of any language: "@ATVIAssist HELP
        # ME HELLO??" was Finnish and "@sprintcare Just sent a DM" Romanian with them.
        cleaned = [TAGGED_RE.sub(" ", PLACEHOLDER_RE.sub(" ", t)) for t in texts]
        letters = [_letters(t) for t in cleaned]
        codes = [UNDETERMINED] * len(texts)
        if self._english:
            for i, (text, n) in enumerate(zip(cleaned, letters, strict=True)):
                if n >= MIN_LETTERS and is_plainly_english(text, short=n < FAST_MIN_LETTERS):
                    codes[i] = "en"
        for detector, wanted in (
            (self._fast, range(FAST_MIN_LETTERS, 1 << 62)),
            (self._accurate or self._fast, range(MIN_LETTERS, FAST_MIN_LETTERS)),
        ):
            positions = [
                i for i, n in enumerate(letters) if n in wanted and codes[i] == UNDETERMINED
            ]
            found = detector.detect_languages_in_parallel_of([cleaned[i] for i in positions])
            for i, language in zip(positions, found, strict=True):
                if language is not None:
                    codes[i] = language.iso_code_639_1.name.lower()
        if self._preferred:
            self._settle_near_ties(cleaned, letters, codes)
        return codes

    def _settle_near_ties(self, texts: Sequence[str], letters: list[int], codes: list[str]) -> None:
        """Give a short text detected outside the preferred languages to the best preferred
        one when lingua's confidence in it is close to the top language's."""
        doubtful = [
            i
            for i, (n, code) in enumerate(zip(letters, codes, strict=True))
            if MIN_LETTERS <= n < FAST_MIN_LETTERS and code not in self._preferred
        ]
        if not doubtful:
            return
        if self._accurate is None:
            # lingua's fast mode cannot tell short texts apart (its confidences are near ties
            # too): too short to tell, so they stay in scope rather than being dropped.
            for i in doubtful:
                codes[i] = UNDETERMINED
            return
        values = self._accurate.compute_language_confidence_values_in_parallel(
            [texts[i] for i in doubtful]
        )
        for i, ranked in zip(doubtful, values, strict=True):
            if not ranked:
                continue
            top = ranked[0].value
            best = max(
                (v for v in ranked if v.language.iso_code_639_1.name.lower() in self._preferred),
                key=lambda v: v.value,
                default=None,
            )
            if best is not None and best.value >= PREFERRED_CONFIDENCE_RATIO * top:
                codes[i] = best.language.iso_code_639_1.name.lower()


def _letters(text: str) -> int:
    """The letters of a text, as the length rules count them: a short text mostly in a
    script other than Latin counts as long enough to tell (`MIN_SCRIPT_LETTERS`)."""
    letters = len(_LETTERS.findall(text))
    if letters >= MIN_LETTERS:
        return letters
    other_script = letters - len(_LATIN_LETTERS.findall(text))
    if other_script >= MIN_SCRIPT_LETTERS and 2 * other_script >= letters:
        return MIN_LETTERS
    return letters


def is_plainly_english(text: str, *, short: bool = False) -> bool:
    """Whether a text is English by its function words alone: no letter outside ASCII, and at
    least `ENGLISH_MARKERS_NEEDED` distinct `ENGLISH_MARKERS` ("where is my order, please"),
    or, in a `short` text, one of `SHORT_TEXT_MARKERS` ("do you want to play solitaire")."""
    if not text.isascii():
        return False
    words = set(_MARKER_WORDS.findall(text.lower()))
    if len(ENGLISH_MARKERS & words) >= ENGLISH_MARKERS_NEEDED:
        return True
    return short and not SHORT_TEXT_MARKERS.isdisjoint(words)
