"""Seeds and paired tests: how sure the book's headline comparisons are.

A single training run is one draw: its initial weights, dropout masks and window order come
from one seed. The batch trains the profile's seed replicates (``Profile.seeds``: the same
run with only the training seed changed, never the split) for the artists with the least
data; this module turns them, and the seed-0 runs of every artist, into intervals and tests.

- :func:`t_interval` — mean and Student-t interval (95 % by default) of a few values;
  :func:`t_quantile` and :func:`t_sf` compute the t distribution here (no SciPy in the stack).
- :func:`paired_test` — two arms compared on the same artists: the mean difference with its
  t interval, the two-sided paired t-test and the exact sign-flip permutation test (every
  one of the ``2**n`` sign patterns of the differences; no distribution assumed).
- :data:`COMPARISONS` — the comparisons the results chapter tests: the LSTM against the GRU
  (our two presets, identical but for the cell, on held-out pieces; the paper reports GRU
  91 % against LSTM 83 %), the paper's window split against the piece split (the paper
  GRU on both), and one GRU for every artist with an artist input against each artist's own
  GRU (:mod:`pianogen.conditioned`; the same test windows).
- :func:`seed_table`, :func:`comparison_table`, :func:`comparison_tests` and
  :func:`comparison_sentence` — what the chapter plots and glues, from
  :func:`pianogen.results.summary_table` with ``replicates=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COMPARISONS",
    "Comparison",
    "comparison_sentence",
    "comparison_table",
    "comparison_tests",
    "conditioned_table",
    "paired_test",
    "seed_table",
    "t_interval",
    "t_quantile",
    "t_sf",
]


@dataclass(frozen=True)
class Comparison:
    """Arm ``b`` against arm ``a`` (each a run name and split): differences are ``b - a``."""

    name: str
    a: tuple[str, str]
    b: tuple[str, str]
    a_label: str
    b_label: str


COMPARISONS = (
    Comparison("GRU vs LSTM", ("pianogen-lstm", "piece"), ("pianogen-gru", "piece"), "LSTM", "GRU"),
    Comparison(
        "window vs piece split",
        ("paper-gru", "piece"),
        ("paper-gru", "window"),
        "piece split",
        "window split",
    ),
    Comparison(
        "conditioned vs per-artist",
        ("pianogen-gru", "piece"),
        ("conditioned-gru", "piece"),
        "per-artist GRU",
        "conditioned GRU",
    ),
)


# --------------------------------------------------------------------- the t distribution
def _t_pdf(x: np.ndarray, df: int) -> np.ndarray:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))


def t_sf(t: float, df: int) -> float:
    """``P(T > t)`` for Student's t with ``df`` degrees of freedom (Simpson's rule on the
    density; good to about 1e-9 for the small ``df`` used here)."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    x = abs(float(t))
    # On u = atan(x): the density times dx/du is smooth and bounded even for df 1.
    u = np.linspace(0.0, math.atan(x), 4001)
    f = _t_pdf(np.tan(u), df) / np.cos(u) ** 2
    h = u[1] - u[0]
    area = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    upper = 0.5 - area
    return float(min(max(upper if t >= 0 else 1.0 - upper, 0.0), 1.0))


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t (bisection on :func:`t_sf`): 4.303 for
    ``(0.975, 2)``, 2.776 for ``(0.975, 4)``."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_sf(high, df) > 1.0 - p:
        high *= 2.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if t_sf(mid, df) > 1.0 - p else (low, mid)
    return (low + high) / 2


def t_interval(values: Any, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its Student-t interval at ``level``.
    One value gives ``(value, nan, nan)``: no interval from a single draw."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, math.nan, math.nan)
    half = t_quantile(0.5 + level / 2, len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return (mean, mean - half, mean + half)


def paired_test(a: Any, b: Any, level: float = 0.95) -> dict[str, Any]:
    """Paired comparison of ``b`` against ``a`` (equal-length, one pair per unit).

    ``mean``/``low``/``high``: the mean difference ``b - a`` and its t interval; ``t`` and
    ``p_t``: the two-sided paired t-test; ``p_sign_flip``: the exact two-sided sign-flip
    test (the share of the ``2**n`` sign patterns whose mean difference is at least as far
    from 0 as the observed one); ``wins``/``losses``: pairs where ``b > a``/``b < a``;
    ``n``: pairs.
    """
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    mean, low, high = t_interval(d, level)
    out: dict[str, Any] = {"n": n, "mean": mean, "low": low, "high": high}
    out |= {"wins": int((d > 0).sum()), "losses": int((d < 0).sum())}
    out |= {"t": math.nan, "p_t": math.nan, "p_sign_flip": math.nan}
    if n == 0:
        return out
    patterns = np.array(list(product((1.0, -1.0), repeat=n))) if n <= 16 else None
    if patterns is not None:
        flipped = np.abs((patterns * d).mean(axis=1))
        out["p_sign_flip"] = float((flipped >= abs(d.mean()) - 1e-12).mean())
    if n >= 2:
        sd = float(d.std(ddof=1))
        if sd > 0:
            out["t"] = float(d.mean() / (sd / math.sqrt(n)))
            out["p_t"] = 2.0 * t_sf(abs(out["t"]), n - 1)
    return out


# ------------------------------------------------------------------------ from the runs
def seed_table(summary: pd.DataFrame, metric: str = "test accuracy") -> pd.DataFrame:
    """Per (artist, preset, split): the number of seeds, the metric's mean and t interval
    over them, and each seed's value (``values``). ``summary`` is
    :func:`pianogen.results.summary_table` with ``replicates=True``."""
    columns = ["seeds", "mean", "low", "high", "values"]
    if summary.empty or metric not in summary:
        return pd.DataFrame(columns=columns)
    rows = []
    for (artist, preset, split), group in summary.groupby(["artist", "preset", "split"]):
        group = group.sort_values("seed")
        mean, low, high = t_interval(group[metric])
        values = [float(v) for v in group[metric]]
        rows.append((artist, preset, split, len(group), mean, low, high, values))
    frame = pd.DataFrame(rows, columns=["artist", "preset", "split", *columns])
    return frame.set_index(["artist", "preset", "split"])


def comparison_table(
    summary: pd.DataFrame, comparison: Comparison, metric: str = "test accuracy"
) -> pd.DataFrame:
    """Per artist that has both arms: each arm's mean over its seeds, the difference
    ``b - a`` of the means, and — where both arms have 2 or more shared seeds — the t
    interval of the per-seed differences (paired by seed)."""
    columns = ["seeds", "a", "b", "difference", "low", "high"]
    if summary.empty or metric not in summary:
        return pd.DataFrame(columns=columns)
    rows = []
    for artist, group in summary.groupby("artist"):
        arms = []
        for preset, split in (comparison.a, comparison.b):
            arm = group[(group["preset"] == preset) & (group["split"] == split)]
            arms.append(arm.set_index("seed")[metric].astype(float).dropna())
        a, b = arms
        if a.empty or b.empty:
            continue
        shared = sorted(set(a.index) & set(b.index))
        diff = b.loc[shared] - a.loc[shared]
        _, low, high = t_interval(diff) if len(shared) >= 2 else (None, math.nan, math.nan)
        rows.append((artist, len(shared), a.mean(), b.mean(), b.mean() - a.mean(), low, high))
    return pd.DataFrame(rows, columns=["artist", *columns]).set_index("artist")


def comparison_tests(
    summary: pd.DataFrame, metrics: tuple[str, ...] = ("test accuracy", "test loss")
) -> pd.DataFrame:
    """One row per (comparison, metric): :func:`paired_test` across artists of the per-artist
    seed means, plus the artists and seeds behind it."""
    rows = []
    for comparison in COMPARISONS:
        for metric in metrics:
            table = comparison_table(summary, comparison, metric)
            test = paired_test(table["a"], table["b"])
            seeds = int(table["seeds"].max()) if len(table) else 0
            rows.append({"comparison": comparison.name, "metric": metric, **test, "seeds": seeds})
    return pd.DataFrame(rows).set_index(["comparison", "metric"])


def conditioned_table(
    summary: pd.DataFrame, comparison: Comparison = COMPARISONS[2]
) -> pd.DataFrame:
    """Per artist with both arms of ``comparison`` (seed 0; by default the conditioned GRU
    against each artist's own): training windows, accuracy and loss of both beside the
    3-gram's accuracy and the unigram's loss on the same test windows, and both style
    fidelities; the artists with the least training data first."""
    labels = (comparison.a_label, comparison.b_label)
    rows = []
    if not summary.empty:
        main = summary[summary["seed"] == 0] if "seed" in summary else summary
        for artist, group in main.groupby("artist"):
            arms = [
                group[(group["preset"] == preset) & (group["split"] == split)]
                for preset, split in (comparison.a, comparison.b)
            ]
            if any(arm.empty for arm in arms):
                continue
            own, other = (arm.iloc[0] for arm in arms)
            row = {"artist": artist, "training windows": own.get("training windows")}
            for label, arm in zip(labels, (own, other), strict=True):
                row[f"{label} accuracy"] = arm.get("test accuracy")
            row["3-gram accuracy"] = own.get("ngram accuracy")
            for label, arm in zip(labels, (own, other), strict=True):
                row[f"{label} loss"] = arm.get("test loss")
            row["unigram loss"] = own.get("unigram loss")
            for label, arm in zip(labels, (own, other), strict=True):
                row[f"{label} style fidelity"] = arm.get("style fidelity")
            rows.append(row)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values(["training windows", "artist"]).set_index("artist")


def _points(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:+.1f}"


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _interval(low: float, high: float, scale: float, digits: int) -> str:
    if math.isnan(low):
        return "no interval"
    if abs(high - low) < 1e-12:
        return "the same on every seed"
    return f"{low * scale:+.{digits}f} to {high * scale:+.{digits}f}"


def _direction(test: dict[str, Any]) -> int:
    """1 when the whole interval of ``b - a`` is above 0, -1 when below, else 0."""
    return 1 if test["low"] > 0 else -1 if test["high"] < 0 else 0


def _loss_clause(summary: pd.DataFrame, comparison: Comparison) -> str:
    table = comparison_table(summary, comparison, "test loss")
    if len(table) < 2:
        return ""
    test = paired_test(table["a"], table["b"])
    b = comparison.b_label
    verdict = {
        -1: f"lower with the {b} beyond noise",
        1: f"higher with the {b} beyond noise",
        0: "within noise",
    }[_direction(test)]
    return (
        f"; test loss {test['mean']:+.3f} nats, {verdict} (95 % interval "
        f"{_interval(test['low'], test['high'], 1, 3)}, paired t-test p = {_p(test['p_t'])}, "
        f"sign-flip p = {_p(test['p_sign_flip'])}, lower with the {b} on {test['losses']} "
        f"of {test['n']})"
    )


def comparison_sentence(summary: pd.DataFrame, comparison: Comparison = COMPARISONS[0]) -> str:
    """The results chapter's one sentence on a comparison: the verdict on test accuracy, the
    same test on test loss, and the seeded artists' intervals; every number from the runs
    (``"n/a"`` parts where a figure is missing)."""
    table = comparison_table(summary, comparison)
    if table.empty:
        return f"{comparison.name}: not measured (no artist has both runs)."
    test = paired_test(table["a"], table["b"])
    b, a = comparison.b_label, comparison.a_label
    if test["n"] < 2 or math.isnan(test["low"]):
        verdict = "cannot be tested on one artist"
    else:
        verdict = {
            1: f"the {b} is ahead beyond noise",
            -1: f"the {a} is ahead beyond noise",
            0: "no difference beyond noise",
        }[_direction(test)]
    text = (
        f"{b} vs {a}: {verdict} in test accuracy, {_points(test['mean'])} points "
        f"({b} minus {a}) averaged over {test['n']} artists, 95 % interval "
        f"{_points(test['low'])} to {_points(test['high'])}, paired t-test "
        f"p = {_p(test['p_t'])}, sign-flip p = {_p(test['p_sign_flip'])}, "
        f"{b} ahead on {test['wins']} of {test['n']}"
    )
    text += _loss_clause(summary, comparison)
    seeded = table[table["seeds"] >= 2]
    for artist, row in seeded.iterrows():
        text += (
            f"; over {int(row['seeds'])} seeds on {artist} the accuracy difference is "
            f"{_points(row['difference'])} points ({_interval(row['low'], row['high'], 100, 1)})"
        )
    return text + "."
