"""Reports people read: the text summary, maps, and the HTML report of an inquiry.

    summary       summary_text                          the summary.txt of a result
    maps          plot_map, write_map                   PNG maps: grid, locations, clusters,
                                                        outline; polygons (clusters as unions
                                                        of member polygons) when given
    cartography   ReportGeometry, sir_map,              maps for people: SIR choropleth, named
                  pollutant_map, SIR_CLASSES            areas, scale bar, north arrow, labels
    html          write_inquiry_report,                 report.html of `scan inquiry` (one
                  render_inquiry_report, write_pdf      self-contained file; A4 print; PDF via
                                                        headless Chromium)
"""
