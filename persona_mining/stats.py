"""The statistics every stage shares, written once.

- `discoveries`: Benjamini-Hochberg q-values over a family of tests and the decision that makes
  a finding *significant* (q below the false discovery rate and the caller's own conditions on
  the effect: an interval that excludes 1, enough customers, a large enough ratio...). The link,
  negative-persona and trends stages all decide this way.
- `ClusteredRate` and `rate_ratio`: a rate `sum(value) / sum(base)` over independent customers
  and the ratio of two such rates with a customer-clustered interval (delta method on the log of
  two ratio estimators) and its Wald test. A customer who files ten tickets is one observation,
  not ten, so a persona is never made significant by one noisy customer.
- `choose_k_by_silhouette`: the number of clusters whose labels have the highest silhouette,
  among those whose smallest cluster is large enough.

May import: numpy, scipy and (lazily, for the silhouette) scikit-learn. Never a stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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


def z_score(confidence: float) -> float:
    """The standard normal quantile of a two-sided interval at this confidence (1.96 at 0.95)."""
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


@dataclass(frozen=True)
class CountChange:
    """How two counts of the same thing in two equal periods compare, with their uncertainty.

    Attributes:
        change: relative change, latest / previous - 1 (None when previous is 0).
        low, high: its interval (exact, from the binomial split of the two counts; `high` is
            None when previous could be 0 within the interval).
        p_value: exact two-sided test that both periods have the same rate.
        significant: p_value below alpha: a change, not noise.
    """

    change: float | None
    low: float | None
    high: float | None
    p_value: float
    significant: bool


def count_change(
    latest: int, previous: int, *, alpha: float = 0.05, confidence: float = 0.95
) -> CountChange:
    """Whether `latest` tickets against `previous` in an equal period is more than noise.

    Under equal Poisson rates, `latest` given the total is Binomial(total, 1/2): the exact
    binomial test gives the p-value, and the Clopper-Pearson interval of the split gives the
    interval of the rate ratio (1 -> 6 tickets is p = 0.125: noise, however large +500% looks).
    """
    from scipy import stats  # imported when used: commands that only read stay quick

    total = latest + previous
    if total == 0:
        return CountChange(None, None, None, 1.0, False)
    test = stats.binomtest(latest, total, 0.5)
    interval = test.proportion_ci(confidence_level=confidence, method="exact")

    def ratio_minus_one(share: float) -> float | None:
        return None if share >= 1 else share / (1 - share) - 1

    change = latest / previous - 1 if previous else None
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
