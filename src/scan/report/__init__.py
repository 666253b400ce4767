"""Reports people read: the text summary, maps (and, for inquiries, an HTML report).

    summary   summary_text                     the summary.txt of a result
    maps      plot_map, write_map              PNG maps: grid, locations, clusters, outline
"""
