"""Language detection of ticket text, offline (lingua's models ship inside its wheel)."""

from __future__ import annotations

import re
from collections.abc import Sequence

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
_LETTERS = re.compile(r"[^\W\d_]")
_PLACEHOLDER = re.compile(r"\[[A-Z]+\]")


class LanguageDetector:
    """ISO 639-1 codes for texts; "und" where a text is too short to tell."""

    def __init__(self, languages: Sequence[str] = DETECTED_LANGUAGES, *, mode: str = "accurate"):
        """`mode` "accurate" uses lingua's n-gram models below 120 letters; "fast" never does."""
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        codes = [getattr(IsoCode639_1, code.upper()) for code in languages]
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        # lingua's fast mode is reliable from about 120 characters; shorter texts, most
        # tickets among them, need the slower n-gram models (about 1,000 texts/s here).
        self._fast = (
            LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode().build()
        )
        self._accurate = builder.build() if mode == "accurate" else self._fast

    def detect(self, texts: Sequence[str]) -> list[str]:
        """One language code per text, in order."""
        cleaned = [_PLACEHOLDER.sub(" ", t) for t in texts]
        letters = [len(_LETTERS.findall(t)) for t in cleaned]
        codes = [UNDETERMINED] * len(texts)
        for detector, wanted in (
            (self._fast, range(FAST_MIN_LETTERS, 1 << 62)),
            (self._accurate, range(MIN_LETTERS, FAST_MIN_LETTERS)),
        ):
            positions = [i for i, n in enumerate(letters) if n in wanted]
            found = detector.detect_languages_in_parallel_of([cleaned[i] for i in positions])
            for i, language in zip(positions, found, strict=True):
                if language is not None:
                    codes[i] = language.iso_code_639_1.name.lower()
        return codes
