"""The prepare stage in one process against worker processes, on the same tickets.

Usage: .venv/bin/python bench/prepare_processes.py [--tickets 200000] [--processes 1 0]

On a generated demo help desk of about `--tickets` tickets (ingested once), it prepares every
ticket with each `[scale] processes` setting in turn (1: in this process; 0: one worker per
core), emptying the prepared tables between runs, and prints wall seconds and the CPU seconds
of this process and of its ended children. The prepared tables of the runs must be equal: the
script says whether they are.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PREPARED = (
    "SELECT ticket_id, raw_hash, text_hash, n_sentences, language, in_scope "
    "FROM prepared_tickets ORDER BY ticket_id"
)
QUESTIONS = "SELECT ticket_id, position, question_hash FROM ticket_questions ORDER BY 1, 2"


def _cpu() -> float:
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 0])
    args = parser.parse_args()

    from persona_mining import warehouse as db
    from persona_mining.config import SourceConfig, load_config
    from persona_mining.demo.generate import generate_demo
    from persona_mining.environment import use_offline_environment
    from persona_mining.pipeline import run_pipeline
    from persona_mining.text.prepare import prepare_tickets

    use_offline_environment()
    with tempfile.TemporaryDirectory(prefix="persona-prepare-") as tmp:
        folder = Path(tmp)
        demo = generate_demo(folder / "demo", seed=7, n_customers=round(args.tickets / 3.6))
        config = load_config(demo.config_path, db=folder / "bench.duckdb", profile="fast")
        sources = (
            SourceConfig(kind="customers", path=demo.customers_path),
            SourceConfig(kind="tickets", path=demo.tickets_path),
        )
        config = config.model_copy(update={"sources": sources})
        con = db.connect(config.warehouse.path)
        run_pipeline(con, config, only=["ingest"], include=["ingest"])
        print(f"{os.cpu_count()} CPUs; {demo.n_tickets} tickets", flush=True)
        tables = []
        for processes in args.processes:
            con.execute("DELETE FROM prepared_tickets; DELETE FROM ticket_questions; CHECKPOINT")
            started, cpu = time.perf_counter(), _cpu()
            result = prepare_tickets(con, config=config.prepare, processes=processes)
            print(
                f"processes={processes}: {result.prepared} tickets in "
                f"{time.perf_counter() - started:.1f} s, {_cpu() - cpu:.1f} s CPU",
                flush=True,
            )
            tables.append((con.execute(PREPARED).fetchall(), con.execute(QUESTIONS).fetchall()))
        con.close()
    print("prepared tables equal:", all(t == tables[0] for t in tables))


if __name__ == "__main__":
    main()
