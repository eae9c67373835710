"""``stc-gpu bench tables`` (the paper's cost tables, package data) and ``stc-gpu bench run``
(``python -m benchmarks`` of a source checkout, in a process of its own)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import click

from stc_gpu.cli.options import shared


@click.group()
def bench() -> None:
    """The paper's cost tables and the benchmark suite."""


@bench.command("tables")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every cell (ours, the paper's, relative difference) as JSON.")
def bench_tables(json_path: Path | None) -> None:
    """Print the paper's Tables 5 and 6 recomputed, each cell beside the paper's figure."""
    from stc_gpu.cost import format_paper_tables, paper_tables

    tables = paper_tables()
    click.echo(format_paper_tables(tables))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(tables, indent=2) + "\n")
        click.echo(f"wrote {json_path}")


@bench.command("run")
@click.option("--quick", is_flag=True, help="Small sizes: minutes on 2 CPU cores.")
@shared("device")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("bench_out"), show_default=True, help="Folder for JSON and report.md.")
@click.option("--only", multiple=True, help="Run only this benchmark (repeatable).")
@click.option("--timeout", "timeout_s", type=float, default=3600.0, show_default=True,
              help="Seconds per benchmark.")
@click.option("--budget", "budget_s", type=float, help="Seconds for all benchmarks together.")
def bench_run(quick: bool, device: str | None, out_dir: Path, only: tuple[str, ...],
              timeout_s: float, budget_s: float | None) -> None:
    """Run every benchmark of the source checkout's benchmarks/ (``python -m benchmarks``, from
    the checkout) and write JSON plus a Markdown report (all on the --device)."""
    from stc_gpu.config import STCConfig
    from stc_gpu.stc.fit_options import fit_device

    checkout = source_checkout()
    out_dir, results = out_dir.resolve(), out_dir.resolve() / "results.json"
    command = [sys.executable, "-m", "benchmarks", "--device", fit_device(STCConfig(device=device)),
               "--out", str(out_dir), "--timeout", str(timeout_s), *(["--quick"] if quick else []),
               *(["--budget", str(budget_s)] if budget_s is not None else []),
               *[arg for name in only for arg in ("--only", name)]]
    started = time.time()
    with subprocess.Popen(command, cwd=checkout, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as runner:
        for line in runner.stdout:  # the runner's progress and report path, as they come
            click.echo(line, nl=False)
    if runner.returncode == 2:  # a usage error (e.g. an unknown --only), printed above
        raise click.exceptions.Exit(2)
    if runner.returncode != 0 and not (results.exists() and results.stat().st_mtime >= started):
        raise click.ClickException(f"python -m benchmarks stopped with exit code "
                                   f"{runner.returncode} before writing {results}")
    failed = [r["name"] for r in json.loads(results.read_text())["benchmarks"]
              if r["status"] != "ok"]
    if failed:
        raise click.ClickException(f"not ok: {', '.join(failed)} (see {out_dir / 'report.md'})")


def source_checkout() -> Path:
    """The source checkout this package runs from (the folder holding ``stc_gpu/`` and
    ``benchmarks/``); the benchmarks are not installed with the package."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "__main__.py").is_file():
        raise click.ClickException(
            f"the benchmarks live in the source checkout's benchmarks/ folder, not installed "
            f"with stc-gpu ({root} has none): run `stc-gpu bench run` from a clone of stc-gpu "
            "installed with pip install -e, or `python -m benchmarks` in the clone")
    return root
