"""Sentences and questions by rules (`text.sentences`) against spaCy's rule-based sentencizer.

Usage: .venv/bin/python bench/sentences.py [--data DIR] [--show 3]

The prepare stage splits every ticket into sentences and questions by rules alone. Before, it
ran spaCy's tokenizer and sentencizer (a blank multi-language pipeline) on every ticket. For
each data set of the shared data folder (and a generated demo help desk), this times both on
the same cleaned texts, counts the tickets whose sentences and questions come out the same,
and prints up to `--show` tickets where they differ, to read.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona_mining.text import sentences as rules  # noqa: E402
from persona_mining.text.cleaning import PLACEHOLDERS  # noqa: E402
from persona_mining.text.prepare import _ticket_text  # noqa: E402

#: file name -> (subject column or None, body column)
SETS = {
    "bitext_customer_support_20k.csv": (None, "utterance"),
    "hwu64_utterances_11k.csv": (None, "text"),
    "kaggle_customer_support_tickets.csv": ("Ticket Subject", "Ticket Description"),
    "twitter_customer_support_5k.csv": (None, "text"),
    "multilang_support_tickets_1k.csv": ("subject", "body"),
}


def sentencizer_split() -> Callable[[Sequence[str]], list[rules.SentenceSplit]]:
    """The former split: spaCy's blank multi-language tokenizer (placeholders kept whole) and
    its sentencizer, then the same line breaks, questions and limit as the rules."""
    import spacy
    from spacy.symbols import ORTH

    nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    for placeholder in PLACEHOLDERS:
        nlp.tokenizer.add_special_case(placeholder, [{ORTH: placeholder}])

    def split(texts: Sequence[str]) -> list[rules.SentenceSplit]:
        heads = [rules.split_for_analysis(t, rules.DEFAULT_MAX_CHARS)[0] for t in texts]
        out = []
        for doc in nlp.pipe(heads, batch_size=256):
            found = [p for span in doc.sents for p in rules.sentence_pieces(span.text)]
            questions = tuple(rules.shorten_question(s) for s in found if rules.is_question(s))
            out.append(rules.SentenceSplit(tuple(found), questions))
        return out

    return split


def texts_of(path: Path, subject: str | None, body: str) -> list[str]:
    """Each row's subject and body as the prepare stage joins and cleans them."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [
            _ticket_text(row.get(subject) if subject else None, row[body])
            for row in csv.DictReader(f)
        ]


def demo_texts(n: int) -> list[str]:
    """The cleaned texts of a generated demo help desk of about `n` tickets."""
    from persona_mining.demo.generate import generate_demo

    with tempfile.TemporaryDirectory(prefix="sentences-") as tmp:
        demo = generate_demo(Path(tmp), seed=7, n_customers=max(1, round(n / 3.6)))
        return texts_of(demo.tickets_path, "subject", "body")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--show", type=int, default=3)
    args = parser.parse_args()
    former = sentencizer_split()
    sets = {
        name: texts_of(args.data / name, *cols)
        for name, cols in SETS.items()
        if (args.data / name).exists()
    }
    sets["demo (generated)"] = demo_texts(10_000)
    print(
        "| data set | tickets | sentencizer s | rules s | faster | same sentences | same questions | questions |"
    )
    print("|---|---|---|---|---|---|---|---|")
    shown: list[str] = []
    for name, texts in sets.items():
        former(texts[:50])
        started = time.perf_counter()
        before = former(texts)
        middle = time.perf_counter()
        after = rules.split_sentences(texts)
        ended = time.perf_counter()
        same = sum(a.sentences == b.sentences for a, b in zip(before, after, strict=True))
        asked = sum(a.questions == b.questions for a, b in zip(before, after, strict=True))
        count = sum(len(a.questions) for a in before), sum(len(b.questions) for b in after)
        print(
            f"| {name} | {len(texts):,} | {middle - started:.2f} | {ended - middle:.2f} | "
            f"{(middle - started) / (ended - middle):.1f}x | {same / len(texts):.1%} | "
            f"{asked / len(texts):.1%} | {count[0]:,} -> {count[1]:,} |"
        )
        differ = [(a, b) for a, b in zip(before, after, strict=True) if a.sentences != b.sentences]
        for a, b in differ[: args.show]:
            shown.append(
                f"{name}\n  sentencizer: {[s[:100] for s in a.sentences if s not in b.sentences][:2]}"
                f"\n  rules:       {[s[:100] for s in b.sentences if s not in a.sentences][:2]}"
            )
    print("\n" + "\n".join(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
