"""A PNG map: pollutant grid, locations, cluster circles, optional outline.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global state, no screen).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ScanParameterError
from ..exposure.grids import UNITS, canonical_pollutant

FIGURE_SIZE_IN = (7.5, 8.0)
DPI = 150
# The colour scale stops at this percentile of the grid (arrow on the colour bar beyond), so the
# background gradient stays visible next to kerbside peaks.
COLOUR_TOP_PERCENTILE = 99.0
COLOUR_MAP = "magma_r"  # light = clean air, dark = polluted; readable in greyscale
LOCATION_STYLE = {"s": 12, "c": "#1f4e79", "edgecolors": "white", "linewidths": 0.5, "zorder": 3}
MAX_TICKS = 6
CIRCLE_COLOUR = "#00b3b3"
_DISPLAY_NAMES = {"NO2": "NO₂", "PM10": "PM₁₀", "PM25": "PM₂.₅"}


def _grid_extent(grid) -> list[float]:
    """Outer cell edges [west, east, south, north] from ascending cell-centre coordinates."""
    x = grid["x"].to_numpy()
    y = grid["y"].to_numpy()
    dx = (x[1] - x[0]) if x.size > 1 else 1.0
    dy = (y[1] - y[0]) if y.size > 1 else 1.0
    return [x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2]


def _draw_grid(fig, ax, grid, pollutant: str) -> None:
    grid = grid.sortby("x").sortby("y").transpose("y", "x")
    values = grid.to_numpy()
    finite = values[np.isfinite(values)]
    vmin, vmax = (np.percentile(finite, [0, COLOUR_TOP_PERCENTILE]) if finite.size
                  else (None, None))
    # Row 0 of the array is the SOUTHERN edge (y ascending), so origin="lower" puts north up.
    image = ax.imshow(values, origin="lower", extent=_grid_extent(grid), cmap=COLOUR_MAP,
                      vmin=vmin, vmax=vmax, interpolation="nearest", zorder=1)
    clipped = finite.size and finite.max() > vmax
    bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02, extend="max" if clipped else "neither")
    bar.set_label(f"{_DISPLAY_NAMES[pollutant]} annual mean ({UNITS})")


def _draw_outline(ax, outline) -> None:
    polygons = getattr(outline, "geoms", [outline])
    for poly in polygons:
        ox, oy = poly.exterior.xy
        ax.plot(ox, oy, color="black", linewidth=1.0, zorder=2)


def _draw_circles(ax, circles) -> None:
    from matplotlib.patches import Circle, Ellipse

    for cx, cy, r, label, *ellipse in circles:
        shape, angle = ellipse if ellipse else (1.0, 0.0)
        if shape != 1:   # r is the semi-minor axis; the major axis points at ``angle`` degrees
            ax.add_patch(Ellipse((cx, cy), 2 * r * shape, 2 * r, angle=angle, fill=False,
                                 edgecolor=CIRCLE_COLOUR, linewidth=2.0, zorder=4))
            t = np.radians(angle)
            top = np.hypot(r * shape * np.sin(t), r * np.cos(t))
        else:
            ax.add_patch(Circle((cx, cy), r, fill=False, edgecolor=CIRCLE_COLOUR,
                                linewidth=2.0, zorder=4))
            top = r
        ax.annotate(str(label), (cx, cy + top), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize=10, fontweight="bold",
                    color=CIRCLE_COLOUR, zorder=5,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})


def plot_map(path: str | os.PathLike, *, grid=None, x: Sequence[float] = (),
             y: Sequence[float] = (), circles: Sequence[tuple] = (), outline=None,
             title: str = "", pollutant: str = "NO2") -> Path:
    """Write a PNG map and return its path.

    Parameters
    ----------
    path : output PNG (written to a temporary file, then renamed into place).
    grid : DataArray (dims ``y``, ``x``, BNG metres) or a grid Dataset (``grid[pollutant]`` is
        drawn), or None for no background.
    x, y : location coordinates, drawn as small dots.
    circles : ``(cx, cy, radius, label)`` per cluster, in metres, or ``(cx, cy, semi-minor
        axis, label, shape, angle in degrees)`` for an ellipse.
    outline : shapely Polygon/MultiPolygon of the study area, drawn as a black line.
    title : figure title.
    pollutant : "NO2", "PM10" or "PM25"; names the colour bar.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    pollutant = canonical_pollutant(pollutant)
    path = Path(path)
    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if grid is not None:
        if hasattr(grid, "data_vars"):
            if pollutant not in grid.data_vars:
                raise ScanParameterError("pollutant", "a variable of the grid Dataset: " + ", ".join(
                    map(str, grid.data_vars)), pollutant, "or pass grid=dataset[name]")
            grid = grid[pollutant]
        _draw_grid(fig, ax, grid, pollutant)
    if outline is not None:
        _draw_outline(ax, outline)
    if len(x):
        ax.scatter(np.asarray(x, dtype=float), np.asarray(y, dtype=float), **LOCATION_STYLE)
    _draw_circles(ax, circles)
    ax.set_aspect("equal")
    ax.set_xlabel("Easting (m)")
    ax.set_ylabel("Northing (m)")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(axis="x", labelrotation=30)
    ax.xaxis.set_major_locator(MaxNLocator(MAX_TICKS))
    ax.yaxis.set_major_locator(MaxNLocator(MAX_TICKS))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    from ..io.atomic import atomic_file

    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def write_map(result, path, *, grid=None, outline=None, pollutant="NO2", max_circles=5,
              alpha=0.05) -> Path:
    """PNG map of a result: locations, the most likely cluster and the significant secondary
    clusters' circles (and a pollutant grid when given)."""
    area = result.area
    shown = [c for c in result.clusters if c.rank == 1 or c.p_value <= alpha][:max_circles]
    circles = [(c.center_x, c.center_y, c.radius, f"#{c.rank} p={c.p_value:.3g}", c.shape,
                c.angle) for c in shown]
    if area.coordinates == "latlong":
        # draw in degrees; radius in km shown approximately
        circles = [(x, y, r / 111.0, lab, *rest) for x, y, r, lab, *rest in circles]
    title = (f"{result.analysis} scan, {result.parameters.get('model')} model: "
             f"{len(result.significant())} cluster(s) with p <= 0.05")
    return plot_map(path, grid=grid, x=area.coords[:, 0], y=area.coords[:, 1], circles=circles,
                    outline=outline, title=title, pollutant=pollutant)
