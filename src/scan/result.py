"""Scan results: frozen dataclasses for a cluster and a scan, with tables and a readable summary."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

P_VALUE_RTOL = 1e-9
"""Relative tolerance when counting replicate maxima that reach the observed LLR (ties)."""

EULER_GAMMA = 0.5772156649015329


def monte_carlo_p_value(llr: float, null_distribution: np.ndarray) -> float:
    """(1 + number of replicate maxima >= llr) / (R + 1).

    A replicate maximum counts as reaching ``llr`` when it is at least ``llr * (1 - 1e-9)``, so
    that the same window evaluated in a different order of floating-point operations still ties.
    With no replications, or an LLR of zero (no window in the scanned direction), p is 1.
    """
    R = len(null_distribution)
    if R == 0 or llr <= 0:
        return 1.0
    hits = int(np.count_nonzero(null_distribution >= llr * (1.0 - P_VALUE_RTOL)))
    return (1 + hits) / (R + 1)


def sequential_p_value(statistic: float, null_distribution: np.ndarray, *, requested: int,
                       threshold: int | None, most_likely: bool) -> float:
    """The p-value SaTScan reports, early termination included.

    When the replications stopped early (``len(null_distribution) = k < requested``, which only
    early termination with ``threshold`` does), the most likely cluster gets ``threshold / k``
    (Besag and Clifford's sequential p-value) and any other cluster ``hits / k``, hits being the
    replicate statistics that reach its own (SaTScan's ``(rank - 1) / k``).  Otherwise it is
    :func:`monte_carlo_p_value`, ``(1 + hits) / (R + 1)``.  In an iterative scan every cluster
    is the most likely one of its iteration.
    """
    k = len(null_distribution)
    if threshold is None or k == 0 or k >= requested:
        return monte_carlo_p_value(statistic, null_distribution)
    if statistic <= 0:
        return 1.0
    if most_likely:
        return threshold / k
    hits = int(np.count_nonzero(null_distribution >= statistic * (1.0 - P_VALUE_RTOL)))
    return hits / k


def gumbel_p_value(llr: float, null_distribution: np.ndarray) -> float:
    """P-value from a Gumbel distribution fitted to the replicate maxima by moments.

    beta = sqrt(6) sd / pi, mu = mean - gamma beta (Euler's gamma), with the variance divided by
    R as SaTScan does; p = 1 - exp(-exp(-(llr - mu) / beta)).  Useful for p-values smaller than
    1/(R+1).
    """
    if len(null_distribution) < 2 or llr <= 0:
        return 1.0
    sd = float(np.std(null_distribution))
    if sd == 0:
        return 1.0 if llr <= null_distribution[0] else 0.0
    beta = math.sqrt(6.0) * sd / math.pi
    mu = float(np.mean(null_distribution)) - EULER_GAMMA * beta
    return -math.expm1(-math.exp(-(llr - mu) / beta))


@dataclass(frozen=True, eq=False)
class Cluster:
    """One reported cluster.

    rank : 1 for the most likely cluster, then 2, 3, ... for the secondary clusters.
    center : id of the centre location ("(focus)" for a focused window centred on a point,
    "(whole area)" for the purely temporal scan); center_index its index (-1 for those);
    center_x, center_y : the centre's coordinates.  radius : distance from the centre to the
    farthest member (coordinate units; km for latitude/longitude); for an elliptic analysis the
    semi-minor axis.  shape : ratio of the window's axes (1 for circles); angle : direction of
    the major axis in degrees, counter-clockwise from +x, in (-90, 90] as SaTScan reports it.
    semi_minor, semi_major : the ellipse's axes in an elliptic analysis (SaTScan's E_MINOR,
    the transformed distance to the farthest member, and E_MAJOR = E_MINOR x shape; for a
    circle both are its radius), None otherwise.  members /
    member_indices : the locations inside.  population, observed, expected : totals inside
    (over the time window for space-time scans).  relative_risk : risk inside over risk
    outside; llr : log-likelihood ratio; test_statistic : what the replicate maxima are
    compared with: the LLR, times the non-compactness penalty for an elliptic window; p_value :
    Monte Carlo p-value, (1 + replicate maxima >= test_statistic) / (R + 1); gumbel_p_value :
    from a Gumbel fit to the replicate maxima.
    start, end : first and last day of the time window (space-time scans).
    recurrence_interval : days (prospective scans).  iteration : the iterative scan's round.
    exposure : per-pollutant exposure context, when joined.
    """

    rank: int
    center: str
    center_index: int
    radius: float
    members: tuple[str, ...]
    member_indices: np.ndarray
    population: float
    observed: float
    expected: float
    relative_risk: float
    llr: float
    p_value: float
    gumbel_p_value: float
    test_statistic: float = math.nan
    center_x: float = math.nan
    center_y: float = math.nan
    shape: float = 1.0
    angle: float = 0.0
    semi_minor: float | None = None
    semi_major: float | None = None
    iteration: int = 1
    start: Any = None
    end: Any = None
    recurrence_interval: float | None = None
    exposure: dict | None = None

    @property
    def n_locations(self) -> int:
        return len(self.members)

    @property
    def observed_over_expected(self) -> float:
        return self.observed / self.expected if self.expected > 0 else math.inf

    def to_dict(self) -> dict:
        d = {
            "rank": self.rank, "center": self.center, "center_x": self.center_x,
            "center_y": self.center_y, "radius": self.radius, "shape": self.shape,
            "angle": self.angle, "iteration": self.iteration, "n_locations": self.n_locations,
            "members": list(self.members), "population": self.population,
            "observed": self.observed, "expected": self.expected,
            "observed_over_expected": self.observed_over_expected,
            "relative_risk": self.relative_risk, "llr": self.llr,
            "test_statistic": self.test_statistic, "p_value": self.p_value,
            "gumbel_p_value": self.gumbel_p_value,
        }
        if self.semi_minor is not None:
            d["semi_minor"] = self.semi_minor
            d["semi_major"] = self.semi_major
        if self.start is not None:
            d["start"] = str(self.start)
            d["end"] = str(self.end)
        if self.recurrence_interval is not None:
            d["recurrence_interval"] = self.recurrence_interval
        if self.exposure is not None:
            d["exposure"] = self.exposure
        return d


def relative_risk(c: float, e: float, C: float) -> float:
    """(c/e) / ((C-c)/(C-e)): risk inside against risk outside."""
    inside = c / e if e > 0 else math.inf
    if C - e <= 0:
        return math.inf
    outside = (C - c) / (C - e)
    return inside / outside if outside > 0 else math.inf


@dataclass(frozen=True)
class EarlyTermination:
    """What SaTScan's sequential Monte Carlo did: ``threshold`` exceedances stop the
    replications; ``requested`` were asked for, ``run`` ran (``run < requested``: stopped)."""

    threshold: int
    requested: int
    run: int

    @property
    def stopped(self) -> bool:
        return self.run < self.requested

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "replications_requested": self.requested,
                "replications_run": self.run, "stopped": self.stopped}

    def line(self) -> str:
        if self.stopped:
            return (f"stopped after {self.run:,} of {self.requested:,} replications "
                    f"({self.threshold} replicate statistics above the observed); p of the "
                    f"most likely cluster = "
                    f"{self.threshold}/{self.run:,}, of the others = replicate statistics reaching "
                    f"theirs / {self.run:,}")
        return (f"all {self.requested:,} replications ran (fewer than {self.threshold} replicate "
                "statistics above the observed)")


@dataclass(frozen=True, eq=False)
class Iteration:
    """One iteration of an iterative scan: its data (``total_cases`` and ``n_locations`` still
    holding data), its most likely cluster's statistic and p-value, and its own replications."""

    iteration: int
    statistic: float
    p_value: float
    null_distribution: np.ndarray
    total_cases: float
    n_locations: int
    early_termination: EarlyTermination | None = None

    def to_dict(self) -> dict:
        d = {"iteration": self.iteration, "total_cases": self.total_cases,
             "n_locations": self.n_locations, "statistic": self.statistic,
             "p_value": self.p_value, "n_replications": len(self.null_distribution),
             "null_distribution": [float(v) for v in self.null_distribution]}
        if self.early_termination is not None:
            d["early_termination"] = self.early_termination.to_dict()
        return d


@dataclass(frozen=True, eq=False)
class GiniCollection:
    """The non-overlapping clusters found with windows up to ``percent`` % of the population at
    risk, and the Gini coefficient of those with p < the cutoff (``counted``)."""

    percent: float
    coefficient: float
    clusters: tuple[Cluster, ...]
    counted: tuple[bool, ...]


@dataclass(frozen=True, eq=False)
class GiniResult:
    """SaTScan's Gini-optimised clusters (purely spatial scans).

    collections : one per maximum size (``percent`` of the population at risk), smallest first.
    reporting : "optimal" (the collection with the largest coefficient) or "all".
    chosen : the percents whose collections are reported.  optimal : the percent with the
    largest positive coefficient (None when every coefficient is 0).  p_value_cutoff : clusters
    with p below it count in the coefficients.  clusters : the reported clusters (the chosen
    collections, a cluster found in several only once, most likely first); gini_cluster : for
    each, whether its p is below the cutoff (SaTScan's "Gini cluster").
    """

    collections: tuple[GiniCollection, ...]
    reporting: str
    chosen: tuple[float, ...]
    optimal: float | None
    p_value_cutoff: float
    clusters: tuple[Cluster, ...]
    gini_cluster: tuple[bool, ...]

    def to_dict(self) -> dict:
        return {
            "reporting": self.reporting, "p_value_cutoff": self.p_value_cutoff,
            "optimal_percent": self.optimal, "chosen_percents": list(self.chosen),
            "coefficients": [{"percent": c.percent, "coefficient": c.coefficient,
                              "n_clusters": len(c.clusters), "n_counted": int(sum(c.counted))}
                             for c in self.collections],
            "clusters": [{**c.to_dict(), "gini_cluster": flag}
                         for c, flag in zip(self.clusters, self.gini_cluster)],
        }

    def lines(self) -> tuple[str, ...]:
        out = [f"{c.percent:g}%: {c.coefficient:.4f} ({int(sum(c.counted))} of "
               f"{len(c.clusters)} clusters with p < {self.p_value_cutoff:g})"
               for c in self.collections]
        if self.optimal is not None:
            out.append(f"optimal Gini coefficient at {self.optimal:g}% of the population at risk")
        else:
            out.append(f"no cluster with p < {self.p_value_cutoff:g}: every coefficient is 0")
        which = ("the optimal collection" if self.reporting == "optimal"
                 else "the collections")
        shown = [c for c, flag in zip(self.clusters, self.gini_cluster) if flag]
        out.append(f"Gini clusters (p < {self.p_value_cutoff:g}) of {which}: {len(shown)}")
        out += [f"  centre {c.center}, {c.n_locations} locations, LLR {c.llr:.6f}, "
                f"p = {c.p_value:.4g}" for c in shown]
        rest = len(self.clusters) - len(shown)
        if rest:
            out.append(f"{rest} more cluster(s) of {which} in result.json (gini.clusters)")
        return tuple(out)


@dataclass(frozen=True)
class Section:
    """A part of a result contributed by a later step (exposure context, an adjusted rescan...).

    key : its name in result.json.  title : its heading in the summary.  lines : its summary
    text.  data : what result.json holds under ``key`` (JSON-able).
    """

    key: str
    title: str
    lines: tuple[str, ...]
    data: Any


@dataclass(frozen=True, eq=False)
class ScanResult:
    """The outcome of a scan.

    Attributes
    ----------
    statistic : float
        LLR of the most likely cluster (0 when there is none).
    p_value : float
        Its Monte Carlo p-value, ``(1 + number of replicate maxima >= statistic) / (R + 1)``.
    null_distribution : ndarray
        The maximum LLR of each replication, in replication order.
    clusters : tuple of Cluster
        Most likely first, then the secondary clusters the criterion keeps (SaTScan's default:
        no location shared with a more likely one), each with a p-value against the same
        replicate maxima.
    area : StudyArea or SpaceTimeData
        The data scanned.
    parameters : dict
        Every setting of the analysis.
    seed : int
        The root entropy: pass it as ``rng`` to replay the run.
    versions : dict
        Of scan and its main dependencies.
    analysis : str
        "purely spatial", "retrospective space-time", ...
    timings : dict
        Seconds spent building windows, scanning the data and replicating (not written to
        files, so that the same run always writes the same bytes).
    sections : tuple of Section
        Context added by later steps (exposure, adjusted rescans), in order; the inference
        options below add theirs ("early_termination", "iterations", "gini" in result.json).
    early_termination : EarlyTermination or None
        With early termination: the threshold and the replications requested and run.
    iterations : tuple of Iteration
        Iterative scans: one per iteration (its statistic, p-value and replications); the
        clusters are then the iterations' most likely clusters, ``Cluster.iteration`` saying
        which.
    gini : GiniResult or None
        With ``gini=True``: the Gini coefficients and Gini-optimised clusters.
    """

    statistic: float
    p_value: float
    null_distribution: np.ndarray
    clusters: tuple[Cluster, ...]
    area: Any
    parameters: dict
    seed: int
    versions: dict
    analysis: str = "purely spatial"
    timings: dict = field(default_factory=dict)
    sections: tuple[Section, ...] = ()
    early_termination: EarlyTermination | None = None
    iterations: tuple[Iteration, ...] = ()
    gini: GiniResult | None = None

    @property
    def most_likely(self) -> Cluster | None:
        return self.clusters[0] if self.clusters else None

    def significant(self, alpha: float = 0.05) -> tuple[Cluster, ...]:
        return tuple(c for c in self.clusters if c.p_value <= alpha)

    def with_clusters(self, clusters) -> "ScanResult":
        return replace(self, clusters=tuple(clusters))

    def with_section(self, section: Section) -> "ScanResult":
        """A copy with ``section`` added (replacing one with the same key)."""
        kept = tuple(s for s in self.sections if s.key != section.key)
        return replace(self, sections=kept + (section,))

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    # --- tables ---------------------------------------------------------------------------------
    def cluster_rows(self) -> tuple[list[str], list[dict]]:
        """The clusters table without pandas: (column names in order, one flat dict per
        cluster; a key a row lacks is a missing value)."""
        rows = []
        for c in self.clusters:
            d = c.to_dict()
            d["members"] = " ".join(c.members)
            rows.append(_flatten(d))
        seen = list(dict.fromkeys(k for row in rows for k in row))
        if not rows:
            return list(CLUSTER_COLUMNS), []
        return [c for c in CLUSTER_COLUMNS if c in seen] + \
            [c for c in seen if c not in CLUSTER_COLUMNS], rows

    def to_dataframe(self):
        """One row per cluster; nested values (exposure by pollutant) become flat columns
        such as ``NO2_mean_inside``."""
        import pandas as pd

        columns, rows = self.cluster_rows()
        if not rows:
            return pd.DataFrame(columns=columns)
        return pd.DataFrame(rows)[columns]

    clusters_frame = to_dataframe

    def location_columns(self) -> dict[str, np.ndarray]:
        """The locations table without pandas: one array per column (counts, O/E, and the rank
        and p-value of the cluster each location belongs to; rank 0: none)."""
        columns = dict(self.area.columns())
        cases = np.asarray(columns["cases"], dtype=float)
        expected = np.asarray(columns["expected"], dtype=float)
        columns["observed_over_expected"] = np.divide(
            cases, expected, out=np.full(len(cases), np.nan), where=expected > 0)
        rank = np.zeros(len(cases), dtype=np.int64)
        pvals = np.full(len(cases), np.nan)
        for c in reversed(self.clusters):
            rank[c.member_indices] = c.rank
            pvals[c.member_indices] = c.p_value
        columns["cluster"] = rank
        columns["cluster_p_value"] = pvals
        return columns

    def locations_dataframe(self):
        """One row per location: counts, O/E, and the rank of the cluster it belongs to (0: none)."""
        import pandas as pd

        return pd.DataFrame(self.location_columns())

    def to_json_dict(self) -> dict:
        return {
            "analysis": self.analysis,
            "model": self.parameters.get("model"),
            "statistic": self.statistic,
            "p_value": self.p_value,
            "seed": self.seed,
            "n_replications": len(self.null_distribution),
            "parameters": self.parameters,
            "study_area": {
                "source": self.area.source, "n_locations": self.area.n_locations,
                "total_cases": self.area.total_cases,
                "total_population": self.area.total_population,
                "coordinates": self.area.coordinates, "crs": self.area.crs,
            },
            "clusters": [c.to_dict() for c in self.clusters],
            "null_distribution": [float(v) for v in self.null_distribution],
            "versions": self.versions,
            **{s.key: s.data for s in self.sections},
        }

    def summary(self, max_clusters: int = 5, alpha: float = 0.05) -> str:
        """Readable report: settings, the most likely cluster and the secondary clusters with
        p <= alpha (the tables hold them all), then each section."""
        from .report.summary import summary_text

        return summary_text(self, max_clusters=max_clusters, alpha=alpha)

    def to_geodataframe(self, what: str = "clusters", *, polygons=None):
        """A GeoDataFrame in the data's CRS (needs GeoPandas: ``pip install scan[geo]``):
        ``what="clusters"`` (circles or ellipses holding every member), ``"areas"`` (unions of
        the members' ``polygons``) or ``"locations"`` (:func:`scan.geo.to_geodataframe`)."""
        from .geo import to_geodataframe

        return to_geodataframe(self, what, polygons=polygons)

    def _repr_html_(self) -> str:
        """A notebook's view: the clusters as a table and a small inline map
        (:func:`scan.geo.html_repr`)."""
        from .geo import html_repr

        return html_repr(self)

    def write(self, out, *, formats=None, **context):
        """Write the outputs to the folder ``out`` (:func:`scan.write_result`)."""
        from .io.writers import write_result

        return write_result(self, out, formats=formats, **context)

    def __str__(self) -> str:
        return self.summary()


CLUSTER_COLUMNS = ("rank", "center", "center_x", "center_y", "radius", "shape", "angle",
                   "semi_minor", "semi_major", "iteration", "n_locations", "population",
                   "observed", "expected", "observed_over_expected", "relative_risk", "llr",
                   "test_statistic", "p_value", "gumbel_p_value", "members")
"""The first columns of the clusters table, in order; other fields follow."""


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}_" if prefix or k != "exposure" else ""))
        elif isinstance(v, (list, tuple)):
            out[prefix + k] = " ".join(map(str, v))
        else:
            out[prefix + k] = v
    return out
