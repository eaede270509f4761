"""Topic quality on a labelled public data set: persona-mining's defaults vs plain BERTopic.

Usage: .venv/bin/python bench/topics_quality.py [CSV] [--text utterance] [--label intent]
           [--profile fast] [--fit-samples 0 10000 5000] [--no-plain]

Defaults to ../shared/data/bitext_customer_support_20k.csv (27 intents). Ingests the file into
a temporary warehouse with generated ids, runs prepare, embed and topics with the default
config (no Prefect: the stages are plain functions), scores the topics with `evaluate`, then
fits plain BERTopic (seeded UMAP, HDBSCAN, min_topic_size 10) on the same embeddings.
Prints one line per method: topics, NMI, ARI, purity, coverage, seconds. `--profile fast`
prepares and embeds as the fast profile does; `--fit-samples` refits with each
`[topics] fit_sample` (0: every ticket), to measure what fitting on a sample costs in quality.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona_mining.environment import use_offline_environment  # noqa: E402

use_offline_environment()

from persona_mining import warehouse as db  # noqa: E402
from persona_mining.config import load_config  # noqa: E402
from persona_mining.ingest.load import ingest_tickets  # noqa: E402
from persona_mining.text.embed import embed_tickets, load_vectors, make_embedder  # noqa: E402
from persona_mining.text.prepare import prepare_tickets  # noqa: E402
from persona_mining.topics.evaluate import evaluate_topics  # noqa: E402
from persona_mining.topics.model import fit_topics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "csv", nargs="?", default=str(ROOT.parent / "shared/data/bitext_customer_support_20k.csv")
    )
    parser.add_argument("--text", default="utterance")
    parser.add_argument("--label", default="intent")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--fit-samples", type=int, nargs="+", help="[topics] fit_sample values")
    parser.add_argument("--no-plain", action="store_true", help="skip plain BERTopic")
    args = parser.parse_args()
    config = load_config(profile=args.profile)
    with tempfile.TemporaryDirectory() as tmp:
        con = db.connect(Path(tmp) / "bench.duckdb")
        t = time.perf_counter()
        ingest_tickets(
            con,
            path=Path(args.csv),
            columns={"ticket_id": "@row", "created_at": "@file_time", "body": args.text},
        )
        prepared = prepare_tickets(con, config=config.prepare)
        embedder = make_embedder(config.models)
        embed_tickets(con, embedder=embedder)
        print(
            f"ingest+prepare+embed ({args.profile} profile, {embedder.name}): {prepared.tickets} "
            f"tickets in {time.perf_counter() - t:.0f}s",
            flush=True,
        )
        for sample in args.fit_samples or [config.topics.fit_sample]:
            t = time.perf_counter()
            topics_config = config.topics.model_copy(update={"fit_sample": sample})
            fit_topics(
                con,
                config=topics_config,
                models_dir=Path(tmp) / "models",
                embedder=embedder,
            )
            ours = evaluate_topics(con, labels_column=args.label)
            print(
                f"persona-mining {args.profile} profile, fit_sample={sample}: topics={ours.topics} "
                f"nmi={ours.nmi:.3f} ari={ours.ari:.3f} purity={ours.purity:.3f} "
                f"coverage={ours.coverage:.3f} ({time.perf_counter() - t:.0f}s)",
                flush=True,
            )
        ids, vectors = load_vectors(con, model=embedder.name)
        texts = dict(con.execute("SELECT ticket_id, text FROM prepared_tickets").fetchall())
        labels = dict(
            con.execute(f'SELECT ticket_id, "{args.label}"::VARCHAR FROM tickets').fetchall()
        )
        con.close()
    if args.no_plain:
        return
    t = time.perf_counter()
    from bertopic import BERTopic
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from umap import UMAP

    plain = BERTopic(
        umap_model=UMAP(
            n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42
        ),
        min_topic_size=10,
    )
    topics, _ = plain.fit_transform([texts[i] for i in ids], embeddings=vectors)
    y = [labels[i] for i in ids]
    by_topic: dict[int, Counter[str]] = defaultdict(Counter)
    for topic, label in zip(topics, y, strict=True):
        if topic != -1:
            by_topic[topic][label] += 1
    clustered = sum(sum(c.values()) for c in by_topic.values())
    purity = sum(c.most_common(1)[0][1] for c in by_topic.values()) / max(1, clustered)
    print(
        f"plain BERTopic (min_topic_size=10): topics={len(by_topic)} "
        f"nmi={normalized_mutual_info_score(y, topics):.3f} ari={adjusted_rand_score(y, topics):.3f} "
        f"purity={purity:.3f} coverage={clustered / len(y):.3f} ({time.perf_counter() - t:.0f}s)"
    )


if __name__ == "__main__":
    main()
