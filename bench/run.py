"""Stage-by-stage benchmark of the whole pipeline on generated demo help desks.

Usage: .venv/bin/python bench/run.py [--sizes 2000 20000] [--profile fast] [--incremental 200]
                                    [--keep DIR] [--no-floor]
       (or `make bench`, `make bench SIZES="100000" PROFILE=fast`)

For each size N (tickets, approximately: the demo generator makes ~3.6 tickets per customer)
it generates a demo help desk, then runs in this one process, through the pipeline's runner
(`persona_mining.pipeline.run_pipeline`, no Prefect), every stage with a topic refit: ingest,
prepare, embed, topics, curation, trends, segments, link, negative, personas. Per stage it prints wall seconds, rows
per second (tickets) and memory: the peak resident set size during the stage (sampled with
psutil every 20 ms) and its increase over the RSS at the start of the stage. tracemalloc would
miss torch's and numba's native allocations.

In the same run it times the floor: a bare `SentenceTransformer.encode` (the fast profile:
`StaticModel.encode`) of the same prepared texts with the same model and batch size, and
prints full run / bare encode. With `--incremental N` the N latest tickets are held back,
then ingested and run after the full run (assigned with the fitted model), and their cost is
printed beside the full run's (loading the model counts in embed; spaCy is loaded by the
analysis steps of topics and personas, only when they have a text to analyse).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


class PeakRss:
    """Sample this process's RSS in a thread; the peak while the block runs."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.start = self.peak = _PROCESS.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _PROCESS.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _PROCESS.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _PROCESS.memory_info().rss)


def timed(rows: list[dict[str, Any]], stage: str, n: int, fn: Callable[[], Any]) -> Any:
    """Run one stage, record seconds, rows/s and memory, print the row."""
    with PeakRss() as mem:
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
    row = {
        "stage": stage,
        "seconds": seconds,
        "rows_per_s": n / seconds if seconds > 0 else float("inf"),
        "peak_mib": mem.peak / 2**20,
        "delta_mib": (mem.peak - mem.start) / 2**20,
    }
    rows.append(row)
    print(
        f"  {stage:<12} {seconds:8.1f} s {row['rows_per_s']:10.0f} rows/s "
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


def run_size(
    n_tickets: int, workdir: Path, floor: bool, profile: str, n_new: int = 0
) -> dict[str, Any]:
    """Generate about `n_tickets` demo tickets and run every stage on them.

    With `n_new`, the latest `n_new` tickets are held back from the full run, then ingested and
    run incrementally (assigned with the fitted model), as a nightly run would.
    """
    from persona_mining import warehouse as db
    from persona_mining.config import SourceConfig, load_config
    from persona_mining.demo.generate import generate_demo
    from persona_mining.pipeline import Stage, run_pipeline

    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    demo = generate_demo(workdir / "demo", seed=7, n_customers=max(1, round(n_tickets / 3.6)))
    tickets_path, new_path = demo.tickets_path, None
    if n_new:
        tickets_path, new_path = split_new(demo.tickets_path, n_new, workdir)
    print(
        f"\n{demo.n_tickets} tickets, {demo.n_customers} customers, profile {profile} "
        f"(generated in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    config = load_config(demo.config_path, db=workdir / "bench.duckdb", profile=profile)
    sources = (
        SourceConfig(kind="customers", path=demo.customers_path),
        SourceConfig(kind="tickets", path=tickets_path),
    )
    config = config.model_copy(
        update={
            "models": config.models.model_copy(update={"dir": ROOT / "models"}),
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
        return rows, results, time.perf_counter() - run_started

    rows, results, total = run(n, refit=True)
    print(
        f"  {'total':<12} {total:8.1f} s {n / total:10.0f} rows/s; "
        f"{results['topics'].topics} topics, "
        f"fitted on {min(n, config.topics.fit_sample or n)} tickets",
        flush=True,
    )
    result: dict[str, Any] = {
        "n": n,
        "rows": rows,
        "total": total,
        "floor": None,
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

        bare = bare_encode(make_embedder(config.models), config.models, texts)
        result["floor"] = bare
        embed = next(r["seconds"] for r in rows if r["stage"] == "embed")
        print(
            f"  bare encode of the {len(texts)} prepared texts: {bare:.1f} s "
            f"({len(texts) / bare:.0f}/s); full run / bare encode = {total / bare:.2f}; "
            f"full run / embed stage = {total / embed:.2f} (less exposed to load changes)",
            flush=True,
        )
    return result


def bare_encode(embedder: Any, models: Any, texts: list[str]) -> float:
    """Seconds of the embedding library's own encode of `texts`, outside the pipeline."""
    from persona_mining.text.embed import StaticEmbedder, resolve_model_path

    if isinstance(embedder, StaticEmbedder):
        from model2vec import StaticModel

        static = StaticModel.from_pretrained(str(embedder.path))
        started = time.perf_counter()
        static.encode(texts, show_progress_bar=False)
        return time.perf_counter() - started
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_path(models.embedding)), device=models.device)
    model.encode(texts[:8])
    started = time.perf_counter()
    model.encode(texts, batch_size=models.batch_size, normalize_embeddings=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[2000, 20000], help="tickets per run"
    )
    parser.add_argument("--keep", type=Path, help="keep the demo files and warehouses here")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-encode floor")
    parser.add_argument("--profile", default="default", help="config profile: default or fast")
    parser.add_argument(
        "--incremental",
        type=int,
        default=0,
        metavar="N",
        help="hold the N latest tickets back, then ingest and run them after the full run",
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
            run_size(n, base / f"n{n}", not args.no_floor, args.profile, args.incremental)
            for n in args.sizes
        ]
    print(
        "\n| tickets | "
        + " | ".join(r["stage"] for r in summaries[0]["rows"])
        + " | total | bare encode | ratio | peak MiB |"
    )
    for s in summaries:
        cells = " | ".join(f"{r['seconds']:.1f}" for r in s["rows"])
        floor = f"{s['floor']:.1f}" if s["floor"] else "-"
        ratio = f"{s['total'] / s['floor']:.2f}" if s["floor"] else "-"
        print(
            f"| {s['n']} | {cells} | {s['total']:.1f} | {floor} | {ratio} | {s['peak_mib']:.0f} |"
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
