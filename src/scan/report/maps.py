"""A PNG map: pollutant grid, locations, cluster circles, optional outline; or, when the
locations' polygons are given, a map of the polygons with each cluster drawn as the union of its
member polygons, with a scale bar, a north arrow, names where they fit and the data attribution
(the drawing code of :mod:`scan.report.cartography`, shared with the inquiry report).

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
              alpha=0.05, polygons=None, attribution: Sequence[str] = ()) -> Path:
    """PNG map of a result: the most likely cluster and the significant secondary clusters (and
    a pollutant grid when given).

    Without ``polygons`` the locations are dots and the clusters circles.  With ``polygons``
    (one shapely (Multi)Polygon per location, in the order of ``result.area.ids``, in the data's
    CRS) the map shows the polygons' outlines, each cluster as the union of its member polygons
    (so no member is lost, whatever the circle covers), a scale bar, a north arrow, the
    locations' names where they fit, and ``attribution`` with the grid's source.
    """
    area = result.area
    shown = [c for c in result.clusters if c.rank == 1 or c.p_value <= alpha][:max_circles]
    title = (f"{result.analysis} scan, {result.parameters.get('model')} model: "
             f"{len(result.significant())} cluster(s) with p <= 0.05")
    if polygons is not None:
        return plot_polygon_map(path, result, polygons, shown, grid=grid, outline=outline,
                                title=title, pollutant=pollutant, alpha=alpha,
                                attribution=attribution)
    circles = [(c.center_x, c.center_y, c.radius, f"#{c.rank} p={c.p_value:.3g}", c.shape,
                c.angle) for c in shown]
    if area.coordinates == "latlong":
        # draw in degrees; radius in km shown approximately
        circles = [(x, y, r / 111.0, lab, *rest) for x, y, r, lab, *rest in circles]
    return plot_map(path, grid=grid, x=area.coords[:, 0], y=area.coords[:, 1], circles=circles,
                    outline=outline, title=title, pollutant=pollutant)


POLYGON_MAP_WIDTH_IN = 7.5
METRES_PER_DEGREE = 111_320.0


def plot_polygon_map(path, result, polygons, clusters, *, grid=None, outline=None, title="",
                     pollutant="NO2", alpha=0.05, attribution: Sequence[str] = ()) -> Path:
    """The polygon mode of :func:`write_map` (see there)."""
    import math

    from .cartography import (CLUSTER_COLOUR, Label, ReportGeometry, add_attribution,
                              add_north_arrow, add_scale_bar, draw_grid_image, draw_shapes,
                              new_map_figure, place_labels)

    pollutant = canonical_pollutant(pollutant)
    area = result.area
    if len(polygons) != len(area.ids):
        raise ScanParameterError("polygons", f"one polygon per location ({len(area.ids)})",
                                 f"{len(polygons)} polygons")
    names = None if getattr(area, "names", None) is None else tuple(area.names)
    geometry = ReportGeometry(ids=tuple(map(str, area.ids)), polygons=tuple(polygons),
                              points=area.coords, names=names, outline=outline,
                              crs=getattr(area, "crs", None))
    latlong = area.coordinates == "latlong"
    bounds = geometry.bounds()
    mid_lat = (bounds[1] + bounds[3]) / 2
    aspect = 1.0 / max(math.cos(math.radians(mid_lat)), 0.05) if latlong else 1.0
    grid_source = None if grid is None else grid.attrs.get("source")
    if grid is not None and hasattr(grid, "data_vars"):
        if pollutant not in grid.data_vars:
            raise ScanParameterError("pollutant", "a variable of the grid Dataset: " + ", ".join(
                map(str, grid.data_vars)), pollutant, "or pass grid=dataset[name]")
        grid = grid[pollutant]
    fig, ax = new_map_figure(bounds, width_in=POLYGON_MAP_WIDTH_IN, below_in=0.45, above_in=0.45,
                             right_in=1.2 if grid is not None else 0.0, aspect=aspect)
    study = outline
    if study is None:
        import shapely

        study = shapely.union_all([p for p in polygons if p is not None])
    sources = list(attribution)
    if grid is not None:
        values = grid.to_numpy()
        finite = values[np.isfinite(values)]
        vmin, vmax = (np.percentile(finite, [0, COLOUR_TOP_PERCENTILE]) if finite.size
                      else (None, None))
        image = draw_grid_image(ax, grid, cmap=COLOUR_MAP, vmin=vmin, vmax=vmax, clip=study)
        clipped = bool(finite.size and finite.max() > vmax)
        width = fig.get_figwidth()
        pos = ax.get_position()
        cax = fig.add_axes((pos.x1 + 0.25 / width, pos.y0 + pos.height * 0.15, 0.18 / width,
                            pos.height * 0.7))
        bar = fig.colorbar(image, cax=cax, extend="max" if clipped else "neither")
        bar.set_label(f"{_DISPLAY_NAMES[pollutant]} annual mean ({UNITS})")
        grid_source = grid.attrs.get("source") or grid_source
        if grid_source:
            sources.append(f"Pollution: {grid_source}")
    draw_shapes(ax, list(polygons), facecolors="none" if grid is not None else "#f4f4f4",
                edgecolor="#7a7a7a" if grid is None else "white", linewidth=0.35, zorder=2)
    if outline is not None:
        draw_shapes(ax, [outline], edgecolor="black", linewidth=1.0, zorder=3)
    labels = []
    for c in clusters:
        shape = geometry.union(geometry.index(c.members))
        if shape is None or shape.is_empty:
            continue
        significant = c.p_value <= alpha
        draw_shapes(ax, [shape], facecolors=(CLUSTER_COLOUR + "33") if significant else "none",
                    edgecolor=CLUSTER_COLOUR if significant else "#555555",
                    linewidth=2.2 if significant else 1.6, zorder=11,
                    linestyle="solid" if significant else (0, (4, 2)), halo=1.6)
        text = f"#{c.rank} p={c.p_value:.3g}" + ("" if significant else " (not significant)")
        labels.append(Label(text, shape, force=True, fontsize=9, weight="bold",
                            colour=CLUSTER_COLOUR if significant else "#444444"))
    obstacles = [lab.geom for lab in labels]
    if names is not None:
        order = sorted(range(len(polygons)), key=lambda k: -(polygons[k].area
                                                             if polygons[k] is not None else 0))
        labels += [Label(names[k], polygons[k], fontsize=6) for k in order if names[k]]
    place_labels(fig, ax, labels, obstacles=obstacles)
    add_scale_bar(ax, metres_per_unit=METRES_PER_DEGREE * math.cos(math.radians(mid_lat))
                  if latlong else 1.0)
    add_north_arrow(ax)
    if title:
        fig.text(0.5, 1 - 0.12 / fig.get_figheight(), title, ha="center", va="top",
                 fontsize=11)
    add_attribution(fig, sources)
    from ..io.atomic import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
