"""``stc-gpu extract``: features of a dataset into a feature store, as ``run`` extracts them."""
from __future__ import annotations

import functools

import click

from stc_gpu.cli.options import (HiddenArgument, comma_list, config_file_option, config_from,
                                 one_of, shared)


@click.command()
@click.argument("data_arg", metavar="[DATA]", required=False, type=click.Path(exists=True),
                cls=HiddenArgument)
@config_file_option
@shared("data", "text_column", "model", "revision", "store")
@click.option("--layers", default=None, help="Comma-separated layer indices, e.g. 0,1,2.")
@shared("max_layer", "kinds", "pools", "max_length", "device", "dtype", "block_rows",
        "token_budget", "max_texts")
@click.option("--compressor", type=click.Choice(["none", "zstd"]), default="none",
              show_default=True, help="Compression of a new entry's feature arrays.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="If another process is writing the same entry, wait for it instead of failing.")
@shared("quiet")
def extract(data_arg, config_file, layers, compressor, wait, quiet, **options):
    """Extract pooled hidden/FFN features of the --data texts into a feature store.

    --data is a CSV/TSV, JSONL or Parquet file (optionally compressed) or a `datasets`
    save_to_disk folder. The entry is the one `run` reads with the same options (the model's
    output, `final`, included unless --max-layer). Rerunning resumes an interrupted extraction;
    an existing one is reused. Under `torchrun --nproc-per-node N stc-gpu extract ...` the N
    processes (one GPU each) share the blocks of one entry and rank 0 prints the summary of all
    of them.
    """
    from stc_gpu.distributed.torchrun import (RankFailedError, distributed_context,
                                              extract_distributed)
    from stc_gpu.extract.configured import extract
    from stc_gpu.store import StoreLockedError

    options["data"] = one_of("--data", options["data"], "DATA", data_arg)
    if layers is not None and options["max_layer"] is not None:
        raise click.UsageError("give --layers or --max-layer, not both")
    layers = comma_list(layers, "--layers", int)
    config = config_from(config_file, options)
    if config.data is None:
        raise click.UsageError("give the dataset with --data")
    try:
        with distributed_context(config.device) as ctx:
            entry, summary, _ = extract(
                config, show_progress=not quiet and ctx.is_main, layers=layers,
                device=ctx.device if ctx.distributed else None, wait=wait,
                compressor=compressor, write=functools.partial(extract_distributed, context=ctx))
    except (ValueError, FileNotFoundError, StoreLockedError, RankFailedError) as err:
        raise click.ClickException(str(err)) from None
    if not ctx.is_main:
        return
    click.echo(summary.format())
    click.echo(f"store {config.store}  entry {entry.key}  ({entry.model_name}, {entry.n_rows} "
               "rows)")
