"""``stc-gpu run``: the whole pipeline, from a config built of a TOML file and the options."""
from __future__ import annotations

import click

from stc_gpu.cli.options import (comma_list, config_file_option, config_from, default_help,
                                 shared)
from stc_gpu.cli.summary import summary_table
from stc_gpu.vocabulary import BACKENDS, METRICS, MULTICLASS_MODES

#: The built-in demo uses this many RT snippets so it finishes in minutes on 2 CPU cores.
DEMO_MAX_TEXTS = 3000


@click.command()
@config_file_option
@shared("data", "text_column", "model", "revision", "store")
@click.option("--label-column", "label_columns", multiple=True,
              help=f"Label column; repeat for several tasks over the same texts "
                   f"{default_help('label_columns')}.")
@click.option("--multi-label/--single-label", "multi_label", default=None,
              help="Each label column holds a set of labels per row (a list in Parquet/JSONL, or "
                   "text joined by --label-separator; empty: none applies): one binary STC per "
                   "label.")
@click.option("--label-separator",
              help=f"Separator of the labels in a multi-label text column "
                   f"{default_help('label_separator')}.")
@click.option("--split-column", help="Optional column with train/validation/test values.")
@click.option("--out", type=click.Path(), help=f"Report folder {default_help('out')}.")
@shared("device", "dtype")
@click.option("--backend", type=click.Choice(BACKENDS),
              help=f"Probe solver backend {default_help('backend')}.")
@shared("kinds", "pools", "max_layer", "max_length", "token_budget", "block_rows")
@click.option("--metric", type=click.Choice(METRICS),
              help=f"Validation metric for every selection {default_help('metric')}.")
@click.option("--multiclass", type=click.Choice(MULTICLASS_MODES),
              help=f"3+ classes: one-vs-rest binary probes (fast) or one softmax "
                   f"{default_help('multiclass')}.")
@click.option("--C-grid", "C_grid",
              help=f"Comma list of L1 strengths in scikit-learn C units {default_help('C_grid')}.")
@click.option("--eta-grid",
              help=f"Comma list of η in (0, 1] {default_help('eta_grid')}: the paper's, then 0.6 "
                   "and 0.8 as its reference code.")
@click.option("--combine-kinds/--no-combine-kinds", default=None,
              help="Also aggregate hidden and ffn neurons together (beyond the paper).")
@shared("max_texts")
@click.option("--seed", type=int,
              help=f"Seed of the train/validation/test split {default_help('seed')}.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Run the fits on a local Dask cluster of N worker processes.")
@click.option("--scheduler", help="Run the fits on an existing Dask cluster (tcp://host:8786).")
@click.option("--fit-threads", type=click.IntRange(min=1),
              help=f"Fit tasks run at once in this process {default_help('fit_threads')}; "
                   "each holds its own feature slabs.")
@shared("quiet")
def run(config_file, quiet, label_columns, C_grid, eta_grid, **options):
    """Extract (reused when stored) -> probe -> sparsify -> aggregate -> report.

    Without --data: the built-in demo, all-MiniLM-L6-v2 on Rotten Tomatoes snippets (the first
    few thousand unless --max-texts).
    """
    from stc_gpu import pipeline

    if label_columns:
        options["label_columns"] = list(label_columns)
    for name, value in (("C_grid", C_grid), ("eta_grid", eta_grid)):
        options[name] = comma_list(value, "--" + name.replace("_", "-"), float)
    config = config_from(config_file, options)
    if config.data is None and config.max_texts is None:
        config.max_texts = DEMO_MAX_TEXTS
    try:
        results = pipeline.run(config, show_progress=not quiet)
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise click.ClickException(str(err)) from err
    for task, res in results.items():
        click.echo(f"\n[{task}]")
        click.echo(summary_table(res))
        click.echo(f"report: {res['report']}")
    click.echo(f"\nreport folder: {config.out}")
