"""Support leads shape the issue taxonomy: rename, merge, split and ignore topics, and undo.

Edits are recorded in `topic_edits` (what, when, by whom) against stable topic keys, never
against a model's topic ids, and are applied by replaying them in order on the assignments
as fitted (`ticket_topics.base_topic_id`, `topics.base_label`). Replaying is what makes them
survive refits: after a refit, the same edits apply to the topics that persist (same keys);
an edit whose topic vanished is reported in `topic_edit_status`, never silently dropped.

- rename KEY LABEL: the topic shows LABEL.
- merge KEY KEY...: the tickets of the later topics move to the first; those become inactive.
- split KEY: the topic's tickets are re-clustered (k-means, k from 2 to 6 by silhouette,
  seeded) into sub-topics KEY.1, KEY.2, ... (largest first); the topic itself becomes inactive.
  The sub-topics' centroids are recorded (`topic_split_centroids`): a replay gives each of the
  topic's tickets, new ones too, the sub-topic whose centroid is nearest, so that a sub-topic's
  key keeps meaning the same tickets across nightly runs and refits.
- ignore KEY: the topic stays, with its tickets, but is left out of persona tables.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from persona_mining.errors import ConfigError, StageError
from persona_mining.stats import choose_k_by_silhouette
from persona_mining.text.embed import load_vectors
from persona_mining.topics.identity import theme_label
from persona_mining.topics.labels import UNCLUSTERED, describe_topics, label_phrases
from persona_mining.topics.model import current_model
from persona_mining.warehouse import transaction

ACTIONS = ("rename", "merge", "split", "ignore")
MAX_SPLIT = 6


@dataclass(frozen=True)
class EditStatus:
    """How one recorded edit applied to the current model."""

    edit_id: int
    action: str
    topic_keys: tuple[str, ...]
    status: str  # applied | vanished | undone
    detail: str


@dataclass(frozen=True)
class CurationResult:
    """What replaying the recorded edits on the current model did."""

    edits: int
    applied: int
    vanished: tuple[str, ...]


def curate_topics(con: duckdb.DuckDBPyConnection) -> CurationResult:
    """The pipeline's curation stage: replay every recorded edit on the current model."""
    statuses = apply_edits(con)
    return CurationResult(
        edits=len(statuses),
        applied=sum(1 for s in statuses if s.status == "applied"),
        vanished=tuple(
            f"#{s.edit_id} {s.action} {' '.join(s.topic_keys)}: {s.detail}"
            for s in statuses
            if s.status != "applied"
        ),
    )


def record_edit(
    con: duckdb.DuckDBPyConnection,
    *,
    action: str,
    topic_keys: Sequence[str],
    value: str = "",
    by: str | None = None,
) -> list[EditStatus]:
    """Record one edit and apply every edit to the current model at once.

    Raises:
        ConfigError: unknown action, wrong number of keys, or a key not in the current model.
    """
    if action not in ACTIONS:
        raise ConfigError(f"topics: unknown edit {action!r}; use one of {ACTIONS}")
    keys = [k.strip() for k in topic_keys if k.strip()]
    if not keys or (action == "merge" and len(keys) < 2) or (action != "merge" and len(keys) != 1):
        raise ConfigError(
            f"topics {action}: expected {'two or more keys' if action == 'merge' else 'one key'}"
        )
    value = " ".join(value.split())  # a label is one line (a table cell, a Markdown row)
    if action == "rename" and not value:
        raise ConfigError("topics rename: give the new label")
    model_id = _current(con)
    known = _active_keys(con, model_id)
    missing = [k for k in keys if k not in known]
    if missing:
        raise ConfigError(
            f"topics {action}: no active topic {missing} in the current model; "
            "`persona-mining topics` lists the keys"
        )
    with transaction(con):
        next_id = con.execute("SELECT coalesce(max(edit_id), 0) + 1 FROM topic_edits").fetchall()[
            0
        ][0]
        con.execute(
            "INSERT INTO topic_edits (edit_id, action, topic_keys, value, edited_by, edited_at, undone) "
            "VALUES (?, ?, ?, ?, ?, now(), false)",
            [next_id, action, keys, value, by or _user()],
        )
    return apply_edits(con)


def undo_edit(con: duckdb.DuckDBPyConnection) -> list[EditStatus]:
    """Undo the latest edit that is not undone yet, then re-apply the rest.

    Returns:
        The undone edit (status "undone"), then how each remaining edit applied.
    """
    latest = con.execute(
        """SELECT edit_id, action, topic_keys, value FROM topic_edits WHERE NOT undone
        ORDER BY edit_id DESC LIMIT 1"""
    ).fetchall()
    if not latest:
        raise ConfigError("topics undo: there is no edit to undo")
    edit_id, action, keys, value = latest[0]
    with transaction(con):
        con.execute("UPDATE topic_edits SET undone = true WHERE edit_id = ?", [edit_id])
    done = {"rename": f"renamed to {value!r}", "merge": "merged", "split": "split"}
    detail = f"no longer {done.get(action, 'ignored')}"
    return [EditStatus(edit_id, action, tuple(keys), "undone", detail), *apply_edits(con)]


def apply_edits(con: duckdb.DuckDBPyConnection) -> list[EditStatus]:
    """Reset the current model's topics to the fit, then replay every recorded edit in order."""
    current = current_model(con)
    if current is None:
        return []
    model_id = current[0]
    edits = con.execute(
        "SELECT edit_id, action, topic_keys, value FROM topic_edits WHERE NOT undone ORDER BY edit_id"
    ).fetchall()
    statuses: list[EditStatus] = []
    with transaction(con):
        con.execute("DELETE FROM topics WHERE model_id = ? AND split_from IS NOT NULL", [model_id])
        con.execute(
            "UPDATE topics SET label = coalesce(base_label, label), ignored = false, active = true, "
            "curation = NULL WHERE model_id = ?",
            [model_id],
        )
        con.execute(
            "UPDATE ticket_topics SET topic_id = base_topic_id WHERE model_id = ? AND base_topic_id IS NOT NULL",
            [model_id],
        )
        for edit_id, action, keys, value in edits:
            statuses.append(_apply(con, model_id, edit_id, action, tuple(keys), value))
        con.execute("DELETE FROM topic_edit_status WHERE model_id = ?", [model_id])
        if statuses:
            con.executemany(
                "INSERT INTO topic_edit_status (model_id, edit_id, status, detail) VALUES (?, ?, ?, ?)",
                [[model_id, s.edit_id, s.status, s.detail] for s in statuses],
            )
        con.execute(
            """UPDATE topics SET size = (
                SELECT count(*) FROM ticket_topics tt WHERE tt.model_id = topics.model_id AND tt.topic_id = topics.topic_id)
            WHERE model_id = ? AND (split_from IS NOT NULL OR curation IS NOT NULL)""",
            [model_id],
        )
        _relabel_themes(con, model_id)
    return statuses


def _relabel_themes(con: duckdb.DuckDBPyConnection, model_id: str) -> None:
    """Each theme's label and topic count from its active topics as they stand after the
    edits, as the fit labelled them (`identity.theme_label`): a renamed, merged or split issue
    shows in its theme's name at once. Without edits, the fit's labels come back."""
    rows = con.execute(
        """SELECT group_id, label, size FROM topics
        WHERE model_id = ? AND topic_id <> -1 AND group_id >= 0 AND coalesce(active, true)
        ORDER BY group_id, topic_id""",
        [model_id],
    ).fetchall()
    members: dict[int, list[tuple[str, int]]] = {}
    for group, label, size in rows:
        members.setdefault(int(group), []).append((str(label), int(size or 0)))
    con.executemany(
        "UPDATE topic_groups SET label = ?, topics = ? WHERE model_id = ? AND group_id = ?",
        [[theme_label(m), len(m), model_id, g] for g, m in sorted(members.items())],
    )


def _apply(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    edit_id: int,
    action: str,
    keys: tuple[str, ...],
    value: str,
) -> EditStatus:
    ids = _topic_ids(con, model_id)
    missing = [k for k in keys if k not in ids]
    if missing:
        return EditStatus(
            edit_id,
            action,
            keys,
            "vanished",
            f"topic {', '.join(missing)} is not in model {model_id}",
        )
    if action == "rename":
        con.execute(
            "UPDATE topics SET label = ?, curation = 'renamed' WHERE model_id = ? AND topic_key = ?",
            [value, model_id, keys[0]],
        )
        return EditStatus(edit_id, action, keys, "applied", f"renamed to {value!r}")
    if action == "ignore":
        con.execute(
            "UPDATE topics SET ignored = true, curation = 'ignored' WHERE model_id = ? AND topic_key = ?",
            [model_id, keys[0]],
        )
        return EditStatus(edit_id, action, keys, "applied", "left out of persona tables")
    if action == "merge":
        target, rest = ids[keys[0]], [ids[k] for k in keys[1:]]
        con.execute(
            "UPDATE ticket_topics SET topic_id = ? WHERE model_id = ? AND list_contains(?, topic_id)",
            [target, model_id, rest],
        )
        con.execute(
            "UPDATE topics SET active = false, curation = 'merged into ' || ? WHERE model_id = ? AND list_contains(?, topic_key)",
            [keys[0], model_id, list(keys[1:])],
        )
        con.execute(
            "UPDATE topics SET curation = 'merged' WHERE model_id = ? AND topic_key = ?",
            [model_id, keys[0]],
        )
        return EditStatus(
            edit_id, action, keys, "applied", f"{', '.join(keys[1:])} merged into {keys[0]}"
        )
    return _split(con, model_id, edit_id, keys[0], ids[keys[0]])


def _split(
    con: duckdb.DuckDBPyConnection, model_id: str, edit_id: int, key: str, topic_id: int
) -> EditStatus:
    from sklearn.cluster import KMeans

    embedding_model = con.execute(
        "SELECT embedding_model FROM topic_models WHERE model_id = ?", [model_id]
    ).fetchall()[0][0]
    members = [
        r[0]
        for r in con.execute(
            "SELECT ticket_id FROM ticket_topics WHERE model_id = ? AND topic_id = ? ORDER BY ticket_id",
            [model_id, topic_id],
        ).fetchall()
    ]
    ids, vectors = load_vectors(con, model=embedding_model, ticket_ids=members)
    if not ids:
        return EditStatus(edit_id, "split", (key,), "vanished", f"{key} has no tickets to split")
    recorded = _recorded_split(con, edit_id, embedding_model) or _split_in_new_space(
        con, edit_id, embedding_model, ids, vectors
    )
    if not recorded:
        if len(ids) < 20:
            return EditStatus(
                edit_id,
                "split",
                (key,),
                "vanished",
                f"{key} has {len(ids)} tickets: too few to split",
            )
        choice = choose_k_by_silhouette(
            vectors,
            range(2, min(MAX_SPLIT, len(ids) // 10) + 1),
            lambda k: KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(vectors),
            seed=0,
            metric="cosine",
        )
        if choice.labels is None:
            return EditStatus(
                edit_id,
                "split",
                (key,),
                "vanished",
                f"{key} has no distinct groups of tickets to split",
            )
        # Sub-topics numbered by size, largest first. Their centroids are recorded, and every
        # application, this first one too, gives each ticket the nearest: KEY.1 means the
        # same tickets after a replay, new tickets join the sub-topic they are closest to.
        sizes = np.bincount(choice.labels)
        recorded = [
            (f"{key}.{rank}", _unit(vectors[choice.labels == c].mean(axis=0)))
            for rank, c in enumerate(sorted(np.flatnonzero(sizes), key=lambda c: (-sizes[c], c)), 1)
        ]
        _record_split(con, edit_id, embedding_model, recorded)
    sub_keys = [sub_key for sub_key, _ in recorded]
    labels = (vectors @ np.vstack([c for _, c in recorded]).T).argmax(axis=1)
    # The recorded numbering; a sub-topic no ticket is nearest to any more stays out.
    order = [c for c in range(len(recorded)) if (labels == c).any()]
    phrases = {
        ticket: label_phrases(nouns, text, model)
        for ticket, nouns, text, model in con.execute(
            "SELECT ticket_id, noun_phrases, text, spacy_model FROM v_analysed_tickets "
            "WHERE list_contains(?, ticket_id)",
            [ids],
        ).fetchall()
    }
    centroids = {int(cluster): _unit(vectors[labels == cluster].mean(axis=0)) for cluster in order}
    described = describe_topics(labels, [list(phrases.get(i, [])) for i in ids], {}, centroids)
    next_id = con.execute(
        "SELECT max(topic_id) + 1 FROM topics WHERE model_id = ?", [model_id]
    ).fetchall()[0][0]
    group = con.execute(
        "SELECT group_id FROM topics WHERE model_id = ? AND topic_id = ?", [model_id, topic_id]
    ).fetchall()[0][0]
    for rank, cluster in enumerate(order):
        sub_id, sub_key = next_id + rank, sub_keys[cluster]
        chosen = [i for i, c in zip(ids, labels.tolist(), strict=True) if c == cluster]
        con.execute(
            """INSERT INTO topics (model_id, topic_id, label, keywords, size, topic_key, first_model_id,
                last_model_id, group_id, keyphrases, representative_tickets, base_label, split_from,
                active, ignored, curation)
            VALUES (?, ?, ?, [], ?, ?, ?, ?, ?, ?, ?, ?, ?, true, false, 'split from ' || ?)""",
            [
                model_id,
                sub_id,
                described[int(cluster)].label,
                len(chosen),
                sub_key,
                model_id,
                model_id,
                group,
                list(described[int(cluster)].keyphrases),
                chosen[:3],
                described[int(cluster)].label,
                key,
                key,
            ],
        )
        con.execute(
            "UPDATE ticket_topics SET topic_id = ? WHERE model_id = ? AND list_contains(?, ticket_id)",
            [sub_id, model_id, chosen],
        )
    con.execute(
        "UPDATE topics SET active = false, curation = 'split' WHERE model_id = ? AND topic_id = ?",
        [model_id, topic_id],
    )
    return EditStatus(edit_id, "split", (key,), "applied", f"split into {len(order)} sub-topics")


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) or 1.0)


def _recorded_split(
    con: duckdb.DuckDBPyConnection, edit_id: int, embedding_model: str
) -> list[tuple[str, np.ndarray]]:
    """The sub-topics a split edit recorded in this embedding space, in their order."""
    return [
        (sub_key, np.asarray(centroid, dtype=np.float32))
        for sub_key, centroid in con.execute(
            """SELECT sub_key, centroid FROM topic_split_centroids
            WHERE edit_id = ? AND embedding_model = ? ORDER BY position""",
            [edit_id, embedding_model],
        ).fetchall()
    ]


def _record_split(
    con: duckdb.DuckDBPyConnection,
    edit_id: int,
    embedding_model: str,
    sub_topics: list[tuple[str, np.ndarray]],
) -> None:
    con.executemany(
        """INSERT INTO topic_split_centroids
            (edit_id, embedding_model, position, sub_key, centroid, recorded_at)
        VALUES (?, ?, ?, ?, ?, now())""",
        [
            [edit_id, embedding_model, position, sub_key, centroid.astype(float).tolist()]
            for position, (sub_key, centroid) in enumerate(sub_topics, start=1)
        ],
    )


def _split_in_new_space(
    con: duckdb.DuckDBPyConnection,
    edit_id: int,
    embedding_model: str,
    ids: list[str],
    vectors: np.ndarray,
) -> list[tuple[str, np.ndarray]]:
    """A split recorded in another embedding space (the profile or the model changed), carried
    to this one: the topic's tickets that have vectors there take their sub-topic from the
    recorded centroids, and each sub-topic's centroid here is the mean of its tickets' vectors
    here. Empty when the split was never recorded or none of the tickets was embedded there."""
    latest = con.execute(
        """SELECT embedding_model FROM topic_split_centroids
        WHERE edit_id = ? AND embedding_model <> ? ORDER BY recorded_at DESC LIMIT 1""",
        [edit_id, embedding_model],
    ).fetchall()
    if not latest or not ids:
        return []
    before = _recorded_split(con, edit_id, latest[0][0])
    old_ids, old_vectors = load_vectors(con, model=latest[0][0], ticket_ids=ids)
    if not old_ids:
        return []
    old_labels = (old_vectors @ np.vstack([c for _, c in before]).T).argmax(axis=1)
    position = {ticket: i for i, ticket in enumerate(ids)}
    rows = np.array([position[t] for t in old_ids])
    carried = [
        (sub_key, _unit(vectors[rows[old_labels == c]].mean(axis=0)))
        for c, (sub_key, _) in enumerate(before)
        if (old_labels == c).any()
    ]
    _record_split(con, edit_id, embedding_model, carried)
    return carried


def list_topics(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The current model's topics for people: key, label, size, group, first seen, kind, state."""
    cursor = con.execute(
        """SELECT t.topic_key AS key, t.label, t.size, g.label AS "group", fm.created_at::DATE AS first_seen,
                  CASE WHEN t.known THEN 'known' ELSE 'discovered' END AS kind,
                  CASE WHEN t.ignored THEN 'ignored' WHEN NOT t.active THEN 'inactive' ELSE '' END AS state,
                  coalesce(t.curation, '') AS curation
        FROM topics t
        JOIN v_current_model m USING (model_id)
        LEFT JOIN topic_groups g ON g.model_id = t.model_id AND g.group_id = t.group_id
        LEFT JOIN topic_models fm ON fm.model_id = t.first_model_id
        ORDER BY t.active DESC, t.topic_id = -1, t.size DESC"""
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def export_taxonomy(
    con: duckdb.DuckDBPyConnection, *, known_issues: Sequence[Any], out: Path
) -> int:
    """Write known issues and the recorded edits as TOML, for review in a pull request."""
    lines = [
        "# persona-mining taxonomy: known issues and topic edits (import with `topics import`).",
        "",
    ]
    for issue in known_issues:
        lines += [
            "[[known_issues]]",
            f"name = {json.dumps(issue.name)}",
            f"description = {json.dumps(issue.description)}",
        ]
        lines += [f"examples = {json.dumps(list(issue.examples), ensure_ascii=False)}", ""]
    edits = con.execute(
        "SELECT edit_id, action, topic_keys, value, edited_by, edited_at FROM topic_edits WHERE NOT undone ORDER BY edit_id"
    ).fetchall()
    for _, action, keys, value, by, at in edits:
        lines += [
            "[[edits]]",
            f"action = {json.dumps(action)}",
            f"topics = {json.dumps(list(keys))}",
            f"value = {json.dumps(value or '', ensure_ascii=False)}",
            f"by = {json.dumps(by or '')}",
            f"at = {json.dumps(str(at))}",
            "",
        ]
    out.write_text("\n".join(lines), encoding="utf-8")
    return len(edits)


def import_taxonomy(
    con: duckdb.DuckDBPyConnection, *, path: Path, by: str | None = None
) -> tuple[int, int]:
    """Add the edits and known issues of an exported taxonomy not already here; apply them.

    Returns:
        (edits added, known issues added).
    """
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"taxonomy file {path}: cannot be read as TOML ({e})") from e
    existing = {
        (a, tuple(k), v or "")
        for a, k, v in con.execute(
            "SELECT action, topic_keys, value FROM topic_edits WHERE NOT undone"
        ).fetchall()
    }
    added = 0
    known_added = 0
    with transaction(con):
        for edit in data.get("edits", []):
            action, keys, value = (
                edit.get("action"),
                tuple(edit.get("topics", [])),
                edit.get("value", ""),
            )
            if action not in ACTIONS or not keys:
                raise ConfigError(
                    f"taxonomy file {path}: edit {edit!r} needs an action in {ACTIONS} and topics"
                )
            if (action, keys, value) in existing:
                continue
            next_id = con.execute(
                "SELECT coalesce(max(edit_id), 0) + 1 FROM topic_edits"
            ).fetchall()[0][0]
            con.execute(
                "INSERT INTO topic_edits (edit_id, action, topic_keys, value, edited_by, edited_at, undone) "
                "VALUES (?, ?, ?, ?, ?, now(), false)",
                [next_id, action, list(keys), value, edit.get("by") or by or _user()],
            )
            existing.add((action, keys, value))
            added += 1
        for issue in data.get("known_issues", []):
            name = str(issue.get("name", "")).strip()
            if not name:
                raise ConfigError(f"taxonomy file {path}: a known issue needs a name")
            exists = con.execute(
                "SELECT count(*) FROM known_issues WHERE name = ?", [name]
            ).fetchall()[0][0]
            if not exists:
                con.execute(
                    "INSERT INTO known_issues (name, description, examples, source) VALUES (?, ?, ?, ?)",
                    [
                        name,
                        str(issue.get("description", "")),
                        [str(e) for e in issue.get("examples", [])],
                        str(path),
                    ],
                )
                known_added += 1
    apply_edits(con)
    return added, known_added


def _current(con: duckdb.DuckDBPyConnection) -> str:
    current = current_model(con)
    if current is None:
        raise StageError("topics: no topic model yet; run `persona-mining run` first")
    return current[0]


def _active_keys(con: duckdb.DuckDBPyConnection, model_id: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT topic_key FROM topics WHERE model_id = ? AND active AND topic_id <> ?",
            [model_id, UNCLUSTERED],
        ).fetchall()
    }


def _topic_ids(con: duckdb.DuckDBPyConnection, model_id: str) -> dict[str, int]:
    return dict(
        con.execute(
            "SELECT topic_key, topic_id FROM topics WHERE model_id = ? AND active AND topic_key IS NOT NULL",
            [model_id],
        ).fetchall()
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
