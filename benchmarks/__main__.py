"""Run every benchmark, each in its own process, and write JSON plus a Markdown report.

``python -m benchmarks [--quick] [--device cuda] [--out DIR] [--only NAME ...] [--timeout S]
[--budget S]`` writes, under ``DIR``: ``<name>.json`` and ``<name>.log`` per benchmark,
``results.json`` (machine info and every record) and ``report.md``. A benchmark that fails or
runs past its timeout is reported as such; the others still run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import benchmarks
from benchmarks import machine_info, markdown_table

BENCH_DIR = Path(benchmarks.__file__).resolve().parent
#: Below this many seconds of budget left, a benchmark is not started.
_MIN_START_S = 5.0


def discover(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Names of the benchmark modules (``bench_*.py`` in ``bench_dir``), sorted."""
    return sorted(path.stem for path in bench_dir.glob("bench_*.py"))


def _tail(path: Path, n_chars: int = 2000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-n_chars:]


def run_one(name: str, *, quick: bool, device: str, out_dir: Path, timeout_s: float,
            bench_dir: Path = BENCH_DIR) -> dict:
    """Run module ``<name>`` of the package ``bench_dir`` in a subprocess, as
    ``python -m <package>.<name>`` from the folder holding the package.

    A record with status ``ok``, ``failed`` or ``timeout``.

    The record holds ``name``, ``status``, ``wall_s``, the benchmark's result dict (``ok``) or an
    ``error`` with the tail of its log.
    """
    json_path, log_path = (out_dir / f"{name}.json").resolve(), out_dir / f"{name}.log"
    json_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", f"{bench_dir.name}.{name}", "--device", device,
               "--json", str(json_path)] + (["--quick"] if quick else [])
    start = time.perf_counter()
    with log_path.open("w") as log:
        try:
            code = subprocess.run(command, cwd=bench_dir.parent, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            code = None
    record = {"name": name, "wall_s": round(time.perf_counter() - start, 2)}
    if code is None:
        return {**record, "status": "timeout",
                "error": f"stopped after {timeout_s:.0f} s\n{_tail(log_path)}"}
    if code != 0 or not json_path.exists():
        return {**record, "status": "failed",
                "error": f"exit code {code}\n{_tail(log_path)}"}
    try:
        result = benchmarks.check_result(json.loads(json_path.read_text()))
    except ValueError as err:  # json.JSONDecodeError is a ValueError too
        return {**record, "status": "failed", "error": f"bad result file: {err}"}
    return {**record, "status": "ok", "result": result}


def render_report(machine: dict, records: list[dict], *, quick: bool, device: str,
                  started: str) -> str:
    """The Markdown report: machine info, a summary, then one table per benchmark."""
    gpus = ", ".join(machine["gpus"]) or "none"
    lines = ["# stc-gpu benchmarks", "",
             f"- started: {started} ({'quick' if quick else 'full'} sizes, device `{device}`)",
             f"- CPU: {machine['cpu']}, {machine['cpu_cores']} cores; {machine['platform']}",
             f"- Python {machine['python']}, torch {machine['torch']}, CUDA {machine['cuda']}; "
             f"GPUs: {gpus}", "", "## Summary", "",
             markdown_table([{"benchmark": r["name"], "status": r["status"], "wall_s": r["wall_s"]}
                             for r in records])]
    for record in records:
        if record["status"] == "ok":
            result = record["result"]
            lines += ["", f"## {result['title']}", "", f"`{record['name']}`, "
                      f"{record['wall_s']} s", "", markdown_table(result["rows"])]
            if result["notes"]:
                lines += [""] + [f"- {note}" for note in result["notes"]]
        else:
            lines += ["", f"## {record['name']}: {record['status']}", "", "```",
                      record.get("error", "").rstrip(), "```"]
    return "\n".join(lines) + "\n"


def run_all(*, quick: bool = False, device: str = "cpu", out_dir: Path = Path("bench_out"),
            only: list[str] | None = None, timeout_s: float = 3600.0,
            budget_s: float | None = None, bench_dir: Path = BENCH_DIR) -> list[dict]:
    """Run the benchmarks (all, or those in ``only``) and write the JSON files and ``report.md``.

    Parameters
    ----------
    timeout_s : float
        Per benchmark.
    budget_s : float, optional
        Total: each benchmark gets at most what is left of it; none starts with under 5 s left.
    bench_dir : Path
        The package folder holding the ``bench_*.py`` modules.

    Raises
    ------
    ValueError
        ``only`` names a benchmark that does not exist.
    """
    available = discover(bench_dir)
    unknown = sorted(set(only or ()) - set(available))
    if unknown:
        raise ValueError(f"no benchmark named {', '.join(unknown)}; "
                         f"available: {', '.join(available)}")
    names = [name for name in available if not only or name in only]
    out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    deadline = None if budget_s is None else time.perf_counter() + budget_s
    records = []
    for i, name in enumerate(names, 1):
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left < _MIN_START_S:
            records.append({"name": name, "status": "skipped", "wall_s": 0.0,
                            "error": "the total budget was spent"})
        else:
            print(f"[{i}/{len(names)}] {name} ...", flush=True)
            records.append(run_one(name, quick=quick, device=device, out_dir=out_dir,
                                   timeout_s=timeout_s if left is None else min(timeout_s, left),
                                   bench_dir=bench_dir))
        print(f"[{i}/{len(names)}] {name}: {records[-1]['status']} "
              f"({records[-1]['wall_s']} s)", flush=True)
    machine = machine_info()
    (out_dir / "results.json").write_text(json.dumps(
        {"started": started, "quick": quick, "device": device, "machine": machine,
         "benchmarks": records}, indent=2, default=str) + "\n")
    (out_dir / "report.md").write_text(
        render_report(machine, records, quick=quick, device=device, started=started))
    return records


def main(argv: list[str] | None = None) -> int:
    """Command line; exit status 1 when any benchmark failed or timed out."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--device", default="cpu", help="torch device passed to every benchmark")
    parser.add_argument("--out", type=Path, default=Path("bench_out"), help="output folder")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(discover())}")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    parser.add_argument("--budget", type=float, help="seconds for all benchmarks together")
    args = parser.parse_args(argv)
    try:
        records = run_all(quick=args.quick, device=args.device, out_dir=args.out,
                          only=args.only, timeout_s=args.timeout, budget_s=args.budget)
    except ValueError as err:
        parser.error(str(err))
    print(f"report: {args.out / 'report.md'}")
    return 0 if all(r["status"] == "ok" for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
