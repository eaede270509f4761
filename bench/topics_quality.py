"""Topic quality on every labelled collection at once, both profiles, beside plain BERTopic.

Usage: .venv/bin/python bench/topics_quality.py [--collections bitext hwu64 ...]
           [--profiles default fast] [--quick] [--data DIR] [--write]

A default is a claim about every help desk, so it is judged on several labelled collections
in one run, and on one table:

- `bitext`: Bitext customer-service utterances (fine label `intent`, 27; coarse `category`, 11);
- `hwu64`: HWU64 assistant utterances (fine `intent`, 64; coarse `scenario`, 18);
- `demo`: the generated demo help desk (seed 7, 1,500 customers; `demo_issue`, 21 planted
  issues; no coarse label); `demo-400` is the same with 400 customers;
- `hwu64-30`, `bitext-40`: 30 (40) tickets per intent, a seeded sample, like a desk with many
  small issues;
- `hwu64-skew`: 16 of HWU64's intents whole (about 170 requests each), the other 48 at 30: a
  desk whose small issues are each under 1% of its tickets, beside large ones;
- `many-small`: HWU64's 64 intents and Bitext's 27 at 35 requests each, with 1,000 inbound
  tweets of the Twitter file as one out-of-scope label (`other`): 92 fine labels (HWU64's
  scenarios, Bitext's categories and `other` as coarse), a desk of many issues of about 35
  each under 1% of its tickets, and traffic that belongs to none.

The public files are read from `--data` (default ../shared/data); without it the bench says so
and exits 2. For each collection and profile it ingests the file into a fresh temporary
warehouse (generated ids and times, the label columns kept), runs prepare, embed and topics
with a refit through the pipeline's runner, and reports:

- issue NMI against the fine label (`evaluate_topics`; unclustered tickets count as a cluster),
  theme NMI against the coarse label (themes: the topics' `group_id` in `v_ticket_topics`),
  coverage, issue and theme counts;
- label faithfulness (`evaluate`'s `label_support` and `faithful_share`), and label names:
  the share of the topics whose label is closer in meaning to the name of the fine label of
  most of their tickets ("cancel_order": "cancel order") than to any other fine label's name;
- fit seconds: the topics stage of the first fit (models already loaded by embed);
- stability: the share of tickets that keep their `topic_key` after a refit with another
  seed, and after a refit on a 90% resample (a tenth of the prepared tickets deleted), each
  starting from a copy of the first fit (over the tickets both fits assigned; the unclustered
  key counts as a key), and each refit's own issue NMI;
- plain BERTopic beside it: BERTopic's defaults (UMAP seeded) fitted on the same vectors and
  texts: NMI, coverage, topic count, seconds.

Prints one Markdown table; `--write` appends it, under a dated heading, to bench/RESULTS.md.
`--quick` runs only `hwu64-30`, `bitext-40` and `demo-400`. Everything runs in this process,
one collection at a time; each warehouse is deleted before the next.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import gc
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona_mining.environment import use_offline_environment  # noqa: E402

use_offline_environment()
# As the Makefile: numba's compiled UMAP functions are cached across processes.
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".prefect" / "numba-cache"))

import duckdb  # noqa: E402

from persona_mining import warehouse as db  # noqa: E402
from persona_mining.config import Config, load_config  # noqa: E402
from persona_mining.demo.generate import generate_demo  # noqa: E402
from persona_mining.ingest.load import ingest_tickets  # noqa: E402
from persona_mining.pipeline import Stage, run_pipeline  # noqa: E402
from persona_mining.text.embed import (  # noqa: E402
    STATIC_PREFIX,
    SentenceTransformerEmbedder,
    distil_static_model,
    load_vectors,
)
from persona_mining.topics.evaluate import evaluate_topics  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SAMPLE_SEED = 7
RESEED = 1234
RESAMPLE_PERCENT = 10


@dataclass(frozen=True)
class Collection:
    """A labelled collection: where its tickets come from and which columns are its labels."""

    name: str
    title: str
    fine: str
    coarse: str | None = None
    file: str | None = None  # under --data; None: the generated demo
    text: str | None = None
    per_label: int = 0  # >0: a seeded sample of this many tickets per fine label
    whole_labels: int = 0  # with per_label: this many fine labels (seeded) keep all their tickets
    build: Callable[[Path, Path], Path] | None = None  # (data, out CSV) -> the ticket file
    demo_customers: int = 0


COLLECTIONS = {
    c.name: c
    for c in (
        Collection(
            "bitext",
            "Bitext",
            "intent",
            "category",
            "bitext_customer_support_20k.csv",
            "utterance",
        ),
        Collection("hwu64", "HWU64", "intent", "scenario", "hwu64_utterances_11k.csv", "text"),
        Collection("demo", "demo (1,500 customers)", "demo_issue", demo_customers=1500),
        Collection(
            "hwu64-30",
            "HWU64, 30 per intent",
            "intent",
            "scenario",
            "hwu64_utterances_11k.csv",
            "text",
            per_label=30,
        ),
        Collection(
            "hwu64-skew",
            "HWU64, 16 intents whole, 48 at 30",
            "intent",
            "scenario",
            "hwu64_utterances_11k.csv",
            "text",
            per_label=30,
            whole_labels=16,
        ),
        Collection(
            "bitext-40",
            "Bitext, 40 per intent",
            "intent",
            "category",
            "bitext_customer_support_20k.csv",
            "utterance",
            per_label=40,
        ),
        Collection("demo-400", "demo (400 customers)", "demo_issue", demo_customers=400),
        Collection(
            "many-small",
            "HWU64 and Bitext at 35, 1,000 tweets",
            "intent",
            "scenario",
            "hwu64_utterances_11k.csv",
            "text",
            build=lambda data, out: many_small(data, out),
        ),
    )
}
FULL = ["bitext", "hwu64", "demo", "hwu64-30", "bitext-40", "hwu64-skew", "many-small"]
QUICK = ["hwu64-30", "bitext-40", "demo-400"]
COLUMNS = [
    "collection",
    "tickets",
    "labels",
    "profile",
    "method",
    "issue NMI",
    "theme NMI",
    "coverage",
    "issues",
    "themes",
    "label support",
    "faithful",
    "label names",
    "reseed keep",
    "90% keep",
    "reseed NMI",
    "90% NMI",
    "fit s",
]


def rows_by_label(source: Path, label: str) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
    """A CSV's header and its rows by their value of `label`, in file order."""
    with source.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        by_label: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            by_label.setdefault(row[label], []).append(row)
        return list(reader.fieldnames or []), by_label


def sample_per_label(source: Path, label: str, per_label: int, out: Path, whole: int = 0) -> Path:
    """A CSV of at most `per_label` rows of each value of `label`, drawn with a fixed seed;
    `whole` values of `label` (drawn with the same seed) keep all their rows."""
    fields, by_label = rows_by_label(source, label)
    rng = random.Random(SAMPLE_SEED)
    kept_whole = set(rng.sample(sorted(by_label), whole)) if whole else set()
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for value in sorted(by_label):
            rows = by_label[value]
            if value in kept_whole:
                writer.writerows(rows)
            else:
                writer.writerows(rng.sample(rows, min(per_label, len(rows))))
    return out


#: Requests per intent, and out-of-scope tweets, of the `many-small` collection.
MANY_SMALL_PER_LABEL, MANY_SMALL_OTHER = 35, 1_000


def many_small(data: Path, out: Path) -> Path:
    """HWU64's and Bitext's intents at `MANY_SMALL_PER_LABEL` requests each and
    `MANY_SMALL_OTHER` inbound tweets labelled `other`, shuffled, as one CSV (text, intent,
    scenario), drawn with a fixed seed."""
    rng = random.Random(SAMPLE_SEED)
    parts = (
        ("hwu64_utterances_11k.csv", "h", "text", "intent", "scenario"),
        ("bitext_customer_support_20k.csv", "b", "utterance", "intent", "category"),
    )
    rows: list[tuple[str, str, str]] = []
    for name, prefix, text, fine, coarse in parts:
        _, by_label = rows_by_label(data / name, fine)
        for value in sorted(by_label):
            for row in rng.sample(by_label[value], min(MANY_SMALL_PER_LABEL, len(by_label[value]))):
                rows.append((row[text], f"{prefix}_{value}", f"{prefix}_{row[coarse]}"))
    with (data / "twitter_customer_support_5k.csv").open(encoding="utf-8", newline="") as f:
        inbound = [row["text"] for row in csv.DictReader(f) if row["inbound"] == "True"]
    rows += [(text, "other", "other") for text in rng.sample(inbound, MANY_SMALL_OTHER)]
    rng.shuffle(rows)
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "intent", "scenario"])
        writer.writerows(rows)
    return out


def ticket_file(collection: Collection, data: Path, workdir: Path) -> tuple[Path, dict[str, str]]:
    """The collection's ticket file, and the column mapping to ingest it with."""
    if collection.file is None:
        demo = generate_demo(
            workdir / "demo", seed=SAMPLE_SEED, n_customers=collection.demo_customers
        )
        return demo.tickets_path, {}
    path = data / collection.file
    if collection.build is not None:
        path = collection.build(data, workdir / f"{collection.name}.csv")
    elif collection.per_label:
        path = sample_per_label(
            path,
            collection.fine,
            collection.per_label,
            workdir / f"{collection.name}.csv",
            whole=collection.whole_labels,
        )
    assert collection.text
    return path, {"ticket_id": "@row", "created_at": "@file_time", "body": collection.text}


def share_static_model(config: Config, models_dir: Path) -> None:
    """Link the fast profile's static model into `models_dir`, distilled once under models/.

    Each run gets its own models folder (its topic models are thrown away with it), but the
    static model is the same for all: distilling it again would time the distillation.
    """
    embedding = config.models.embedding
    if not embedding.startswith(STATIC_PREFIX):
        return
    base, dims = embedding[len(STATIC_PREFIX) :], config.models.static_dims
    shared = distil_static_model(
        base, models_dir=ROOT / "models", dims=dims, common=config.models.static_common
    )
    models_dir.mkdir(parents=True, exist_ok=True)
    (models_dir / shared.name).symlink_to(shared.resolve(), target_is_directory=True)


def with_topics(config: Config, **update: Any) -> Config:
    """The config with some `[topics]` settings changed."""
    return config.model_copy(update={"topics": config.topics.model_copy(update=update)})


def keys(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each assigned ticket's topic key under the current model."""
    return dict(con.execute("SELECT ticket_id, topic_key FROM v_ticket_topics").fetchall())


def kept_share(before: dict[str, str], after: dict[str, str]) -> float:
    """Share of the tickets assigned by both fits that kept their topic key."""
    common = before.keys() & after.keys()
    return sum(before[t] == after[t] for t in common) / len(common) if common else float("nan")


def theme_scores(
    con: duckdb.DuckDBPyConnection, coarse: str | None
) -> tuple[float | None, int, int]:
    """NMI of the themes (topic groups) against the coarse label (`evaluate --level theme`),
    the number of themes and of coarse label values."""
    themes = con.execute(
        "SELECT count(DISTINCT group_id) FROM v_topics WHERE topic_id <> -1 AND group_id <> -1"
    ).fetchall()[0][0]
    if coarse is None:
        return None, themes, 0
    scores = evaluate_topics(con, labels_column=coarse, level="theme")
    return scores.nmi, themes, scores.labels


def refit_copy(
    path: Path,
    workdir: Path,
    name: str,
    config: Config,
    prepare: Callable[[Any], None],
    fine: str,
) -> tuple[dict[str, str], float]:
    """Refit on a copy of the warehouse at `path` after `prepare(con)`: the new topic keys, and
    the refit's issue NMI against the `fine` label (over the tickets it assigned)."""
    copy = workdir / f"{name}.duckdb"
    shutil.copy(path, copy)
    con = db.connect(copy)
    try:
        prepare(con)
        run_pipeline(con, config, only=["topics"], refit=True)
        return keys(con), evaluate_topics(con, labels_column=fine).nmi
    finally:
        con.close()
        copy.unlink()


def timing_execute(seconds: dict[str, float]) -> Callable[..., Any]:
    """An `execute` hook for the runner that records each stage's wall seconds."""

    def execute(stage: Stage, label: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            seconds[stage.name] = seconds.get(stage.name, 0.0) + time.perf_counter() - started

    return execute


def plain_bertopic(
    texts: list[str], vectors: Any, labels: list[str]
) -> tuple[float, float, int, float]:
    """Plain BERTopic's defaults on the same vectors: NMI, coverage, topics, seconds."""
    from bertopic import BERTopic
    from sklearn.metrics import normalized_mutual_info_score
    from umap import UMAP

    started = time.perf_counter()
    # BERTopic's own UMAP settings, seeded so that the row is reproducible.
    umap_model = UMAP(
        n_neighbors=15,
        n_components=5,
        min_dist=0.0,
        metric="cosine",
        low_memory=False,
        random_state=42,
    )
    topics, _ = BERTopic(umap_model=umap_model).fit_transform(texts, embeddings=vectors)
    seconds = time.perf_counter() - started
    clustered = sum(t != -1 for t in topics)
    return (
        float(normalized_mutual_info_score(labels, topics)),
        clustered / len(topics),
        len({t for t in topics if t != -1}),
        seconds,
    )


@functools.cache
def _judge() -> SentenceTransformerEmbedder:
    """The embedding model that reads labels and label names (MiniLM in both profiles)."""
    return SentenceTransformerEmbedder()


def readable(value: str) -> str:
    """A label value as words: "b_cancel_order" -> "cancel order" (many-small's prefixes)."""
    for prefix in ("h_", "b_"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    return value.replace("_", " ")


def label_names(con: duckdb.DuckDBPyConnection, fine: str) -> float:
    """Share of the topics whose label names the fine label of most of their tickets: that
    label's name (`readable`) is, of all the fine labels' names, the closest in meaning to the
    topic's label (cosine of MiniLM's vectors)."""
    column = db.quote_identifier(fine)
    topics = con.execute(
        f"""SELECT any_value(tt.topic_label), mode(t.{column}::VARCHAR)
        FROM v_ticket_topics tt JOIN tickets t USING (ticket_id)
        WHERE tt.topic_id <> -1 GROUP BY tt.topic_id"""
    ).fetchall()
    names = sorted(
        r[0] for r in con.execute(f"SELECT DISTINCT {column}::VARCHAR FROM tickets").fetchall()
    )
    if not topics or not names:
        return float("nan")
    judge = _judge()
    closest = (
        judge.encode([t[0] for t in topics]) @ judge.encode([readable(n) for n in names]).T
    ).argmax(axis=1)
    return sum(names[c] == t[1] for c, t in zip(closest, topics, strict=True)) / len(topics)


def bench_one(
    collection: Collection, profile: str, data: Path, workdir: Path, plain: bool
) -> list[dict[str, Any]]:
    """Both rows (persona-mining, plain BERTopic) of one collection under one profile."""
    workdir.mkdir(parents=True)
    source, columns = ticket_file(collection, data, workdir)
    config = load_config(profile=profile)
    config = config.model_copy(
        update={"models": config.models.model_copy(update={"dir": workdir / "models"})}
    )
    share_static_model(config, workdir / "models")
    path = workdir / "bench.duckdb"
    con = db.connect(path)
    seconds: dict[str, float] = {}
    try:
        ingest_tickets(con, path=source, columns=columns or None)
        run_pipeline(
            con,
            config,
            only=["prepare", "embed", "topics"],
            refit=True,
            execute=timing_execute(seconds),
        )
        scores = evaluate_topics(con, labels_column=collection.fine)
        theme_nmi, themes, coarse_labels = theme_scores(con, collection.coarse)
        names_share = label_names(con, collection.fine)
        first = keys(con)
        embedding = con.execute("SELECT embedding_model FROM v_current_model").fetchall()[0][0]
        ids, vectors = load_vectors(con, model=embedding)
        texts = dict(con.execute("SELECT ticket_id, text FROM prepared_tickets").fetchall())
        labels = dict(
            con.execute(
                f"SELECT ticket_id, {db.quote_identifier(collection.fine)}::VARCHAR FROM tickets"
            ).fetchall()
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    print(
        f"  {collection.name} / {profile}: {scores.tickets:,} tickets, prepare "
        f"{seconds.get('prepare', 0):.0f} s, embed {seconds.get('embed', 0):.0f} s, topics "
        f"{seconds.get('topics', 0):.0f} s; issue NMI {scores.nmi:.3f}",
        flush=True,
    )
    reseeded, reseed_nmi = refit_copy(
        path, workdir, "reseed", with_topics(config, seed=RESEED), lambda con: None, collection.fine
    )
    resampled, resample_nmi = refit_copy(
        path,
        workdir,
        "resample",
        config,
        lambda con: con.execute(
            "DELETE FROM prepared_tickets WHERE ticket_id IN (SELECT ticket_id FROM "
            f"prepared_tickets USING SAMPLE {RESAMPLE_PERCENT} PERCENT (reservoir, {SAMPLE_SEED}))"
        ),
        collection.fine,
    )
    base = {
        "collection": collection.title,
        "tickets": scores.tickets,
        "labels": f"{scores.labels}" + (f" / {coarse_labels}" if collection.coarse else ""),
        "profile": profile,
    }
    rows = [
        {
            **base,
            "method": "persona-mining",
            "issue NMI": scores.nmi,
            "theme NMI": theme_nmi,
            "coverage": scores.coverage,
            "issues": scores.topics,
            "themes": themes,
            "label support": scores.label_support,
            "faithful": scores.faithful_share,
            "label names": names_share,
            "reseed keep": kept_share(first, reseeded),
            "90% keep": kept_share(first, resampled),
            "reseed NMI": reseed_nmi,
            "90% NMI": resample_nmi,
            "fit s": seconds.get("topics", 0.0),
        }
    ]
    if plain:
        nmi, coverage, topics, fit = plain_bertopic(
            [texts[i] for i in ids], vectors, [labels[i] for i in ids]
        )
        rows.append(
            {
                **base,
                "method": "plain BERTopic",
                "issue NMI": nmi,
                "coverage": coverage,
                "issues": topics,
                "fit s": fit,
            }
        )
    path.unlink()
    gc.collect()
    return rows


def cell(column: str, value: Any) -> str:
    """One table cell: counts with separators, scores to three places, seconds whole."""
    if value is None:
        return ""
    if column in ("collection", "labels", "profile", "method"):
        return str(value)
    if column == "fit s":
        return f"{value:.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "n/a" if value != value else f"{value:.3f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as one Markdown table, persona-mining's row above plain BERTopic's."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        shown = [cell(c, row.get(c)) for c in COLUMNS]
        if row["method"] != "persona-mining":
            shown[:4] = ["", "", "", ""]
        lines.append("| " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"


def write_results(table: str, command: str) -> None:
    """Append the table to bench/RESULTS.md under a dated heading."""
    load = os.getloadavg()[0]
    text = (
        f"\n## Topic quality on every labelled collection (`bench/topics_quality.py`), "
        f"{dt.date.today().isoformat()}\n\n```sh\n{command}\n```\n\n"
        f"{platform.machine()}, {os.cpu_count()} cores (load {load:.1f} at the end), Python "
        f"{platform.python_version()}. labels: fine / coarse label values; issue NMI against "
        f"the fine label, theme NMI against the coarse one (unclustered tickets count as one "
        f"more cluster); label support and faithful: `evaluate`'s label faithfulness; label "
        f"names: share of the topics whose label is closest in meaning (MiniLM) to the name of "
        f"the fine label of most of their tickets, of all the fine labels' names; reseed "
        f"keep and 90% keep: share of tickets that keep their topic key after a refit with "
        f"seed {RESEED}, and after a refit on {100 - RESAMPLE_PERCENT}% of the tickets; reseed "
        f"NMI and 90% NMI: those refits' own issue NMI (a refit is laid out guided by the "
        f"first fit's topics, `[topics] refit_guidance`); fit s: "
        f"the topics stage (plain BERTopic: its fit) on this shared machine.\n\n{table}"
    )
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--collections", nargs="+", choices=sorted(COLLECTIONS), default=None)
    parser.add_argument("--profiles", nargs="+", default=["default", "fast"])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--no-plain", action="store_true", help="skip plain BERTopic")
    parser.add_argument("--write", action="store_true", help="append the table to RESULTS.md")
    args = parser.parse_args()
    names = args.collections or (QUICK if args.quick else FULL)
    chosen = [COLLECTIONS[n] for n in names]
    missing = sorted(
        {c.file for c in chosen if c.file and not (args.data / c.file).is_file()}, key=str
    )
    if missing:
        print(
            f"topics_quality: the labelled collections are not in {args.data} (missing "
            f"{', '.join(str(m) for m in missing)}); pass --data DIR, or --collections demo",
            file=sys.stderr,
        )
        return 2
    # Imported before any timing, so that the first fit does not pay for it.
    import bertopic  # noqa: F401
    import umap  # noqa: F401

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="topics-quality-") as tmp:
        for collection in chosen:
            for profile in args.profiles:
                rows += bench_one(
                    collection,
                    profile,
                    args.data,
                    Path(tmp) / f"{collection.name}-{profile}",
                    not args.no_plain,
                )
    table = markdown(rows)
    print("\n" + table)
    if args.write:
        command = ".venv/bin/python bench/topics_quality.py " + " ".join(sys.argv[1:])
        write_results(table, command.strip())
        print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
