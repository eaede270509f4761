"""Large-data helpers of the topics stage: exact neighbours and the stratified fit sample."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest

from persona_mining.topics.clustering import exact_neighbours
from persona_mining.topics.model import fit_sample
from tests.synthetic import Ticket, add_tickets


def test_exact_neighbours_are_the_brute_force_ones_with_itself_first() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(700, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[5] = vectors[4]  # a duplicate: each is still its own first neighbour
    indices, distances = exact_neighbours(vectors, 10, block=128)
    assert (indices[:, 0] == np.arange(700)).all() and (distances[:, 0] == 0).all()
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, np.inf)
    expected = np.argsort(-similarity, axis=1, kind="stable")[:, :10]
    assert (np.sort(indices, axis=1) == np.sort(expected, axis=1)).mean() > 0.999
    assert (np.diff(distances, axis=1) >= -1e-6).all()  # nearest first
    assert abs(distances[4, 1]) < 1e-5 and indices[4, 1] == 5


def _tickets(n_by_stratum: dict[tuple[int, str], int]) -> list[Ticket]:
    tickets = []
    for (month, channel), n in n_by_stratum.items():
        for i in range(n):
            created = datetime(2026, month, 1) + timedelta(minutes=i)
            tickets.append(Ticket(f"{month}-{channel}-{i:05d}", None, 0, created, channel=channel))
    return tickets


def _strata(con, ids, positions) -> Counter[tuple[str, str]]:  # type: ignore[no-untyped-def]
    chosen = [ids[i] for i in positions]
    return Counter(tuple(t.split("-")[:2]) for t in chosen)  # type: ignore[misc]


@pytest.mark.heavy
@pytest.mark.parametrize("size", [1000, 1500])
def test_the_fit_sample_keeps_each_month_and_channel_share(con, size: int) -> None:  # type: ignore[no-untyped-def]
    tickets = _tickets(
        {(1, "email"): 2000, (1, "chat"): 500, (2, "email"): 1200, (3, "phone"): 300}
    )
    add_tickets(con, tickets)
    ids = sorted(t.ticket_id for t in tickets)
    positions = fit_sample(con, ids, size=size, seed=42)
    assert len(positions) == size and len(set(positions.tolist())) == size
    shares = _strata(con, ids, positions)
    for (month, channel), n in {
        ("1", "email"): 2000,
        ("1", "chat"): 500,
        ("2", "email"): 1200,
        ("3", "phone"): 300,
    }.items():
        assert abs(shares[(month, channel)] - size * n / 4000) <= 1
    assert (fit_sample(con, ids, size=size, seed=42) == positions).all()  # the same on a refit
    assert not (fit_sample(con, ids, size=size, seed=7) == positions).all()


@pytest.mark.heavy
def test_small_data_is_fitted_whole_and_new_tickets_do_not_reshuffle(con) -> None:  # type: ignore[no-untyped-def]
    tickets = _tickets({(1, "email"): 3000})
    add_tickets(con, tickets)
    ids = sorted(t.ticket_id for t in tickets)
    assert len(fit_sample(con, ids, size=0)) == 3000
    assert len(fit_sample(con, ids, size=5000)) == 3000
    before = {ids[i] for i in fit_sample(con, ids, size=1000)}
    more = _tickets({(1, "email"): 3030})[3000:]
    add_tickets(con, more)
    grown = sorted(ids + [t.ticket_id for t in more])
    after = {grown[i] for i in fit_sample(con, grown, size=1010)}
    assert len(before & after) >= 990  # the same tickets, give or take the new quota
