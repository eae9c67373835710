"""The ``stc-gpu`` command line: one click group, one subcommand per stage."""
from __future__ import annotations

import click

from stc_gpu import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stc-gpu")
def cli() -> None:
    """Sparsify-then-Classify: text classifiers from a frozen language model's neurons."""


def main() -> None:
    """Console-script entry point."""
    cli()
