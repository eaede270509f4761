"""The statistics every stage shares, written once.

- `discoveries`: Benjamini-Hochberg q-values over a family of tests and the decision that makes
  a finding *significant* (q below the false discovery rate and the caller's own conditions on
  the effect: an interval that excludes 1, enough customers, a large enough ratio...). The
  link (over every issue and theme cell at once), negative-persona and trends stages decide
  this way.
- `hierarchical_discoveries`: the same decision over tests grouped in families (a persona's
  theme and the issues within it), with the false discovery rate controlled across the two
  levels: families selected first, then tests within the selected ones (Benjamini-Bogomolov).
  The power bench sets it beside the link stage's single family, which finds more.
- `clustered_count_test`: the exact conditional test of a group's tickets on a topic, with the
  variance of customers who repeat the topic (the link stage's p-value), or its mid-p.
- `ClusteredRate` and `rate_ratio`: a rate `sum(value) / sum(base)` over independent customers
  and the ratio of two such rates with a customer-clustered interval (delta method on the log of
  two ratio estimators) and its Wald test. A customer who files ten tickets is one observation,
  not ten, so a persona is never made significant by one noisy customer.
- `choose_k_by_silhouette`: the number of clusters whose labels have the highest silhouette,
  among those whose smallest cluster is large enough.

May import: numpy, scipy and (lazily, for the silhouette) scikit-learn. Never a stage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Discoveries:
    """Q-values and significance of a family of tests, in the order the p-values came.

    Attributes:
        q_values: Benjamini-Hochberg q-value of each test; None where there was no p-value
            (the test was not run, so it does not count in the family).
        significant: whether each test is a discovery: q-value below alpha and eligible.
    """

    q_values: tuple[float | None, ...]
    significant: tuple[bool, ...]


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg q-values (adjusted p-values) of a family of p-values."""
    from scipy import stats  # imported when used: commands that only read stay quick

    if len(p_values) == 0:
        return np.zeros(0)
    return np.asarray(stats.false_discovery_control(np.asarray(p_values, float), method="bh"))


def discoveries(
    p_values: Sequence[float | None], *, alpha: float, eligible: Sequence[bool] | None = None
) -> Discoveries:
    """Q-values over the tests that were run, and which of them are significant.

    A test is significant when its q-value is below `alpha` (the false discovery rate) and it is
    eligible. Eligibility is the caller's rule on the effect itself, checked whatever the
    q-value: an interval that excludes 1, enough customers or tickets, a large enough ratio. A
    small p-value on a tiny or degenerate cell is not a finding to show a person.

    Args:
        p_values: one per test; None for a test that was not run (too little data).
        alpha: false discovery rate.
        eligible: one per test; every test is eligible when omitted.

    Raises:
        ValueError: `eligible` and `p_values` differ in length.
    """
    if eligible is not None and len(eligible) != len(p_values):
        raise ValueError(f"{len(eligible)} eligibility flags for {len(p_values)} p-values")
    tested = [(i, float(p)) for i, p in enumerate(p_values) if p is not None]
    q_values: list[float | None] = [None] * len(p_values)
    adjusted = benjamini_hochberg([p for _, p in tested])
    for (i, _), q in zip(tested, adjusted, strict=True):
        q_values[i] = float(q)
    significant = tuple(
        q is not None and q < alpha and (eligible is None or bool(eligible[i]))
        for i, q in enumerate(q_values)
    )
    return Discoveries(tuple(q_values), significant)


def simes(p_values: Sequence[float]) -> float:
    """Simes' combined p-value of a family: min over k of n * p_(k) / k.

    Small when any one test of the family is small enough, so that a single strong issue can
    select its theme; valid for the family's global null under independence and the positive
    dependence of tests that share tickets (Sarkar 2008).
    """
    ordered = np.sort(np.asarray(p_values, float))
    n = len(ordered)
    return float(min(1.0, (n * ordered / np.arange(1, n + 1)).min()))


def conditional_p_values(
    p_values: Sequence[float | None], *, threshold: float
) -> list[float | None]:
    """Each p-value at most `threshold` divided by it; the larger ones left out (None).

    A null p-value is uniform, so given that it is at most `threshold` it is uniform once
    divided by `threshold`: testing only those keeps the false discovery rate (Zhao, Small and
    Su 2019, "Multiple testing when many p-values are uniformly conservative"). With one-sided
    tests of over-indexing, the cells that under-index (p near 1) so leave the family instead
    of diluting it, which buys power exactly where a persona's over-indexing somewhere is
    balanced by under-indexing elsewhere.
    """
    return [None if p is None or p > threshold else p / threshold for p in p_values]


def hierarchical_discoveries(
    p_values: Sequence[float | None],
    families: Sequence[Hashable],
    *,
    alpha: float,
    eligible: Sequence[bool] | None = None,
) -> Discoveries:
    """Q-values and significance of tests grouped in families, selected family first.

    The procedure of Benjamini and Bogomolov (2014, "Selective inference on multiple families
    of hypotheses"), with Simes' test selecting families:

    1. each family's p-value is the Simes combination of its tests' p-values;
    2. Benjamini-Hochberg over the families at `alpha` selects R of the m families tested;
    3. within each selected family, Benjamini-Hochberg at `alpha * R / m`.

    This controls the false discovery rate over families (a theme is claimed only where one of
    its tests is a finding) and the average false discovery rate within the selected families,
    so that claims made at both levels of a hierarchy are covered by one error rate; testing
    the two levels as two separate families would let each spend `alpha`. A test's q-value is
    the smallest level at which this procedure makes it a discovery: the family's adjusted
    p-value, or the within-family one scaled by m / R at the R reached there, whichever is
    larger.

    Args:
        p_values: one per test; None for a test that was not run (it is in no family).
        families: the family of each test (any hashable key, e.g. (persona, theme)).
        alpha: false discovery rate.
        eligible: one per test; the caller's rule on the effect (see `discoveries`).

    Raises:
        ValueError: `families` or `eligible` differ in length from `p_values`.
    """
    n = len(p_values)
    if len(families) != n or (eligible is not None and len(eligible) != n):
        raise ValueError(f"families and eligibility must match the {n} p-values one to one")
    members: dict[Hashable, list[int]] = {}
    for i, p in enumerate(p_values):
        if p is not None:
            members.setdefault(families[i], []).append(i)
    keys = list(members)
    if not keys:
        return Discoveries((None,) * n, (False,) * n)
    family_q = benjamini_hochberg(
        [simes([float(p_values[i]) for i in members[k]]) for k in keys]  # type: ignore[arg-type]
    )
    m = len(keys)
    ladder = np.sort(family_q)  # R(a) = number of families with q <= a
    selected = np.arange(1, m + 1)
    q_values: list[float | None] = [None] * n
    for key, q_family in zip(keys, family_q, strict=True):
        tests = members[key]
        within = benjamini_hochberg([float(p_values[i]) for i in tests])  # type: ignore[arg-type]
        reachable = ladder >= q_family
        for i, q_within in zip(tests, within, strict=True):
            levels = np.maximum(ladder, q_within * m / selected)[reachable]
            q_values[i] = float(min(1.0, max(float(q_family), float(levels.min()))))
    significant = tuple(
        q is not None and q < alpha and (eligible is None or bool(eligible[i]))
        for i, q in enumerate(q_values)
    )
    return Discoveries(tuple(q_values), significant)


@functools.cache
def z_score(confidence: float) -> float:
    """The standard normal quantile of a two-sided interval at this confidence (1.96 at 0.95).

    Cached: the statistics stages ask for it once per cell, thousands of times a run, and
    scipy's quantile costs a tenth of a millisecond a call.
    """
    from scipy import stats  # imported when used: commands that only read stay quick

    return float(stats.norm.ppf(0.5 + confidence / 2))


@dataclass(frozen=True)
class ClusteredRate:
    """A rate `value / base` summed over independent customers, with what its variance needs.

    Attributes:
        customers: independent customers (clusters) the rate is summed over.
        value: sum of the customers' values (tickets on a topic, repeat contacts...).
        base: sum of the customers' bases (all their tickets, 1 per customer...).
        residual_squares: sum over customers of (value - rate * base)^2.
    """

    customers: int
    value: float
    base: float
    residual_squares: float

    @classmethod
    def from_customers(cls, values: np.ndarray, bases: np.ndarray) -> ClusteredRate:
        """The rate of per-customer values and bases (one entry per customer)."""
        rate = values.sum() / bases.sum()
        residual = values - rate * bases
        return cls(len(values), float(values.sum()), float(bases.sum()), float((residual**2).sum()))

    @classmethod
    def from_sums(
        cls,
        customers: float,
        value: float,
        base: float,
        value_squares: float,
        value_base: float,
        base_squares: float,
    ) -> ClusteredRate:
        """The rate from sufficient sums over customers (of y, n, y*y, y*n, n*n).

        Sums are what SQL can aggregate over millions of customers without handing them to
        Python; the residual sum of squares is expanded from them (floored at 0 against
        rounding).
        """
        rate = value / base
        residual_squares = max(
            value_squares - 2 * rate * value_base + rate * rate * base_squares, 0.0
        )
        return cls(int(customers), float(value), float(base), residual_squares)

    @property
    def rate(self) -> float:
        """The ratio estimator `value / base`."""
        return self.value / self.base

    def log_variance(self) -> float:
        """Variance of log(rate) over independent customers (delta method, ratio estimator).

        Needs at least two customers and a positive value.
        """
        m = self.customers
        return m / (m - 1) * self.residual_squares / self.base**2 / self.rate**2


@dataclass(frozen=True)
class RateRatio:
    """The ratio of two clustered rates, its interval and its Wald test.

    Attributes:
        ratio: inside rate over outside rate.
        ci_low, ci_high: the interval at the requested confidence.
        p_value: two-sided Wald test of log(ratio) = 0 with the clustered variance (0 when the
            variance is 0: the rates differ with no spread at all).
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float


def rate_ratio(inside: ClusteredRate, outside: ClusteredRate, *, confidence: float) -> RateRatio:
    """Compare a group's rate with everyone else's, customers as clusters.

    Both rates need at least two customers and a positive value (the caller decides what to
    report otherwise).
    """
    from scipy import stats  # imported when used: commands that only read stay quick

    z = z_score(confidence)
    log_ratio = float(np.log(inside.rate / outside.rate))
    se = float(np.sqrt(inside.log_variance() + outside.log_variance()))
    return RateRatio(
        ratio=inside.rate / outside.rate,
        ci_low=float(np.exp(log_ratio - z * se)),
        ci_high=float(np.exp(log_ratio + z * se)),
        p_value=float(2 * stats.norm.sf(abs(log_ratio) / se)) if se > 0 else 0.0,
    )


def clustered_count_test(
    inside: np.ndarray,
    inside_totals: np.ndarray,
    outside: np.ndarray,
    outside_totals: np.ndarray,
    *,
    alternative: str = "greater",
    mid_p: bool = False,
) -> float:
    """Exact conditional test that a group's share of tickets on a topic is everyone else's.

    Given the topic's tickets `T` and the group's share `pi` of all tickets, the group's tickets
    on the topic are Binomial(T, pi) when tickets are independent: the exact test uses every
    ticket, where a test on customers with / without a ticket on the topic throws away the
    second ticket of a customer. Tickets of one customer are not independent, though: the
    binomial variance is compared with the customer-clustered one (the permutation variance of
    the group's summed residuals `y - rate * n` over customers), and where customers repeat the
    topic more than chance (design effect `phi` > 1) both counts are divided by `phi`, so that
    a chronic complainer counts as one voice. `phi` is never taken below 1: sparse data never
    make the test bolder than the binomial one.

    Args:
        inside, inside_totals: per customer of the group, tickets on the topic and all tickets.
        outside, outside_totals: the same for every other customer.
        alternative: "greater" (the group raises the topic more: one-sided), or "two-sided".
        mid_p: count half the probability of the observed count instead of all of it
            (Lancaster's mid-p). The exact test's p-value is conservative because counts are
            discrete; the mid-p is not, and its null distribution is close to uniform.

    Returns:
        The p-value (1 where the topic has no ticket at all).
    """
    y = np.concatenate([inside, outside]).astype(np.float64)
    n = np.concatenate([inside_totals, outside_totals]).astype(np.float64)
    topic, tickets = float(y.sum()), float(n.sum())
    if topic == 0 or tickets == 0:
        return 1.0
    residual = y - topic / tickets * n
    return clustered_count_p_value(
        float(inside.sum()),
        float(inside_totals.sum()),
        topic,
        tickets,
        members=len(inside),
        customers=len(y),
        residual_squares=float((residual**2).sum()),
        alternative=alternative,
        mid_p=mid_p,
    )


def clustered_count_p_value(
    x: float,
    group_tickets: float,
    topic: float,
    tickets: float,
    *,
    members: int,
    customers: int,
    residual_squares: float,
    alternative: str = "greater",
    mid_p: bool = False,
) -> float:
    """`clustered_count_test` from its sums over customers, for callers that compute the sums
    of many topics at once.

    Args:
        x: the group's tickets on the topic; group_tickets: all the group's tickets.
        topic, tickets: everyone's tickets on the topic, and all their tickets.
        members, customers: customers in the group, and in all.
        residual_squares: sum over every customer of (y - topic / tickets * n)^2, y the
            customer's tickets on the topic and n all their tickets.
        alternative, mid_p: as `clustered_count_test`.
    """
    from scipy import special  # imported when used: commands that only read stay quick

    if topic == 0 or tickets == 0:
        return 1.0
    share = group_tickets / tickets
    if share <= 0 or share >= 1:
        return 1.0
    phi = design_effect(
        members=members,
        customers=customers,
        residual_squares=residual_squares,
        topic=topic,
        share=share,
    )
    x, topic = x / phi, topic / phi
    # P(X >= x) and P(X <= x) of Binomial(topic, share), continued to non-integer counts.
    at_least = float(special.betainc(x, topic - x + 1, share)) if x > 0 else 1.0
    above = float(special.betainc(x + 1, topic - x, share)) if x < topic else 0.0
    upper = (at_least + above) / 2 if mid_p else at_least
    if alternative == "greater":
        return upper
    # P(X <= x) = 1 - P(X > x), and P(X < x) = 1 - P(X >= x).
    lower = 1 - (at_least + above) / 2 if mid_p else 1 - above
    return min(1.0, 2 * min(upper, lower))


def design_effect(
    *, members: int, customers: int, residual_squares: float, topic: float, share: float
) -> float:
    """How much more a group's count on a topic varies than if tickets were independent.

    The permutation variance of the group's summed residuals `y - rate * n` over customers
    (the group's `members` drawn from all `customers`) over the binomial variance of its count
    (`topic` tickets, the group's `share` of all tickets); never below 1, so that sparse data
    never make a statistic bolder than the binomial one. Large where a few customers send most
    of the topic's tickets.
    """
    if topic <= 0 or share <= 0 or share >= 1 or customers < 2:
        return 1.0
    permutation = members * (customers - members) / (customers * (customers - 1))
    return max(1.0, permutation * residual_squares / (topic * share * (1 - share)))


@dataclass(frozen=True)
class CountChange:
    """How two counts of the same thing in two periods compare, with their uncertainty.

    Attributes:
        change: relative change of the rate (tickets per unit of time): latest / previous - 1
            for periods of equal length (None when previous is 0).
        low, high: its interval (exact, from the binomial split of the two counts; `high` is
            None when previous could be 0 within the interval).
        p_value: exact two-sided test that both periods have the same rate.
        significant: below alpha: a change, not noise (the FDR q where `q_value` is set).
        q_value: Benjamini-Hochberg q over the changes tested together (None: tested alone).
    """

    change: float | None
    low: float | None
    high: float | None
    p_value: float
    significant: bool
    q_value: float | None = None


def count_change(
    latest: int,
    previous: int,
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
    lengths: tuple[float, float] = (1.0, 1.0),
) -> CountChange:
    """Whether `latest` tickets against `previous` is more than noise, for periods of the
    given `lengths` (latest, previous; days, say: a March of 31 days against a February of 28).

    Under equal Poisson rates, `latest` given the total is Binomial(total, share), where share
    is the latest period's part of the time: the exact binomial test gives the p-value, and the
    Clopper-Pearson interval of the split gives the interval of the rate ratio (1 -> 6 tickets
    in two equal periods is p = 0.125: noise, however large +500% looks; 2,800 tickets in
    February and 3,100 in March are the same daily rate).
    """
    from scipy import stats  # imported when used: commands that only read stay quick

    total = latest + previous
    if total == 0:
        return CountChange(None, None, None, 1.0, False)
    latest_length, previous_length = lengths
    if latest_length <= 0 or previous_length <= 0:
        raise ValueError(f"period lengths must be positive, got {lengths}")
    test = stats.binomtest(latest, total, latest_length / (latest_length + previous_length))
    interval = test.proportion_ci(confidence_level=confidence, method="exact")
    per_time = previous_length / latest_length

    def ratio_minus_one(share: float) -> float | None:
        return None if share >= 1 else share / (1 - share) * per_time - 1

    change = latest / previous * per_time - 1 if previous else None
    p_value = float(test.pvalue)
    return CountChange(
        change=change,
        low=ratio_minus_one(float(interval.low)),
        high=ratio_minus_one(float(interval.high)),
        p_value=p_value,
        significant=p_value < alpha,
    )


@dataclass(frozen=True)
class KChoice:
    """The number of clusters chosen by silhouette, and the evidence for it.

    Attributes:
        k: the chosen k; None when no k tried had every cluster large enough.
        labels: the cluster of each row under the chosen k (None with k).
        scores: silhouette of each k tried (a k whose fit gave a single cluster is left out).
        smallest: size of the smallest cluster of each k in `scores`.
    """

    k: int | None
    labels: np.ndarray | None
    scores: dict[int, float]
    smallest: dict[int, int]


def silhouette(
    matrix: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    sample_size: int | None = None,
    metric: str = "euclidean",
) -> float | None:
    """Silhouette of `labels` on `matrix` (None for a single cluster, where it is undefined).

    With more rows than `sample_size`, it is computed on a sample drawn with `seed`, so that a
    rerun gives the same score.
    """
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return None
    sample = sample_size if sample_size is not None and len(matrix) > sample_size else None
    return float(
        silhouette_score(matrix, labels, metric=metric, sample_size=sample, random_state=seed)
    )


def choose_k_by_silhouette(
    matrix: np.ndarray,
    ks: Iterable[int],
    fit: Callable[[int], np.ndarray],
    *,
    seed: int,
    sample_size: int | None = None,
    metric: str = "euclidean",
    min_cluster_size: int = 0,
) -> KChoice:
    """Fit every k in `ks` and keep the one with the highest silhouette.

    Only a k whose smallest cluster has at least `min_cluster_size` rows can be chosen; ties go
    to the first k tried.

    Args:
        matrix: the rows clustered (the silhouette is measured on them).
        ks: the candidate numbers of clusters, in the order tried.
        fit: the labels of the rows for a k (the caller's seeded clustering).
        seed: seed of the silhouette's sample.
        sample_size: rows the silhouette is computed on (all when None or fewer rows).
        metric: distance of the silhouette ("euclidean", "cosine"...).
        min_cluster_size: smallest cluster a chosen k may have.
    """
    scores: dict[int, float] = {}
    smallest: dict[int, int] = {}
    best: tuple[float, int, np.ndarray] | None = None
    for k in ks:
        labels = fit(k)
        score = silhouette(matrix, labels, seed=seed, sample_size=sample_size, metric=metric)
        if score is None:
            continue
        scores[k] = score
        smallest[k] = int(np.bincount(labels, minlength=k).min())
        if smallest[k] >= min_cluster_size and (best is None or score > best[0]):
            best = (score, k, labels)
    if best is None:
        return KChoice(None, None, scores, smallest)
    return KChoice(best[1], best[2], scores, smallest)


@dataclass(frozen=True)
class Estimate:
    """A mean, rate or difference with its interval.

    Attributes:
        value: the estimate.
        ci_low, ci_high: its interval at the requested confidence; None where the variance
            cannot be estimated (fewer than two customers).
    """

    value: float
    ci_low: float | None
    ci_high: float | None


def clustered_variance(influence_squares: float, customers: int) -> float | None:
    """Variance of an estimate from its per-customer influence, customers as clusters.

    `influence_squares` is the sum over customers of the squared linearised contribution of
    each customer to the estimate (for a ratio estimator, `(value - rate * base) / total base`);
    the small-sample factor m / (m - 1) is the one `ClusteredRate.log_variance` uses. None with
    fewer than two customers: one customer says nothing about the spread between customers.
    """
    if customers < 2:
        return None
    return customers / (customers - 1) * max(influence_squares, 0.0)


def rate_variance(rate: ClusteredRate) -> float | None:
    """Variance of `rate.rate` over independent customers (delta method, ratio estimator)."""
    if rate.base <= 0:
        return None
    return clustered_variance(rate.residual_squares / rate.base**2, rate.customers)


def normal_interval(value: float, variance: float | None, *, confidence: float) -> Estimate:
    """`value` with the Wald interval of `variance` (no interval when the variance is None)."""
    if variance is None:
        return Estimate(value, None, None)
    half = z_score(confidence) * float(np.sqrt(variance))
    return Estimate(value, value - half, value + half)


def rate_estimate(rate: ClusteredRate, *, confidence: float) -> Estimate:
    """A clustered rate (a share, a mean rating, mean hours) with its interval."""
    return normal_interval(rate.rate, rate_variance(rate), confidence=confidence)


def rate_difference(
    inside: ClusteredRate, outside: ClusteredRate, *, confidence: float
) -> Estimate:
    """Inside rate minus outside rate, two groups of distinct customers, with its interval.

    The groups share no customer, so the variance of the difference is the sum of the two
    clustered variances; no interval when either cannot be estimated.
    """
    v_in, v_out = rate_variance(inside), rate_variance(outside)
    variance = None if v_in is None or v_out is None else v_in + v_out
    return normal_interval(inside.rate - outside.rate, variance, confidence=confidence)
