"""Power bench: plant persona links into real text and count what the link statistics find.

Usage: .venv/bin/python bench/power.py [--quick] [--seeds 20] [--collections hwu64 bitext]
           [--profile fast] [--data DIR] [--write]

For each collection (HWU64, Bitext from the shared data folder) the tickets are ingested into a
warehouse and prepare, embed and topics run through the pipeline's runner, once: the warehouse
is cached under bench/.cache/power (ignored by git) and reused by later runs. Its tickets have
no customers; each seed then adds a desk of synthetic customers on top:

- 700 customers, each with a number of tickets drawn uniformly from the setting's range
  (copies of the collection's tickets, drawn with replacement, with their topic);
- a persona of the setting's share of the customers (segment `persona`);
- `PLANTED` issues drawn at random among the topics of a typical size (a share of the
  tickets within a factor 2 of the mean share); the persona's tickets are drawn with
  those topics' tickets weighted so that its share of each is `lift` times everyone else's
  (every other topic then under-indexes a little, as in real data). With no link planted
  ("null"), the persona's tickets are drawn like everyone's.

The product's link stage (`link_issues` on the DuckDB warehouse) runs on each desk, and beside
it plain per-cell Fisher + BH (two-sided Fisher's exact test on tickets, persona against
everyone else, Benjamini-Hochberg over the issues; a finding is q < 0.05 with lift > 1), and
the procedures that the product's p-values would give under per-level BH (to show what each
change buys). A planted link is found when its issue or its theme is a significant
over-indexed cell; a false link is a significant over-indexed issue that was not planted or a
theme holding no planted issue. Reported per setting: recall, findings per seed, the share of
findings that are true, and the seeds with any false link.

Prints one Markdown table; `--write` appends it with the command and machine to
bench/RESULTS.md. `--quick` runs HWU64 only, the target setting (persona of 20% of 700
customers, 2-3 tickets each) at null, lift 2 and lift 3, with 10 seeds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona_mining.environment import use_offline_environment  # noqa: E402

use_offline_environment()
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".prefect" / "numba-cache"))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from scipy import stats  # noqa: E402

from persona_mining import warehouse as db  # noqa: E402
from persona_mining.config import Config, LinkConfig, load_config  # noqa: E402
from persona_mining.ingest.load import ingest_tickets  # noqa: E402
from persona_mining.personas.link import link_issues  # noqa: E402
from persona_mining.pipeline import run_pipeline  # noqa: E402
from persona_mining.stats import benjamini_hochberg, discoveries  # noqa: E402
from persona_mining.text.embed import STATIC_PREFIX, distil_static_model  # noqa: E402
from persona_mining.topics.model import UNCLUSTERED, current_model  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "power"
RESULTS = ROOT / "bench" / "RESULTS.md"
CUSTOMERS = 700
PLANTED = 3
ALPHA = 0.05


@dataclass(frozen=True)
class Collection:
    """A public collection of real requests: its file and text column."""

    name: str
    title: str
    file: str
    text: str


COLLECTIONS = {
    "hwu64": Collection("hwu64", "HWU64", "hwu64_utterances_11k.csv", "text"),
    "bitext": Collection("bitext", "Bitext", "bitext_customer_support_20k.csv", "utterance"),
}


def bench_config(profile: str, models_dir: Path) -> Config:
    """The profile's config with its models kept in the cache folder."""
    config = load_config(profile=profile)
    config = config.model_copy(
        update={"models": config.models.model_copy(update={"dir": models_dir})}
    )
    embedding = config.models.embedding
    if embedding.startswith(STATIC_PREFIX):
        shared = distil_static_model(
            embedding[len(STATIC_PREFIX) :],
            models_dir=ROOT / "models",
            dims=config.models.static_dims,
            common=config.models.static_common,
        )
        models_dir.mkdir(parents=True, exist_ok=True)
        link = models_dir / shared.name
        if not link.exists():
            link.symlink_to(shared.resolve(), target_is_directory=True)
    return config


def topic_warehouse(collection: Collection, profile: str, data: Path) -> Path:
    """The collection's warehouse with topics fitted by the pipeline, built once and cached.

    Tickets are ingested without customers; each seed gives them customers later. The fit is
    the expensive part (prepare, embed, topics), so it is kept under bench/.cache (ignored).
    """
    path = CACHE / f"{collection.name}-{profile}.duckdb"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    config = bench_config(profile, CACHE / f"models-{collection.name}-{profile}")
    started = time.perf_counter()
    con = db.connect(building / "w.duckdb")
    try:
        ingest_tickets(
            con,
            path=data / collection.file,
            columns={"ticket_id": "@row", "created_at": "@file_time", "body": collection.text},
        )
        run_pipeline(con, config, only=["prepare", "embed", "topics"], refit=True)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    shutil.move(building / "w.duckdb", path)
    shutil.rmtree(building)
    print(f"  built {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


@dataclass(frozen=True)
class Setting:
    """One cell of the grid: the persona's share of customers, tickets per customer, lift."""

    collection: str
    persona_share: float
    tickets: tuple[int, int]  # inclusive range per customer
    lift: float  # 1.0: no link planted


@dataclass(frozen=True)
class Pool:
    """The collection's assigned tickets, their topics and the topics' themes."""

    ticket_ids: np.ndarray
    topics: np.ndarray
    topic_ids: list[int]
    theme_of: dict[int, int]


def load_pool(con: duckdb.DuckDBPyConnection) -> Pool:
    """Every ticket assigned to a topic (not unclustered) under the current model."""
    current = current_model(con)
    assert current is not None
    model_id = current[0]
    rows = con.execute(
        """SELECT tt.ticket_id, tt.topic_id FROM ticket_topics tt
        JOIN topics t ON t.model_id = tt.model_id AND t.topic_id = tt.topic_id
        WHERE tt.model_id = ? AND tt.topic_id <> ? AND coalesce(t.active, true)
          AND NOT coalesce(t.ignored, false)
        ORDER BY tt.ticket_id""",
        [model_id, UNCLUSTERED],
    ).fetchall()
    theme_of = dict(
        con.execute(
            "SELECT topic_id, group_id FROM topics WHERE model_id = ? AND group_id >= 0",
            [model_id],
        ).fetchall()
    )
    topics = np.array([r[1] for r in rows])
    return Pool(np.array([r[0] for r in rows]), topics, sorted(set(topics.tolist())), theme_of)


def typical(pool: Pool) -> list[int]:
    """Issues of a typical size: a share of the tickets within a factor 2 of the mean share.

    Links are planted on these, so that a setting's "tickets per planted issue" describes
    every planted issue (the smallest topics hold a few tickets of a small persona, the
    largest hundreds).
    """
    mean = 1 / len(pool.topic_ids)
    shares = {t: float(np.mean(pool.topics == t)) for t in pool.topic_ids}
    return [t for t, share in shares.items() if mean / 2 <= share <= 2 * mean]


def plant(
    pool: Pool, setting: Setting, rng: np.random.Generator
) -> tuple[list[tuple[str, str, str]], np.ndarray, set[int]]:
    """One seed's desk: (new ticket id, source ticket id, customer) rows, the persona, the
    planted topics."""
    counts = rng.integers(setting.tickets[0], setting.tickets[1] + 1, size=CUSTOMERS)
    persona = rng.random(CUSTOMERS) < setting.persona_share
    planted: set[int] = set()
    weights = np.ones(len(pool.topics))
    if setting.lift != 1.0:
        planted = {int(t) for t in rng.choice(typical(pool), size=PLANTED, replace=False)}
        is_planted = np.isin(pool.topics, list(planted))
        share = is_planted.mean()
        # Persona share of each planted topic = lift x its share among everyone else.
        weight = setting.lift * (1 - share) / (1 - setting.lift * share)
        weights = np.where(is_planted, weight, 1.0)
    weights_in = weights / weights.sum()
    rows: list[tuple[str, str, str]] = []
    for c in range(CUSTOMERS):
        drawn = (
            rng.choice(len(pool.topics), size=counts[c], p=weights_in)
            if persona[c]
            else rng.integers(0, len(pool.topics), size=counts[c])
        )
        rows += [(f"s{c}-{k}", str(pool.ticket_ids[i]), f"c{c:04d}") for k, i in enumerate(drawn)]
    return rows, persona, planted


def load_desk(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str]], persona: np.ndarray
) -> None:
    """Replace the synthetic desk: its tickets (copies with their topic), customers, persona."""
    model_id = current_model(con)[0]  # type: ignore[index]
    con.execute("DELETE FROM ticket_topics WHERE ticket_id LIKE 's%-%'")
    con.execute("DELETE FROM tickets WHERE ticket_id LIKE 's%-%'")
    con.execute("DELETE FROM customer_segments")
    con.execute("DELETE FROM segments")
    con.execute("DELETE FROM customers")
    desk = pa.table(
        {
            "new_id": [r[0] for r in rows],
            "source_id": [r[1] for r in rows],
            "customer": [r[2] for r in rows],
        }
    )
    con.register("__desk", desk)
    con.execute(
        "INSERT INTO tickets SELECT t.* REPLACE (d.new_id AS ticket_id, d.customer AS customer_id) "
        "FROM __desk d JOIN tickets t ON t.ticket_id = d.source_id"
    )
    con.execute(
        "INSERT INTO ticket_topics SELECT tt.* REPLACE (d.new_id AS ticket_id) "
        "FROM __desk d JOIN ticket_topics tt ON tt.ticket_id = d.source_id WHERE tt.model_id = ?",
        [model_id],
    )
    con.unregister("__desk")
    customers = [f"c{c:04d}" for c in range(CUSTOMERS)]
    con.register("__customers", pa.table({"customer_id": customers, "persona": persona}))
    con.execute(
        "INSERT INTO customers (customer_id, source, ingested_at) "
        "SELECT customer_id, 'bench', now() FROM __customers"
    )
    con.execute(
        "INSERT INTO segments (segment_id, name, kind, description, rule) "
        "VALUES ('persona', 'Persona', 'rule', 'planted', 'planted')"
    )
    con.execute(
        "INSERT INTO customer_segments (customer_id, segment_id) "
        "SELECT customer_id, 'persona' FROM __customers WHERE persona"
    )
    con.unregister("__customers")


def cells(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """The persona's issue and theme cells as link wrote them."""
    out: dict[str, list[dict[str, Any]]] = {}
    for level, table, key in (
        ("issue", "issue_by_persona", "topic_id"),
        ("theme", "issue_group_by_persona", "group_id"),
    ):
        rel = con.execute(
            f"SELECT {key} AS id, tickets, customers, lift, ci_low, p_value, significant "
            f"FROM {table} WHERE segment_id = 'persona'"
        )
        names = [d[0] for d in rel.description]
        out[level] = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
    return out


def per_level(found: dict[str, list[dict[str, Any]]], link: LinkConfig) -> dict[str, set[int]]:
    """Over-indexed findings of BH run on each level separately (the earlier procedure)."""
    out: dict[str, set[int]] = {}
    for level, rows in found.items():
        decided = discoveries(
            [r["p_value"] for r in rows],
            alpha=link.alpha,
            eligible=[
                r["ci_low"] > 1
                and r["customers"] >= link.min_customers
                and r["tickets"] >= link.min_tickets
                for r in rows
            ],
        )
        out[level] = {r["id"] for r, s in zip(rows, decided.significant, strict=True) if s}
    return out


def significant(found: dict[str, list[dict[str, Any]]]) -> dict[str, set[int]]:
    """Over-indexed significant cells as the link stage decided them."""
    return {
        level: {r["id"] for r in rows if r["significant"] and r["lift"] > 1}
        for level, rows in found.items()
    }


def plain_fisher(rows: list[tuple[str, str, str]], persona: np.ndarray, pool: Pool) -> set[int]:
    """Plain per-cell Fisher + BH on tickets: over-indexed issues with q < alpha."""
    topic_of = dict(zip(pool.ticket_ids.tolist(), pool.topics.tolist(), strict=True))
    inside = np.array([persona[int(r[2][1:])] for r in rows])
    topics = np.array([topic_of[r[1]] for r in rows])
    n_in, n_out = int(inside.sum()), int((~inside).sum())
    tested, p_values = [], []
    for t in pool.topic_ids:
        a = int(((topics == t) & inside).sum())
        b = int(((topics == t) & ~inside).sum())
        if a + b == 0:
            continue
        p_values.append(stats.fisher_exact([[a, n_in - a], [b, n_out - b]]).pvalue)
        tested.append((t, a / n_in > b / n_out))
    q = benjamini_hochberg(p_values)
    return {t for (t, over), qv in zip(tested, q, strict=True) if over and qv < ALPHA}


METHODS = {
    "persona-mining": "the link stage: one-sided clustered exact test, conditional p-values, "
    "themes and issues under one FDR (Benjamini-Bogomolov)",
    "one-sided, BH per level": "the same p-values, BH on issues and on themes separately",
    "two-sided, hierarchical": 'the link stage with findings = "both"',
    "two-sided, BH per level": 'findings = "both" p-values, BH per level',
    "plain Fisher + BH": "two-sided Fisher on tickets, BH over issues",
}


def score(
    found: dict[str, set[int]], planted: set[int], theme_of: dict[int, int]
) -> tuple[int, int, int]:
    """(planted links found, true findings, false findings) of one seed."""
    planted_themes = {theme_of[t] for t in planted if t in theme_of}
    issues, themes = found.get("issue", set()), found.get("theme", set())
    hit = sum(1 for t in planted if t in issues or theme_of.get(t, -99) in themes)
    true = len(issues & planted) + len(themes & planted_themes)
    false = len(issues - planted) + len(themes - planted_themes)
    return hit, true, false


def run_setting(
    con: duckdb.DuckDBPyConnection, pool: Pool, setting: Setting, seeds: int
) -> list[dict[str, Any]]:
    """Every method's recall and false links over the seeds of one setting."""
    totals = {m: {"hit": 0, "true": 0, "false": 0, "false_seeds": 0} for m in METHODS}
    expected = []
    over, both = LinkConfig(), LinkConfig(findings="both")
    for seed in range(seeds):
        rng = np.random.default_rng(
            [seed, int(setting.persona_share * 100), *setting.tickets, int(setting.lift * 10)]
        )
        rows, persona, planted = plant(pool, setting, rng)
        load_desk(con, rows, persona)
        persona_tickets = sum(1 for r in rows if persona[int(r[2][1:])])
        expected += [persona_tickets * float(np.mean(pool.topics == t)) for t in planted]
        link_issues(con, config=over)
        one_sided = cells(con)
        link_issues(con, config=both)
        two_sided = cells(con)
        found = {
            "persona-mining": significant(one_sided),
            "one-sided, BH per level": per_level(one_sided, over),
            "two-sided, hierarchical": significant(two_sided),
            "two-sided, BH per level": per_level(two_sided, both),
            "plain Fisher + BH": {"issue": plain_fisher(rows, persona, pool)},
        }
        for method, decided in found.items():
            hit, true, false = score(decided, planted, pool.theme_of)
            t = totals[method]
            t["hit"] += hit
            t["true"] += true
            t["false"] += false
            t["false_seeds"] += false > 0
    out = []
    for method, t in totals.items():
        findings = t["true"] + t["false"]
        out.append(
            {
                "collection": COLLECTIONS[setting.collection].title,
                "persona": f"{setting.persona_share:.0%}",
                "tickets/customer": f"{setting.tickets[0]}-{setting.tickets[1]}",
                "persona tickets per planted issue": (
                    f"{np.mean(expected):.0f} -> {np.mean(expected) * setting.lift:.0f}"
                    if expected
                    else ""
                ),
                "lift": "null" if setting.lift == 1.0 else f"{setting.lift:g}",
                "method": method,
                "found": (f"{t['hit'] / (seeds * PLANTED):.0%}" if setting.lift != 1.0 else ""),
                "findings / seed": f"{findings / seeds:.1f}",
                "true share": f"{t['true'] / findings:.0%}" if findings else "",
                "seeds with a false link": f"{t['false_seeds']} / {seeds}",
            }
        )
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    previous: dict[str, Any] = {}
    for row in rows:
        shown = []
        for c in columns:
            same = (
                c
                not in (
                    "method",
                    "found",
                    "findings / seed",
                    "true share",
                    "seeds with a false link",
                )
                and previous.get(c) == row[c]
                and all(previous.get(k) == row[k] for k in columns[: columns.index(c)])
            )
            shown.append("" if same else str(row[c]))
        lines.append("| " + " | ".join(shown) + " |")
        previous = row
    return "\n".join(lines)


def grid(collections: list[str], quick: bool) -> list[Setting]:
    if quick:
        return [Setting("hwu64", 0.2, (2, 3), lift) for lift in (1.0, 2.0, 3.0)]
    out = []
    for name in collections:
        for share in (0.05, 0.2, 0.3):
            for tickets in ((2, 3), (8, 10)):
                for lift in (1.0, 1.5, 2.0, 3.0):
                    out.append(Setting(name, share, tickets, lift))
    return out


def default_data() -> Path:
    for candidate in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"):
        if candidate.exists():
            return candidate
    return ROOT.parent / "shared" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--collections", nargs="+", default=["hwu64", "bitext"])
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    data = args.data or default_data()
    if not data.exists():
        print(f"no data folder at {data}; pass --data DIR (the shared data sets)")
        return 2
    seeds = args.seeds or (10 if args.quick else 20)
    collections = ["hwu64"] if args.quick else args.collections
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in collections:
            cached = topic_warehouse(COLLECTIONS[name], args.profile, data)
            if args.build_only:
                continue
            work = Path(tmp) / f"{name}.duckdb"
            shutil.copy(cached, work)
            con = db.connect(work)
            try:
                pool = load_pool(con)
                print(
                    f"  {name}: {len(pool.ticket_ids):,} tickets in {len(pool.topic_ids)} "
                    f"issues, {len(set(pool.theme_of.values()))} themes",
                    flush=True,
                )
                for setting in grid([name], args.quick):
                    if setting.collection != name:
                        continue
                    rows += run_setting(con, pool, setting, seeds)
                    print(
                        f"    {setting} done at {time.perf_counter() - started:.0f} s", flush=True
                    )
            finally:
                con.close()
    if not rows:
        return 0
    table = markdown(rows)
    print(table)
    if args.write:
        command = "bench/power.py " + " ".join(sys.argv[1:])
        with RESULTS.open("a", encoding="utf-8") as f:
            f.write(
                f"\n## Power: planted persona links (`bench/power.py`), {dt.date.today()}\n\n"
                f"```sh\n.venv/bin/python {command}\n```\n\n"
                f"{platform.machine()}, {os.cpu_count()} cores, Python "
                f"{platform.python_version()}; {seeds} seeds per setting, "
                f"{time.perf_counter() - started:.0f} s.\n\n{table}\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
