"""The prepare stage before and after the statistical spaCy pipeline left it, in one process.

Usage: .venv/bin/python bench/prepare_nlp.py [--tickets 5000]

On a generated demo help desk of about `--tickets` tickets it times, on the same tickets (after
first, so that it pays the one-off loads of the language detector):

- before: what the prepare stage did when it ran the full spaCy pipeline (NER, parser,
  lemmatizer) on every ticket: the cleaning, language detection and `nlp.analyze_texts` with
  the default pipeline (its load included), without the warehouse writes;
- after: `prepare_tickets` as it is now (cleaning, PII rules, language detection, rule-based
  sentences), its warehouse writes included;
- the analysis the pipeline now runs instead, on a bounded set: `redact_for_display` on at
  most `[topics] label_sample` tickets of each planted demo issue (a stand-in for the topics,
  which are not fitted here) plus 30 more per issue for what is shown.

CPU seconds (`time.process_time`, this process) are printed beside wall seconds: the machine
may be shared, and CPU time is what the change saves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona_mining.environment import use_offline_environment  # noqa: E402

use_offline_environment()


def timed(label: str, fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run `fn`, print and return (result, cpu seconds, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"  {label:<58} cpu {cpu:7.1f} s   wall {wall:7.1f} s", flush=True)
    return result, cpu, wall


def before(con: Any, config: Any) -> int:
    """The old prepare's computation: full pipeline on every ticket in scope."""
    from persona_mining.text.language import UNDETERMINED, LanguageDetector
    from persona_mining.text.nlp import analyze_texts, load_pipeline
    from persona_mining.text.prepare import _ticket_text

    nlp, warning = load_pipeline(config.spacy_model)
    if warning:
        raise SystemExit(warning)
    rows = con.execute("SELECT subject, body FROM tickets ORDER BY ticket_id").fetchall()
    texts = [_ticket_text(subject, body) for subject, body in rows]
    detector = LanguageDetector(mode=config.language_detection, preferred=config.languages)
    found = detector.detect(texts)
    keep = [
        t for t, code in zip(texts, found, strict=True) if code in (*config.languages, UNDETERMINED)
    ]
    analyze_texts(keep, nlp, batch_size=config.batch_size, max_chars=config.max_analysis_chars)
    return len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5000)
    args = parser.parse_args()

    from persona_mining import warehouse as db
    from persona_mining.config import PrepareConfig, TopicsConfig
    from persona_mining.demo.generate import generate_demo
    from persona_mining.ingest.load import ingest_customers, ingest_tickets
    from persona_mining.text.analysis import redact_for_display
    from persona_mining.text.prepare import prepare_tickets

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = generate_demo(work / "demo", seed=7, n_customers=max(1, round(args.tickets / 3.6)))
        con = db.connect(work / "bench.duckdb")
        ingest_customers(con, path=demo.customers_path)
        ingest_tickets(con, path=demo.tickets_path)
        config, per_topic = PrepareConfig(), TopicsConfig().label_sample
        print(f"{demo.n_tickets} demo tickets, spaCy {config.spacy_model}", flush=True)
        result, new_cpu, new_wall = timed(
            "after: prepare_tickets (rules, sentencizer, writes)",
            lambda: prepare_tickets(con, config=config),
        )
        # Second, so that it finds the language models already loaded: the ratio is conservative.
        _, old_cpu, old_wall = timed(
            "before: full spaCy pipeline on every ticket", lambda: before(con, config)
        )
        by_issue: dict[str, list[str]] = defaultdict(list)
        for ticket, issue in con.execute(
            "SELECT ticket_id, demo_issue FROM tickets JOIN prepared_tickets USING (ticket_id) WHERE in_scope"
        ).fetchall():
            by_issue[issue].append(ticket)
        bounded = [
            t
            for ids in by_issue.values()
            for t in sorted(ids, key=lambda i: zlib.crc32(f"42:{i}".encode()))[: per_topic + 30]
        ]
        analysis, an_cpu, _ = timed(
            f"analysis: {per_topic}+30 tickets x {len(by_issue)} issues ({len(bounded)} tickets)",
            lambda: redact_for_display(con, ticket_ids=bounded, config=config),
        )
        print(
            f"  prepare after/before: cpu {new_cpu / old_cpu:.2f}x ({old_cpu / new_cpu:.1f}x faster),"
            f" wall {new_wall / old_wall:.2f}x; prepare + bounded analysis / before: cpu "
            f"{(new_cpu + an_cpu) / old_cpu:.2f}x ({result.prepared} prepared, "
            f"{analysis.analysed} texts analysed)",
            flush=True,
        )
        con.close()


if __name__ == "__main__":
    main()
