"""The public API and the parameter table: one source for Python, the CLI and batch files."""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import scan
from scan.cli import build_parser
from scan.errors import ScanParameterError
from scan.params import PARAMS

ENTRY_POINTS = {"spatial": "circular_scan", "spacetime": "spacetime_scan"}


def _subparser(name):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[name]


def test_dir_lists_the_api():
    names = dir(scan)
    for name in ("circular_scan", "spacetime_scan", "study_area", "read_csv", "read_satscan",
                 "write_result", "ScanResult", "Cluster", "run_batch", "load_borough",
                 "ScanInputError", "ScanParameterError", "__version__"):
        assert name in names
    assert set(scan.__all__) <= set(names)


def test_import_scan_compiles_nothing_and_loads_no_heavy_library():
    code = ("import sys, scan; heavy = {'numba', 'pandas', 'matplotlib', 'xarray', 'dask', "
            "'pyproj', 'scipy', 'distributed'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("function", ["circular_scan", "spacetime_scan"])
def test_unknown_keywords_raise_type_error(function):
    area = scan.borough_study_area("cancer") if function == "circular_scan" else \
        scan.borough_spacetime("flu_like", 12)
    with pytest.raises(TypeError, match="n_replication"):
        getattr(scan, function)(area, n_replication=9999)


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_every_cli_default_equals_the_python_default(command):
    """Generated from the table: every option of the sub-command that is a keyword of its
    Python entry point has the keyword's default."""
    function = getattr(scan, ENTRY_POINTS[command])
    signature = inspect.signature(function).parameters
    defaults = {a.dest: a.default for a in _subparser(command)._actions}
    checked = 0
    for name, param in PARAMS.items():
        if name in defaults and name in signature:
            assert defaults[name] == signature[name].default, (command, name)
            assert param.default == signature[name].default, name
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_every_cli_option_is_a_keyword(command):
    """One option = one keyword: every option of the sub-command is a keyword of the job it
    builds (the reader's, the scan's, the exposure step's or the writer's)."""
    from scan.jobs import Job

    allowed = set(Job(command).allowed()) | {"help", "quiet", "out", "command", "verbose", "run"}
    for action in _subparser(command)._actions:
        assert action.dest in allowed, action.dest


def _cases():
    for command, function in ENTRY_POINTS.items():
        signature = inspect.signature(getattr(scan, function)).parameters
        for name, param in PARAMS.items():
            if name in signature and name != "rng":
                for bad in param.invalid:
                    yield pytest.param(function, name, bad, id=f"{function}-{name}-{bad!r}")


@pytest.fixture(scope="module")
def small_data():
    return {"circular_scan": scan.borough_study_area("cancer"),
            "spacetime_scan": scan.borough_spacetime("flu_like", 12)}


@pytest.mark.parametrize("function,name,bad", list(_cases()))
def test_the_table_invalid_values_are_refused(small_data, function, name, bad):
    kwargs = {"n_replications": 0, name: bad}
    with pytest.raises(ScanParameterError, match=rf"parameter '{name}'"):
        getattr(scan, function)(small_data[function], **kwargs)


def test_batch_keys_are_the_cli_flags_without_dashes():
    from scan.batch import _keyword

    assert _keyword("replications") == "n_replications"
    assert _keyword("seed") == "rng"
    assert _keyword("workers") == "n_workers"
    assert _keyword("max_temporal_length") == "max_temporal_length"


def test_typed_options_and_public_docs():
    from typing import get_args, get_type_hints

    hints = get_type_hints(scan.circular_scan)
    assert set(get_args(hints["model"])) == {"poisson", "bernoulli"}
    assert set(get_args(hints["direction"])) == {"high", "low", "both"}
    for name in ("circular_scan", "spacetime_scan", "write_result"):
        doc = getattr(scan, name).__doc__
        assert "Parameters" in doc and "Returns" in doc
    assert "Examples" in scan.circular_scan.__doc__
    from importlib.resources import files

    assert files("scan").joinpath("py.typed").is_file()


@pytest.mark.parametrize("function", ["circular_scan", "spacetime_scan"])
def test_progress_true_draws_a_bar_and_changes_nothing(small_data, function, capsys):
    """progress=True: a tqdm.auto bar (text on stderr outside Jupyter) that ends at R, the
    space-time estimate written above it, and the same result as without a bar."""
    fn, data = getattr(scan, function), small_data[function]
    plain = fn(data, n_replications=39, rng=3)
    capsys.readouterr()
    shown = fn(data, n_replications=39, rng=3, progress=True)
    err = capsys.readouterr().err
    assert "Monte Carlo" in err and "39/39" in err
    if function == "spacetime_scan":
        assert "cylinders" in err           # the up-front estimate, above the bar
    assert shown.most_likely.llr == plain.most_likely.llr
    assert (shown.null_distribution == plain.null_distribution).all()


def test_progress_true_follows_an_iterative_scan(small_data, capsys):
    """Each iteration's replications restart the bar; a callable is still called as before."""
    result = scan.circular_scan(small_data["circular_scan"], n_replications=19, rng=3,
                                iterative=True, iterative_max=3, progress=True)
    err = capsys.readouterr().err
    assert len(result.clusters) >= 2 and "19/19" in err
    calls = []
    scan.circular_scan(small_data["circular_scan"], n_replications=19, rng=3,
                       progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (19, 19)
