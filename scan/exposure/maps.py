"""A PNG map: pollutant grid, locations, cluster circles, optional outline.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global state, no screen).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .grids import UNITS, canonical_pollutant

FIGURE_SIZE_IN = (7.5, 8.0)
DPI = 150
COLOUR_MAP = "magma_r"  # light = clean air, dark = polluted; readable in greyscale
LOCATION_STYLE = {"s": 6, "c": "#1f4e79", "linewidths": 0, "alpha": 0.8, "zorder": 3}
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
    # Row 0 of the array is the SOUTHERN edge (y ascending), so origin="lower" puts north up.
    image = ax.imshow(grid.to_numpy(), origin="lower", extent=_grid_extent(grid),
                      cmap=COLOUR_MAP, interpolation="nearest", zorder=1)
    bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    bar.set_label(f"{_DISPLAY_NAMES[pollutant]} annual mean ({UNITS})")


def _draw_outline(ax, outline) -> None:
    polygons = getattr(outline, "geoms", [outline])
    for poly in polygons:
        ox, oy = poly.exterior.xy
        ax.plot(ox, oy, color="black", linewidth=1.0, zorder=2)


def _draw_circles(ax, circles) -> None:
    from matplotlib.patches import Circle

    for cx, cy, r, label in circles:
        ax.add_patch(Circle((cx, cy), r, fill=False, edgecolor=CIRCLE_COLOUR, linewidth=2.0,
                            zorder=4))
        ax.annotate(str(label), (cx, cy + r), xytext=(0, 4), textcoords="offset points",
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
    circles : ``(cx, cy, radius, label)`` per cluster, in metres.
    outline : shapely Polygon/MultiPolygon of the study area, drawn as a black line.
    title : figure title.
    pollutant : "NO2", "PM10" or "PM25"; names the colour bar.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pollutant = canonical_pollutant(pollutant)
    path = Path(path)
    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if grid is not None:
        if hasattr(grid, "data_vars"):
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
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
