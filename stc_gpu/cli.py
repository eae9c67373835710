"""The ``stc-gpu`` command line: one click group, one subcommand per stage."""
from __future__ import annotations

from pathlib import Path

import click

from stc_gpu import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stc-gpu")
def cli() -> None:
    """Sparsify-then-Classify: text classifiers from a frozen language model's neurons."""


@cli.group()
def bench() -> None:
    """The paper's cost tables and the benchmark suite."""


@bench.command("tables")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every cell (ours, the paper's, relative difference) as JSON.")
def bench_tables(json_path: Path | None) -> None:
    """Print the paper's Tables 5 and 6 recomputed, each cell beside the paper's figure."""
    import json

    from stc_gpu.cost import format_paper_tables, paper_tables

    tables = paper_tables()
    click.echo(format_paper_tables(tables))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(tables, indent=2) + "\n")
        click.echo(f"wrote {json_path}")


@bench.command("run")
@click.option("--quick", is_flag=True, help="Small sizes: minutes on 2 CPU cores.")
@click.option("--device", default="cpu", show_default=True, help="Torch device for every benchmark.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("bench_out"), show_default=True, help="Folder for JSON and report.md.")
@click.option("--only", multiple=True, help="Run only this benchmark (repeatable).")
@click.option("--timeout", "timeout_s", type=float, default=3600.0, show_default=True,
              help="Seconds per benchmark.")
@click.option("--budget", "budget_s", type=float, help="Seconds for all benchmarks together.")
def bench_run(quick: bool, device: str, out_dir: Path, only: tuple[str, ...], timeout_s: float,
              budget_s: float | None) -> None:
    """Run every benchmark in benchmarks/ and write JSON plus a Markdown report."""
    run_all = _benchmark_runner()
    try:
        records = run_all(quick=quick, device=device, out_dir=out_dir, only=list(only) or None,
                          timeout_s=timeout_s, budget_s=budget_s)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--only") from None
    click.echo(f"report: {out_dir / 'report.md'}")
    failed = [r["name"] for r in records if r["status"] != "ok"]
    if failed:
        raise click.ClickException(f"not ok: {', '.join(failed)} (see {out_dir / 'report.md'})")


def _benchmark_runner():
    """``benchmarks.__main__.run_all`` from the source checkout (benchmarks/ is not installed)."""
    import sys

    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "benchmarks" / "__main__.py").exists() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        from benchmarks.__main__ import run_all
    except ImportError as err:
        raise click.ClickException(
            f"the benchmarks live in the source checkout's benchmarks/ folder ({err}); "
            "run from a clone of stc-gpu") from None
    return run_all


def main() -> None:
    """Console-script entry point."""
    cli()
