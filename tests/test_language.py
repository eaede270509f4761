"""Language detection keeps short tickets in the languages analysed."""

from __future__ import annotations

import pytest

from persona_mining.text.language import UNDETERMINED, LanguageDetector, is_plainly_english

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
    # No English function word to tell them by (HWU64 requests).
    texts = ["Order 2 hamburgers for me.", "tweet error log to samsung"]
    assert all(
        code not in ("en", UNDETERMINED) for code in LanguageDetector(mode="fast").detect(texts)
    )
    assert LanguageDetector(mode="fast", preferred=("en",)).detect(texts) == [UNDETERMINED] * 2


def test_a_clear_short_german_ticket_is_still_german() -> None:
    detector = LanguageDetector(mode="accurate", preferred=("en",))
    assert detector.detect([SHORT_GERMAN]) == ["de"]


def test_long_texts_are_detected_as_before_in_fast_mode() -> None:
    long_german = " ".join([SHORT_GERMAN, "und die App stürzt beim Öffnen jedes Mal ab."] * 3)
    detector = LanguageDetector(mode="fast", preferred=("en",))
    assert detector.detect([long_german]) == ["de"]


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order? It has not arrived yet.",
        "How do I reset the password of my account, please?",
        "The app crashes when I open the camera",
    ],
)
def test_plainly_english_tickets_are_english_without_lingua(text: str) -> None:
    assert is_plainly_english(text)
    assert LanguageDetector(mode="accurate", preferred=("en",)).detect([text]) == ["en"]


@pytest.mark.parametrize(
    "text",
    [
        SHORT_GERMAN,
        "Das ist nicht was ich bestellt habe, the order is wrong",  # one marker, "the"
        "Mi pedido no ha llegado y la app no funciona",
        "Je ne peux pas me connecter a mon compte depuis hier",
        "Não consigo acessar a minha conta, what can I do",  # a letter outside ASCII
        "Dit is niet wat ik wilde, de bestelling is fout",
        "set an alarm for seven",  # too few markers: lingua decides
    ],
)
def test_other_languages_and_short_requests_still_go_to_lingua(text: str) -> None:
    assert not is_plainly_english(text)


def test_one_english_word_is_enough_in_a_short_request() -> None:
    # HWU64 and Bitext requests that lingua gave to French, Hungarian, Spanish and Italian,
    # leaving them out of the topics.
    english = [
        "Do you want to play solitaire",
        "What is job title of Jan Medvesek?",
        "post complaint about servcie A",
        "can I cancel my user acciunt ?",
        "i wanna resrt my password",
    ]
    assert LanguageDetector(preferred=("en",)).detect(english) == ["en"] * len(english)
    assert not any(is_plainly_english(text) for text in english)  # longer texts need two


def test_a_word_english_shares_with_another_language_is_not_enough_alone() -> None:
    # "my" is Polish for "we", "have" Danish, "want" Dutch for "because", "hello" a greeting
    # in any language, "the" the start of English titles.
    texts = [
        "My mamy problem z logowaniem do konta",
        "Jeg vil gerne have en ny adgangskode",
        "Ik kan niet inloggen want mijn wachtwoord is fout",
        "Hello, ich kann mich nicht anmelden",
        "The Witcher 3 startet nicht mehr",
    ]
    assert not any(is_plainly_english(text, short=True) for text in texts)
    assert LanguageDetector(preferred=("en",)).detect(texts) == ["pl", "da", "nl", "de", "de"]


def test_the_models_preload_in_the_background_once_and_detect_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from persona_mining.text import language

    monkeypatch.setattr(language, "_PRELOADING", {})
    texts = [*NEAR_TIES, SHORT_GERMAN, "Je voudrais annuler ma commande d'hier, s'il vous plaît"]
    before = LanguageDetector(mode="fast", preferred=("en",)).detect(texts)
    language.preload("off")  # nothing to load
    assert language._PRELOADING == {}
    language.preload("fast")
    (loading,) = language._PRELOADING.values()
    assert loading.daemon  # the run does not wait for it to end
    language.preload("fast")
    assert list(language._PRELOADING.values()) == [loading]  # once per mode and process
    language.finish_preloads()
    assert not loading.is_alive()
    assert LanguageDetector(mode="fast", preferred=("en",)).detect(texts) == before


def test_handles_and_hashtags_are_not_read_as_words_of_a_language() -> None:
    # Short English tweets that lingua gave to Finnish, Romanian and Swedish while it read
    # their handles and hashtags as words; tweets in other languages keep theirs.
    english = [
        "@ATVIAssist @[ID] HELP ME HELLO??",
        "@sprintcare Just sent a DM",
        "@Ask_WellsFargo i sent a dm",
        "@[ID] @[ID] I love my new 8!!!! #NewPhoneFeels [URL]",
        "@McDonalds Treat #trickortreat",
    ]
    other = [
        "@AmazonHelp na ultima atualização da entrega do meu pedido, consta que não foi "
        "possível localizar o meu endereço, poderia ajudar?",
        "@[ID] bonjour a partir de combien de temps après creation de paypal avec un compte "
        "bancaire peut on acheter ?",
    ]
    found = LanguageDetector(preferred=("en",)).detect([*english, *other])
    assert all(code in ("en", UNDETERMINED) for code in found[: len(english)]), found
    assert found[len(english) :] == ["pt", "fr"]


def test_short_texts_in_a_script_of_their_own_are_told_by_it() -> None:
    # Too few letters for a Latin text, enough for kana, Hangul, Cyrillic or Hebrew.
    texts = [
        "@AmazonHelp こちらこそありがとうございました。",
        "감사합니다 정말",
        "Спасибо большое!",
        "שלום תודה",
        "ok thanks",
        "10μm filter broke",  # one Greek letter in an English request
    ]
    assert LanguageDetector(preferred=("en",)).detect(texts) == [
        "ja",
        "ko",
        "ru",
        "he",
        UNDETERMINED,
        UNDETERMINED,
    ]
