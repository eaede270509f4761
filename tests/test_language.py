"""Language detection keeps short tickets in the languages analysed."""

from __future__ import annotations

import pytest

from persona_mining.text.language import UNDETERMINED, LanguageDetector

# Short English requests that lingua takes for another language on its own (HWU64 texts).
NEAR_TIES = [
    "Tell me time of alarm you set",
    "olly set an alarm for tomorrow",
    "wake me up at five am this week",
]
SHORT_GERMAN = "Mein Passwort funktioniert seit gestern nicht mehr"


@pytest.mark.parametrize("mode", ["accurate", "fast"])
def test_short_english_near_ties_stay_in_scope(mode: str) -> None:
    detector = LanguageDetector(mode=mode, preferred=("en",))
    assert set(detector.detect(NEAR_TIES)) <= {"en", UNDETERMINED}


def test_without_preferred_languages_near_ties_go_to_the_top_language() -> None:
    codes = LanguageDetector(mode="fast").detect(NEAR_TIES)
    assert any(code not in ("en", UNDETERMINED) for code in codes)


def test_a_clear_short_german_ticket_is_still_german() -> None:
    detector = LanguageDetector(mode="accurate", preferred=("en",))
    assert detector.detect([SHORT_GERMAN]) == ["de"]


def test_long_texts_are_detected_as_before_in_fast_mode() -> None:
    long_german = " ".join([SHORT_GERMAN, "und die App stürzt beim Öffnen jedes Mal ab."] * 3)
    detector = LanguageDetector(mode="fast", preferred=("en",))
    assert detector.detect([long_german]) == ["de"]
