"""Stage-by-stage benchmark of the whole pipeline on a demo help desk or on real requests.

Usage: .venv/bin/python bench/run.py [--sizes 2000 20000] [--profile fast] [--incremental 200]
                                    [--keep DIR] [--no-floor] [--data demo|hwu64|bitext]
                                    [--models DIR]
       (or `make bench`, `make bench SIZES="100000" PROFILE=fast`)

For each size N (tickets, approximately: the demo generator makes ~3.6 tickets per customer)
it generates a demo help desk (`--data demo`), or takes N real requests of a labelled
collection in the shared data folder (`--data hwu64`: HWU64 assistant utterances, 11,036;
`--data bitext`: Bitext customer-service utterances, 20,000; N above the collection's size
takes all of it) and gives them seeded customers (about 3.6 tickets each, with a plan and a
region, two rule personas on them) and dates over a year. Then it runs in this one process,
through the pipeline's runner (`persona_mining.pipeline.run_pipeline`, no Prefect), every
stage with a topic refit: ingest, prepare, embed, topics, curation, trends, segments, link,
negative, impact, analysis, personas, then a checkpoint of the warehouse (what closing it costs
a CLI run: the write-ahead log folded into the file). Per stage it prints wall seconds, CPU seconds (this
process, all threads: less exposed than wall time to other jobs on a shared machine), rows
per second (tickets) and memory: the peak resident set size during the stage (sampled with
psutil every 20 ms) and its increase over the RSS at the start of the stage. tracemalloc would
miss torch's and numba's native allocations.

In the same run it times the floor: a bare `SentenceTransformer.encode` (the fast profile:
`StaticModel.encode`) of the same prepared texts with the same model and batch size, in
float32, and prints full run / bare encode; where the pipeline embeds in bfloat16
(`[models] precision`), it times the same encode in bfloat16 too. With `--incremental N` the
N latest tickets are held back, then ingested and run after the full run (assigned with the fitted model), and their cost is
printed beside the full run's (loading the model counts in embed; spaCy is loaded by the
analysis steps of topics and personas, only when they have a text to analyse).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona_mining.environment import use_offline_environment  # noqa: E402

use_offline_environment()
# As the Makefile: numba's compiled UMAP functions are cached across processes (~20 s saved).
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".prefect" / "numba-cache"))

import psutil  # noqa: E402

_PROCESS = psutil.Process()


def _rss() -> int:
    """RSS of this process and its children (prepare's worker processes)."""
    total = _PROCESS.memory_info().rss
    for child in _PROCESS.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # it ended between the listing and the reading
            total += child.memory_info().rss
    return total


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


class PeakRss:
    """Sample the RSS of this process and its children in a thread; the peak while the block
    runs."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def timed(rows: list[dict[str, Any]], stage: str, n: int, fn: Callable[[], Any]) -> Any:
    """Run one stage, record seconds (wall and CPU), rows/s and memory, print the row."""
    with PeakRss() as mem:
        started, cpu_started = time.perf_counter(), _cpu()
        result = fn()
        seconds = time.perf_counter() - started
        cpu = _cpu() - cpu_started
    row = {
        "stage": stage,
        "seconds": seconds,
        "cpu": cpu,
        "rows_per_s": n / seconds if seconds > 0 else float("inf"),
        "peak_mib": mem.peak / 2**20,
        "delta_mib": (mem.peak - mem.start) / 2**20,
    }
    rows.append(row)
    print(
        f"  {stage:<12} {seconds:8.1f} s {cpu:8.1f} s CPU {row['rows_per_s']:10.0f} rows/s "
        f"peak {row['peak_mib']:7.0f} MiB (+{row['delta_mib']:.0f})",
        flush=True,
    )
    return result


def split_new(tickets: Path, n_new: int, workdir: Path) -> tuple[Path, Path]:
    """The demo tickets without their `n_new` latest, and those latest (new arrivals)."""
    import duckdb

    base, new = workdir / "tickets_base.csv", workdir / "tickets_new.csv"
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE source AS SELECT * FROM read_csv(?, all_varchar = true)", [str(tickets)]
    )
    ordered = "SELECT * FROM source ORDER BY created_at, ticket_id"
    n = con.execute("SELECT count(*) FROM source").fetchall()[0][0]
    for path, query in (
        (base, f"{ordered} LIMIT {n - n_new}"),
        (new, f"{ordered} OFFSET {n - n_new}"),
    ):
        con.sql(query).write_csv(str(path))
    con.close()
    return base, new


SHARED_DATA = ROOT.parent / "shared" / "data"

# Real requests: the file in the shared data folder and its text column.
REAL = {
    "hwu64": ("hwu64_utterances_11k.csv", "text"),
    "bitext": ("bitext_customer_support_20k.csv", "utterance"),
}

REAL_CONFIG = """\
[[sources]]
kind = "customers"
path = "customers.csv"

[[sources]]
kind = "tickets"
path = "tickets.csv"

[[personas]]
name = "Enterprise customer"
where = "plan = 'enterprise'"

[[personas]]
name = "Free plan in Europe"
where = "plan = 'free' AND region = 'Europe'"
"""


@dataclass(frozen=True)
class Desk:
    """A help desk to benchmark: its files, its config and its size."""

    tickets_path: Path
    customers_path: Path
    config_path: Path
    n_tickets: int
    n_customers: int


def real_desk(data: str, n_tickets: int, folder: Path, seed: int = 7) -> Desk:
    """`n_tickets` requests of a real collection as a help desk of seeded customers.

    The requests are a seeded sample (all of them when `n_tickets` is larger); each gets a
    customer (about 3.6 requests per customer, drawn at random) and a time over one year.
    """
    import duckdb
    import numpy as np

    file, column = REAL[data]
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    texts = [
        r[0]
        for r in con.execute(
            f"SELECT {column} FROM read_csv(?, all_varchar = true) WHERE {column} IS NOT NULL",
            [str(SHARED_DATA / file)],
        ).fetchall()
    ]
    rng = np.random.default_rng(seed)
    if n_tickets < len(texts):
        texts = [texts[i] for i in sorted(rng.choice(len(texts), n_tickets, replace=False))]
    n_customers = max(1, round(len(texts) / 3.6))
    customer = rng.integers(0, n_customers, len(texts))
    seconds = np.sort(rng.integers(0, 365 * 86400, len(texts)))
    con.execute(
        "CREATE TABLE tickets AS SELECT * FROM (SELECT unnest(?) AS body, unnest(?) AS c, "
        "unnest(?) AS s, generate_subscripts(?, 1) AS i)",
        [texts, customer.tolist(), seconds.tolist(), texts],
    )
    tickets = folder / "tickets.csv"
    con.sql(
        "SELECT printf('T%06d', i) AS ticket_id, printf('C%05d', c) AS customer_id, "
        "TIMESTAMP '2026-01-01' + to_seconds(s) AS created_at, body FROM tickets ORDER BY i"
    ).write_csv(str(tickets))
    plans = rng.choice(["free", "pro", "enterprise"], n_customers, p=[0.6, 0.3, 0.1])
    regions = rng.choice(["Europe", "Americas", "Asia"], n_customers)
    con.execute(
        "CREATE TABLE customers AS SELECT * FROM (SELECT unnest(?) AS plan, unnest(?) AS region, "
        "generate_subscripts(?, 1) - 1 AS c)",
        [plans.tolist(), regions.tolist(), plans.tolist()],
    )
    customers = folder / "customers.csv"
    con.sql(
        "SELECT printf('C%05d', c) AS customer_id, plan, region FROM customers ORDER BY c"
    ).write_csv(str(customers))
    con.close()
    config = folder / "persona-mining.toml"
    config.write_text(REAL_CONFIG, encoding="utf-8")
    return Desk(tickets, customers, config, len(texts), n_customers)


def demo_desk(n_tickets: int, folder: Path) -> Desk:
    """The demo generator's help desk of about `n_tickets` tickets (seed 7)."""
    from persona_mining.demo.generate import generate_demo

    demo = generate_demo(folder, seed=7, n_customers=max(1, round(n_tickets / 3.6)))
    return Desk(
        demo.tickets_path,
        demo.customers_path,
        demo.config_path,
        demo.n_tickets,
        demo.n_customers,
    )


def run_size(
    n_tickets: int,
    workdir: Path,
    floor: bool,
    profile: str,
    n_new: int = 0,
    data: str = "demo",
    *,
    models_dir: Path,
) -> dict[str, Any]:
    """Make a desk of about `n_tickets` tickets and run every stage on it.

    With `n_new`, the latest `n_new` tickets are held back from the full run, then ingested and
    run incrementally (assigned with the fitted model), as a nightly run would.
    """
    from persona_mining import warehouse as db
    from persona_mining.config import SourceConfig, load_config
    from persona_mining.pipeline import Stage, run_pipeline

    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if data == "demo":
        demo = demo_desk(n_tickets, workdir / "demo")
    else:
        demo = real_desk(data, n_tickets, workdir / data)
    tickets_path, new_path = demo.tickets_path, None
    if n_new:
        tickets_path, new_path = split_new(demo.tickets_path, n_new, workdir)
    print(
        f"\n{data}: {demo.n_tickets} tickets, {demo.n_customers} customers, profile {profile} "
        f"(made in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    config = load_config(demo.config_path, db=workdir / "bench.duckdb", profile=profile)
    sources = (
        SourceConfig(kind="customers", path=demo.customers_path),
        SourceConfig(kind="tickets", path=tickets_path),
    )
    config = config.model_copy(
        update={
            "models": config.models.model_copy(update={"dir": models_dir}),
            "sources": sources,
        }
    )
    n = demo.n_tickets - n_new
    con = db.connect(config.warehouse.path)

    def run(n: int, *, refit: bool) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
        """Every stage through the pipeline's runner, each step timed."""
        rows: list[dict[str, Any]] = []

        def timed_step(stage: Stage, label: str, fn: Callable[[], Any]) -> Any:
            return timed(rows, stage.name if label.startswith(stage.name) else label, n, fn)

        run_started = time.perf_counter()
        results = run_pipeline(con, config, include=["ingest"], refit=refit, execute=timed_step)
        # What closing the warehouse costs the CLI: the write-ahead log folded into the file.
        timed(rows, "checkpoint", n, lambda: con.execute("CHECKPOINT").fetchall())
        return rows, results, time.perf_counter() - run_started

    rows, results, total = run(n, refit=True)
    cpu_total = sum(r["cpu"] for r in rows)
    print(
        f"  {'total':<12} {total:8.1f} s {cpu_total:8.1f} s CPU {n / total:10.0f} rows/s; "
        f"{results['topics'].topics} topics, "
        f"fitted on {min(n, config.topics.fit_sample or n)} tickets",
        flush=True,
    )
    result: dict[str, Any] = {
        "n": n,
        "rows": rows,
        "total": total,
        "cpu": cpu_total,
        "floor": None,
        "floor_cpu": None,
        "profile": profile,
        "peak_mib": max(r["peak_mib"] for r in rows),
    }
    if new_path is not None:
        print(f"  incremental: {n_new} new tickets, ingested and assigned", flush=True)
        config = config.model_copy(
            update={"sources": (SourceConfig(kind="tickets", path=new_path),)}
        )
        inc, _, inc_total = run(n_new, refit=False)
        result["incremental"] = {"rows": inc, "total": inc_total}
        print(
            f"  {'incremental':<12} {inc_total:8.1f} s = {inc_total / total:.1%} of the full run "
            "(loading spaCy and the embedding model included; the CLI adds importing and the "
            "Prefect server)",
            flush=True,
        )
    texts = [r[0] for r in con.execute("SELECT text FROM prepared_tickets").fetchall()]
    con.close()
    if floor:
        from persona_mining.text.embed import make_embedder

        embedder = make_embedder(config.models)
        bare, bare_cpu = bare_encode(embedder, config.models, texts)
        result["floor"], result["floor_cpu"] = bare, bare_cpu
        embed = next(r["seconds"] for r in rows if r["stage"] == "embed")
        print(
            f"  bare encode of the {len(texts)} prepared texts: {bare:.1f} s, {bare_cpu:.1f} s CPU "
            f"({len(texts) / bare:.0f}/s); full run / bare encode = {total / bare:.2f} "
            f"(CPU {cpu_total / bare_cpu:.2f}); full run / embed stage = {total / embed:.2f}",
            flush=True,
        )
        if getattr(embedder, "precision", "float32") != "float32":
            # The floor above is the library's own float32 encode, as a user would script it;
            # the same encode in the pipeline's precision, for comparison.
            same, same_cpu = bare_encode(embedder, config.models, texts, embedder.precision)
            result["floor_same_precision"] = same
            print(
                f"  the same bare encode in {embedder.precision}: {same:.1f} s, {same_cpu:.1f} s "
                f"CPU; full run / that encode = {total / same:.2f}",
                flush=True,
            )
    return result


@functools.cache
def _library_model(path: str, device: str) -> Any:
    """The sentence-transformers model at `path`, loaded once for every bare encode."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device)


def bare_encode(
    embedder: Any, models: Any, texts: list[str], precision: str = "float32"
) -> tuple[float, float]:
    """Seconds (wall, CPU) of the embedding library's own encode of `texts`, outside the
    pipeline (in float32, or under torch's autocast to `precision`). CPU seconds of this
    process, all threads, are less exposed to other jobs on a shared machine than wall
    seconds."""
    from persona_mining.text.embed import StaticEmbedder, resolve_model_path

    if isinstance(embedder, StaticEmbedder):
        from model2vec import StaticModel

        static = StaticModel.from_pretrained(str(embedder.path))
        started, cpu = time.perf_counter(), time.process_time()
        static.encode(texts, show_progress_bar=False)
        return time.perf_counter() - started, time.process_time() - cpu
    import torch

    device = getattr(embedder, "device", models.device)
    model = _library_model(str(resolve_model_path(models.embedding)), device)
    with torch.autocast(
        device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bfloat16"
    ):
        model.encode(texts[:8])
        started, cpu = time.perf_counter(), time.process_time()
        model.encode(texts, batch_size=models.batch_size, normalize_embeddings=True)
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[2000, 20000], help="tickets per run"
    )
    parser.add_argument("--keep", type=Path, help="keep the demo files and warehouses here")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-encode floor")
    parser.add_argument(
        "--models",
        type=Path,
        default=ROOT / "models",
        metavar="DIR",
        help="models folder: the fast profile's static model is distilled here once (default: models/)",
    )
    parser.add_argument("--profile", default="default", help="config profile: default or fast")
    parser.add_argument(
        "--incremental",
        type=int,
        default=0,
        metavar="N",
        help="hold the N latest tickets back, then ingest and run them after the full run",
    )
    parser.add_argument(
        "--data",
        choices=["demo", *REAL],
        default="demo",
        help="the demo generator, or real requests from the shared data folder",
    )
    args = parser.parse_args()
    import torch

    print(
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), NUMBA_CACHE_DIR={os.environ.get('NUMBA_CACHE_DIR')}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="persona-bench-") as tmp:
        base = args.keep or Path(tmp)
        summaries = [
            run_size(
                n,
                base / f"{args.data}-n{n}",
                not args.no_floor,
                args.profile,
                args.incremental,
                args.data,
                models_dir=args.models,
            )
            for n in args.sizes
        ]
    print(
        "\n| tickets | "
        + " | ".join(r["stage"] for r in summaries[0]["rows"])
        + " | total | bare encode | ratio | CPU total | CPU bare encode | CPU ratio | peak MiB |"
    )
    for s in summaries:
        cells = " | ".join(f"{r['seconds']:.1f}" for r in s["rows"])
        floor = f"{s['floor']:.1f}" if s["floor"] else "-"
        ratio = f"{s['total'] / s['floor']:.2f}" if s["floor"] else "-"
        floor_cpu = f"{s['floor_cpu']:.1f}" if s["floor_cpu"] else "-"
        cpu_ratio = f"{s['cpu'] / s['floor_cpu']:.2f}" if s["floor_cpu"] else "-"
        print(
            f"| {s['n']} | {cells} | {s['total']:.1f} | {floor} | {ratio} | {s['cpu']:.1f} | "
            f"{floor_cpu} | {cpu_ratio} | {s['peak_mib']:.0f} |"
        )
        if "incremental" in s:
            inc = s["incremental"]
            cells = " | ".join(f"{r['stage']} {r['seconds']:.1f}" for r in inc["rows"])
            print(
                f"| +{inc['rows'][0]['rows_per_s'] * inc['rows'][0]['seconds']:.0f} new | {cells} | "
                f"{inc['total']:.1f} ({inc['total'] / s['total']:.1%}) |"
            )


if __name__ == "__main__":
    main()
