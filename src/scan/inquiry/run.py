"""A Stage 2a cluster inquiry in one call: is there an excess of a condition in THIS area?

England's guidance for investigating non-infectious disease clusters asks, at Stage 2a, for
observed against expected counts for the reported area, a test of significance, and context.
:func:`inquiry` computes all of it for one or more named areas (or a point), and
:func:`write_inquiry` writes it: ``inquiry.json`` (every number), ``inquiry-public.json`` (the
same with small counts suppressed, when asked), ``report.html`` (a report for councillors, by
:func:`scan.report.html.write_inquiry_report`) and the borough-wide scan's usual outputs in
``borough-scan/``.

What is computed (the keys of ``inquiry.json``; docs/notes: inquiry-spec.md):

``areas`` / ``combined``
    For each named area and for their union: observed O, expected E, SIR = O/E with its exact
    (Garwood) 95% interval, the exact one-sided Poisson p-value P(X >= O | E) and the mid-p
    (:func:`scan.inquiry.stats.sir`).  E comes from the *external* reference when there is one
    (population x reference rate x years, or expected counts supplied with the cases), **not
    rescaled** to the study area's total; otherwise from the study area itself (internal
    indirect standardisation over the strata, or the overall rate x population without strata)
    and the report says so.  Per-year O/E when the cases carry a year.
``focused``
    Tests conditional on the study area's total, expected counts by internal standardisation
    (:func:`scan.inquiry.stats.internal_expected`), centred on the focus: the named area's
    location, the population-weighted centroid of several named areas, or the ``near`` point.
    Stone's test, the focused Kulldorff scan and Besag-Newell with k = the cases observed in
    the named areas (for a single named area Besag-Newell's p is the exact p-value of its own
    count on the borough's rates, as the nearest area to the focus is the area itself).
``borough_scan``
    The ordinary circular scan of the whole study area (:func:`scan.circular_scan`, 50% circles,
    the same seed): its clusters (the most likely, every cluster with p <= alpha, and the one
    holding the named area), whether a named area lies in a significant cluster, and the named
    area's SIR rank among all areas (1 = highest; ties share the better rank).
``exposure``
    Per pollutant: the named area's value (population-weighted over several areas), its
    percentile among the study area's residents (the population-weighted share living where the
    value is lower, counting ties half), the population-weighted study mean, the UK limit and
    the WHO 2021 guideline (:data:`scan.exposure.summary.AIR_QUALITY_LIMITS`); and the scan
    again with expected counts adjusted for NO2 (or the first pollutant given), via
    :func:`scan.exposure.adjust.adjusted_scan`.
``verdict`` and ``caveats``
    A plain-English answer in the guidance's terms, the borough comparison, and the post-hoc
    caveat (the area was reported because it looked high), always present.

Choosing the area
-----------------
* ``areas``: location ids (``--area``), e.g. LSOA codes.
* ``area_names``: readable names (``--area-name``): matched, ignoring case and repeated
  spaces, against the locations' ``name`` column first and then their ``ward`` column (the
  locations file may carry one; the ward's name selects every area in it).  Only whole names
  match: a name that matches nothing, or only part of names, is an error listing the close
  matches.
* ``near=(x, y)`` with ``radius``: every area whose polygon intersects the circle of that
  radius around the point when boundaries are given, else every area whose location (centroid)
  lies within the radius; without a radius, the area whose polygon holds the point (with
  boundaries) or the nearest location.  Coordinates and radius are in the study area's units
  (metres in British National Grid).
"""
from __future__ import annotations

import copy
import difflib
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..data import DEFAULT_CRS, StudyArea
from ..errors import ScanInputError, ScanParameterError
from ..params import check_all

log = logging.getLogger(__name__)

CREATED_BY = "scan inquiry"
BNG = "EPSG:27700"
BOROUGH_FOLDER = "borough-scan"
SMALL_EXPECTED = 5.0
"""Below this many expected cases the report warns that numbers are small."""

INQUIRY_KEYS = ("scan_version", "created_by", "question", "condition", "focus", "period",
                "study_area", "reference", "reference_description", "standardisation",
                "areas", "combined", "focused", "borough_scan", "exposure", "verdict",
                "caveats", "method", "sources", "suppressed_below", "locations")
"""The top-level keys of inquiry.json, in order: the contract's (notes/inquiry-spec.md), then
``locations``, one ``{"id", "name", "observed", "expected", "sir"}`` per study location (plus
its NO2/PM10/PM25 values when exposure was given) for the report's SIR map."""

_DERIVED = ("sir", "sir_ci95", "p_value", "mid_p", "relative_risk", "observed_over_expected")
"""Figures that reveal a suppressed count; withheld beside it in the public file."""


@dataclass(frozen=True)
class Selection:
    """The areas an inquiry is about and where its focused tests are centred.

    kind : "areas", "name" or "point".  indices : int64 indices into the study area.
    focus : a location id (one area) or a point (x, y) for the focused tests.
    label : how the report names it.  x, y : the focus point.  radius : for ``near``.
    """

    kind: str
    indices: np.ndarray
    focus: Any
    label: str
    x: float
    y: float
    radius: float | None = None
    names: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class InquiryRun:
    """Everything an inquiry produced: the inquiry.json dict and what the outputs draw from."""

    data: dict
    area: StudyArea
    borough: Any                      # ScanResult of the borough-wide scan (exposure sections)
    selection: Selection
    boundaries: Any = None            # scan.io.boundaries.Boundaries in the area's CRS, or None
    grid: Any = None                  # DataArray of the pollutant drawn beside the SIR map
    map_pollutant: str = "NO2"
    attribution: tuple[str, ...] = ()


# --- reading ------------------------------------------------------------------------------------

def _read(data, *, locations, strata, reference_rates, years, rate_per, crs) -> StudyArea:
    if isinstance(data, StudyArea):
        given = {k: v for k, v in dict(locations=locations, reference_rates=reference_rates,
                                        years=years).items() if v is not None}
        if given or strata:
            raise ScanParameterError(", ".join(given) or "strata", "given only with a cases file",
                                     data.source, "the study area is already read: build it "
                                     "with scan.io.long.read_long_csv(..., strata=, "
                                     "reference_rates=, years=)")
        return data
    if not isinstance(data, (str, os.PathLike)):
        raise ScanParameterError("data", "a StudyArea or the path of a cases CSV",
                                 type(data).__name__)
    if locations is None:
        if strata or reference_rates is not None or years is not None:
            raise ScanParameterError("locations", "a locations CSV (id,x,y[,name]) with the "
                                     "long-form cases", None, "pass --locations FILE; strata "
                                     "and reference rates need the long form")
        from ..io.csv import read_csv

        return read_csv(data, crs=crs)
    from ..io.long import read_long_csv

    return read_long_csv(data, locations=locations, strata=strata,
                         reference_rates=reference_rates, years=years, rate_per=rate_per,
                         crs=crs)


def read_location_column(locations, column: str, ids) -> np.ndarray | None:
    """One column of the locations CSV (a ward, say) in the order of ``ids``, or None when the
    file has no such column."""
    import csv

    if locations is None:
        return None
    with open(locations, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        lower = [h.lower() for h in header]
        if column.lower() not in lower or "id" not in header:
            return None
        k, i = lower.index(column.lower()), header.index("id")
        found = {row[i].strip(): row[k].strip() for row in reader if len(row) == len(header)}
    return np.array([found.get(str(v), "") for v in ids], dtype=object)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


# --- choosing the areas -------------------------------------------------------------------------

def select_areas(area: StudyArea, *, areas: Sequence[str] = (), area_names: Sequence[str] = (),
                 near=None, radius: float | None = None, polygons=None,
                 wards=None) -> Selection:
    """The areas an inquiry is about (see the module docstring for the rules).

    ``polygons`` (one per location, in the area's CRS) change how ``near`` selects; ``wards``
    (one label per location) let ``area_names`` name a ward.
    """
    if isinstance(areas, str):
        areas = (areas,)
    if isinstance(area_names, str):
        area_names = (area_names,)
    areas, area_names = tuple(areas or ()), tuple(area_names or ())
    if near is None and radius is not None:
        raise ScanParameterError("radius", "given with near", radius,
                                 "pass near=(x, y) (CLI --near X,Y) with it", flag="--radius")
    if near is not None and (areas or area_names):
        raise ScanParameterError("near", "None when areas or area_names are given", near,
                                 "ask about named areas or about a point, not both",
                                 flag="--near")
    if near is None and not areas and not area_names:
        raise ScanParameterError("areas", "at least one area", "none",
                                 "name it by id (--area E01000031), by name (--area-name "
                                 "\"Chadwell Heath\") or by a point (--near X,Y --radius M)",
                                 flag="--area")
    ids = area.ids.tolist()
    index = {v: i for i, v in enumerate(ids)}
    names = area.names.tolist() if area.names is not None else None

    if near is not None:
        return _select_near(area, near, radius, polygons, ids, names)

    chosen: list[int] = []
    for ident in areas:
        ident = str(ident).strip()
        if ident not in index:
            folded = {str(v).casefold(): str(v) for v in ids}
            close = [folded[c] for c in difflib.get_close_matches(ident.casefold(), list(folded),
                                                                  n=3, cutoff=0.6)]
            hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close else
                    f"ids look like {', '.join(repr(v) for v in ids[:3])}")
            raise ScanParameterError("areas", f"location ids of the study area "
                                     f"({area.source})", ident, hint, flag="--area")
        chosen.append(index[ident])
    labels = []
    for text in area_names:
        hits, what, matched = _match_name(text, names, wards, area.source)
        chosen += hits
        labels.append((matched, what, hits))
    chosen = list(dict.fromkeys(chosen))
    idx = np.array(chosen, dtype=np.int64)
    kind = "name" if area_names and not areas else "areas"
    label = _label(area, idx, names, labels if kind == "name" else ())
    if len(idx) == 1:
        focus = str(ids[idx[0]])
        x, y = (float(v) for v in area.coords[idx[0]])
    else:
        x, y = _weighted_centroid(area, idx)
        focus = (x, y)
    return Selection(kind=kind, indices=idx, focus=focus, label=label, x=x, y=y,
                     names=tuple(t for t, _, _ in labels))


def _match_name(text: str, names, wards, source: str) -> tuple[list[int], str, str]:
    """(indices, "name" or "ward", the name as the file writes it)."""
    key = _norm(text)
    for what, values in (("name", names), ("ward", wards)):
        if values is None:
            continue
        hits = [i for i, v in enumerate(values) if _norm(v) == key and key]
        if hits:
            return hits, what, str(values[hits[0]]).strip()
    pool = sorted({str(v) for values in (names, wards) if values is not None for v in values
                   if str(v).strip()})
    if not pool:
        raise ScanParameterError("area_names", "names of the locations file's 'name' or 'ward' "
                                 "column", text, "the locations have no names: add a name "
                                 "column (id,x,y,name), or use --area ID", flag="--area-name")
    partial = [v for v in pool if key and key in _norm(v)]
    close = partial[:8] or difflib.get_close_matches(text, pool, n=5, cutoff=0.5)
    if len(partial) > 1:
        more = f" and {len(partial) - 8} more" if len(partial) > 8 else ""
        raise ScanParameterError("area_names", "a whole name of one area or ward", text,
                                 f"it is part of {len(partial)} names: "
                                 + ", ".join(repr(v) for v in close) + more
                                 + "; give one of them in full, or --area ID",
                                 flag="--area-name")
    hint = ("close matches: " + ", ".join(repr(v) for v in close) if close else
            f"names look like {', '.join(repr(v) for v in pool[:3])}")
    raise ScanParameterError("area_names", f"a name in the locations' name or ward column "
                             f"({source})", text, hint, flag="--area-name")


def _select_near(area, near, radius, polygons, ids, names) -> Selection:
    import shapely

    try:
        x, y = (float(v) for v in near)
    except (TypeError, ValueError):
        raise ScanParameterError("near", "a point (x, y) of two numbers", near,
                                 "CLI: --near 548000,188000", flag="--near") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ScanParameterError("near", "a point (x, y) of two finite numbers", near,
                                 flag="--near")
    if area.coordinates != "cartesian":
        raise ScanParameterError("near", "used with projected (cartesian) coordinates", near,
                                 "project longitude/latitude first (project_to='EPSG:27700')",
                                 flag="--near")
    d = np.hypot(area.coords[:, 0] - x, area.coords[:, 1] - y)
    units = "m" if area.crs and "27700" in str(area.crs) else "units"
    if polygons is not None:
        geoms = np.asarray(polygons, dtype=object)
        if radius is None:
            hit = np.flatnonzero(shapely.contains_xy(geoms, x, y))
        else:
            hit = np.flatnonzero(shapely.intersects(geoms, shapely.Point(x, y).buffer(
                radius, quad_segs=32)))
    else:
        hit = np.flatnonzero(d <= radius) if radius is not None else np.array([np.argmin(d)])
    if len(hit) == 0:
        k = int(np.argmin(d))
        how = ("no area's polygon holds the point" if radius is None else
               f"no area {'polygon reaches' if polygons is not None else 'location lies'} "
               f"within {radius:g} {units} of it")
        raise ScanParameterError("near", "a point inside the study area", f"{x:g},{y:g}",
                                 f"{how}; the nearest area is '{ids[k]}', {d[k]:,.0f} {units} "
                                 "away: give a larger --radius", flag="--near")
    idx = hit[np.argsort(d[hit], kind="stable")].astype(np.int64)   # nearest first
    if radius is None:
        label = f"the area at {x:,.0f}, {y:,.0f}: " + _label(area, idx, names, ())
    else:
        n = len(idx)
        label = (f"the {n} areas" if n > 1 else "the area") + \
            f" within {radius:,.0f} {units} of {x:,.0f}, {y:,.0f}"
    return Selection(kind="point", indices=idx, focus=(x, y), label=label, x=x, y=y,
                     radius=None if radius is None else float(radius))


def _label(area, idx, names, name_labels) -> str:
    ids = area.ids
    def one(i):
        nm = names[i] if names is not None and names[i] else ""
        return f"{ids[i]} ({nm})" if nm else str(ids[i])

    if name_labels:
        parts = []
        for text, what, hits in name_labels:
            kind = " ward" if what == "ward" else ""
            parts.append(f"{text}{kind} ({len(hits)} areas)" if len(hits) > 1 else
                         one(hits[0]) if what == "name" else f"{text}{kind} ({ids[hits[0]]})")
        return " and ".join(parts)

    if len(idx) <= 3:
        return " and ".join(one(i) for i in idx) if len(idx) < 3 else \
            f"{one(idx[0])}, {one(idx[1])} and {one(idx[2])}"
    return f"{len(idx)} areas ({', '.join(str(ids[i]) for i in idx[:3])}, ...)"


def _weighted_centroid(area, idx) -> tuple[float, float]:
    w = np.asarray(area.population[idx], dtype=np.float64)
    if w.sum() <= 0:
        w = np.ones(len(idx))
    xy = (area.coords[idx] * w[:, None]).sum(axis=0) / w.sum()
    return float(xy[0]), float(xy[1])


# --- the computation ----------------------------------------------------------------------------

def inquiry(data, **kwargs) -> dict:
    """Run a Stage 2a inquiry and return the ``inquiry.json`` dict (see :func:`run_inquiry`)."""
    return run_inquiry(data, **kwargs).data


def run_inquiry(data, *, locations=None, strata: Sequence[str] = (), reference_rates=None,
                years: float | None = None, rate_per: float = 1.0, crs: str | None = DEFAULT_CRS,
                areas: Sequence[str] = (), area_names: Sequence[str] = (), near=None,
                radius: float | None = None, wards=None, ward_column: str = "ward",
                condition: str = "cases", n_replications: int = 999, rng=None,
                alpha: float = 0.05, max_population_fraction: float = 0.5,
                exposure: Sequence[str] = (), exposure_year: int | None = None,
                boundaries=None, suppress_below: int | None = None,
                sources: Sequence[str] = (), attribution: Sequence[str] = (),
                threads: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> InquiryRun:
    """A Stage 2a inquiry: the computation behind :func:`inquiry` and :func:`write_inquiry`.

    Parameters
    ----------
    data : a :class:`~scan.data.StudyArea`, or the path of a cases CSV: long form
        ``id,<strata>,cases,population[,year]`` with ``locations`` (read by
        :func:`scan.io.long.read_long_csv`), or without ``locations`` the ``scan spatial`` CSV
        ``id,x,y,cases,population[,expected]``.
    locations, strata, reference_rates, years, rate_per, crs : how to read a cases CSV (as
        :func:`scan.io.long.read_long_csv`); not allowed with a StudyArea.
    areas, area_names, near, radius : the areas asked about (module docstring).
    wards : optional ward (or other group) name per location, for ``area_names``; read from the
        locations file's ``ward_column`` when ``data`` is a path.
    condition : what was counted, as a plural noun ("cancer registrations"; default "cases"):
        the verdict reads "There were 12 cancer registrations in ...".
    n_replications, rng : Monte Carlo replications and root seed of every Monte Carlo test
        (the borough scan, the focused scan, Stone's test, the adjusted scan).
    alpha : the significance level of the verdict (exact p < alpha; scan clusters p <= alpha).
    max_population_fraction : of the borough scan's and the focused scan's circles.
    exposure, exposure_year : pollutant files (``FILE`` or ``POLLUTANT=FILE``: LAEI grids or
        per-area tables, as ``scan spatial --exposure``; or xarray Datasets of grids in British
        National Grid, as :func:`scan.exposure.synthetic_laei` returns) and the LAEI year of a
        summary table.
    boundaries : a boundaries file (:func:`scan.io.boundaries.read_boundaries`) or a
        :class:`~scan.io.boundaries.Boundaries`: polygons for the maps, polygon means of grid
        exposure, and ``near`` by polygon.
    suppress_below : recorded as ``suppressed_below`` (the public file applies it).
    sources, attribution : extra lines for the report's sources, and data attribution for its
        maps (also listed in sources).
    threads, progress : Numba threads; ``progress(done, total)`` of the borough scan.

    Returns
    -------
    :class:`InquiryRun`; ``.data`` is the inquiry.json dict.
    """
    from .. import version_string
    from ..montecarlo import normalise_seed

    p = check_all(dict(condition=condition, n_replications=n_replications, alpha=alpha,
                       max_population_fraction=max_population_fraction, radius=radius,
                       suppress_below=suppress_below, strata=tuple(strata or ()), years=years,
                       rate_per=rate_per, threads=threads))
    if not p["condition"].strip():
        raise ScanParameterError("condition", "a few words naming the cases", condition,
                                 "e.g. \"cancer registrations\"", flag="--condition")
    exposure = tuple(exposure or ())
    area = _read(data, locations=locations, strata=p["strata"],
                 reference_rates=reference_rates, years=p["years"], rate_per=p["rate_per"],
                 crs=crs)
    if wards is None and locations is not None:
        wards = read_location_column(locations, ward_column, area.ids)
    elif wards is not None:
        wards = np.asarray([str(v) for v in wards], dtype=object)
        if len(wards) != area.n_locations:
            raise ScanParameterError("wards", f"one label per location ({area.n_locations})",
                                     f"{len(wards)} labels")
    bounds = _boundaries(area, boundaries)
    polygons = bounds.polygons if bounds is not None else None
    sel = select_areas(area, areas=areas, area_names=area_names, near=near,
                       radius=p["radius"], polygons=polygons, wards=wards)
    seed = normalise_seed(rng)
    R = p["n_replications"]

    # -- observed against expected, for each area and their union
    e_sir = np.asarray(area.expected_external if area.expected_external is not None
                       else area.expected, dtype=np.float64)
    reference = area.reference
    area_rows = [_sir_row(area, [i], e_sir, reference, p["alpha"]) for i in sel.indices]
    combined = (_sir_row(area, sel.indices, e_sir, reference, p["alpha"], union=True)
                if len(sel.indices) > 1 else None)
    ranks, n_ranked = _sir_ranks(area.cases, e_sir)
    for row, i in zip(area_rows, sel.indices):
        row["sir_rank"] = int(ranks[i]) if ranks[i] > 0 else None

    # -- focused tests (internal standardisation, conditional on the total)
    focused = _focused(area, sel, R, seed, p["max_population_fraction"], threads)

    # -- the borough-wide scan (and the exposure context joined to it)
    from ..spatial import circular_scan

    borough = circular_scan(area, n_replications=R, rng=seed,
                            max_population_fraction=p["max_population_fraction"],
                            threads=threads, progress=progress)
    exposure_dict, borough, grid, map_pollutant, values = _exposure(
        area, borough, sel, exposure, exposure_year, bounds, p["alpha"], threads)
    borough_dict = _borough(borough, sel, area, ranks, n_ranked, p["alpha"])

    # -- the record
    years_of = area.yearly.years if area.yearly is not None else None
    period = None
    if years_of is not None and len(years_of):
        period = {"start": str(int(years_of.min())), "end": str(int(years_of.max())),
                  "years": int(years_of.max() - years_of.min() + 1)}
    elif p["years"] is not None:
        y = p["years"]
        period = {"start": None, "end": None, "years": int(y) if float(y).is_integer() else y}
    d: dict = {
        "scan_version": version_string(),
        "created_by": CREATED_BY,
        "question": f"Is there an excess of {p['condition']} in {sel.label}?",
        "condition": p["condition"],
        "focus": {"kind": sel.kind, "ids": [str(area.ids[i]) for i in sel.indices],
                  "names": [_name(area, i) for i in sel.indices], "label": sel.label,
                  "x": sel.x, "y": sel.y, "radius": sel.radius},
        "period": period,
        "study_area": {"n_areas": area.n_locations, "observed": area.total_cases,
                       "expected": float(e_sir.sum()), "population": area.total_population,
                       "source": _file_name(area.source),
                       "locations": _file_name(locations) if locations is not None else None,
                       "boundaries": _file_name(bounds.source) if bounds is not None else None,
                       "crs": area.crs, "coordinates": area.coordinates},
        "reference": reference,
        "reference_description": _reference_description(area, p, reference_rates),
        "standardisation": _standardisation(area, p["strata"]),
        "areas": area_rows,
        "combined": combined,
        "focused": focused,
        "borough_scan": borough_dict,
        "exposure": exposure_dict,
        "verdict": None,
        "caveats": [],
        "method": {"tests": [], "seed": int(seed), "n_replications": R, "alpha": p["alpha"],
                   "max_population_fraction": p["max_population_fraction"]},
        "sources": [],
        "suppressed_below": p["suppress_below"],
        "locations": _locations(area, e_sir, values),
    }
    if area.expected_scale is not None and area.expected_kind == "supplied":
        d["study_area"]["expected_scale_in_scans"] = area.expected_scale
    d["method"]["tests"] = _method_lines(d, area)
    d["sources"] = _source_lines(dict(d, _rate_per=p["rate_per"]), area, locations,
                                 reference_rates, exposure, exposure_year, bounds) + [
        str(s) for s in (*sources, *attribution)]
    d["caveats"] = _caveats(d, area)
    d["verdict"] = verdict(d)
    return InquiryRun(data=d, area=area, borough=borough, selection=sel, boundaries=bounds,
                      grid=grid, map_pollutant=map_pollutant,
                      attribution=tuple(str(a) for a in attribution))


def _boundaries(area, boundaries):
    if boundaries is None:
        return None
    from ..io.boundaries import Boundaries, boundaries_for

    if isinstance(boundaries, Boundaries):
        b = boundaries.select(area.ids)
        if area.coordinates == "cartesian" and area.crs is None:
            return b
        return b.to_crs(area.crs if area.coordinates == "cartesian" else BNG)
    return boundaries_for(area, boundaries)


def _spec_label(spec) -> str:
    """How an exposure input is named in the sources: the file name, or a Dataset's source."""
    if hasattr(spec, "data_vars"):
        return str(spec.attrs.get("source") or "pollutant grids (" + ", ".join(
            map(str, spec.data_vars)) + ")")
    text = str(spec)
    if "=" in text and not Path(text).exists():
        text = text.split("=", 1)[1]
    return _file_name(text)


def _name(area, i) -> str | None:
    if area.names is None:
        return None
    return str(area.names[i]) or None


def _file_name(path) -> str | None:
    if path is None:
        return None
    return Path(str(path)).name or str(path)


def _sir_row(area, idx, e_sir, reference, alpha, union=False) -> dict:
    from .stats import sir

    idx = np.asarray(idx, dtype=np.int64)
    o = int(area.cases[idx].sum())
    e = float(e_sir[idx].sum())
    if e > 0:
        s = sir(o, e)
        figures = {"sir": s.sir, "sir_ci95": [s.ci_low, s.ci_high], "p_value": s.p_value,
                   "mid_p": s.mid_p}
    else:
        figures = {"sir": None, "sir_ci95": None, "p_value": None, "mid_p": None}
    row = {"id": " + ".join(str(area.ids[i]) for i in idx) if union else str(area.ids[idx[0]]),
           "name": None if union else _name(area, idx[0]),
           "observed": o, "expected": e, **figures, "reference": reference,
           "population": float(area.population[idx].sum()),
           "significant": bool(figures["p_value"] is not None and figures["p_value"] < alpha),
           "per_year": _per_year(area, idx)}
    if union:
        row["ids"] = [str(area.ids[i]) for i in idx]
    return row


def _per_year(area, idx) -> list | None:
    y = area.yearly
    if y is None:
        return None
    o = y.cases[idx].sum(axis=0)
    e = y.expected[idx].sum(axis=0)
    return [{"year": int(t), "observed": int(oo), "expected": float(ee),
             "sir": float(oo / ee) if ee > 0 else None} for t, oo, ee in zip(y.years, o, e)]


def _sir_ranks(cases, e) -> tuple[np.ndarray, int]:
    """1-based rank of each area's SIR, highest first (ties share the better rank); 0 for
    areas with nothing expected; and how many areas were ranked."""
    ok = e > 0
    ratio = np.where(ok, np.divide(cases, e, out=np.zeros(len(e)), where=ok), -np.inf)
    ranks = np.zeros(len(e), dtype=np.int64)
    values = ratio[ok]
    ranks[ok] = 1 + (values[None, :] > values[:, None]).sum(axis=1)
    return ranks, int(ok.sum())


def _focused(area, sel, R, seed, fraction, threads) -> dict:
    from .stats import besag_newell, focused_scan, stone_test

    stone = stone_test(area, sel.focus, n_replications=R, rng=seed)
    fs = focused_scan(area, sel.focus, max_population_fraction=fraction, n_replications=R,
                      rng=seed, threads=threads)
    k = int(area.cases[sel.indices].sum())
    bn = besag_newell(area, sel.focus, k) if k >= 1 else None
    return {
        "expected": "internal standardisation, scaled to the study-area total",
        "focus": fs.focus,
        "stone": {"statistic": stone.statistic, "k": stone.n_areas, "p_value": stone.p_value,
                  "n_replications": R, "ids": list(stone.members),
                  "observed": stone.observed, "expected": stone.expected},
        "scan": {"llr": fs.llr, "members": list(fs.members), "observed": fs.observed,
                 "expected": fs.expected, "relative_risk": fs.relative_risk,
                 "radius": fs.radius, "p_value": fs.p_value, "n_replications": R,
                 "n_windows": fs.n_windows},
        "besag_newell": None if bn is None else {
            "k": bn.k, "m": bn.n_areas, "observed": bn.observed, "expected": bn.expected,
            "p_value": bn.p_value, "ids": list(bn.members)},
    }


def _borough(result, sel, area, ranks, n_ranked, alpha) -> dict:
    chosen = set(int(i) for i in sel.indices)
    holding = [c for c in result.clusters if chosen.intersection(c.member_indices.tolist())]
    significant = [c.rank for c in result.clusters if c.p_value <= alpha]
    keep = {c.rank for c in result.clusters[:1]} | set(significant) | {
        c.rank for c in holding[:1]}
    clusters = []
    for c in result.clusters:
        if c.rank not in keep:
            continue
        d = c.to_dict()
        if area.names is not None:
            d["names"] = [str(area.names[i]) for i in c.member_indices]
        clusters.append(d)
    in_significant = [c for c in holding if c.p_value <= alpha]
    sel_ranks = [int(ranks[i]) for i in sel.indices if ranks[i] > 0]
    return {"clusters": clusters, "significant": significant,
            "area_in_significant_cluster": bool(in_significant),
            "cluster_rank": holding[0].rank if holding else None,
            "sir_rank": min(sel_ranks) if sel_ranks else None,
            "sir_ranks": [int(ranks[i]) if ranks[i] > 0 else None for i in sel.indices],
            "n_areas": n_ranked, "n_clusters_reported": len(result.clusters),
            "n_replications": len(result.null_distribution),
            "statistic": result.statistic, "p_value": result.p_value,
            "folder": BOROUGH_FOLDER}


def _exposure(area, result, sel, exposure, year, bounds, alpha, threads):
    """(exposure dict or None, the borough result with exposure sections, grid, pollutant)."""
    if not exposure:
        return None, result, None, "NO2", {}
    from ..exposure.adjust import adjusted_scan, adjustment_report, survives
    from ..exposure.grids import UNITS
    from ..exposure.join import load_exposure, with_exposure
    from ..exposure.summary import AIR_QUALITY_LIMITS
    from ..exposure.text import adjustment_section, exposure_section

    polygons = None
    if bounds is not None and area.crs is not None:
        polygons = list(bounds.to_crs(BNG).polygons)
    values: dict[str, np.ndarray] = {}
    hows: dict[str, str] = {}
    labels: dict[str, str] = {}
    grid_ds, specs = None, []
    for spec in exposure:
        if hasattr(spec, "data_vars"):            # grids already read (an xarray Dataset)
            from ..exposure.join import values_from_grid

            got, ds = values_from_grid(area, spec, polygons), spec
        else:
            got, ds = load_exposure(area, spec, year=year, polygons=polygons)
        values.update(got)
        label = _spec_label(spec) + (f" (LAEI {year})" if year and ds is None else "")
        specs.append(label)
        how = ("the value given for each area" if ds is None else
               "mean of the grid over each area's polygon" if polygons is not None else
               "the grid's value at each area's location")
        for name in got:
            hows[name], labels[name] = how, label
        if ds is not None and grid_ds is None:
            grid_ds = ds
    source = ", ".join(specs)
    how = "; ".join(dict.fromkeys(hows.values()))
    result = with_exposure(result, values)
    result = result.with_section(exposure_section(result, f"{source}: {how}"))
    pop = np.asarray(area.population, dtype=np.float64)
    out: dict = {}
    missing = {}
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64)
        ok = np.isfinite(v)
        missing[name] = int((~ok).sum())
        mine = sel.indices[ok[sel.indices]]
        w_mine = pop[mine] if pop[mine].sum() > 0 else np.ones(len(mine))
        value = float((v[mine] * w_mine).sum() / w_mine.sum()) if len(mine) else None
        w = pop[ok]
        vv = v[ok]
        if value is None or w.sum() <= 0:
            pct = mean = None
        else:
            pct = float(100 * (w[vv < value].sum() + 0.5 * w[vv == value].sum()) / w.sum())
            mean = float((vv * w).sum() / w.sum())
        limits = AIR_QUALITY_LIMITS.get(name, {})
        uk, who = limits.get("uk_limit"), limits.get("who_2021")
        out[name] = {"value": value, "percentile": pct, "study_mean": mean, "uk_limit": uk,
                     "who_guideline": who,
                     "above_uk_limit": None if value is None or uk is None else value > uk,
                     "above_who_guideline": None if value is None or who is None
                     else value > who,
                     "units": UNITS, "source": labels[name], "how": hows[name]}
    pollutant = "NO2" if "NO2" in values else next(iter(values), None)
    adjusted = None
    adjust_note = None
    if pollutant is not None:
        try:
            fit, adj = adjusted_scan(result, values[pollutant], pollutant, threads=threads)
        except ScanInputError as exc:
            adjust_note = str(exc)
        else:
            result = result.with_section(adjustment_section(
                {pollutant: adjustment_report(result, fit, adj, alpha)}))
            from ..exposure.adjust import adjusted_expected

            e_adj = adjusted_expected(area, values[pollutant], fit)
            o = float(area.cases[sel.indices].sum())
            e = float(e_adj[sel.indices].sum())
            fd = fit.to_dict()
            adjusted = {"pollutant": pollutant,
                        "rate_ratio_per_10_ugm3": fd["rate_ratio_per_10_ugm3"], "z": fd["z"],
                        "area_expected_adjusted": e,
                        "area_sir_adjusted": o / e if e > 0 else None,
                        "borough_cluster_survives": bool(survives(result, adj, alpha)),
                        "adjusted_statistic": adj.statistic, "adjusted_p_value": adj.p_value}
    out["adjusted"] = adjusted
    out["missing"] = missing
    if adjust_note:
        out["adjustment_not_done"] = adjust_note
    grid = None
    map_pollutant = pollutant or "NO2"
    if grid_ds is not None:
        name = map_pollutant if map_pollutant in grid_ds.data_vars else next(
            iter(grid_ds.data_vars))
        grid = grid_ds[name].copy(deep=False)
        grid.attrs = {"units": UNITS, "source": labels.get(name, source), **grid.attrs}
        map_pollutant = name
    return out, result, grid, map_pollutant, values


def _locations(area, e_sir, values) -> list[dict]:
    """One record per study location for the report's SIR map."""
    out = []
    for i, ident in enumerate(area.ids):
        e = float(e_sir[i])
        row = {"id": str(ident), "name": _name(area, i), "observed": int(area.cases[i]),
               "expected": e, "sir": float(area.cases[i]) / e if e > 0 else None}
        for name, v in values.items():
            row[name] = float(v[i]) if np.isfinite(v[i]) else None
        out.append(row)
    return out


# --- words --------------------------------------------------------------------------------------

def _strata_words(strata) -> str:
    strata = [str(s) for s in strata]
    return " and ".join(strata) if len(strata) <= 2 else ", ".join(strata[:-1]) + \
        f" and {strata[-1]}"


def _reference_description(area, p, reference_rates) -> str:
    kind = area.expected_kind
    strata = p["strata"]
    if kind == "reference-rates":
        by = f" by {_strata_words(strata)}" if strata else ""
        per = "" if p["rate_per"] == 1 else f" per {p['rate_per']:,.0f}"
        how = (f"x population x {p['years']:g} years" if p["years"] is not None else
               "x each year's population")
        return (f"reference incidence rates{by}{per} ({_file_name(reference_rates)}) {how}, "
                "not rescaled to the study area's total (an external standard)")
    if kind == "supplied":
        return (f"expected counts supplied with the cases ({_file_name(area.source)}), used as "
                "given (not rescaled) for the SIR")
    if kind == "internal-standardised":
        by = _strata_words(strata) if strata else f"{len(area.strata_names)} strata"
        return (f"the study area's own rates by {by} (internal indirect standardisation): "
                "each area is compared with the rest of the study area, not with England")
    return ("the study area's overall rate x each area's population (internal, crude: not "
            "standardised for age or sex)")


def _standardisation(area, strata) -> dict:
    if area.case_strata is None and area.expected_kind != "reference-rates":
        return {"strata": [], "method": "none", "n_strata": 0}
    n = len(area.strata_names) if area.strata_names else (
        area.case_strata.shape[1] if area.case_strata is not None else 0)
    return {"strata": list(strata) or list(area.strata_names), "method": "indirect",
            "n_strata": n}


def _fmt_p(p) -> str:
    if p is None:
        return "not available"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}" if p < 0.01 else f"p = {p:.2f}" if p < 0.995 else "p = 1"


def _fmt_num(v, digits=1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _count(v) -> str:
    """A count for text: the number, or "fewer than K" when suppressed ("<K")."""
    if isinstance(v, str) and v.startswith("<"):
        return f"fewer than {v[1:]}"
    return f"{int(round(float(v))):,}"


def _main_row(d) -> dict:
    return d["combined"] if d.get("combined") else d["areas"][0]


def verdict(d: dict) -> dict:
    """The plain-English verdict of an inquiry dict (works on the public, suppressed one too):
    ``significant_excess``, a one-sentence ``headline`` and ``paragraphs``."""
    row = _main_row(d)
    alpha = d["method"]["alpha"]
    cond, label = d["condition"], d["focus"]["label"]
    suppressed = isinstance(row["observed"], str)
    p = row.get("p_value")
    significant = bool(row.get("significant"))
    one_in = round(1 / alpha) if alpha > 0 else None
    chance = (f"less than 1 time in {one_in}" if one_in and abs(1 / alpha - one_in) < 1e-9
              else f"with probability below {alpha:g}")
    if suppressed:
        figures = f"(figures for fewer than {row['observed'][1:]} {cond} are withheld)"
    else:
        lo, hi = row["sir_ci95"] or (None, None)
        figures = (f"(SIR {_fmt_num(row['sir'], 2)}, 95% CI {_fmt_num(lo, 2)} to "
                   f"{_fmt_num(hi, 2)})")
    first = (f"There were {_count(row['observed'])} {cond} in {label} against "
             f"{_fmt_num(row['expected'])} expected {figures}.")
    ptext = "" if suppressed else f" ({_fmt_p(p)})"
    if significant:
        first += f" An excess this large would happen by chance {chance}{ptext}."
        head = (f"Yes: there is a statistically significant excess of {cond} in {label}"
                + ("." if suppressed else
                   f": {_fmt_num(row['sir'], 2)} times the expected number ({_fmt_p(p)})."))
    else:
        first += f" That is not more than chance would explain{ptext}."
        head = (f"No: the number of {cond} in {label} is not more than chance would explain"
                + ("." if suppressed else
                   f": {_fmt_num(row['sir'], 2)} times the expected number ({_fmt_p(p)})."))
    b = d["borough_scan"]
    several = len(d["areas"]) > 1
    if b["area_in_significant_cluster"]:
        which = "at least one of the areas" if several else "the area"
        c = next(c for c in b["clusters"] if c["rank"] == b["cluster_rank"])
        borough = (f"The borough-wide scan, which looks for the most unusual cluster anywhere "
                   f"without knowing where the report came from, finds {which} inside a "
                   f"statistically significant cluster ({c['n_locations']} areas, "
                   f"{_fmt_p(c['p_value'])}).")
    else:
        n_sig = len(b["significant"])
        elsewhere = (f" (it finds {n_sig} significant cluster{'s' if n_sig > 1 else ''} "
                     "elsewhere)" if n_sig else " (it finds no significant cluster anywhere)")
        which = "any of the areas" if several else "the area"
        borough = (f"The borough-wide scan, which looks for the most unusual cluster anywhere "
                   f"without knowing where the report came from, does not find {which} inside "
                   f"a statistically significant cluster{elsewhere}.")
    if b.get("sir_rank") and not suppressed:
        borough += (f" Its SIR is the {_ordinal(b['sir_rank'])} highest of the {b['n_areas']} "
                    "areas." if len(d["areas"]) == 1 else
                    f" The highest SIR among them ranks {_ordinal(b['sir_rank'])} of the "
                    f"{b['n_areas']} areas.")
    paragraphs = [first, borough]
    f = d["focused"]
    paragraphs.append(
        "Tests centred on the reported place, which take the areas in order of distance from "
        "it and compare them with the rest of the study area: Stone's test "
        f"{_fmt_p(f['stone']['p_value'])}, focused scan {_fmt_p(f['scan']['p_value'])}"
        + (f", Besag-Newell {_fmt_p(f['besag_newell']['p_value'])}" if f.get("besag_newell")
           else "") + ".")
    ex = d.get("exposure")
    if ex:
        parts = []
        for name in ("NO2", "PM25", "PM10"):
            e = ex.get(name)
            if not e or e["value"] is None:
                continue
            display = {"NO2": "NO2", "PM25": "PM2.5", "PM10": "PM10"}[name]
            rel = []
            if e["uk_limit"] is not None:
                rel.append(("above" if e["above_uk_limit"] else "below")
                           + f" the UK limit ({e['uk_limit']:g})")
            if e["who_guideline"] is not None:
                rel.append(("above" if e["above_who_guideline"] else "below")
                           + f" the WHO 2021 guideline ({e['who_guideline']:g})")
            pct = (f"; higher than where {e['percentile']:.0f}% of the study area's residents "
                   "live" if e["percentile"] is not None else "")
            parts.append(f"{display} {e['value']:.1f} {e['units']} ({', '.join(rel)}{pct})")
        if parts:
            text = "Air quality in the area (modelled annual means): " + "; ".join(parts) + "."
            adj = ex.get("adjusted")
            if adj and adj.get("area_sir_adjusted") is not None and not suppressed:
                text += (f" Allowing for {adj['pollutant']} across the study area, the area's "
                         f"SIR on the study area's own rates is "
                         f"{adj['area_sir_adjusted']:.2f}")
                if b["significant"]:
                    text += ("; the borough's most likely cluster "
                             + ("remains" if adj["borough_cluster_survives"] else
                                "is no longer") + " significant after the adjustment")
                text += "."
            paragraphs.append(text)
    if significant:
        paragraphs.append("A statistically significant excess is a reason to look more closely "
                          "(the diagnoses, how long people lived there, other explanations), "
                          "not proof of a common cause.")
    else:
        paragraphs.append("This does not prove there is no problem: with small numbers the "
                          "tests can miss a real but modest excess.")
    return {"significant_excess": significant, "headline": head, "paragraphs": paragraphs}


def _method_lines(d, area) -> list[str]:
    R = d["method"]["n_replications"]
    lines = [
        "SIR (standardised incidence ratio) = observed cases / expected cases: 1 means as "
        "many as expected, 2 twice as many. Expected cases: " + d["reference_description"] + ".",
        "95% confidence interval of the SIR: exact (Garwood 1936), from chi-square quantiles: "
        "the range of true SIRs compatible with the count.",
        "p-value: the chance of at least the observed number of cases if the area had the "
        "reference rates (exact one-sided Poisson test); the mid-p, which counts the observed "
        "number half, is also given.",
        "Stone's test (Stone 1988): areas taken in order of distance from the focus; the "
        "statistic is the largest ratio of cumulative observed to expected cases; p-value from "
        f"{R} random reallocations of the study area's cases (Monte Carlo).",
        "Focused scan (Kulldorff 1997, circles centred on the focus only): each circle's "
        "log-likelihood ratio (LLR) measures how much more likely its count is under a raised "
        "risk inside than under equal risk; circles up to "
        f"{100 * d['method']['max_population_fraction']:g}% of the expected total; p-value by "
        f"Monte Carlo ({R} replications).",
        "Besag-Newell (1991): how few of the nearest areas hold as many cases as the reported "
        "area(s); p = the chance that so few areas would hold that many.",
        "Borough-wide circular scan (Kulldorff 1997, SaTScan's method): circles centred on "
        "every area, up to "
        f"{100 * d['method']['max_population_fraction']:g}% of the population at risk; the "
        "p-value allows for the many circles looked at, so it does not depend on where the "
        f"report came from ({R} Monte Carlo replications).",
    ]
    if d.get("exposure"):
        lines.append("Exposure: modelled annual means of each pollutant for each area; the "
                     "percentile is the share of the study area's residents living where the "
                     "value is lower (population-weighted). UK limits: Air Quality Standards "
                     "Regulations 2010; WHO: global air quality guidelines 2021.")
        lines.append("Exposure-adjusted: a log-linear Poisson regression of cases on the "
                     "pollutant across areas (offset: the expected counts); the scan is run "
                     "again on the adjusted expected counts with the same seed.")
    lines.append(f"Monte Carlo p-values are (1 + replicates at least as extreme) / (R + 1); "
                 f"replication r draws from SeedSequence({d['method']['seed']}, "
                 "spawn_key=(r,)), so the same seed gives the same numbers on any machine.")
    return lines


def _source_lines(d, area, locations, reference_rates, exposure, year, bounds) -> list[str]:
    s = d["study_area"]
    lines = [f"{s['source']}: {d['condition']} by area"
             + (" and stratum" if area.case_strata is not None or area.expected_kind ==
                "reference-rates" else "")
             + (" and year" if area.yearly is not None else "")
             + f" ({s['observed']:,} cases, {s['n_areas']} areas, population "
               f"{s['population']:,.0f})"]
    if locations is not None:
        lines.append(f"{_file_name(locations)}: area locations"
                     + (" and names" if area.names is not None else "")
                     + (f" ({area.crs})" if area.crs else " (no CRS)"))
    if reference_rates is not None:
        per = d.get("_rate_per", 1.0)
        lines.append(f"{_file_name(reference_rates)}: reference rates (cases per "
                     + ("person-year" if per == 1 else f"{per:,.0f} person-years") + ")")
    if bounds is not None:
        lines.append(f"{_file_name(bounds.source)}: area boundaries (read in their own CRS, "
                     f"drawn in {bounds.crs})")
    for spec in exposure:
        lines.append(f"{_spec_label(spec)}: air pollution"
                     + (f" (LAEI {year})" if year and not hasattr(spec, "data_vars") else ""))
    return lines


def _caveats(d, area) -> list[str]:
    out = [
        "Post-hoc: the area came to attention because its count looked high. A p-value for a "
        "place chosen after seeing its count overstates the evidence (somewhere always looks "
        "high by chance); the borough-wide scan, which does not depend on where the report came "
        "from, is the fairer test.",
    ]
    if d["reference"] == "internal":
        out.append("Expected counts come from the study area's own rates: the comparison is "
                   "with the rest of the study area, not with England. If the whole area is "
                   "high (or low), this comparison cannot show it.")
    else:
        s = d["study_area"]
        overall = s["observed"] / s["expected"] if s["expected"] else math.nan
        out.append("Expected counts use the external reference as given, not rescaled to the "
                   f"study area's total; the study area as a whole has an SIR of "
                   f"{overall:.2f} against it, and every area's SIR moves with that.")
    row = _main_row(d)
    if row["expected"] < SMALL_EXPECTED:
        out.append(f"Small numbers: only {row['expected']:.1f} cases were expected, so chance "
                   "alone moves the count a lot and only a large excess could be detected.")
    out.append("The focused tests and the borough-wide scan compare areas within the study "
               "area (internal standardisation), conditional on its total number of cases.")
    if d.get("exposure"):
        out.append("Air pollution values are modelled annual means for where people live, not "
                   "personal exposure; an association across areas does not show that pollution "
                   "caused these cases, and many conditions (cancers especially) develop over "
                   "years, during which people move.")
        if d["exposure"].get("adjustment_not_done"):
            out.append("No exposure-adjusted result: " + d["exposure"]["adjustment_not_done"])
    if d["method"]["n_replications"] == 0:
        out.append("No Monte Carlo replications were run: the scan p-values are 1 by "
                   "convention.")
    out.append("The answer is only as good as the counts: incomplete or wrongly located "
               "registrations, and population estimates, change it.")
    return out


# --- disclosure control -------------------------------------------------------------------------

def public_inquiry(d: dict, suppress_below: int) -> dict:
    """A copy of an inquiry dict for the public: every count from 1 to ``suppress_below - 1``
    (the ``observed`` of an area, a year, a test or a cluster) becomes ``"<K"``, the figures
    that would reveal it (SIR, its interval, exact p-values, relative risk) become null, the
    record gets ``"suppressed": true``, and the verdict is rewritten without them.  0 stays 0."""
    k = int(suppress_below)
    out = copy.deepcopy(d)

    def walk(node):
        if isinstance(node, dict):
            v = node.get("observed")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v < k:
                node["observed"] = f"<{k}"
                for key in _DERIVED:
                    if key in node:
                        node[key] = None
                node["suppressed"] = True
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for key in ("areas", "combined", "focused", "borough_scan", "locations"):
        walk(out.get(key))
    out["suppressed_below"] = k
    out["verdict"] = verdict(out)
    out["caveats"] = list(out["caveats"]) + [
        f"Counts from 1 to {k - 1} are shown as <{k}, with the figures that would reveal them, "
        "to protect the privacy of the people counted."]
    return out


# --- writing ------------------------------------------------------------------------------------

def _report_functions():
    """(write_inquiry_report, ReportGeometry) from scan.report, or (None, None) when this
    version of scan has no HTML report."""
    try:
        from ..report.cartography import ReportGeometry
        from ..report.html import write_inquiry_report
    except ImportError:
        return None, None
    return write_inquiry_report, ReportGeometry


def report_geometry(run: InquiryRun, ReportGeometry):
    """The :class:`scan.report.cartography.ReportGeometry` of an inquiry (British National
    Grid), or None when the coordinates have no CRS (no map is drawn)."""
    area = run.area
    if area.coordinates == "cartesian" and area.crs is None:
        return None
    import pyproj

    points = np.asarray(area.coords, dtype=np.float64)
    source = "EPSG:4326" if area.coordinates == "latlong" else area.crs
    if not pyproj.CRS.from_user_input(source).equals(pyproj.CRS.from_user_input(BNG)):
        t = pyproj.Transformer.from_crs(source, BNG, always_xy=True)
        points = np.column_stack(t.transform(points[:, 0], points[:, 1]))
    polygons = outline = None
    if run.boundaries is not None:
        b = run.boundaries.to_crs(BNG)
        polygons, outline = tuple(b.polygons), b.outline()
    names = tuple(str(v) for v in area.names) if area.names is not None else None
    return ReportGeometry(ids=tuple(str(v) for v in area.ids), polygons=polygons, points=points,
                          names=names, outline=outline, crs=BNG, attribution=run.attribution)


def write_inquiry(out, data, *, pdf: bool = False, **kwargs) -> dict:
    """Run an inquiry (:func:`run_inquiry`'s keywords) and write it into the folder ``out``:

    - ``inquiry.json``: every number (the analyst's file);
    - ``inquiry-public.json``: with counts below ``suppress_below`` suppressed (only when
      ``suppress_below`` is given);
    - ``report.html``: the report for councillors (:func:`scan.report.html.write_inquiry_report`,
      when this version of scan has it);
    - ``borough-scan/``: the borough-wide scan's usual outputs (result.json, clusters.csv,
      locations.csv, GeoJSON, summary.txt, map.png), an analyst's folder with unsuppressed counts;
    - ``report.pdf`` with ``pdf=True``: the report printed to A4 by headless Chromium (offline;
      Chromium's presence is checked before any computation).

    ``out`` must be a new folder, an empty one or one scan wrote (checked before any
    computation); everything is written to a temporary folder and swapped into place
    (:func:`scan.io.atomic.atomic_folder`).  Returns the inquiry.json dict.
    """
    from ..io.atomic import atomic_folder, check_out

    check_out(out)
    if pdf:
        _check_chromium()
    run = run_inquiry(data, **kwargs)
    with atomic_folder(out, command="scan inquiry") as tmp:
        write_inquiry_into(run, tmp, pdf=pdf)
    return run.data


def _check_chromium() -> None:
    from ..errors import ScanParameterError
    from ..report.html import CHROMIUM_NAMES, find_chromium

    if find_chromium() is None:
        raise ScanParameterError("--pdf", "given where headless Chromium is installed", "on",
                                 "install it (Debian: apt-get install chromium; looked for "
                                 + ", ".join(CHROMIUM_NAMES) + " on PATH), or drop --pdf and "
                                 "print report.html to PDF from a browser")


def write_inquiry_into(run: InquiryRun, folder, *, borough_scan: bool = True,
                       pdf: bool = False) -> list[str]:
    """Write an inquiry's files (see :func:`write_inquiry`) into the existing folder ``folder``
    (no atomic swap: for a folder itself written atomically); ``borough_scan=False`` leaves out
    the borough-scan/ folder, ``pdf=True`` adds report.pdf.  Returns the names written."""
    from ..io.writers import to_json, write_result_into

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    d = run.data
    k = d["suppressed_below"]
    (folder / "inquiry.json").write_text(to_json(d) + "\n", encoding="utf-8")
    files = ["inquiry.json"]
    if k is not None:
        (folder / "inquiry-public.json").write_text(to_json(public_inquiry(d, k)) + "\n",
                                                    encoding="utf-8")
        files.append("inquiry-public.json")
    if borough_scan:
        b = run.boundaries
        written = write_result_into(run.borough, folder / BOROUGH_FOLDER, map_grid=run.grid,
                                    pollutant=run.map_pollutant,
                                    polygons=b.polygons if b is not None else None,
                                    outline=b.outline() if b is not None else None)
        files += [f"{BOROUGH_FOLDER}/{name}" for name in written]
    write_report, ReportGeometry = _report_functions()
    if write_report is None:
        log.warning("report.html not written: this version of scan has no HTML report "
                    "(scan.report.html); inquiry.json holds every number")
        return files
    try:
        write_report(folder / "report.html", d, geometry=report_geometry(run, ReportGeometry),
                     grid=run.grid, suppress_below=k)
    except Exception as exc:   # the numbers must survive a failed drawing
        log.warning("report.html not written: %s: %s", type(exc).__name__, exc)
        log.debug("report failure", exc_info=True)
        return files
    files.append("report.html")
    if pdf:
        from ..report.html import write_pdf

        write_pdf(folder / "report.html", folder / "report.pdf")
        files.append("report.pdf")
    return files
