"""The embedded synthetic borough: a deterministic stand-in for Barking and Dagenham.

Everything here is generated from code with fixed seeds, so the demo and the tests run with no
downloads.  Public data for the London Borough of Barking and Dagenham (LBBD) only *guided* the
choices (the extent, the outline's rough shape, the density of areas, the age structure); none of
it is copied or read at run time.

What you get
------------
* 110 LSOA-like areas ``SYN001``..``SYN110`` (numbered north to south), each a point in British
  National Grid metres (EPSG:27700) inside a hand-drawn outline of the borough, and a polygon:
  the point's Voronoi cell clipped to the outline.  Points are denser in the west (Barking) and
  centre (Becontree), sparse on the industrial riverside in the south.
* Populations of 1,200-3,000 per area by sex (``m``, ``f``) and age band (0-15, 16-29, 30-44,
  45-64, 65+), young like the real borough (about 27 % aged 0-15, 9 % aged 65+), a little older
  in the north and east.
* Outcomes, drawn as Poisson counts from age-and-sex-specific rates:

  - ``cancer``: registrations over ten years, with a planted excess of relative risk
    :data:`CANCER_RELATIVE_RISK` (1.9) in the five adjacent areas nearest E 548,000 N 186,000:
    ``SYN029, SYN037, SYN038, SYN050, SYN054`` (:data:`CANCER_CLUSTER_IDS`).  A Poisson
    purely-spatial scan adjusted for age and sex should find them.
  - ``respiratory``: emergency admissions over five years, no excess (for null comparisons).
  - ``flu_like`` (weekly, :func:`borough_weekly`): consultations by area and ISO week over 2023,
    with a winter season and a planted outbreak of relative risk :data:`FLU_OUTBREAK_RELATIVE_RISK`
    (3.0) in the last :data:`FLU_OUTBREAK_WEEKS` (3) weeks in the four areas nearest
    E 544,800 N 184,400: ``SYN066, SYN079, SYN081, SYN082`` (:data:`FLU_OUTBREAK_IDS`).

Randomness: each component draws from its own stream ``SeedSequence(SEED, spawn_key=(k,))``, so
changing one outcome does not move the areas.  Results are cached; every public function returns
fresh copies, so callers cannot corrupt the cache.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from .errors import ScanParameterError, check_choice

CRS = "EPSG:27700"

#: Root entropy of every random draw in this module.
SEED = 20_240_521

#: Independent random streams (spawn keys under :data:`SEED`), one per component.
_STREAM = {"points": 0, "population": 1, "cancer": 2, "respiratory": 3, "flu_like": 4}

# --------------------------------------------------------------------------------------------
# Geography
# --------------------------------------------------------------------------------------------

#: Number of LSOA-like areas (LBBD has 110 LSOAs in the 2011 set).
N_AREAS = 110

#: The bounding box the borough must fit in: (min E, min N, max E, max N), metres.
EXTENT = (543_400.0, 180_700.0, 551_900.0, 191_200.0)

#: The north bank of the Thames, west to east: the borough's southern edge.
_THAMES_BANK = [
    (545_700, 181_650), (546_300, 181_550), (547_000, 181_950), (547_700, 182_200),
    (548_400, 182_100), (549_200, 181_600), (549_950, 181_450),
]

#: The rest of the outline, anticlockwise from the Thames's east end: up the eastern edge (the Beam
#: river), round the narrow northern prong (Marks Gate), down the western edge (Barking Creek).
_LAND_EDGE = [
    (550_300, 183_100), (551_050, 184_900), (551_850, 185_900), (551_450, 187_300),
    (549_900, 187_050), (549_050, 187_650), (549_100, 190_900), (548_700, 191_100),
    (547_650, 189_700), (547_550, 188_100), (547_050, 186_750), (545_800, 185_650),
    (545_000, 185_100), (543_600, 184_800), (543_500, 184_300), (543_900, 183_300),
    (545_350, 182_900), (545_650, 182_300),
]

#: Minimum distance between two area points, metres (a dense LSOA is about 300 m across).
_MIN_SPACING = 300.0

#: Population-density bumps guiding where area points fall: (E, N, sigma in m, weight).
_DENSITY_BUMPS = [
    (544_700, 184_200, 900, 0.9),    # Barking town centre (west)
    (547_600, 185_000, 1_300, 0.9),  # Becontree estate (centre)
    (550_000, 185_600, 900, 0.3),    # Dagenham / Rush Green (east)
    (548_300, 189_000, 700, 0.5),    # Marks Gate / Chadwell Heath (north)
]
_DENSITY_FLOOR = 0.15
#: Northing below which the riverside is industrial (Barking Riverside, Dagenham Dock), the
#: width in metres of the transition, and the share of residents lost there (most in the east).
_INDUSTRIAL_NORTHING, _INDUSTRIAL_EDGE_M, _INDUSTRIAL_THINNING = 183_300.0, 250.0, 0.9
#: Easting beyond which the riverside is fully industrial (Dagenham Dock), with its transition.
_INDUSTRIAL_EASTING, _INDUSTRIAL_EAST_EDGE_M = 547_000.0, 500.0


def _stream(name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(_STREAM[name],)))


def _outline() -> Polygon:
    ring = _LAND_EDGE + _THAMES_BANK
    return Polygon([(float(x), float(y)) for x, y in ring])


def _relative_density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Relative density of residents in [0, 1]: bumps over a floor, thinned by the river."""
    dens = np.full_like(x, _DENSITY_FLOOR)
    for bx, by, sigma, weight in _DENSITY_BUMPS:
        dens += weight * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * sigma ** 2))
    industrial = 1.0 / (1.0 + np.exp((y - _INDUSTRIAL_NORTHING) / _INDUSTRIAL_EDGE_M))
    east = 1.0 / (1.0 + np.exp(-(x - _INDUSTRIAL_EASTING) / _INDUSTRIAL_EAST_EDGE_M))
    dens *= 1.0 - _INDUSTRIAL_THINNING * industrial * (0.6 + 0.4 * east)
    return np.minimum(dens, 1.0)


def _place_points(outline: Polygon, rng: np.random.Generator) -> np.ndarray:
    """Dart throwing: candidates accepted with the relative density and a minimum spacing."""
    x0, y0, x1, y1 = outline.bounds
    points: list[tuple[float, float]] = []
    while len(points) < N_AREAS:
        cx, cy, u = rng.uniform((x0, y0, 0.0), (x1, y1, 1.0))
        cx, cy = round(cx), round(cy)  # whole metres
        if u > _relative_density(np.array([cx], float), np.array([cy], float))[0]:
            continue
        if not outline.contains(Point(cx, cy)):
            continue
        if points and np.hypot(*(np.array(points) - (cx, cy)).T).min() < _MIN_SPACING:
            continue
        points.append((cx, cy))
    pts = np.array(points, dtype=np.float64)
    order = np.lexsort((pts[:, 0], -pts[:, 1]))  # north to south, then west to east
    return pts[order]


def _voronoi_cells(points: np.ndarray, outline: Polygon) -> list:
    """Voronoi cell of each point clipped to the outline, in the points' order."""
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=outline).geoms
    cells = [c.intersection(outline) for c in cells]
    out = [None] * len(points)
    for cell in cells:
        hits = np.flatnonzero(shapely.contains_xy(cell, points[:, 0], points[:, 1]))
        if len(hits) != 1:
            raise RuntimeError("Voronoi cell does not hold exactly one point")  # pragma: no cover
        out[hits[0]] = cell
    return out


def _nearest_ids(ids: np.ndarray, xy: np.ndarray, centre: tuple[float, float], k: int) -> tuple:
    d = np.hypot(xy[:, 0] - centre[0], xy[:, 1] - centre[1])
    return tuple(sorted(str(v) for v in ids[np.argsort(d, kind="stable")[:k]]))


# --------------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------------

#: Age bands: column suffixes and labels.
AGE_BANDS = ("0_15", "16_29", "30_44", "45_64", "65_plus")
SEXES = ("m", "f")
#: Stratum names, sex-major: m_0_15, ..., m_65_plus, f_0_15, ..., f_65_plus.
STRATA = tuple(f"{s}_{b}" for s in SEXES for b in AGE_BANDS)

#: Borough-wide share of residents in each stratum (order of :data:`STRATA`), rounded from the
#: ONS mid-2019 estimates for LBBD: a young borough, 27 % aged 0-15 and 9 % aged 65+.
_BASE_SHARES = np.array([0.141, 0.098, 0.114, 0.104, 0.041,
                         0.132, 0.088, 0.122, 0.108, 0.052])
#: Dirichlet concentration of each area's shares around the base: larger means less variation
#: (150 gives a standard deviation of about 3.5 points in the 0-15 share, as in LBBD).
_SHARE_CONCENTRATION = 150.0
#: How much older the population is towards the north-east edge (multiplier on the 65+ and
#: 45-64 shares at the far corner, on a 0-1 gradient).
_AGEING_GRADIENT = 0.5
#: Population per area: normal(mean, sd), clipped to [min, max].
_POP_MEAN, _POP_SD, _POP_MIN, _POP_MAX = 1_950.0, 380.0, 1_250, 2_950


def _populations(xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 10) residents by stratum; every row sums to 1,250-2,950."""
    n = len(xy)
    totals = np.clip(np.round(rng.normal(_POP_MEAN, _POP_SD, n)), _POP_MIN, _POP_MAX).astype(int)
    x0, y0, x1, y1 = EXTENT
    gradient = 0.5 * ((xy[:, 0] - x0) / (x1 - x0) + (xy[:, 1] - y0) / (y1 - y0))
    tilt = np.ones((n, len(STRATA)))
    older_cols = [i for i, s in enumerate(STRATA) if s.endswith(("45_64", "65_plus"))]
    tilt[:, older_cols] += _AGEING_GRADIENT * (gradient[:, None] - 0.5)
    centre = _BASE_SHARES * tilt
    centre /= centre.sum(axis=1, keepdims=True)
    pops = np.empty((n, len(STRATA)), dtype=np.int64)
    for i in range(n):
        shares = rng.dirichlet(_SHARE_CONCENTRATION * centre[i])
        pops[i] = rng.multinomial(totals[i], shares)
    return pops


# --------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """A synthetic outcome: age-and-sex-specific rates per 100,000 per unit of time."""

    name: str
    description: str
    periods: float  # years for the borough outcomes, weeks for weekly ones
    rates_m: tuple[float, ...]  # per 100,000 per period unit, by age band
    rates_f: tuple[float, ...]

    def rates(self) -> np.ndarray:
        """Rates per person per period unit, in the order of :data:`STRATA`."""
        return np.array(self.rates_m + self.rates_f) / 100_000.0


#: All cancers (registrations): very low in children, rising steeply with age; women higher in
#: mid-life (breast), men higher in old age.
CANCER = Outcome("cancer", "cancer registrations over ten years", 10.0,
                 rates_m=(20.0, 35.0, 120.0, 650.0, 2_700.0),
                 rates_f=(18.0, 45.0, 190.0, 750.0, 2_000.0))
#: Emergency respiratory admissions: high in young children and the old.
RESPIRATORY = Outcome("respiratory", "emergency respiratory admissions over five years", 5.0,
                      rates_m=(1_500.0, 300.0, 400.0, 800.0, 3_600.0),
                      rates_f=(1_200.0, 400.0, 500.0, 900.0, 3_200.0))
#: Flu-like illness consultations per week (before the seasonal multiplier).
FLU_LIKE = Outcome("flu_like", "flu-like illness consultations per ISO week", 1.0,
                   rates_m=(90.0, 35.0, 40.0, 45.0, 70.0),
                   rates_f=(85.0, 45.0, 50.0, 50.0, 65.0))

OUTCOMES = ("cancer", "respiratory")
WEEKLY_OUTCOMES = ("flu_like",)
_OUTCOME = {o.name: o for o in (CANCER, RESPIRATORY, FLU_LIKE)}

#: The planted cancer excess: the areas nearest this point, with this relative risk.
CANCER_HOTSPOT = (548_000.0, 186_000.0)
CANCER_CLUSTER_SIZE = 5
CANCER_RELATIVE_RISK = 1.9
#: The ids that rule picks (pinned by a test).
CANCER_CLUSTER_IDS = ("SYN029", "SYN037", "SYN038", "SYN050", "SYN054")

#: The planted flu-like outbreak: areas nearest this point, last weeks of the series.
FLU_OUTBREAK_CENTRE = (544_800.0, 184_400.0)
FLU_OUTBREAK_SIZE = 4
FLU_OUTBREAK_WEEKS = 3
FLU_OUTBREAK_RELATIVE_RISK = 3.0
FLU_OUTBREAK_IDS = ("SYN066", "SYN079", "SYN081", "SYN082")

#: Monday of ISO week 2023-W01, the first week of the weekly series, and the default length.
FIRST_WEEK = np.datetime64("2023-01-02")
DEFAULT_WEEKS = 52
#: Seasonal multiplier of the weekly rate: 1 + amplitude * cos(2 pi (week - peak) / 52).
_SEASON_AMPLITUDE, _SEASON_PEAK_WEEK = 0.6, 3


@dataclass(frozen=True)
class PlantedExcess:
    """Where an outcome was given an excess: the area ids, the relative risk and, for weekly
    outcomes, the Mondays of the weeks concerned (empty for purely spatial outcomes)."""

    ids: tuple[str, ...]
    relative_risk: float
    weeks: tuple[np.datetime64, ...] = ()


@dataclass(frozen=True, eq=False)
class Borough:
    """The synthetic borough.

    Attributes
    ----------
    areas : DataFrame, one row per area in id order: ``id, x, y, population``, residents
        ``pop_<sex>_<band>`` (e.g. ``pop_m_0_15``, ``pop_f_65_plus``), cases by outcome and stratum
        ``<outcome>_<sex>_<band>`` (e.g. ``cancer_m_65_plus``) and totals ``cancer``,
        ``respiratory``.
    outline : the borough's outline (Polygon, EPSG:27700 metres).
    polygons : one Polygon per area, in the order of ``areas``: Voronoi cells clipped to the
        outline; they tile it.
    thames : the north bank of the Thames, the southern edge of the outline (LineString).
    planted : outcome name -> :class:`PlantedExcess`; ``respiratory`` has none.
    crs : "EPSG:27700".
    strata : stratum names ``<sex>_<band>``, in column order.
    """

    areas: pd.DataFrame
    outline: Polygon
    polygons: tuple
    thames: LineString
    planted: dict = field(default_factory=dict)
    crs: str = CRS
    strata: list = field(default_factory=lambda: list(STRATA))


def _draw_cases(pops: np.ndarray, outcome: Outcome, rr: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """(n, k) Poisson cases: residents x rate x periods x relative risk of the area."""
    mean = pops * outcome.rates()[None, :] * outcome.periods * rr[:, None]
    return rng.poisson(mean)


@functools.lru_cache(maxsize=1)
def _build_borough() -> Borough:
    outline = _outline()
    xy = _place_points(outline, _stream("points"))
    ids = np.array([f"SYN{i + 1:03d}" for i in range(len(xy))])
    polygons = tuple(_voronoi_cells(xy, outline))
    pops = _populations(xy, _stream("population"))

    areas = pd.DataFrame({"id": ids, "x": xy[:, 0], "y": xy[:, 1],
                          "population": pops.sum(axis=1)})
    for j, s in enumerate(STRATA):
        areas[f"pop_{s}"] = pops[:, j]

    cluster = _nearest_ids(ids, xy, CANCER_HOTSPOT, CANCER_CLUSTER_SIZE)
    planted = {"cancer": PlantedExcess(cluster, CANCER_RELATIVE_RISK)}
    for outcome in (CANCER, RESPIRATORY):
        rr = np.ones(len(ids))
        if outcome.name in planted:
            rr[np.isin(ids, planted[outcome.name].ids)] = planted[outcome.name].relative_risk
        cases = _draw_cases(pops, outcome, rr, _stream(outcome.name))
        for j, s in enumerate(STRATA):
            areas[f"{outcome.name}_{s}"] = cases[:, j]
        areas[outcome.name] = cases.sum(axis=1)

    outbreak = _nearest_ids(ids, xy, FLU_OUTBREAK_CENTRE, FLU_OUTBREAK_SIZE)
    planted["flu_like"] = PlantedExcess(outbreak, FLU_OUTBREAK_RELATIVE_RISK)  # weeks: see weekly
    return Borough(areas=areas, outline=outline, polygons=polygons,
                   thames=LineString(_THAMES_BANK), planted=planted)


def load_borough() -> Borough:
    """The synthetic borough (see the module docstring).  Deterministic; a fresh copy each call.

    The planted ``flu_like`` weeks are those of the default 52-week series; see
    :func:`borough_weekly` for other lengths.
    """
    b = _build_borough()
    planted = copy.deepcopy(b.planted)
    planted["flu_like"] = replace(planted["flu_like"], weeks=_outbreak_weeks(DEFAULT_WEEKS))
    return replace(b, areas=b.areas.copy(), planted=planted, strata=list(b.strata))


def borough_study_area(outcome: str = "cancer", *, adjust_for_age_sex: bool = True):
    """The borough as a :class:`~scan.data.StudyArea` for ``outcome`` ("cancer" or "respiratory").

    With ``adjust_for_age_sex`` (the default) the cases and residents are passed by stratum, so
    expected counts come from indirect standardisation over the ten sex x age-band strata;
    without it, expected counts are proportional to the population.
    """
    from .data import study_area

    check_choice("outcome", outcome, OUTCOMES)
    areas = _build_borough().areas
    kwargs = {}
    if adjust_for_age_sex:
        kwargs = dict(case_strata=areas[[f"{outcome}_{s}" for s in STRATA]].to_numpy(np.float64),
                      population_strata=areas[[f"pop_{s}" for s in STRATA]].to_numpy(np.float64),
                      strata_names=STRATA)
    column = functools.partial(pd.Series.to_numpy, dtype=np.float64, copy=True)
    return study_area(areas["id"].to_numpy(copy=True), column(areas["x"]), column(areas["y"]),
                      column(areas[outcome]), column(areas["population"]),
                      crs=CRS, source=f"synthetic borough ({outcome})", **kwargs)


def _outbreak_weeks(weeks: int) -> tuple[np.datetime64, ...]:
    starts = FIRST_WEEK + 7 * np.arange(weeks - FLU_OUTBREAK_WEEKS, weeks)
    return tuple(starts.astype("datetime64[D]"))


@functools.lru_cache(maxsize=8)
def _weekly(outcome: str, weeks: int) -> pd.DataFrame:
    b = _build_borough()
    spec = _OUTCOME[outcome]
    pops = b.areas[[f"pop_{s}" for s in STRATA]].to_numpy(float)
    ids = b.areas["id"].to_numpy()
    week_index = np.arange(weeks)
    season = 1.0 + _SEASON_AMPLITUDE * np.cos(2 * np.pi * (week_index - _SEASON_PEAK_WEEK) / 52)
    base = pops @ spec.rates() * spec.periods  # (n,) expected per week before season
    mean = base[:, None] * season[None, :]
    in_area = np.isin(ids, b.planted[outcome].ids)[:, None]
    in_time = (week_index >= weeks - FLU_OUTBREAK_WEEKS)[None, :]
    mean = np.where(in_area & in_time, mean * FLU_OUTBREAK_RELATIVE_RISK, mean)
    cases = _stream(outcome).poisson(mean)  # (n, weeks)
    starts = (FIRST_WEEK + 7 * week_index).astype("datetime64[ns]")
    return pd.DataFrame({
        "id": np.repeat(ids, weeks),
        "week_start": np.tile(starts, len(ids)),
        "cases": cases.ravel(),
        "population": np.repeat(b.areas["population"].to_numpy(), weeks),
    })


def borough_weekly(outcome: str = "flu_like", weeks: int = DEFAULT_WEEKS) -> pd.DataFrame:
    """Weekly counts by area for surveillance, long format: ``id, week_start, cases, population``.

    ``week_start`` is the Monday of each ISO week, starting 2023-01-02 (2023-W01); rows are
    sorted by id, then week.  Counts follow a winter season; the areas in
    ``load_borough().planted[outcome].ids`` have relative risk
    :data:`FLU_OUTBREAK_RELATIVE_RISK` in the last :data:`FLU_OUTBREAK_WEEKS` weeks.
    Deterministic; a fresh DataFrame each call.  Series of different lengths are drawn
    independently (the first weeks of a 60-week series are not the 52-week series).
    """
    check_choice("outcome", outcome, WEEKLY_OUTCOMES)
    shortest = FLU_OUTBREAK_WEEKS + 1
    whole = isinstance(weeks, (int, np.integer)) and not isinstance(weeks, bool)
    if not whole or weeks < shortest:
        raise ScanParameterError(
            "weeks", f"a whole number of weeks, at least {shortest}", weeks,
            f"the outbreak fills the last {FLU_OUTBREAK_WEEKS} weeks and needs baseline weeks "
            "before it")
    return _weekly(outcome, int(weeks)).copy()


def write_borough_csv(path, outcome: str = "cancer") -> Path:
    """Write ``id,x,y,cases,population`` for ``outcome``: the CSV that ``scan spatial`` reads.

    Returns the path written.
    """
    check_choice("outcome", outcome, OUTCOMES)
    areas = _build_borough().areas
    out = areas[["id", "x", "y", outcome, "population"]].rename(columns={outcome: "cases"})
    path = Path(path)
    out.to_csv(path, index=False, float_format="%.0f")
    return path


def borough_spacetime(outcome: str = "flu_like", weeks: int = 52) -> "SpaceTimeData":  # noqa: F821 (scan.data.SpaceTimeData)
    """The embedded borough's weekly counts (:func:`scan.datasets.borough_weekly`) as
    space-time data: weekly intervals, populations constant over time."""
    from .data import build_spacetime_data

    df = borough_weekly(outcome, weeks)
    borough = load_borough()
    areas = borough.areas.set_index("id")
    ids = df["id"].drop_duplicates().to_numpy()
    index = {v: i for i, v in enumerate(ids)}
    loc = df["id"].map(index).to_numpy()
    days = df["week_start"].to_numpy().astype("datetime64[D]")
    pops = df.groupby("id", sort=False)["population"].first().reindex(ids).to_numpy(float)
    return build_spacetime_data(
        ids, areas.loc[ids, ["x", "y"]].to_numpy(float), case_loc=loc, case_day=days,
        case_count=df["cases"].to_numpy(), start=days.min(), end=days.max() + 6,
        time_unit="week", census_loc=np.arange(len(ids)),
        census_day=np.full(len(ids), days.min()), census_value=pops,
        crs=borough.crs, source=f"borough_weekly({outcome!r}, {weeks})")
