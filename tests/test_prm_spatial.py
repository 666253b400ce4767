"""Purely spatial analyses from SaTScan parameter files (``scan spatial --prm``): every key that
matters for a Poisson or Bernoulli run is read, the rest is refused, and SaTScan's shipped
samples give SaTScan's clusters (its binary when present, its published outputs otherwise)."""
import json
import math
import sys

import numpy as np
import pytest
from conftest import REFERENCE, SATSCAN_BUILD

import scan
from scan.cli import main
from scan.errors import ScanInputError, ScanParameterError
from scan.io.prm import satscan_prm_spatial

SHARED = REFERENCE / "satscan_samples"
SAMPLES = SATSCAN_BUILD / "samples"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/reference absent")
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="SaTScan samples absent")
has_binary = (SATSCAN_BUILD / "bin" / "satscan").is_file()

# SaTScan 10.3.2's published results of the shipped NHumbersideSpatialBernoulli.prm
# (sample-outputs/NHumbersideSpatialBernoulli): (LLR, members, cases).  Clusters 1-2, 3-4 and
# 5-6 tie exactly; SaTScan orders tied centres by their ids as text, scan by file order.
NHUMBERSIDE = [(4.836516, {"169", "170", "172", "173"}, 4), (4.836516, {"14", "18", "19", "26"}, 4),
               (3.712697, {"115", "118", "124", "130", "134", "135"}, 5),
               (3.712697, {"148", "152", "153", "154", "155", "158"}, 5),
               (3.609718, {"3", "4", "5"}, 3), (3.609718, {"82", "85", "86"}, 3)]


def changed(src, folder, name="changed.prm", **settings):
    """A copy of ``src`` with some keys set (appended under [Extra] when absent), beside copies
    of the data files it names."""
    lines, seen = [], set()
    for line in src.read_text().splitlines():
        key = line.partition("=")[0]
        if key in settings:
            line = f"{key}={settings[key]}"
            seen.add(key)
        lines.append(line)
    extra = [f"{k}={v}" for k, v in settings.items() if k not in seen]
    path = folder / name
    path.write_text("\n".join(lines + (["[Extra]"] + extra if extra else [])) + "\n")
    for f in src.parent.iterdir():
        if f.suffix in (".cas", ".ctl", ".geo", ".pop") and not (folder / f.name).exists():
            (folder / f.name).write_bytes(f.read_bytes())
    return path


def run_cli(prm, out, *extra):
    assert main(["spatial", "--prm", str(prm), "--out", str(out), "--quiet", "--seed", "1",
                 *extra]) == 0
    return json.loads((out / "result.json").read_text())


@needs_shared
def test_nhumberside_bernoulli_through_the_cli(tmp_path, request):
    """SaTScan's shipped purely spatial Bernoulli sample, end to end: the published clusters
    (LLR to 1e-6, same members); with the binary, every printed cluster of a standard Monte
    Carlo run, and p-values within Monte Carlo error."""
    prm = SHARED / "NHumbersideSpatialBernoulli.prm"
    area, kw = satscan_prm_spatial(prm)
    assert kw == {"model": "bernoulli", "max_population_fraction": 0.5, "min_cases": 2,
                  "n_replications": 999}
    assert area.n_locations == 191 and area.coordinates == "cartesian"
    res = run_cli(prm, tmp_path / "out", "--replications", "999")
    got = [(c["llr"], set(c["members"]), c["observed"]) for c in res["clusters"]]
    assert [round(llr, 6) for llr, _, _ in got[:6]] == [c[0] for c in NHUMBERSIDE]
    for want in NHUMBERSIDE:       # tied pairs may come in either order
        assert any(abs(llr - want[0]) < 1e-6 and m == want[1] and n == want[2]
                   for llr, m, n in got[:6])
    if not has_binary:
        return
    sat = request.getfixturevalue("satscan")(prm, tmp_path / "satscan", PValueReportType=1)
    shown = res["clusters"][:len(sat["clusters"])]
    for s in sat["clusters"]:
        match = [c for c in shown if set(c["members"]) == set(s["locations"])]
        assert len(match) == 1
        assert match[0]["llr"] == pytest.approx(s["statistic"], abs=1e-6)
        q = min(max(s["p_value"], 0.002), 0.998)
        assert abs(match[0]["p_value"] - s["p_value"]) <= 4 * math.sqrt(2 * q * (1 - q) / 1000)


@needs_shared
def test_new_mexico_purely_spatial_poisson_with_covariates(tmp_path, request):
    """The New Mexico sample as a purely spatial Poisson run: 36 covariate strata, census years
    averaged over 1973-1991 (SaTScan's population time average); SaTScan's clusters when the
    binary is present."""
    prm = changed(SHARED / "NewMexicoSpaceTimePoisson.prm", tmp_path, AnalysisType="1",
                  PValueReportType="1")
    area, kw = satscan_prm_spatial(prm)
    assert kw["model"] == "poisson" and area.coordinates == "latlong"
    assert area.population_strata.shape == (32, 36) and area.total_cases == 1175
    res = scan.circular_scan(area, rng=2, **kw)
    top = res.clusters[0]
    assert top.llr == pytest.approx(6.890841, abs=1e-6)     # SaTScan 10.3.2's MLC
    assert set(top.members) == {"Bernalillo", "Guadelupe", "SantaFe", "Socorro", "Torrance",
                                "Valencia"}
    assert (top.observed, round(top.expected, 2)) == (576, 512.66)
    if not has_binary:
        return
    sat = request.getfixturevalue("satscan")(prm, tmp_path / "satscan")["clusters"]
    for c, s in zip(res.clusters, sat):
        assert c.llr == pytest.approx(s["statistic"], abs=1e-6)
        assert set(c.members) == set(s["locations"])
        assert round(c.expected, 2) == pytest.approx(s["expected"], abs=0.006)


@needs_samples
@pytest.mark.parametrize("variant", ["NHumberside_elliptic_medium",
                                     "NHumberside_elliptic_nopenalty", "NHumberside_iterative"])
def test_variants_with_other_helpers_features(tmp_path, variant):
    """Elliptic windows and the iterative scan from SaTScan's own .prm files: SaTScan's
    published clusters."""
    sys.path.insert(0, str(SATSCAN_BUILD))
    from satscan_results import load_results

    folder = SATSCAN_BUILD / "sample-outputs" / "variants" / variant
    prm = next(folder.glob("*.run.prm"))
    area, kw = satscan_prm_spatial(prm)
    assert kw.get("iterative" if "iterative" in variant else "shape") in (True, "ellipse")
    kw["n_replications"] = 99
    res = scan.circular_scan(area, rng=1, **kw)
    for c, s in zip(res.clusters, load_results(str(folder))["clusters"]):
        assert c.llr == pytest.approx(s["statistic"], abs=1e-6)
        assert set(c.members) == set(s["locations"])


# --- what is read, and how ----------------------------------------------------------------------

def small_files(folder, *, dates=True, pop=True):
    cases = "A 3 2000/3/1\nB 1 2000/5/1\nC 4 2000/7/1\nD 0 2000/8/1\n"
    if not dates:
        cases = "A 3\nB 1\nC 4\nD 0\n"
    (folder / "a.cas").write_text(cases)
    (folder / "a.ctl").write_text("A 20 2000/3/1\nB 30 2000/3/1\nC 15 2000/3/1\nD 40 2000/3/1\n")
    (folder / "a.geo").write_text("A 0 0\nB 1 0\nC 0 1\nD 5 5\n")
    if pop:
        (folder / "a.pop").write_text("A 2000 100\nB 2000 200\nC 2000 150\nD 2000 300\n")


PRM = """[Input]
CaseFile=a.cas
ControlFile=a.ctl
PrecisionCaseTimes=1
StartDate=2000/1/1
EndDate=2000/12/31
PopulationFile=a.pop
CoordinatesFile=a.geo
CoordinatesType=0
[Analysis]
AnalysisType=1
ModelType=0
ScanAreas=1
TimeAggregationUnits=3
[Spatial Window]
MaxSpatialSizeInPopulationAtRisk=50
[Inference]
MonteCarloReps=99
{extra}[System]
Version=10.3.1
"""


def write_prm(folder, extra="", **replace):
    """The small .prm with ``replace`` keys changed and ``extra`` lines ("Key=value\n") each
    under the section SaTScan reads it from."""
    from scan.io.prm import PRM_SECTIONS

    extra = "".join(f"[{PRM_SECTIONS.get(line.partition('=')[0], 'Multiple Data Sets')}]\n"
                    f"{line}\n" for line in extra.splitlines() if line)
    text = PRM.format(extra=extra)
    for key, value in replace.items():
        text = "\n".join(f"{key}={value}" if line.startswith(f"{key}=") else line
                         for line in text.splitlines()) + "\n"
    path = folder / "a.prm"
    path.write_text(text)
    return path


def test_keys_that_are_read(tmp_path):
    small_files(tmp_path)
    area, kw = satscan_prm_spatial(write_prm(tmp_path))
    assert kw == {"model": "poisson", "max_population_fraction": 0.5, "min_cases": 2,
                  "n_replications": 99}
    np.testing.assert_allclose(area.population, [100, 200, 150, 300])
    area, kw = satscan_prm_spatial(write_prm(
        tmp_path, "UseDistanceFromCenterOption=y\nMaxSpatialSizeInDistanceFromCenter=2\n"
                  "MinimumCasesInHighRateClusters=3\n", ScanAreas="3", ModelType="1",
        MaxSpatialSizeInPopulationAtRisk="20"))
    assert kw == {"model": "bernoulli", "max_population_fraction": 0.2, "min_cases": 3,
                  "n_replications": 99, "direction": "both", "max_radius": 2.0}
    np.testing.assert_allclose(area.population, [23, 31, 19, 40])      # cases + controls
    # the time aggregation does not matter in a purely spatial run
    _, again = satscan_prm_spatial(write_prm(tmp_path, TimeAggregationUnits="2"))
    _, base = satscan_prm_spatial(write_prm(tmp_path, TimeAggregationUnits="0"))
    assert again == base


def test_a_key_in_the_wrong_section_keeps_its_default(tmp_path, caplog):
    """SaTScan reads each key under its own [Section] (files SaTScan 10 wrote)."""
    small_files(tmp_path)
    path = write_prm(tmp_path, MaxSpatialSizeInPopulationAtRisk="20")
    text = path.read_text().replace("[Spatial Window]\nMaxSpatialSizeInPopulationAtRisk=20\n",
                                    "").replace("ScanAreas=1\n", "ScanAreas=1\n"
                                                "MaxSpatialSizeInPopulationAtRisk=20\n")
    path.write_text(text)
    with caplog.at_level("WARNING", logger="scan.io.prm"):
        _, kw = satscan_prm_spatial(path)
    assert kw["max_population_fraction"] == 0.5
    assert "MaxSpatialSizeInPopulationAtRisk is under [Analysis]" in caplog.text
    path.write_text(text.replace("[System]\nVersion=10.3.1\n", ""))   # not written by SaTScan
    assert satscan_prm_spatial(path)[1]["max_population_fraction"] == 0.2


def test_census_years_are_averaged_over_the_study_period(tmp_path):
    """The rules' check: 100 people in 2000, 200 in 2010, study period 2000-2009: the
    time-averaged population (census years are 1 July: constant 100 for half a year, then
    linear to 195 at the end), against a constant 150 elsewhere."""
    (tmp_path / "a.cas").write_text("A 3 2001\nB 3 2002\n")
    (tmp_path / "a.geo").write_text("A 0 0\nB 1 0\nC 9 9\n")
    (tmp_path / "a.pop").write_text("A 2000 100\nA 2010 200\nB 2000 150\nB 2010 150\n"
                                    "C 2000 500\nC 2010 500\n")
    area, _ = satscan_prm_spatial(write_prm(tmp_path, StartDate="2000/1/1",
                                            EndDate="2009/12/31"))
    assert area.population[0] == pytest.approx((0.5 * 100 + 9.5 * (100 + 195) / 2) / 10,
                                               rel=1e-3)
    assert area.population[1] == 150


def test_no_dates_and_date_checks(tmp_path):
    small_files(tmp_path, dates=False)
    area, _ = satscan_prm_spatial(write_prm(tmp_path, PrecisionCaseTimes="0"))
    assert area.total_cases == 8
    small_files(tmp_path)
    with pytest.raises(ScanInputError, match=r"a\.prm, line 5, field 'StartDate': "
                                             r"PrecisionCaseTimes=1 \(year\) needs a 1 January "
                                             r"start and a 31 December end"):
        satscan_prm_spatial(write_prm(tmp_path, StartDate="2000/2/1"))
    with pytest.raises(ScanInputError, match=r"a\.cas, line 3, field 'date': date 2000-07-01 "
                                             r"is outside the study period"):
        satscan_prm_spatial(write_prm(tmp_path, PrecisionCaseTimes="3", EndDate="2000/6/30"))


@pytest.mark.parametrize("key,value,match", [
    ("AnalysisType", "3", "scan spacetime --prm"),
    ("ModelType", "2", r"use 0 \(Poisson\) or 1 \(Bernoulli\)"),
    ("IsotonicScan", "1", "no isotonic scan"),
    ("UseGridFile", "y", "set it to n"),
    ("UseMaxCirclePopulationFileOption", "y", "set it to n"),
    ("RiskLimitHighClusters", "y", "set it to n"),
    ("StudyPeriodCheckType", "1", "strict checks"),
    ("MinimumCasesInLowRateClusters", "1", "no minimum"),
    ("ReportHierarchicalClusters", "n", "scan reports every cluster"),
    ("UseReportOnlySmallerClusters", "y", "set it to n"),
    ("PerformPowerEvaluation", "yes", "set it to n"),
    ("CaseFile2", "b.cas", "one data set only"),
    ("PrecisionCaseTimes", "4", "calendar dates"),
])
def test_settings_scan_does_not_implement_are_refused(tmp_path, key, value, match):
    small_files(tmp_path)
    path = write_prm(tmp_path, f"{key}={value}\n")
    if key in ("AnalysisType", "ModelType", "PrecisionCaseTimes"):
        path = write_prm(tmp_path, **{key: value})
    with pytest.raises(ScanParameterError, match=rf"'{key} \(in .*a\.prm\)' must be a setting "
                                                 rf"scan implements.*{match}"):
        satscan_prm_spatial(path)


def test_cli_errors_and_input_checks(tmp_path, capsys):
    small_files(tmp_path)
    prm = write_prm(tmp_path)
    assert main(["spatial", "--prm", str(prm), "--cas", str(tmp_path / "a.cas"), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    assert "'--prm' must be given alone" in capsys.readouterr().err
    (tmp_path / "a.pop").unlink()
    assert main(["spatial", "--prm", str(prm), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "a.prm, line 7, field 'PopulationFile': the file it names, 'a.pop', was not found" \
        in capsys.readouterr().err
    small_files(tmp_path)
    res = run_cli(prm, tmp_path / "ok", "--replications", "19")
    assert res["parameters"]["n_replications"] == 19 and res["clusters"]


@needs_samples
@pytest.mark.parametrize("name,model", [("MarylandSpatialOrdinal", "ordinal"),
                                        ("FakeSpatialNormal", "normal"),
                                        ("PolygonSpatialContinuousPoisson", "continuous poisson")])
def test_shipped_samples_of_other_models_are_refused_through_the_cli(tmp_path, capsys, name,
                                                                      model):
    """SaTScan's other purely spatial samples use models scan does not have: one line naming
    the setting, exit code 2, nothing written."""
    out = tmp_path / "out"
    assert main(["spatial", "--prm", str(SAMPLES / f"{name}.prm"), "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"'ModelType (in {SAMPLES / name}.prm)' must be a setting scan implements; got " \
           f"'{model}'. use 0 (Poisson) or 1 (Bernoulli)" in err
    assert not out.exists()


def test_feature_keys_become_keywords(tmp_path):
    """Elliptic windows, early termination, the iterative scan and Gini clusters from a
    purely spatial .prm (without SaTScan's build: the keys alone), and SaTScan's quirk of
    scanning circles when an elliptic .prm has no EllipseAngles."""
    small_files(tmp_path)
    extra = ("SpatialWindowShapeType=1\nEllipseShapes=2,3\nEllipseAngles=4,6\n"
             "NonCompactnessPenalty=2\nPValueReportType=2\nEarlyTerminationThreshold=20\n"
             "IterativeScan=y\nIterativeScanMaxIterations=4\nIterativeScanMaxPValue=0.1\n"
             "ReportGiniClusters=y\n")
    _, kw = satscan_prm_spatial(write_prm(tmp_path, extra))
    assert kw["shape"] == "ellipse" and kw["ellipse_shapes"] == (2.0, 3.0)
    assert kw["ellipse_angles"] == (4, 6) and kw["non_compactness_penalty"] == "strong"
    assert kw["early_termination"] is True and kw["early_termination_threshold"] == 20
    assert (kw["iterative"], kw["iterative_max"], kw["iterative_cutoff"]) == (True, 4, 0.1)
    assert kw["gini"] is True
    _, kw = satscan_prm_spatial(write_prm(tmp_path, "SpatialWindowShapeType=1\nEllipseShapes=2\n"))
    assert "shape" not in kw
    assert "gini_collections" not in kw and "gini_cutoff" not in kw


def test_gini_keys_become_keywords(tmp_path):
    """SaTScan's Gini settings: every collection (1) and the p-value cutoff map to
    gini_collections and gini_cutoff; SaTScan's default maxima, in any order, are accepted and
    other maxima refused with the fix."""
    small_files(tmp_path)
    gini = ("ReportGiniClusters=y\nGiniIndexClusterReportingType=1\n"
            "GiniIndexClustersPValueCutOff=0.1\n")
    _, kw = satscan_prm_spatial(write_prm(
        tmp_path, gini + "SpatialMaxima=50,1,2,3,4,5,6,8,10,12,15,20,25,30,40\n"))
    assert (kw["gini"], kw["gini_collections"], kw["gini_cutoff"]) == (True, "all", 0.1)
    _, kw = satscan_prm_spatial(write_prm(tmp_path, "ReportGiniClusters=y\n"
                                          "GiniIndexClusterReportingType=0\n"))
    assert kw["gini"] is True and "gini_collections" not in kw and "gini_cutoff" not in kw
    with pytest.raises(ScanParameterError, match=r"SpatialMaxima .*got '1,5,50'.*set it to "
                                                 r"1,2,3,4,5,6,8,10,12,15,20,25,30,40,50"):
        satscan_prm_spatial(write_prm(tmp_path, gini + "SpatialMaxima=1,5,50\n"))
    with pytest.raises(ScanInputError, match="GiniIndexClusterReportingType"):
        satscan_prm_spatial(write_prm(tmp_path, "ReportGiniClusters=y\n"
                                                "GiniIndexClusterReportingType=7\n"))
