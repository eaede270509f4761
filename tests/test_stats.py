"""The shared statistics on cases whose answer is known by hand."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pytest
from scipy import stats

from persona_mining.stats import (
    ClusteredRate,
    benjamini_hochberg,
    choose_k_by_silhouette,
    clustered_count_test,
    conditional_p_values,
    discoveries,
    hierarchical_discoveries,
    rate_ratio,
    silhouette,
    simes,
    z_score,
)
from persona_mining.topics.trends import repeat_contact_tickets

P_VALUES = [0.01, 0.04, 0.03, 0.005]
# Sorted .005, .01, .03, .04: p * m / rank = .02, .02, .04, .04 (already monotone).
Q_VALUES = [0.02, 0.04, 0.04, 0.02]


def test_benjamini_hochberg_gives_the_hand_computed_q_values() -> None:
    assert list(benjamini_hochberg(P_VALUES)) == pytest.approx(Q_VALUES)


def test_benjamini_hochberg_agrees_with_scipy_on_many_p_values() -> None:
    p = np.random.default_rng(0).uniform(size=200) ** 3
    expected = stats.false_discovery_control(p, method="bh")
    assert np.array_equal(benjamini_hochberg(list(p)), expected)


def test_tests_without_a_p_value_are_left_out_of_the_family() -> None:
    found = discoveries([0.01, None, 0.04, 0.03, None, 0.005], alpha=0.05)
    assert found.q_values == pytest.approx([0.02, None, 0.04, 0.04, None, 0.02])
    assert found.significant == (True, False, True, True, False, True)


def test_a_discovery_needs_a_q_value_below_alpha_and_an_eligible_effect() -> None:
    found = discoveries(P_VALUES, alpha=0.03, eligible=[True, True, True, False])
    assert found.significant == (True, False, False, False)


def test_no_tests_make_no_discoveries() -> None:
    assert discoveries([None, None], alpha=0.05).significant == (False, False)


def test_eligibility_must_match_the_tests_one_to_one() -> None:
    with pytest.raises(ValueError, match="3 eligibility flags for 4 p-values"):
        discoveries(P_VALUES, alpha=0.05, eligible=[True, True, True])


def test_simes_combines_a_family_into_one_p_value() -> None:
    assert simes([0.001, 0.5]) == pytest.approx(0.002)
    assert simes([0.02, 0.03]) == pytest.approx(0.03)
    assert simes([0.9]) == pytest.approx(0.9)


def test_families_of_one_test_give_plain_benjamini_hochberg() -> None:
    p = list(np.random.default_rng(1).uniform(size=40) ** 4)
    found = hierarchical_discoveries(p, list(range(40)), alpha=0.05)
    assert list(found.q_values) == pytest.approx(list(benjamini_hochberg(p)))


def test_hierarchical_q_values_match_the_hand_computed_procedure() -> None:
    # Families A (0.001, 0.5), B (0.02, 0.03), C (0.9): Simes 0.002, 0.03, 0.9; BH over the
    # families: 0.006, 0.045, 0.9, so at 0.05 R = 2 of m = 3 and each selected family is
    # tested at 0.05 * 2 / 3 = 0.033: A's 0.001 (BH 0.002) and both of B's (BH 0.03) pass.
    found = hierarchical_discoveries(
        [0.001, 0.5, 0.02, 0.03, 0.9], ["A", "A", "B", "B", "C"], alpha=0.05
    )
    assert found.q_values == pytest.approx([0.006, 0.75, 0.045, 0.045, 0.9])
    assert found.significant == (True, False, True, True, False)
    # At 0.04 only A is selected (R = 1): B's tests would need BH 0.03 <= 0.04 / 3.
    assert hierarchical_discoveries(
        [0.001, 0.5, 0.02, 0.03, 0.9], ["A", "A", "B", "B", "C"], alpha=0.04
    ).significant == (True, False, False, False, False)


def test_hierarchical_tests_without_a_p_value_and_ineligible_effects_are_no_discoveries() -> None:
    found = hierarchical_discoveries(
        [0.001, None, 0.002], ["A", "A", "B"], alpha=0.05, eligible=[True, True, False]
    )
    assert found.q_values[1] is None
    assert found.significant == (True, False, False)
    assert hierarchical_discoveries([None], ["A"], alpha=0.05).significant == (False,)


def test_hierarchical_discoveries_are_rare_when_nothing_is_there() -> None:
    rng = np.random.default_rng(2)
    families = [f for f in range(15) for _ in range(3)]
    any_found = sum(
        any(hierarchical_discoveries(list(rng.uniform(size=45)), families, alpha=0.05).significant)
        for _ in range(400)
    )
    assert any_found / 400 <= 0.08


def test_hierarchical_families_must_match_the_tests_one_to_one() -> None:
    with pytest.raises(ValueError, match="one to one"):
        hierarchical_discoveries([0.1, 0.2], ["A"], alpha=0.05)


def test_the_count_test_is_the_exact_binomial_one_when_customers_do_not_repeat() -> None:
    # One ticket per customer: 12 of 20 inside, 2 of 20 outside; 14 tickets, half inside.
    inside, outside, ones = (
        np.r_[np.ones(12), np.zeros(8)],
        np.r_[np.ones(2), np.zeros(18)],
        np.ones(20),
    )
    assert clustered_count_test(inside, ones, outside, ones) == pytest.approx(106 / 2**14)
    assert clustered_count_test(
        inside, ones, outside, ones, alternative="two-sided"
    ) == pytest.approx(stats.binomtest(12, 14, 0.5).pvalue)
    assert clustered_count_test(outside, ones, inside, ones) > 0.99  # fewer: no challenge


def test_the_mid_p_counts_half_the_observed_table() -> None:
    # 12 of 14 tickets inside at share 1/2: P(X >= 12) = 106 / 2^14, P(X >= 13) = 15 / 2^14.
    inside, outside, ones = (
        np.r_[np.ones(12), np.zeros(8)],
        np.r_[np.ones(2), np.zeros(18)],
        np.ones(20),
    )
    mid = clustered_count_test(inside, ones, outside, ones, mid_p=True)
    assert mid == pytest.approx((106 + 15) / 2 / 2**14)
    assert mid < clustered_count_test(inside, ones, outside, ones)
    # Two-sided: twice the smaller mid-p tail; the lower tail is 1 - the upper mid-p here.
    assert clustered_count_test(
        inside, ones, outside, ones, alternative="two-sided", mid_p=True
    ) == pytest.approx(2 * mid)


def test_the_mid_p_at_the_corners() -> None:
    ones = np.ones(10)
    # No ticket on the topic at all: nothing to test.
    assert clustered_count_test(np.zeros(10), ones, np.zeros(10), ones, mid_p=True) == 1.0
    # Every ticket on the topic is inside (a full cell): half of P(X = 5) = (1/2)^5 / 2.
    inside = np.r_[np.ones(5), np.zeros(5)]
    full = clustered_count_test(inside, ones, np.zeros(10), ones, mid_p=True)
    assert full == pytest.approx(0.5**5 / 2)
    # No ticket inside: P(X >= 0) = 1 and P(X > 0) = 1 - (1/2)^5.
    none = clustered_count_test(np.zeros(10), ones, inside, ones, mid_p=True)
    assert none == pytest.approx((1 + 1 - 0.5**5) / 2)
    # One customer inside with every ticket: its share is its tickets, the test still runs.
    one = clustered_count_test(np.r_[3.0], np.r_[3.0], np.r_[1.0, 0, 0], np.r_[1.0, 1, 1])
    assert (
        0
        < clustered_count_test(
            np.r_[3.0], np.r_[3.0], np.r_[1.0, 0, 0], np.r_[1.0, 1, 1], mid_p=True
        )
        < one
    )


def test_the_count_test_counts_a_customer_who_repeats_a_topic_as_one_voice() -> None:
    # The same 12 tickets inside, all from one customer: no evidence of a persona's issue.
    outside, ones = np.r_[np.ones(2), np.zeros(18)], np.ones(20)
    inside, totals = np.r_[12.0, np.zeros(19)], np.r_[12.0, np.ones(19)]
    spread = clustered_count_test(np.r_[np.ones(12), np.zeros(8)], ones, outside, ones)
    assert spread < 0.01 < 0.3 < clustered_count_test(inside, totals, outside, ones)


def test_the_count_test_is_calibrated_when_nothing_is_linked() -> None:
    rng = np.random.default_rng(3)
    p, mid = [], []
    for _ in range(2000):
        n = rng.integers(2, 11, 300)
        y = rng.binomial(n, 0.05)
        inside = rng.random(300) < 0.2
        p.append(clustered_count_test(y[inside], n[inside], y[~inside], n[~inside]))
        mid.append(clustered_count_test(y[inside], n[inside], y[~inside], n[~inside], mid_p=True))
    assert np.mean(np.array(p) < 0.05) <= 0.06
    assert np.mean(np.array(p) < 0.01) <= 0.015
    # The mid-p is closer to uniform: never below the exact p-value's rate, still near 5%.
    assert np.mean(np.array(p) < 0.05) <= np.mean(np.array(mid) < 0.05) <= 0.065


def test_conditional_p_values_leave_out_the_large_ones_and_rescale_the_rest() -> None:
    assert conditional_p_values([0.01, 0.5, 0.7, None], threshold=0.5) == [0.02, 1.0, None, None]


def test_the_clustered_variance_of_a_rate_matches_the_hand_computed_one() -> None:
    # Two customers with 1 of 2 and 3 of 2 tickets: rate 1, residuals -1 and +1, so
    # Var(log rate) = m/(m-1) * sum(residual^2) / (sum base)^2 / rate^2 = 2 * 2 / 16 / 1.
    rate = ClusteredRate.from_customers(np.array([1.0, 3.0]), np.array([2.0, 2.0]))
    assert (rate.rate, rate.log_variance()) == (1.0, 0.25)


def test_sufficient_sums_give_the_same_rate_and_variance_as_the_customers() -> None:
    rng = np.random.default_rng(3)
    bases = rng.integers(1, 20, 300).astype(float)
    values = rng.binomial(bases.astype(int), 0.3).astype(float)
    direct = ClusteredRate.from_customers(values, bases)
    summed = ClusteredRate.from_sums(
        len(values),
        values.sum(),
        bases.sum(),
        (values * values).sum(),
        (values * bases).sum(),
        (bases * bases).sum(),
    )
    assert summed.rate == direct.rate
    assert summed.log_variance() == pytest.approx(direct.log_variance(), rel=1e-9)


def test_the_rate_ratio_interval_and_test_match_the_hand_computed_ones() -> None:
    inside = ClusteredRate.from_customers(np.array([1.0, 3.0]), np.array([2.0, 2.0]))  # 1, var .25
    outside = ClusteredRate.from_customers(np.array([1.0, 1.0]), np.array([4.0, 4.0]))  # .25, var 0
    result = rate_ratio(inside, outside, confidence=0.95)
    z, se = 1.959963984540054, 0.5
    assert result.ratio == 4.0
    assert result.ci_low == pytest.approx(4 * math.exp(-z * se))
    assert result.ci_high == pytest.approx(4 * math.exp(z * se))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(math.log(4) / se))
    assert z_score(0.95) == pytest.approx(z)


def test_one_customer_with_every_ticket_widens_the_interval() -> None:
    bases = np.full(5, 10.0)
    everyone = ClusteredRate.from_customers(np.full(5, 2.0), bases)
    one_voice = ClusteredRate.from_customers(np.array([10.0, 0, 0, 0, 0]), bases)
    outside = ClusteredRate.from_customers(np.array([1.0, 2.0, 1.0, 0.0]), np.full(4, 10.0))
    spread = rate_ratio(everyone, outside, confidence=0.95)
    single = rate_ratio(one_voice, outside, confidence=0.95)
    assert spread.ratio == single.ratio
    assert single.ci_low < spread.ci_low and single.p_value > spread.p_value


def test_rates_that_differ_without_spread_have_a_zero_p_value() -> None:
    inside = ClusteredRate.from_customers(np.array([2.0, 2.0]), np.array([4.0, 4.0]))
    outside = ClusteredRate.from_customers(np.array([1.0, 1.0]), np.array([4.0, 4.0]))
    result = rate_ratio(inside, outside, confidence=0.95)
    assert result.ci_low == pytest.approx(2.0) and result.ci_high == pytest.approx(2.0)
    assert (result.ratio, result.p_value) == (2.0, 0.0)


def blobs(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian blobs in 2-D, and the blob of each row."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])[: len(sizes)]
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return centres[truth] + rng.normal(scale=0.5, size=(len(truth), 2)), truth


def kmeans(matrix: np.ndarray):  # type: ignore[no-untyped-def]
    from sklearn.cluster import KMeans

    return lambda k: KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(matrix)


def test_k_is_the_number_of_well_separated_blobs() -> None:
    matrix, truth = blobs([40, 40, 40])
    choice = choose_k_by_silhouette(matrix, range(2, 7), kmeans(matrix), seed=0)
    assert choice.k == 3
    assert choice.labels is not None
    assert len(set(zip(choice.labels, truth, strict=True))) == 3  # each blob is one cluster
    assert set(choice.scores) == set(choice.smallest) == {2, 3, 4, 5, 6}
    assert choice.scores[3] == max(choice.scores.values())


def test_a_k_with_a_cluster_too_small_is_not_chosen() -> None:
    matrix, _ = blobs([60, 60, 60, 5])
    free = choose_k_by_silhouette(matrix, range(2, 6), kmeans(matrix), seed=0)
    bounded = choose_k_by_silhouette(
        matrix, range(2, 6), kmeans(matrix), seed=0, min_cluster_size=20
    )
    assert (free.k, bounded.k) == (4, 3)
    assert bounded.smallest[4] == 5


def test_no_qualifying_k_chooses_nothing() -> None:
    matrix, _ = blobs([10, 10])
    choice = choose_k_by_silhouette(
        matrix, range(2, 4), kmeans(matrix), seed=0, min_cluster_size=50
    )
    assert (choice.k, choice.labels) == (None, None)
    assert set(choice.scores) == {2, 3}


def test_a_fit_that_finds_one_cluster_is_not_scored() -> None:
    matrix, _ = blobs([10, 10])
    choice = choose_k_by_silhouette(
        matrix,
        [2, 3],
        lambda k: np.zeros(len(matrix), int) if k == 3 else kmeans(matrix)(k),
        seed=0,
    )
    assert (choice.k, list(choice.scores)) == (2, [2])
    assert silhouette(matrix, np.zeros(len(matrix), int), seed=0) is None


def test_the_silhouette_sample_is_seeded() -> None:
    matrix, truth = blobs([300, 300, 300])
    noisy = np.where(np.arange(len(truth)) % 7 == 0, (truth + 1) % 3, truth)
    first = silhouette(matrix, noisy, seed=5, sample_size=100)
    assert first == silhouette(matrix, noisy, seed=5, sample_size=100)
    assert first != silhouette(matrix, noisy, seed=6, sample_size=100)


def test_repeat_contacts_are_same_customer_same_topic_within_the_days(
    con: duckdb.DuckDBPyConnection,
) -> None:
    start = datetime(2026, 1, 1)
    tickets = [
        ("t1", "a", 0, start),
        ("t2", "a", 0, start + timedelta(days=3)),  # repeat of t1
        ("t3", "a", 0, start + timedelta(days=10)),  # 7 days after t2: repeat within 7
        ("t4", "a", 1, start + timedelta(days=11)),  # other topic
        ("t5", "b", 0, start + timedelta(days=1)),  # other customer
        ("t6", None, 0, start + timedelta(days=1)),  # anonymous, never a repeat
        ("t7", None, 0, start + timedelta(days=2)),
        ("t8", "a", 0, start + timedelta(days=30)),  # too late
    ]
    con.executemany(
        "INSERT INTO tickets (ticket_id, customer_id, created_at, updated_at, body, source, "
        "raw_hash, row_hash, ingested_at) VALUES (?, ?, ?, ?, 'x', 's', 'h', 'h', now())",
        [[t, c, when, when] for t, c, _, when in tickets],
    )
    con.executemany(
        "INSERT INTO ticket_topics (ticket_id, model_id, topic_id, probability, text_hash) "
        "VALUES (?, ?, ?, 1.0, 'h')",
        [[t, model, topic] for t, _, topic, _ in tickets for model in ("m1", "m2")],
    )
    sql, params = repeat_contact_tickets("m1", 7)
    rows = con.execute(
        f"SELECT ticket_id, is_repeat FROM ({sql}) ORDER BY ticket_id", params
    ).fetchall()
    assert [t for t, repeat in rows if repeat] == ["t2", "t3"]
    assert len(rows) == len(tickets)  # one model's assignments only


def test_a_change_of_small_counts_is_noise_and_a_large_one_is_not() -> None:
    from persona_mining.stats import count_change

    small = count_change(6, 1)
    assert small.change == 5.0 and small.p_value == 0.125 and not small.significant
    assert small.low is not None and small.low < 0  # the interval takes in "no change"
    large = count_change(60, 20)
    assert large.significant and large.low is not None and 0 < large.low < 2.0 < (large.high or 0)
    assert count_change(0, 0).change is None and not count_change(0, 0).significant
    gone = count_change(0, 5)
    assert gone.change == -1.0 and not gone.significant
