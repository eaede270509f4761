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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from persona_mining.config import KnownIssue
from persona_mining.errors import ConfigError, StageError
from persona_mining.stats import choose_k_by_silhouette
from persona_mining.text.embed import load_vectors
from persona_mining.topics.identity import UNCLUSTERED_KEY, theme_label
from persona_mining.topics.labels import UNCLUSTERED, describe_topics, label_phrases
from persona_mining.topics.model import all_known_issues, current_model
from persona_mining.warehouse import transaction

ACTIONS = ("rename", "merge", "split", "ignore")
MAX_SPLIT = 6
#: The fields of an edit in a taxonomy file (`status` and `detail` are written for people).
EDIT_FIELDS = ("action", "topics", "labels", "value", "by", "at", "status", "detail")


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


@dataclass(frozen=True)
class Edit:
    """One topic edit as it is recorded: what to do, to which topic keys, the label of a rename."""

    action: str
    topic_keys: tuple[str, ...]
    value: str


def validate_edit(action: object, topic_keys: object, value: object, *, where: str) -> Edit:
    """An edit by the rules every way of recording one shares (the commands, `topics import`).

    Keys are stripped and given once each; a label is one line (a table cell, a Markdown row).

    Args:
        where: what the messages start with (the command, or the file and the edit's position).

    Raises:
        ConfigError: an unknown action, keys that are not a list of keys, the unclustered
            tickets, a merge of a topic into itself, the wrong number of keys, or a value that
            is not a label where one is needed (or given where none is).
    """
    if not isinstance(action, str) or action not in ACTIONS:
        raise ConfigError(f"{where}: unknown edit {action!r}; use one of {', '.join(ACTIONS)}")
    if isinstance(topic_keys, str) or not isinstance(topic_keys, Sequence):
        raise ConfigError(
            f'{where}: the topic keys must be a list, e.g. topics = ["T0003"], not {topic_keys!r}'
        )
    if not all(isinstance(k, str) for k in topic_keys):
        raise ConfigError(
            f'{where}: every topic key must be text, e.g. "T0003"; got {topic_keys!r}'
        )
    keys = [k.strip() for k in topic_keys if k.strip()]
    if UNCLUSTERED_KEY in keys:
        raise ConfigError(
            f"{where}: {UNCLUSTERED_KEY!r} holds the tickets no topic took; it cannot be renamed, "
            "merged, split or ignored"
        )
    if action == "merge" and keys and keys[0] in keys[1:]:
        raise ConfigError(
            f"{where}: a topic cannot be merged into itself ({keys[0]} is the target, the first "
            "key, and among the topics to merge into it)"
        )
    keys = list(dict.fromkeys(keys))
    if action == "merge" and len(keys) < 2:
        raise ConfigError(
            f"{where}: expected two or more distinct keys, the target first, got {keys or 'none'}"
        )
    if action != "merge" and len(keys) != 1:
        raise ConfigError(f"{where}: expected one key, got {len(keys)}: {keys or 'none'}")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ConfigError(
            f"{where}: the value must be text (the new label of a rename), not {value!r}"
        )
    value = " ".join(value.split())
    if action == "rename" and not value:
        raise ConfigError(f"{where}: give the new label")
    if action != "rename" and value:
        raise ConfigError(f"{where}: only a rename takes a value (the new label); got {value!r}")
    return Edit(action, tuple(keys), value)


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
        ConfigError: the edit is invalid (`validate_edit`), a key is not in the current model,
            an active edit already does the same, or a rename gives another topic's label.
    """
    edit = validate_edit(action, topic_keys, value, where=f"topics {action}")
    model_id = _current(con)
    known = _active_keys(con, model_id)
    missing = [k for k in edit.topic_keys if k not in known]
    if missing:
        raise ConfigError(
            f"topics {action}: no active topic {missing} in the current model; "
            "`persona-mining topics` lists the keys"
        )
    _refuse_repeat(con, edit)
    if edit.action == "rename":
        _refuse_taken_label(con, model_id, edit)
    with transaction(con):
        next_id = con.execute("SELECT coalesce(max(edit_id), 0) + 1 FROM topic_edits").fetchall()[
            0
        ][0]
        con.execute(
            "INSERT INTO topic_edits (edit_id, action, topic_keys, value, edited_by, edited_at, undone) "
            "VALUES (?, ?, ?, ?, ?, now(), false)",
            [next_id, edit.action, list(edit.topic_keys), edit.value, by or _user()],
        )
    return apply_edits(con)


def _refuse_repeat(con: duckdb.DuckDBPyConnection, edit: Edit) -> None:
    """Refuse an edit that an active one already makes: undoing either would seem to revert
    it while the other still applies. A rename repeats only the key's latest rename (renaming
    back to an earlier label is a change)."""
    rows = con.execute(
        "SELECT edit_id, action, topic_keys, value FROM topic_edits WHERE NOT undone ORDER BY edit_id"
    ).fetchall()
    same = [
        edit_id
        for edit_id, action, keys, value in rows
        if (action, tuple(keys), value or "") == (edit.action, edit.topic_keys, edit.value)
    ]
    if edit.action == "rename":
        renames = [e for e, a, k, _ in rows if a == "rename" and tuple(k) == edit.topic_keys]
        same = [e for e in same if renames and e == renames[-1]]
    if same:
        raise ConfigError(
            f"topics {edit.action} {' '.join(edit.topic_keys)}: edit #{same[-1]} already does "
            "this; `persona-mining topics edits` lists the edits"
        )


def _refuse_taken_label(con: duckdb.DuckDBPyConnection, model_id: str, edit: Edit) -> None:
    """Refuse a label another active topic shows (case and spaces aside): tables could not
    tell the two apart."""
    (key,) = edit.topic_keys
    own = con.execute(
        "SELECT label FROM topics WHERE model_id = ? AND topic_key = ? AND active",
        [model_id, key],
    ).fetchall()
    if own and " ".join(str(own[0][0]).split()) == edit.value:
        raise ConfigError(f"topics rename {key}: it is labelled {edit.value!r} already")
    wanted = _label_key(edit.value)
    for other, label in con.execute(
        """SELECT topic_key, label FROM topics
        WHERE model_id = ? AND active AND topic_id <> ? AND topic_key <> ? ORDER BY topic_key""",
        [model_id, UNCLUSTERED, key],
    ).fetchall():
        if _label_key(str(label)) == wanted:
            raise ConfigError(
                f"topics rename {key}: {other} is already labelled {label!r}; give {key} another "
                f"label, or if they are the same issue merge them: "
                f"`persona-mining topics merge {other} {key}`"
            )


def _label_key(label: str) -> str:
    return " ".join(label.split()).casefold()


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
    detail = _undone_detail(action, value)
    return [EditStatus(edit_id, action, tuple(keys), "undone", detail), *apply_edits(con)]


def _undone_detail(action: str, value: str | None) -> str:
    done = {"rename": f"renamed to {value!r}", "merge": "merged", "split": "split"}
    return f"no longer {done.get(action, 'ignored')}"


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
            "UPDATE ticket_topics SET topic_id = base_topic_id WHERE model_id = ? AND base_topic_id IS NOT NULL",
            [model_id],
        )
        con.execute(
            "UPDATE topics SET label = coalesce(base_label, label), ignored = false, active = true, "
            "curation = NULL WHERE model_id = ?",
            [model_id],
        )
        for edit_id, action, keys, value in edits:
            statuses.append(_apply(con, model_id, edit_id, action, tuple(keys), value))
        statuses = _note_ignored_targets(con, model_id, statuses)
        con.execute("DELETE FROM topic_edit_status WHERE model_id = ?", [model_id])
        if statuses:
            con.executemany(
                "INSERT INTO topic_edit_status (model_id, edit_id, status, detail) VALUES (?, ?, ?, ?)",
                [[model_id, s.edit_id, s.status, s.detail] for s in statuses],
            )
        # Every topic's size is its tickets as they stand, edited or not: those a nightly run
        # assigned since the fit count too, so that sizes compare (a size kept from the fit
        # beside a recounted one made a rename look like growth).
        con.execute(
            """UPDATE topics SET size = (
                SELECT count(*) FROM ticket_topics tt WHERE tt.model_id = topics.model_id AND tt.topic_id = topics.topic_id)
            WHERE model_id = ?""",
            [model_id],
        )
        _relabel_themes(con, model_id)
    return statuses


def _note_ignored_targets(
    con: duckdb.DuckDBPyConnection, model_id: str, statuses: list[EditStatus]
) -> list[EditStatus]:
    """Say so where a merge's target is ignored (by an edit before or after it): the tickets
    merged into it are left out of persona tables with it."""
    ignored = {
        r[0]
        for r in con.execute(
            "SELECT topic_key FROM topics WHERE model_id = ? AND ignored AND active",
            [model_id],
        ).fetchall()
    }
    return [
        EditStatus(
            s.edit_id,
            s.action,
            s.topic_keys,
            s.status,
            f"{s.detail}; {s.topic_keys[0]} is ignored, so the merged tickets are left out of "
            "persona tables too",
        )
        if s.action == "merge" and s.status == "applied" and s.topic_keys[0] in ignored
        else s
        for s in statuses
    ]


def _relabel_themes(con: duckdb.DuckDBPyConnection, model_id: str) -> None:
    """Each theme's label, topic count and size from its active topics as they stand after the
    edits, as the fit labelled them (`identity.theme_label`): a renamed, merged or split issue
    shows in its theme's name and size at once. A theme left without an active topic (all
    merged away) keeps its label, with no topics and no tickets. Without edits, the fit's
    themes come back."""
    rows = con.execute(
        """SELECT g.group_id, t.label, t.size FROM topic_groups g
        LEFT JOIN topics t ON t.model_id = g.model_id AND t.group_id = g.group_id
            AND t.topic_id <> ? AND coalesce(t.active, true)
        WHERE g.model_id = ? AND g.group_id >= 0
        ORDER BY g.group_id, t.topic_id""",
        [UNCLUSTERED, model_id],
    ).fetchall()
    members: dict[int, list[tuple[str, int]]] = {}
    for group, label, size in rows:
        topics = members.setdefault(int(group), [])
        if label is not None:
            topics.append((str(label), int(size or 0)))
    con.executemany(
        "UPDATE topic_groups SET label = coalesce(?, label), topics = ?, size = ? "
        "WHERE model_id = ? AND group_id = ?",
        [
            [theme_label(m) if m else None, len(m), sum(size for _, size in m), model_id, g]
            for g, m in sorted(members.items())
        ],
    )
    # The unclustered tickets' own group: as many as the topic -1 holds now.
    con.execute(
        """UPDATE topic_groups SET size = coalesce((
            SELECT size FROM topics WHERE model_id = ? AND topic_id = ?), 0)
        WHERE model_id = ? AND group_id = ?""",
        [model_id, UNCLUSTERED, model_id, UNCLUSTERED],
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

    embedding_model, issue_size = con.execute(
        """SELECT embedding_model,
            TRY_CAST(json_extract_string(params, '$.min_topic_size_used') AS INTEGER)
        FROM topic_models WHERE model_id = ?""",
        [model_id],
    ).fetchall()[0]
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
    fresh = not recorded
    if fresh:
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
            # Each part an issue the model could have found alone: a split of 103 tickets
            # into parts of 41, 28, 17, 8, 5 and 4 gave the lead three parts of noise.
            min_cluster_size=max(MIN_SUB_TOPIC, (issue_size or 0) // 2),
        )
        if choice.labels is None:
            return EditStatus(
                edit_id,
                "split",
                (key,),
                "vanished",
                f"{key} has no distinct groups of tickets to split",
            )
        # Sub-topics numbered by size, largest first. Their centroids and labels are recorded,
        # and every application, this first one too, gives each ticket the nearest: KEY.1
        # means the same tickets after a replay, new tickets join the one they are closest to.
        sizes = np.bincount(choice.labels)
        recorded = [
            SubTopic(f"{key}.{rank}", _unit(vectors[choice.labels == c].mean(axis=0)), "")
            for rank, c in enumerate(sorted(np.flatnonzero(sizes), key=lambda c: (-sizes[c], c)), 1)
        ]
    labels = (vectors @ np.vstack([sub.centroid for sub in recorded]).T).argmax(axis=1)
    # The recorded numbering; a sub-topic no ticket is nearest to any more stays out.
    order = [c for c in range(len(recorded)) if (labels == c).any()]
    if len(order) < 2:
        nearest = recorded[order[0]].key if order else key
        return EditStatus(
            edit_id,
            "split",
            (key,),
            "vanished",
            f"every ticket of {key} now lies nearest one of its sub-topics ({nearest}): not split",
        )
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
    group, parent_label, parent_keywords = con.execute(
        "SELECT group_id, label, keywords FROM topics WHERE model_id = ? AND topic_id = ?",
        [model_id, topic_id],
    ).fetchall()[0]
    if fresh:
        recorded = [
            SubTopic(sub.key, sub.centroid, _sub_label(described, c, sub.key, parent_label))
            for c, sub in enumerate(recorded)
        ]
        _record_split(con, edit_id, embedding_model, recorded)
    for rank, cluster in enumerate(order):
        sub = recorded[cluster]
        chosen = [i for i, c in zip(ids, labels.tolist(), strict=True) if c == cluster]
        con.execute(
            # A sub-topic keeps its parent's keywords: what the parent's tickets share
            # (the return, refund and complaint signal reads them too).
            """INSERT INTO topics (model_id, topic_id, label, keywords, size, topic_key, first_model_id,
                last_model_id, group_id, keyphrases, representative_tickets, base_label, split_from,
                active, ignored, curation)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true, false, 'split from ' || ?)""",
            [
                model_id,
                next_id + rank,
                sub.label,
                list(parent_keywords or []),
                len(chosen),
                sub.key,
                model_id,
                model_id,
                group,
                list(described[int(cluster)].keyphrases),
                chosen[:3],
                sub.label,
                key,
                key,
            ],
        )
        con.execute(
            "UPDATE ticket_topics SET topic_id = ? WHERE model_id = ? AND list_contains(?, ticket_id)",
            [next_id + rank, model_id, chosen],
        )
    con.execute(
        "UPDATE topics SET active = false, curation = 'split' WHERE model_id = ? AND topic_id = ?",
        [model_id, topic_id],
    )
    return EditStatus(edit_id, "split", (key,), "applied", f"split into {len(order)} sub-topics")


#: The smallest part a split may make: half the minimum issue size the model was fitted with
#: (as the fit halves it for issues folded into larger topics), and at least this many tickets.
MIN_SUB_TOPIC = 10


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) or 1.0)


@dataclass(frozen=True)
class SubTopic:
    """One sub-topic of a split as recorded: its key, centroid and label."""

    key: str
    centroid: np.ndarray
    label: str


def _sub_label(described: Mapping[int, Any], cluster: int, key: str, parent_label: str) -> str:
    """A sub-topic's label as the split describes it; where no phrase told it apart (or no
    ticket lies nearest it), the parent's label and the sub-topic's number ("Order shipped
    (part 2)"; a part of a part, "Order shipped (part 1.2)")."""
    topic = described.get(cluster)
    label = "" if topic is None else str(topic.label)
    if not label or label.casefold() == f"topic {cluster}":
        number = key.rsplit(".", 1)[-1]
        part = _PART.search(parent_label)
        if part:
            return f"{parent_label[: part.start()]} (part {part.group(1)}.{number})"
        return f"{parent_label} (part {number})"
    return label


#: The number a sub-topic's label ends with when no phrase told it apart.
_PART = re.compile(r" \(part ([\d.]+)\)$")


def _recorded_split(
    con: duckdb.DuckDBPyConnection, edit_id: int, embedding_model: str
) -> list[SubTopic]:
    """The sub-topics a split edit recorded in this embedding space, in their order."""
    return [
        SubTopic(sub_key, np.asarray(centroid, dtype=np.float32), label)
        for sub_key, centroid, label in con.execute(
            """SELECT sub_key, centroid, label FROM topic_split_centroids
            WHERE edit_id = ? AND embedding_model = ? ORDER BY position""",
            [edit_id, embedding_model],
        ).fetchall()
    ]


def _record_split(
    con: duckdb.DuckDBPyConnection,
    edit_id: int,
    embedding_model: str,
    sub_topics: list[SubTopic],
) -> None:
    con.executemany(
        """INSERT INTO topic_split_centroids
            (edit_id, embedding_model, position, sub_key, centroid, label, recorded_at)
        VALUES (?, ?, ?, ?, ?, ?, now())""",
        [
            [
                edit_id,
                embedding_model,
                position,
                sub.key,
                sub.centroid.astype(float).tolist(),
                sub.label,
            ]
            for position, sub in enumerate(sub_topics, start=1)
        ],
    )


def _split_in_new_space(
    con: duckdb.DuckDBPyConnection,
    edit_id: int,
    embedding_model: str,
    ids: list[str],
    vectors: np.ndarray,
) -> list[SubTopic]:
    """A split recorded in another embedding space (the profile or the model changed), carried
    to this one: the topic's tickets that have vectors there take their sub-topic from the
    recorded centroids, and each sub-topic's centroid here is the mean of its tickets' vectors
    here; keys and labels stay. Empty when the split was never recorded or none of the tickets
    was embedded there."""
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
    old_labels = (old_vectors @ np.vstack([sub.centroid for sub in before]).T).argmax(axis=1)
    position = {ticket: i for i, ticket in enumerate(ids)}
    rows = np.array([position[t] for t in old_ids])
    carried = [
        SubTopic(sub.key, _unit(vectors[rows[old_labels == c]].mean(axis=0)), sub.label)
        for c, sub in enumerate(before)
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


def list_edits(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every recorded edit, by id, with how it applies to the current model.

    `status` is the one `topic_edit_status` holds for the current model (applied, vanished),
    "undone" for an undone edit, and "not applied" for one no replay has reached yet.
    """
    statuses = _edit_statuses(con)
    rows = con.execute(
        """SELECT edit_id, action, topic_keys, value, edited_by, edited_at, undone
        FROM topic_edits ORDER BY edit_id"""
    ).fetchall()
    edits = []
    for edit_id, action, keys, value, by, at, undone in rows:
        status, detail = (
            ("undone", _undone_detail(action, value))
            if undone
            else statuses.get(edit_id, ("not applied", "no replay on the current model yet"))
        )
        edits.append(
            {
                "id": edit_id,
                "action": action,
                "keys": " ".join(keys),
                "value": value or "",
                "by": by,
                "at": at.strftime("%Y-%m-%d %H:%M") if at is not None else "",
                "status": status,
                "detail": detail or "",
            }
        )
    return edits


def _edit_statuses(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[str, str]]:
    """Each edit's status and detail on the current model, by edit id."""
    return {
        int(edit_id): (status, detail or "")
        for edit_id, status, detail in con.execute(
            """SELECT s.edit_id, s.status, s.detail FROM topic_edit_status s
            JOIN v_current_model m USING (model_id)"""
        ).fetchall()
    }


def export_taxonomy(
    con: duckdb.DuckDBPyConnection, *, known_issues: Sequence[KnownIssue], out: Path
) -> int:
    """Write known issues and the recorded edits as TOML, for review in a pull request.

    The known issues are the config's (`known_issues`) and the warehouse's. Each edit carries
    the labels its topic keys were fitted with (`labels`): keys belong to one warehouse, and
    `import_taxonomy` refuses an edit whose key means another issue where it is imported. Its
    status on the current model is written too; an edit that no longer applies is exported,
    marked so.

    Returns:
        The number of edits written.
    """
    lines = [
        "# persona-mining taxonomy: known issues and topic edits (import with `topics import`).",
        "# `labels`: the topics' labels as fitted, checked on import; `status`: on the current model.",
        "",
    ]
    for issue in all_known_issues(con, known_issues):
        lines += [
            "[[known_issues]]",
            f"name = {json.dumps(issue.name, ensure_ascii=False)}",
            f"description = {json.dumps(issue.description, ensure_ascii=False)}",
        ]
        lines += [f"examples = {json.dumps(list(issue.examples), ensure_ascii=False)}", ""]
    fitted = _fitted_labels(con, history=True)
    statuses = _edit_statuses(con)
    edits = con.execute(
        "SELECT edit_id, action, topic_keys, value, edited_by, edited_at FROM topic_edits WHERE NOT undone ORDER BY edit_id"
    ).fetchall()
    for edit_id, action, keys, value, by, at in edits:
        status, detail = statuses.get(
            edit_id, ("not applied", "no replay on the current model yet")
        )
        lines += [
            *([f"# no longer applies: {detail}"] if status != "applied" else []),
            "[[edits]]",
            f"action = {json.dumps(action)}",
            f"topics = {json.dumps(list(keys), ensure_ascii=False)}",
            f"labels = {json.dumps([fitted.get(k, '') for k in keys], ensure_ascii=False)}",
            f"value = {json.dumps(value or '', ensure_ascii=False)}",
            f"by = {json.dumps(by or '', ensure_ascii=False)}",
            f"at = {json.dumps(str(at))}",
            f"status = {json.dumps(status)}",
            f"detail = {json.dumps(detail, ensure_ascii=False)}",
            "",
        ]
    out.write_text("\n".join(lines), encoding="utf-8")
    return len(edits)


def _fitted_labels(con: duckdb.DuckDBPyConnection, *, history: bool = False) -> dict[str, str]:
    """Each topic key's label as the fit gave it (a sub-topic's: as its split described it)
    in the current model; with `history`, a key the current model lacks takes its label from
    the latest model that had it."""
    current = current_model(con)
    labels: dict[str, str] = {}
    if history:
        labels.update(
            con.execute(
                """SELECT t.topic_key, arg_max(coalesce(t.base_label, t.label), m.created_at)
                FROM topics t JOIN topic_models m USING (model_id)
                WHERE t.topic_key IS NOT NULL GROUP BY t.topic_key"""
            ).fetchall()
        )
    if current is not None:
        labels.update(
            con.execute(
                """SELECT topic_key, coalesce(base_label, label) FROM topics
                WHERE model_id = ? AND topic_key IS NOT NULL""",
                [current[0]],
            ).fetchall()
        )
    return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True)
class _ImportedEdit:
    edit: Edit
    by: str | None
    at: datetime | None


def import_taxonomy(
    con: duckdb.DuckDBPyConnection, *, path: Path, by: str | None = None
) -> tuple[int, int]:
    """Add the edits and known issues of an exported taxonomy not already here; apply them.

    Every edit is checked as `record_edit` checks one (`validate_edit`), and against this
    warehouse's topics: an edit whose key this warehouse fitted with another label than the
    file says is refused, as the key means another issue here. All or nothing: on an error
    nothing is written. An edit keeps its `by` and `at` from the file. Known issues take
    effect at the next refit.

    Returns:
        (edits added, known issues added).

    Raises:
        ConfigError: the file cannot be read, or an edit or a known issue in it is invalid.
    """
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"taxonomy file {path}: cannot be read as TOML ({e})") from e
    edits = _imported_edits(con, path, data.get("edits", []))
    issues = _imported_known_issues(path, data.get("known_issues", []))
    existing = {
        (a, tuple(k), v or "")
        for a, k, v in con.execute(
            "SELECT action, topic_keys, value FROM topic_edits WHERE NOT undone"
        ).fetchall()
    }
    known = {r[0] for r in con.execute("SELECT name FROM known_issues").fetchall()}
    added = 0
    known_added = 0
    with transaction(con):
        next_id = con.execute("SELECT coalesce(max(edit_id), 0) + 1 FROM topic_edits").fetchall()[
            0
        ][0]
        for imported in edits:
            edit = imported.edit
            if (edit.action, edit.topic_keys, edit.value) in existing:
                continue
            con.execute(
                "INSERT INTO topic_edits (edit_id, action, topic_keys, value, edited_by, edited_at, undone) "
                "VALUES (?, ?, ?, ?, ?, coalesce(?, now()), false)",
                [
                    next_id + added,
                    edit.action,
                    list(edit.topic_keys),
                    edit.value,
                    imported.by or by or _user(),
                    imported.at,
                ],
            )
            existing.add((edit.action, edit.topic_keys, edit.value))
            added += 1
        for issue in issues:
            if issue.name in known:
                continue
            con.execute(
                "INSERT INTO known_issues (name, description, examples, source) VALUES (?, ?, ?, ?)",
                [issue.name, issue.description, list(issue.examples), str(path)],
            )
            known.add(issue.name)
            known_added += 1
    apply_edits(con)
    return added, known_added


def _imported_edits(
    con: duckdb.DuckDBPyConnection, path: Path, raw_edits: object
) -> list[_ImportedEdit]:
    """The file's edits, each checked (`validate_edit`, its labels against this warehouse's
    topics, its `by` and `at`), in the file's order."""
    if not isinstance(raw_edits, list):
        raise ConfigError(f"taxonomy file {path}: `edits` must be a list of [[edits]] tables")
    fitted = _fitted_labels(con)
    edits = []
    for position, raw in enumerate(raw_edits, start=1):
        where = f"taxonomy file {path}: edit {position}"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected an [[edits]] table, got {raw!r}")
        unknown = sorted(set(raw) - set(EDIT_FIELDS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown field {', '.join(unknown)}; an edit has {', '.join(EDIT_FIELDS)}"
            )
        edit = validate_edit(
            raw.get("action"), raw.get("topics"), raw.get("value", ""), where=where
        )
        where = f"{where} ({edit.action} {' '.join(edit.topic_keys)})"
        # validate_edit took `topics` as a list of texts: as written, aligned with `labels`.
        _check_labels(where, [str(k).strip() for k in raw["topics"]], raw.get("labels"), fitted)
        edit_by = raw.get("by")
        if edit_by is not None and not isinstance(edit_by, str):
            raise ConfigError(f"{where}: `by` must be text (who made the edit), not {edit_by!r}")
        edits.append(
            _ImportedEdit(edit, (edit_by or "").strip() or None, _edited_at(where, raw.get("at")))
        )
    return edits


def _check_labels(
    where: str, topics: Sequence[str], labels: object, fitted: Mapping[str, str]
) -> None:
    """Refuse an edit whose key this warehouse fitted with another label than the exporting
    one: keys are given per warehouse, so there it is another issue. A file without `labels`
    (written before they were) is not checked; a key this warehouse lacks is not either (the
    edit is reported vanished)."""
    if labels is None:
        return
    if (
        isinstance(labels, str)
        or not isinstance(labels, Sequence)
        or not all(isinstance(label, str) for label in labels)
        or len(labels) != len(topics)
    ):
        raise ConfigError(
            f"{where}: `labels` must be a list of texts, one per topic key ({len(topics)}), "
            f"not {labels!r}"
        )
    for key, label in zip(topics, labels, strict=True):
        exported, here = " ".join(label.split()), fitted.get(key)
        if exported and here is not None and " ".join(here.split()) != exported:
            raise ConfigError(
                f"{where}: topic {key} is {here!r} in this warehouse but was "
                f"{exported!r} where the file was exported: topic keys belong to one warehouse, "
                "so this edit would change another issue. Import the file into the warehouse "
                "it was exported from (or a copy of it), or make the edit here by hand with "
                "`persona-mining topics rename/merge/split/ignore` (`persona-mining topics` "
                "lists this warehouse's keys); nothing was imported"
            )


def _edited_at(where: str, at: object) -> datetime | None:
    """When the edit was made, from the file (in UTC); None when the file does not say."""
    if at is None or at == "":
        return None
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at.strip())
        except ValueError as e:
            raise ConfigError(
                f"{where}: `at` {at!r} is not a time; write it as `topics export` does, "
                'e.g. at = "2024-05-01 09:30:00"'
            ) from e
    if isinstance(at, datetime):
        return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
    if isinstance(at, date):
        return datetime(at.year, at.month, at.day)
    raise ConfigError(f'{where}: `at` must be a time, e.g. at = "2024-05-01 09:30:00"; got {at!r}')


def _imported_known_issues(path: Path, raw_issues: object) -> list[KnownIssue]:
    """The file's known issues, each checked: a name, a text description, text examples."""
    if not isinstance(raw_issues, list):
        raise ConfigError(
            f"taxonomy file {path}: `known_issues` must be a list of [[known_issues]] tables"
        )
    issues = []
    for position, raw in enumerate(raw_issues, start=1):
        where = f"taxonomy file {path}: known issue {position}"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a [[known_issues]] table, got {raw!r}")
        name, description, examples = (
            raw.get("name", ""),
            raw.get("description", ""),
            raw.get("examples", []),
        )
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: a known issue needs a name (text)")
        if not isinstance(description, str):
            raise ConfigError(f"{where} ({name}): `description` must be text")
        if isinstance(examples, str) or not isinstance(examples, list):
            raise ConfigError(f"{where} ({name}): `examples` must be a list of texts")
        if not all(isinstance(e, str) for e in examples):
            raise ConfigError(f"{where} ({name}): every example must be text")
        issues.append(
            KnownIssue(name=name.strip(), description=description, examples=tuple(examples))
        )
    return issues


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
