"""PNG maps (scan.report.maps)."""
from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from scan.errors import ScanParameterError
from scan.exposure.grids import make_dataset
from scan.report.maps import plot_map

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def north_high_grid():
    """20 x 20 grid of 100 m cells: 10 µg/m³ in the southern half, 90 in the northern half."""
    x = 545_050.0 + 100 * np.arange(20)
    y = 184_050.0 + 100 * np.arange(20)
    values = np.where(y[:, None] > 185_000, 90.0, 10.0) * np.ones((1, 20))
    return make_dataset({"NO2": values}, x, y, source="test")


def test_map_is_written_with_north_up(tmp_path):
    from matplotlib.image import imread

    path = plot_map(tmp_path / "map.png", grid=north_high_grid(), title="north high")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert not list(tmp_path.glob("*.png.*"))  # temporary file renamed away
    image = imread(path)[..., :3].mean(axis=2)  # brightness 0..1
    rows, cols = image.shape
    # magma_r: high concentrations are dark.  The map sits left of the colour bar.
    upper = image[int(rows * 0.30), int(cols * 0.40)]
    lower = image[int(rows * 0.70), int(cols * 0.40)]
    assert upper < 0.4 < 0.8 < lower


def test_map_with_everything(tmp_path):
    ds = north_high_grid()
    path = plot_map(tmp_path / "all.png", grid=ds["NO2"], x=[545_500, 546_000], y=[184_500, 185_500],
                    circles=[(545_800, 185_000, 400, "1"), (546_500, 184_500, 200, "2")],
                    outline=box(545_000, 184_000, 547_000, 186_000), title="t", pollutant="PM2.5")
    assert path.stat().st_size > 10_000


def test_map_without_grid(tmp_path):
    assert plot_map(tmp_path / "pts.png", x=[0, 1], y=[0, 1]).is_file()


def test_map_unknown_pollutant(tmp_path):
    with pytest.raises(ScanParameterError, match=r"parameter 'pollutant' must be one of 'NO2'"):
        plot_map(tmp_path / "bad.png", grid=None, pollutant="CO")


def test_map_pollutant_missing_from_dataset(tmp_path):
    with pytest.raises(ScanParameterError, match=r"parameter 'pollutant' must be a variable of "
                                                 r"the grid Dataset: NO2; got 'PM25'"):
        plot_map(tmp_path / "bad.png", grid=north_high_grid(), pollutant="PM2.5")


def _cyan_centroid(path):
    """Mean column and row of the circle-coloured pixels (#00b3b3), as fractions of the image."""
    from matplotlib.image import imread

    image = imread(path)[..., :3]
    cyan = (np.abs(image[..., 0] - 0.0) < 0.15) & (np.abs(image[..., 1] - 0.70) < 0.15) & \
        (np.abs(image[..., 2] - 0.70) < 0.15)
    rows, cols = np.nonzero(cyan)
    assert rows.size > 200, "no cluster circle drawn"
    return cols.mean() / image.shape[1], rows.mean() / image.shape[0]


def test_the_cluster_circle_is_drawn_where_the_cluster_is(tmp_path):
    """Content, not size: the circle's pixels sit west/east and north/south as its centre."""
    ds = north_high_grid()
    xs, ys = [545_100, 546_900], [184_100, 185_900]
    kw = dict(grid=ds["NO2"], x=xs, y=ys, outline=box(545_000, 184_000, 547_000, 186_000))
    west = plot_map(tmp_path / "w.png", circles=[(545_300, 185_700, 150, "1")], **kw)
    east = plot_map(tmp_path / "e.png", circles=[(546_700, 184_300, 150, "1")], **kw)
    (wx, wy), (ex, ey) = _cyan_centroid(west), _cyan_centroid(east)
    assert wx < 0.45 < ex          # west of the map's middle, then east of it
    assert wy < ey                 # north (up, smaller row) then south
