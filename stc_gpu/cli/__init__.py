"""The ``stc-gpu`` command line: one click group, one subcommand (or group) per stage.

Each command family lives in its own module (:mod:`~stc_gpu.cli.extract`, :mod:`~stc_gpu.cli.run`,
:mod:`~stc_gpu.cli.store`, :mod:`~stc_gpu.cli.predict`, :mod:`~stc_gpu.cli.bench`) and the
options they share in :mod:`~stc_gpu.cli.options`; this module only assembles the group.
"""
from __future__ import annotations

import click

from stc_gpu import __version__
from stc_gpu.cli import bench, extract, predict, run, store


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stc-gpu")
def cli() -> None:
    """Sparsify-then-Classify: text classifiers from a frozen language model's neurons."""


for _command in (extract.extract, store.store, run.run, predict.predict, predict.explain,
                 predict.export, bench.bench):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli()
