"""Reports of an STC run: Markdown tables, the results JSON, the paper's figures, token heat maps."""
from stc_gpu.report.heatmap import token_heatmap_html, token_heatmaps_html
from stc_gpu.report.plots import plot_layer_curve, plot_salient_histograms, plot_what_which_where
from stc_gpu.report.tables import (layer_table_markdown, read_results_json, selection_markdown,
                                   table4_markdown, write_results_json)

__all__ = [
    "layer_table_markdown", "plot_layer_curve", "plot_salient_histograms", "plot_what_which_where",
    "read_results_json", "selection_markdown", "table4_markdown", "token_heatmap_html",
    "token_heatmaps_html", "write_results_json",
]
