"""SaTScan parameter files (.prm): read them, type their settings, and turn them into an
analysis (data and keyword arguments)."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping

from ..data import MAX_COUNT, SpaceTimeData
from ..errors import ScanInputError, ScanParameterError
from ..timeline import parse_date, period_end
from .csv import parse_number
from .text import numbered_lines


def _prm_entries(path) -> dict[str, tuple[str, int]]:
    """key -> (raw value, 1-based line) for every ``Key=value`` line of a .prm file."""
    file = str(path)
    entries: dict[str, tuple[str, int]] = {}
    for line, text in numbered_lines(path, what="parameter file"):
        text = text.strip()
        if not text or text.startswith(";") or (text.startswith("[") and text.endswith("]")):
            continue
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScanInputError(f"{text[:80]!r} is not a 'Key=value' setting, a '[Section]' or "
                                 "a ';' comment", file=file, line=line)
        if key in entries:
            raise ScanInputError(f"setting '{key}' already appears on line "
                                 f"{entries[key][1]}", file=file, line=line, field=key)
        entries[key] = (value.strip(), line)
    return entries


def read_prm(path) -> dict[str, str]:
    """Read a SaTScan parameter file into a flat ``{key: raw value string}`` dict.

    The file is INI-like: ``[Section]`` headers (dropped: keys are unique across sections),
    ``Key=value`` lines and ``;`` comment lines.  Values are stripped but otherwise raw.
    """
    return {key: value for key, (value, _) in _prm_entries(path).items()}


# Meanings of SaTScan's enumerated settings, as written in the comments of the parameter files
# SaTScan 10.3 writes (see the samples in shared/data/reference/satscan_samples).
PRM_ENUMS: dict[str, dict[str, str]] = {
    # 0 = no dates in the case file; 4 = generic integer times (not calendar dates)
    "PrecisionCaseTimes": {"0": "none", "1": "year", "2": "month", "3": "day", "4": "generic"},
    "CoordinatesType": {"0": "cartesian", "1": "latlong"},
    "AnalysisType": {"1": "purely spatial", "2": "purely temporal",
                     "3": "retrospective space-time", "4": "prospective space-time",
                     "5": "spatial variation in temporal trends",
                     "6": "prospective purely temporal", "7": "seasonal temporal"},
    "ModelType": {"0": "poisson", "1": "bernoulli", "2": "space-time permutation",
                  "3": "ordinal", "4": "exponential", "5": "normal", "6": "continuous poisson",
                  "7": "multinomial", "8": "rank", "9": "uniform time", "10": "batched"},
    # 1 = high rates (clusters of excess risk), 2 = low rates, 3 = both
    "ScanAreas": {"1": "high", "2": "low", "3": "both"},
    "TimeAggregationUnits": {"0": "none", "1": "year", "2": "month", "3": "day",
                             "4": "generic"},
    # 0 = MaxTemporalSize is a percentage of the study period, 1 = a number of aggregation units
    "MaxTemporalSizeInterpretation": {"0": "percentage", "1": "time"},
    "SpatialWindowShapeType": {"0": "circular", "1": "elliptic"},
    # 0 = study period bounds checked strictly (records outside are errors), 1 = relaxed
    # (records outside are ignored); the same for coordinates checking
    "StudyPeriodCheckType": {"0": "strict", "1": "relaxed"},
    "GeographicalCoordinatesCheckType": {"0": "strict", "1": "relaxed"},
    "PValueReportType": {"0": "default", "1": "standard monte carlo", "2": "early termination",
                         "3": "gumbel"},
    # secondary clusters: 0 no geographical overlap, 1 no cluster centres in other clusters,
    # 2 no centres in the most likely cluster, 3 no centres in less likely clusters, 4 no pairs
    # of centres both in each other, 5 no restrictions
    "CriteriaForReportingSecondaryClusters": {
        "0": "no geographical overlap", "1": "no centres in other clusters",
        "2": "no centres in most likely cluster", "3": "no centres in less likely clusters",
        "4": "no pairs of centres in each other", "5": "no restrictions"},
}
_PRM_FILES = ("CaseFile", "ControlFile", "PopulationFile", "CoordinatesFile")
_PRM_DATES = ("StartDate", "EndDate")
_PRM_INTS = ("TimeAggregationLength", "MonteCarloReps", "MinimumTemporalClusterSize",
             "MinimumCasesInHighRateClusters", "IterativeScanMaxIterations")
_PRM_FLOATS = ("MaxSpatialSizeInPopulationAtRisk", "MaxTemporalSize", "IterativeScanMaxPValue",
               "MaxSpatialSizeInDistanceFromCenter")
_PRM_FLAGS = ("IncludePurelyTemporal", "IncludePurelySpatial", "IterativeScan", "UseGridFile")
# (lowest, lowest allowed?, highest) for the numeric settings; the upper bounds of the counts
# keep them in 32-bit integers (the scan functions apply their own, tighter limits).
_PRM_RANGES: dict[str, tuple[float, bool, float]] = {
    "TimeAggregationLength": (1, True, 100_000),
    "MonteCarloReps": (0, True, MAX_COUNT),
    "MinimumTemporalClusterSize": (1, True, 100_000),
    "MinimumCasesInHighRateClusters": (1, True, MAX_COUNT),
    "IterativeScanMaxIterations": (1, True, MAX_COUNT),
    "MaxSpatialSizeInPopulationAtRisk": (0, False, 50),
    "MaxTemporalSize": (0, False, 1e9),
    "IterativeScanMaxPValue": (0, False, 1),
    "MaxSpatialSizeInDistanceFromCenter": (0, False, 1e12),
}


def _prm_number(key: str, raw: str, file: str, line: int | None):
    """An int or float setting: plain ASCII decimals within :data:`_PRM_RANGES`."""
    integer = key in _PRM_INTS
    if integer and not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise ScanInputError(f"{raw!r} is not an integer", file=file, line=line, field=key)
    value = parse_number(raw, file=file, line=line, field=key)
    if key in _PRM_RANGES:
        low, closed, high = _PRM_RANGES[key]
        if value < low or (value == low and not closed) or value > high:
            allowed = f"{'from' if closed else 'above'} {low:g} {'to' if closed else 'up to'} "
            raise ScanInputError(f"{raw!r} is out of range: allowed {allowed}{high:,.10g}",
                                 file=file, line=line, field=key)
    return int(value) if integer else value


def _prm_value(key: str, raw: str, file: str, line: int | None):
    def bad(allowed: str) -> ScanInputError:
        return ScanInputError(f"{raw!r} is not {allowed}", file=file, line=line, field=key)

    if key in _PRM_FILES:
        return raw or None
    if key in PRM_ENUMS:
        if raw not in PRM_ENUMS[key]:
            raise bad("one of " + ", ".join(f"{k} ({v})" for k, v in PRM_ENUMS[key].items()))
        return PRM_ENUMS[key][raw]
    if key in _PRM_DATES:
        day, precision = parse_date(raw, file=file, line=line, field=key)
        return period_end(day, precision) if key == "EndDate" else day
    if key in _PRM_FLAGS:
        if raw.lower() not in ("y", "n"):
            raise bad("'y' or 'n'")
        return raw.lower() == "y"
    return _prm_number(key, raw, file, line)


def prm_settings(prm) -> dict[str, object]:
    """The settings of a .prm file that ``scan`` uses, as typed values.

    ``prm`` is a path or the dict :func:`read_prm` returns.  Keys keep SaTScan's names; only
    keys present are returned.  Types: file names are str (None when empty); enumerated
    settings are the strings of :data:`PRM_ENUMS` (e.g. ``CoordinatesType`` -> "cartesian" or
    "latlong", ``ModelType`` 0 -> "poisson", 1 -> "bernoulli", 2 -> "space-time permutation";
    ``AnalysisType`` 1 -> "purely spatial", 3 -> "retrospective space-time"); ``StartDate`` is
    the first day and ``EndDate`` the last day of the period written (datetime64[D]);
    ``MaxSpatialSizeInPopulationAtRisk`` (percent of the population at risk, <= 50) and
    ``MaxTemporalSize`` (percent of the study period, or aggregation units when
    ``MaxTemporalSizeInterpretation`` is "time") are floats; ``MonteCarloReps``,
    ``TimeAggregationLength`` and the other counts are ints; y/n flags are bools.
    """
    if isinstance(prm, Mapping):
        entries = {k: (v, None) for k, v in prm.items()}
        file = "<prm>"
    else:
        entries, file = _prm_entries(prm), str(prm)
    wanted = (_PRM_FILES + tuple(PRM_ENUMS) + _PRM_DATES + _PRM_INTS + _PRM_FLOATS + _PRM_FLAGS)
    return {key: _prm_value(key, entries[key][0], file, entries[key][1])
            for key in wanted if key in entries}


def prm_input_files(prm) -> list[tuple[str, "Path", int, str]]:
    """(key, path, line, name as written) of the input files a .prm names (relative to the
    .prm's folder)."""
    from pathlib import Path

    entries = _prm_entries(prm)
    folder = Path(prm).parent
    return [(key, folder / entries[key][0], entries[key][1], entries[key][0])
            for key in _PRM_FILES if key in entries and entries[key][0]]


# ----------------------------------------------------------------------------- analyses
_PRM_ANALYSES = {"retrospective space-time": "retrospective",
                 "prospective space-time": "prospective", "purely temporal": "temporal"}
_PRM_MODELS = {"poisson": "poisson", "space-time permutation": "permutation"}
_PRM_UNITS = {"year": "year", "month": "month", "day": "day"}


def satscan_prm_spacetime(prm, *, base_dir=None) -> tuple[SpaceTimeData, dict]:
    """Data and :func:`spacetime_scan` keyword arguments from a SaTScan parameter file.

    Honoured: the input files (relative to the .prm's folder, or ``base_dir``), CoordinatesType,
    StartDate/EndDate, AnalysisType (3 retrospective, 4 prospective space-time, 2 purely
    temporal), ModelType (0 Poisson, 2 space-time permutation), TimeAggregationUnits/Length,
    MaxSpatialSizeInPopulationAtRisk, UseDistanceFromCenterOption with
    MaxSpatialSizeInDistanceFromCenter, MaxTemporalSize with MaxTemporalSizeInterpretation,
    MinimumTemporalClusterSize, MinimumCasesInHighRateClusters and MonteCarloReps.  Settings
    that would change the analysis in ways not implemented (low rates, ellipses, adjustments,
    iterative scans, purely spatial/temporal clusters inside a space-time analysis, adjustment
    for earlier analyses, secondary-cluster criteria other than no overlap) raise
    ScanParameterError rather than being ignored.
    """
    import re

    from .satscan import read_satscan_data, satscan_spacetime_data
    from .text import unreadable_reason

    entries = _prm_entries(prm)
    if not entries:
        raise ScanInputError("no settings: a SaTScan parameter file holds 'Key=value' lines",
                             file=str(prm))
    raw = {key: value for key, (value, _) in entries.items()}
    s = prm_settings(prm)
    folder = Path(base_dir) if base_dir is not None else Path(prm).parent

    def line_of(key):
        return entries[key][1] if key in entries else None

    def unsupported(key, value, fix):
        raise ScanParameterError(f"{key} (in {prm})", "a setting scan implements", value, fix)

    analysis = _PRM_ANALYSES.get(s.get("AnalysisType"))
    if analysis is None:
        unsupported("AnalysisType", s.get("AnalysisType"), "use 2, 3 or 4")
    model = _PRM_MODELS.get(s.get("ModelType"))
    if model is None:
        unsupported("ModelType", s.get("ModelType"), "use 0 (Poisson) or 2 (space-time "
                    "permutation)")
    if s.get("ScanAreas", "high") != "high":
        unsupported("ScanAreas", s.get("ScanAreas"), "only high rates (1) are implemented")
    if s.get("SpatialWindowShapeType", "circular") != "circular":
        unsupported("SpatialWindowShapeType", "elliptic", "only circles (0) are implemented")
    for key in ("IncludePurelyTemporal", "IncludePurelySpatial", "IterativeScan"):
        if s.get(key):
            unsupported(key, "y", "set it to n")
    for key in ("TimeTrendAdjustmentType", "SpatialAdjustmentType"):
        if raw.get(key, "0") not in ("0", ""):
            unsupported(key, raw[key], "set it to 0 (no adjustment)")
    for key in ("AdjustForWeeklyTrends", "UseAdjustmentsByRRFile",
                "UseMaxCirclePopulationFileOption",
                "UseNeighborsFile", "UseMetaLocationsFile", "UseLocationsNetworkFile",
                "AdjustForEarlierAnalyses", "RiskLimitHighClusters"):
        if raw.get(key, "n").lower() == "y":
            unsupported(key, "y", "set it to n" + (
                " and pass n_earlier_analyses= for the recurrence interval"
                if key == "AdjustForEarlierAnalyses" else ""))
    if s.get("CriteriaForReportingSecondaryClusters", "no geographical overlap") \
            != "no geographical overlap":
        unsupported("CriteriaForReportingSecondaryClusters",
                    s["CriteriaForReportingSecondaryClusters"], "use 0 (no geographical overlap)")
    if raw.get("MultipleCoordinatesType", "0") not in ("0", ""):
        unsupported("MultipleCoordinatesType", raw["MultipleCoordinatesType"], "use 0")
    unit = _PRM_UNITS.get(s.get("TimeAggregationUnits"))
    if unit is None:
        unsupported("TimeAggregationUnits", s.get("TimeAggregationUnits"),
                    "use 1 (year), 2 (month) or 3 (day)")

    relative_to = "base_dir" if base_dir is not None else "the .prm's folder"

    def path(key, needed: str | None = None):
        """The input file a setting names, checked now so the message can name the setting."""
        name = s.get(key)
        if not name:
            if needed is None:
                return None
            raise ScanInputError(f"no {key} given: {needed}", file=str(prm), line=line_of(key),
                                 field=key)
        full = folder / name
        reason = unreadable_reason(full)
        if reason is not None:
            hint = ("; it looks like a Windows path: copy the file next to the .prm and give "
                    "its name" if "\\" in name or re.match(r"[A-Za-z]:", name) else "")
            raise ScanInputError(f"the file it names, {name!r}, {reason}; paths are relative to "
                                 f"{relative_to}{hint}", file=str(prm), line=line_of(key),
                                 field=key)
        return str(full)

    if model == "poisson" and not s.get("PopulationFile"):
        unsupported("PopulationFile", "", "the Poisson model needs a population file")
    cas = path("CaseFile", "a space-time analysis needs a case file")
    geo = path("CoordinatesFile", "a space-time analysis needs a coordinates file")
    pop = path("PopulationFile") if model == "poisson" else None
    time_size = s.get("MaxTemporalSize", 50)
    if s.get("MaxTemporalSizeInterpretation", "percentage") == "time":
        if time_size < 1:
            raise ScanInputError(f"{raw['MaxTemporalSize']!r} is out of range: with "
                                 "MaxTemporalSizeInterpretation=1 it is a number of time units, "
                                 "at least 1", file=str(prm), line=line_of("MaxTemporalSize"),
                                 field="MaxTemporalSize")
    elif time_size > 90:
        raise ScanInputError(f"{raw['MaxTemporalSize']!r} is out of range: as a percentage of "
                             "the study period it is at most 90", file=str(prm),
                             line=line_of("MaxTemporalSize"), field="MaxTemporalSize")
    data = read_satscan_data(cas, geo=geo, pop=pop,
                             coordinates=s.get("CoordinatesType", "cartesian"),
                             start=s.get("StartDate"), end=s.get("EndDate"), dates=True)
    st = satscan_spacetime_data(data, time_aggregation=unit,
                                aggregation_length=s.get("TimeAggregationLength", 1))
    kwargs: dict = dict(model=model, analysis=analysis,
                        max_population_fraction=s.get("MaxSpatialSizeInPopulationAtRisk", 50) / 100,
                        # SaTScan: ceil(minimum size in units / aggregation length) intervals
                        min_temporal_length=max(1, math.ceil(
                            s.get("MinimumTemporalClusterSize", 1)
                            / s.get("TimeAggregationLength", 1))),
                        min_cases=s.get("MinimumCasesInHighRateClusters", 2),
                        n_replications=s.get("MonteCarloReps", 999))
    if raw.get("UseDistanceFromCenterOption", "n").lower() == "y":
        if "MaxSpatialSizeInDistanceFromCenter" not in s:
            raise ScanInputError("UseDistanceFromCenterOption=y but there is no "
                                 "MaxSpatialSizeInDistanceFromCenter setting", file=str(prm),
                                 line=line_of("UseDistanceFromCenterOption"),
                                 field="MaxSpatialSizeInDistanceFromCenter")
        kwargs["max_radius"] = s["MaxSpatialSizeInDistanceFromCenter"]
    if s.get("MaxTemporalSizeInterpretation", "percentage") == "time":
        kwargs["max_temporal_length"] = time_size
    else:
        kwargs["max_temporal_fraction"] = time_size / 100
    return st, kwargs
