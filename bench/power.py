"""Power bench: plant persona links into real text and count what the link statistics find.

Usage: .venv/bin/python bench/power.py [--quick] [--seeds 20] [--null-seeds N]
           [--collections hwu64 bitext] [--profile fast] [--data DIR] [--compare] [--write]

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
bench/RESULTS.md. `--quick` runs the target setting only (persona of 20% of 700 customers, 2-3
tickets each) at null, lift 2 and lift 3, with 10 seeds, on HWU64 unless `--collections` says
otherwise.

`--compare` puts the false discovery procedures tried for the link stage beside each other on
the same seeds (`COMPARED`: Benjamini-Bogomolov families, theme-first gatekeeping, adaptive
BH after Benjamini-Krieger-Yekutieli or Storey, weighted BH, the mid-p of the exact test), and
after the table prints the bound: the share of planted cells under a few p-values, the best
fixed per-cell threshold that keeps the null seeds within 1 in 20 (an oracle chosen on the null
seeds), and each procedure at the largest alpha that still does. `--null-seeds` runs more seeds
on the null settings, which that bound is chosen on.
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
from persona_mining.personas.link import UNDER_INDEXED_P, link_issues  # noqa: E402
from persona_mining.pipeline import run_pipeline  # noqa: E402
from persona_mining.stats import (  # noqa: E402
    benjamini_hochberg,
    conditional_p_values,
    discoveries,
    hierarchical_discoveries,
)
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


def bogomolov(
    found: dict[str, list[dict[str, Any]]], pool: Pool, link: LinkConfig
) -> dict[str, set[int]]:
    """Over-indexed findings of the hierarchical procedure on the link stage's p-values."""
    every = [(level, r) for level, rows in found.items() for r in rows]
    decided = hierarchical_discoveries(
        conditional_p_values([r["p_value"] for _, r in every], threshold=UNDER_INDEXED_P),
        [r["id"] if level == "theme" else pool.theme_of.get(r["id"], -1) for level, r in every],
        alpha=link.alpha,
        eligible=[
            r["ci_low"] > 1
            and r["customers"] >= link.min_customers
            and r["tickets"] >= link.min_tickets
            for _, r in every
        ],
    )
    out: dict[str, set[int]] = {"issue": set(), "theme": set()}
    for (level, r), s in zip(every, decided.significant, strict=True):
        if s:
            out[level].add(r["id"])
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
    "one BH over themes and issues",
    "hierarchical (Benjamini-Bogomolov)": "the same p-values, families persona x theme "
    "selected by Simes + BH, then BH within at alpha R / m",
    "one-sided, BH per level": "the same p-values, BH on issues and on themes separately",
    "two-sided": 'the link stage with findings = "both"',
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


@dataclass(frozen=True)
class Cell:
    """One tested cell of a seed, with what every compared procedure needs."""

    level: str  # "issue" or "theme"
    id: int
    family: tuple[str, int]
    p: float  # one-sided exact p-value, as the link stage wrote it
    p_mid: float  # the same test's mid-p
    eligible: bool  # the minimum-evidence rule and an interval above 1
    true: bool  # a planted issue, or a theme holding one
    tickets: int  # the cell's tickets, everyone's (the test's margin)


def seed_cells(
    con: duckdb.DuckDBPyConnection,
    rows: list[tuple[str, str, str]],
    persona: np.ndarray,
    pool: Pool,
    planted: set[int],
    link: LinkConfig,
) -> list[Cell]:
    """The persona's cells as the link stage wrote them, with the mid-p beside the exact p."""
    topic_of = dict(zip(pool.ticket_ids.tolist(), pool.topics.tolist(), strict=True))
    column = {t: j for j, t in enumerate(pool.topic_ids)}
    themes = sorted(set(pool.theme_of.values()))
    by_topic = np.zeros((CUSTOMERS, len(pool.topic_ids)))
    for r in rows:
        by_topic[int(r[2][1:]), column[topic_of[r[1]]]] += 1
    by_theme = np.zeros((CUSTOMERS, len(themes)))
    for t, j in column.items():
        if t in pool.theme_of:
            by_theme[:, themes.index(pool.theme_of[t])] += by_topic[:, j]
    total = by_topic.sum(axis=1)
    keep = total > 0
    planted_themes = {pool.theme_of[t] for t in planted if t in pool.theme_of}
    found = cells(con)
    out = []
    for level, matrix, ids in (("issue", by_topic, pool.topic_ids), ("theme", by_theme, themes)):
        mid = {}
        for j, key in enumerate(ids):
            y, n, inside = matrix[keep, j], total[keep], persona[keep]
            mid[key] = stats_mid_p(y[inside], n[inside], y[~inside], n[~inside])
        for r in found[level]:
            key = int(r["id"])
            if level == "issue":
                family = ("theme", pool.theme_of[key]) if key in pool.theme_of else ("issue", key)
                true = key in planted
                col = by_topic[:, column[key]]
            else:
                family, true = ("theme", key), key in planted_themes
                col = by_theme[:, themes.index(key)]
            out.append(
                Cell(
                    level,
                    key,
                    family,
                    float(r["p_value"]),
                    mid[key],
                    r["customers"] >= link.min_customers
                    and r["tickets"] >= link.min_tickets
                    and r["ci_low"] > 1,
                    true,
                    int(col.sum()),
                )
            )
    return out


def stats_mid_p(a: np.ndarray, n_a: np.ndarray, b: np.ndarray, n_b: np.ndarray) -> float:
    from persona_mining.stats import clustered_count_test

    return max(clustered_count_test(a, n_a, b, n_b, mid_p=True), float(np.finfo(float).tiny))


def step_up(p: list[float], q: float) -> set[int]:
    """Benjamini-Hochberg at q: the indices rejected."""
    m = len(p)
    if not m:
        return set()
    order = np.argsort(p)
    passed = [k for k in range(m) if p[order[k]] <= q * (k + 1) / m]
    return {int(i) for i in order[: passed[-1] + 1]} if passed else set()


def two_stage(p: list[float], q: float) -> set[int]:
    """Benjamini, Krieger and Yekutieli's adaptive BH: stage 1 estimates the true nulls."""
    m = len(p)
    first = step_up(p, q / (1 + q))
    if not first or len(first) == m:
        return first
    return step_up(p, q / (1 + q) * m / (m - len(first)))


def storey(p: list[float], q: float, lam: float = 0.5) -> set[int]:
    """Storey's adaptive BH (with the +1 of Storey, Taylor and Siegmund 2004)."""
    m = len(p)
    if not m:
        return set()
    pi0 = min(1.0, (1 + sum(x > lam for x in p)) / (m * (1 - lam)))
    return {i for i in step_up(p, q / pi0) if p[i] <= lam}


def simes_p(p: list[float]) -> float:
    ordered = np.sort(p)
    return float(min(1.0, (len(p) * ordered / np.arange(1, len(p) + 1)).min()))


def hierarchical(
    cells_: list[Cell],
    p_of: Any,
    *,
    select: Any = step_up,
    within: Any = step_up,
    family_p: Any = None,
    threshold: float = 0.5,
    alpha: float = ALPHA,
) -> dict[str, set[int]]:
    """Benjamini-Bogomolov over persona x theme families with pluggable steps.

    `family_p(members)` gives a family's p-value (Simes of its conditional p-values when None);
    a family whose p-value is None is not tested (gatekeeping on the theme cell).
    """
    tested = [(c, p_of(c) / threshold) for c in cells_ if p_of(c) <= threshold]
    families: dict[tuple[str, int], list[tuple[Cell, float]]] = {}
    for c, p in tested:
        families.setdefault(c.family, []).append((c, p))
    keys = list(families)
    fam_p = []
    for k in keys:
        value = simes_p([p for _, p in families[k]]) if family_p is None else family_p(families[k])
        fam_p.append(value)
    usable = [i for i, v in enumerate(fam_p) if v is not None]
    chosen = select([fam_p[i] for i in usable], alpha)
    selected = [keys[usable[i]] for i in chosen]
    m, r = len(usable), len(selected)
    out: dict[str, set[int]] = {"issue": set(), "theme": set()}
    for k in selected:
        members = families[k]
        for i in within([p for _, p in members], alpha * r / m):
            c = members[i][0]
            if c.eligible:
                out[c.level].add(c.id)
    return out


def theme_gate(members: list[tuple[Cell, float]]) -> float | None:
    """A family's p-value is its theme cell's (an issue without a theme: the issue's)."""
    for c, p in members:
        if c.level == "theme" or c.family[0] == "issue":
            return p
    return None


def flat(
    cells_: list[Cell], p_of: Any, *, procedure: Any = step_up, alpha: float = ALPHA
) -> dict[str, set[int]]:
    """One family of every cell (issues and themes), conditional p-values."""
    tested = [(c, p_of(c) / 0.5) for c in cells_ if p_of(c) <= 0.5]
    out: dict[str, set[int]] = {"issue": set(), "theme": set()}
    for i in procedure([p for _, p in tested], alpha):
        c = tested[i][0]
        if c.eligible:
            out[c.level].add(c.id)
    return out


def weighted_flat(cells_: list[Cell], p_of: Any, theme_weight: float) -> dict[str, set[int]]:
    """Weighted BH (Genovese, Roeder and Wasserman 2006) over the flat family.

    Weights are fixed before the data (a theme cell weighs `theme_weight`, an issue 1) and
    rescaled to average 1 over the tested cells; each p-value is divided by its weight.
    """
    tested = [(c, p_of(c) / 0.5) for c in cells_ if p_of(c) <= 0.5]
    weights = np.array([theme_weight if c.level == "theme" else 1.0 for c, _ in tested])
    if not len(tested):
        return {"issue": set(), "theme": set()}
    weights = weights / weights.mean()
    out: dict[str, set[int]] = {"issue": set(), "theme": set()}
    for i in step_up([p / w for (_, p), w in zip(tested, weights, strict=True)], ALPHA):
        c = tested[i][0]
        if c.eligible:
            out[c.level].add(c.id)
    return out


def exact(c: Cell) -> float:
    return c.p


def midp(c: Cell) -> float:
    return c.p_mid


COMPARED = {
    "BB, exact": lambda cs: hierarchical(cs, exact),
    "BB, mid-p": lambda cs: hierarchical(cs, midp),
    "theme-first gatekeeping, exact": lambda cs: hierarchical(cs, exact, family_p=theme_gate),
    "theme-first gatekeeping, mid-p": lambda cs: hierarchical(cs, midp, family_p=theme_gate),
    "BB + BKY two-stage, exact": lambda cs: hierarchical(
        cs, exact, select=two_stage, within=two_stage
    ),
    "BB + BKY two-stage, mid-p": lambda cs: hierarchical(
        cs, midp, select=two_stage, within=two_stage
    ),
    "BB + Storey, exact": lambda cs: hierarchical(cs, exact, select=storey, within=storey),
    "BB, no conditional p-values, exact": lambda cs: hierarchical(cs, exact, threshold=1.0),
    "BB, conditional at 0.2, exact": lambda cs: hierarchical(cs, exact, threshold=0.2),
    "flat BH (issues + themes), exact (the link stage, recomputed)": lambda cs: flat(cs, exact),
    "flat BH (issues + themes), mid-p": lambda cs: flat(cs, midp),
    "flat BKY (issues + themes), mid-p": lambda cs: flat(cs, midp, procedure=two_stage),
    "issues only, BH, mid-p": lambda cs: flat([c for c in cs if c.level == "issue"], midp),
    "flat Storey (issues + themes), exact": lambda cs: flat(cs, exact, procedure=storey),
    "flat weighted BH, themes at 1/2, exact": lambda cs: weighted_flat(cs, exact, 0.5),
    "flat weighted BH, themes at 2, exact": lambda cs: weighted_flat(cs, exact, 2.0),
}


def run_setting(
    con: duckdb.DuckDBPyConnection,
    pool: Pool,
    setting: Setting,
    seeds: int,
    compare: bool = False,
    kept: list[tuple[set[int], list[Cell]]] | None = None,
) -> list[dict[str, Any]]:
    """Every method's recall and false links over the seeds of one setting.

    With `compare`, the procedures of `COMPARED` run on the link stage's cells instead of the
    two-sided and per-level variants, and each seed's cells are appended to `kept`.
    """
    methods = ["persona-mining", *COMPARED, "plain Fisher + BH"] if compare else list(METHODS)
    totals = {m: {"hit": 0, "true": 0, "false": 0, "false_seeds": 0} for m in methods}
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
        if compare:
            tested = seed_cells(con, rows, persona, pool, planted, over)
            if kept is not None:
                kept.append((planted, tested))
            found = {
                "persona-mining": significant(one_sided),
                **{name: procedure(tested) for name, procedure in COMPARED.items()},
                "plain Fisher + BH": {"issue": plain_fisher(rows, persona, pool)},
            }
        else:
            link_issues(con, config=both)
            two_sided = cells(con)
            found = {
                "persona-mining": significant(one_sided),
                "hierarchical (Benjamini-Bogomolov)": bogomolov(one_sided, pool, over),
                "one-sided, BH per level": per_level(one_sided, over),
                "two-sided": significant(two_sided),
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


def oracle(
    kept: dict[float, list[tuple[set[int], list[Cell]]]], p_of: Any, allowed: float = 0.05
) -> dict[str, Any]:
    """The best fixed per-cell threshold that keeps the null at `allowed` seeds with a false link.

    Chosen on the null seeds themselves (an oracle: no procedure knows it): the threshold is the
    smallest p that would make one more null seed false. Recall and true share at each lift
    follow from that threshold, on the same cells (eligible ones only, issue or theme).
    Two thresholds are searched as well, one for issues and one for themes.
    """
    null = kept[1.0]
    minima = []
    for _, cs in null:
        issue = min([p_of(c) for c in cs if c.eligible and c.level == "issue"], default=1.0)
        theme = min([p_of(c) for c in cs if c.eligible and c.level == "theme"], default=1.0)
        minima.append((issue, theme))
    budget = int(allowed * len(null))
    single = sorted(min(m) for m in minima)[budget]
    candidates = sorted({m[0] for m in minima} | {1.0})
    best = (-1.0, single, single)
    for t_issue in candidates:
        # The theme threshold that spends what the issue threshold leaves.
        rest = sorted(m[1] for m in minima if m[0] >= t_issue)
        spent = len(null) - len(rest)
        if spent > budget:
            continue
        t_theme = rest[budget - spent] if budget - spent < len(rest) else 1.0
        hit = sum(_hits(kept[2.0], p_of, t_issue, t_theme))
        if hit > best[0]:
            best = (hit, t_issue, t_theme)
    out: dict[str, Any] = {"single": single, "issue": best[1], "theme": best[2]}
    for lift, seeds in kept.items():
        if lift == 1.0:
            continue
        for name, (ti, tt) in (("single", (single, single)), ("two", (best[1], best[2]))):
            hits, true, false, false_seeds = _hits(seeds, p_of, ti, tt)
            out[f"{name} {lift:g}"] = (
                hits / (PLANTED * len(seeds)),
                true / max(true + false, 1),
                false_seeds,
            )
    return out


def _hits(
    seeds: list[tuple[set[int], list[Cell]]], p_of: Any, t_issue: float, t_theme: float
) -> tuple[int, int, int, int]:
    hits = true = false = false_seeds = 0
    for planted, cs in seeds:
        chosen = [
            c for c in cs if c.eligible and p_of(c) < (t_issue if c.level == "issue" else t_theme)
        ]
        themes = {c.id for c in chosen if c.level == "theme"}
        issues = {c.id for c in chosen if c.level == "issue"}
        theme_of = {c.id: c.family[1] for c in cs if c.level == "issue"}
        hits += sum(1 for t in planted if t in issues or theme_of.get(t) in themes)
        true += sum(c.true for c in chosen)
        false += sum(not c.true for c in chosen)
        false_seeds += any(not c.true for c in chosen)
    return hits, true, false, false_seeds


def calibrated_alpha(
    kept: dict[float, list[tuple[set[int], list[Cell]]]], procedure: Any, allowed: float = 0.05
) -> tuple[float, dict[float, tuple[float, float, int]]]:
    """The largest alpha at which `procedure(cells, alpha)` keeps the null within `allowed`."""
    budget = int(allowed * len(kept[1.0]))
    best = 0.0
    for alpha in np.round(np.arange(0.005, 0.301, 0.005), 3):
        false_seeds = 0
        for _, cs in kept[1.0]:
            found = procedure(cs, float(alpha))
            false_seeds += any(found.values())
        if false_seeds <= budget:
            best = float(alpha)
    out = {}
    for lift, seeds in kept.items():
        if lift == 1.0:
            continue
        hits = true = false = fs = 0
        for planted, cs in seeds:
            found = procedure(cs, best)
            theme_of = {c.id: c.family[1] for c in cs if c.level == "issue"}
            planted_themes = {theme_of[t] for t in planted if t in theme_of}
            hits += sum(
                1 for t in planted if t in found["issue"] or theme_of.get(t) in found["theme"]
            )
            t_ = len(found["issue"] & planted) + len(found["theme"] & planted_themes)
            f_ = len(found["issue"] - planted) + len(found["theme"] - planted_themes)
            true, false, fs = true + t_, false + f_, fs + (f_ > 0)
        out[lift] = (hits / (PLANTED * len(seeds)), true / max(true + false, 1), fs)
    return best, out


def planted_p_table(kept: dict[float, list[tuple[set[int], list[Cell]]]]) -> str:
    """Share of planted cells (issue level, and issue or theme) below a few p thresholds."""
    lines = []
    for lift, seeds in kept.items():
        if lift == 1.0:
            continue
        for name, p_of in (("exact", exact), ("mid-p", midp)):
            best = []
            for planted, cs in seeds:
                theme_of = {c.id: c.family[1] for c in cs if c.level == "issue"}
                for t in planted:
                    ps = [p_of(c) for c in cs if c.level == "issue" and c.id == t]
                    ps += [p_of(c) for c in cs if c.level == "theme" and c.id == theme_of.get(t)]
                    issue = ps[0] if ps else 1.0
                    best.append((issue, min(ps, default=1.0)))
            arr = np.array(best)
            shares = ", ".join(
                f"< {t:g}: {np.mean(arr[:, 0] < t):.0%} ({np.mean(arr[:, 1] < t):.0%})"
                for t in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
            )
            lines.append(f"lift {lift:g}, {name}: planted issue p {shares}")
    return "\n".join(lines)


def report_oracle(kept: dict[float, list[tuple[set[int], list[Cell]]]]) -> str:
    """The oracle bounds and the calibrated procedures, as text."""
    lines = [planted_p_table(kept)]
    for name, p_of in (("exact", exact), ("mid-p", midp)):
        o = oracle(kept, p_of)
        lines.append(
            f"oracle {name}: single threshold p < {o['single']:.2g}; "
            f"issue p < {o['issue']:.2g} with theme p < {o['theme']:.2g}"
        )
        for key, value in o.items():
            if " " in key:
                lines.append(
                    f"  {key}: found {value[0]:.0%}, true {value[1]:.0%}, "
                    f"seeds with a false link {value[2]}"
                )
    for t in (0.005, 0.01, 0.02):
        null = _hits(kept[1.0], exact, t, t)[3]
        hits = _hits(kept[2.0], exact, t, t)[0]
        lines.append(
            f"fixed threshold p < {t:g}: null seeds with a false link {null} / {len(kept[1.0])}, "
            f"found at lift 2 {hits / (PLANTED * len(kept[2.0])):.0%}"
        )
    for name, procedure in (
        ("BB, exact", lambda cs, a: hierarchical(cs, exact, alpha=a)),
        ("BB, mid-p", lambda cs, a: hierarchical(cs, midp, alpha=a)),
        (
            "BB + BKY, exact",
            lambda cs, a: hierarchical(cs, exact, select=two_stage, within=two_stage, alpha=a),
        ),
        (
            "BB + BKY, mid-p",
            lambda cs, a: hierarchical(cs, midp, select=two_stage, within=two_stage, alpha=a),
        ),
        ("flat BH, exact", lambda cs, a: flat(cs, exact, alpha=a)),
        ("flat BH, mid-p", lambda cs, a: flat(cs, midp, alpha=a)),
        ("flat BKY, mid-p", lambda cs, a: flat(cs, midp, procedure=two_stage, alpha=a)),
        (
            "issues only BH, mid-p",
            lambda cs, a: flat([c for c in cs if c.level == "issue"], midp, alpha=a),
        ),
    ):
        alpha, by_lift = calibrated_alpha(kept, procedure)
        shown = "; ".join(
            f"lift {lift:g}: found {v[0]:.0%}, true {v[1]:.0%}, false seeds {v[2]}"
            for lift, v in by_lift.items()
        )
        lines.append(f"{name} at the largest alpha keeping the null ({alpha:g}): {shown}")
    return "\n".join(lines)


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


def grid(
    collections: list[str], quick: bool, share: float = 0.2, tickets: tuple[int, int] = (2, 3)
) -> list[Setting]:
    if quick:
        return [
            Setting(name, share, tickets, lift) for name in collections for lift in (1.0, 2.0, 3.0)
        ]
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
    parser.add_argument("--collections", nargs="+", default=None)
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--persona", type=float, default=0.2, help="with --quick: the persona's share"
    )
    parser.add_argument(
        "--tickets", type=int, nargs=2, default=(2, 3), help="with --quick: tickets per customer"
    )
    parser.add_argument(
        "--null-seeds", type=int, default=None, help="seeds of the null settings (default: --seeds)"
    )
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--write", action="store_true")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run the compared FDR procedures and the oracle bound instead of the two-sided "
        "and per-level variants",
    )
    args = parser.parse_args()
    data = args.data or default_data()
    if not data.exists():
        print(f"no data folder at {data}; pass --data DIR (the shared data sets)")
        return 2
    seeds = args.seeds or (10 if args.quick else 20)
    collections = args.collections or (["hwu64"] if args.quick else ["hwu64", "bitext"])
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    kept: dict[Setting, list[tuple[set[int], list[Cell]]]] = {}
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
                for setting in grid(
                    [name], args.quick, args.persona, (args.tickets[0], args.tickets[1])
                ):
                    if setting.collection != name:
                        continue
                    kept[setting] = []
                    n = args.null_seeds if args.null_seeds and setting.lift == 1.0 else seeds
                    rows += run_setting(con, pool, setting, n, args.compare, kept[setting])
                    print(
                        f"    {setting} done at {time.perf_counter() - started:.0f} s", flush=True
                    )
            finally:
                con.close()
    if not rows:
        return 0
    table = markdown(rows)
    print(table)
    if args.compare:
        by_desk: dict[tuple[str, float, tuple[int, int]], dict[float, Any]] = {}
        for setting, seeds_ in kept.items():
            desk = (setting.collection, setting.persona_share, setting.tickets)
            by_desk.setdefault(desk, {})[setting.lift] = seeds_
        for desk, by_lift in by_desk.items():
            if 1.0 in by_lift and 2.0 in by_lift:
                print(f"\n{desk}:\n{report_oracle(by_lift)}")
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
