"""Benchmarks of stc-gpu, and the conventions every benchmark follows.

A benchmark is a module ``benchmarks/bench_<name>.py`` exposing

* ``run(quick: bool, device: str) -> dict`` returning ``{"name", "title", "rows": [dict, ...],
  "notes": [str, ...]}`` (rows share their keys; values are numbers or short strings), and
* ``main()``, a command line ``--quick --device DEVICE --json PATH`` that prints the rows as a table
  and writes the dict as JSON; :func:`bench_main` is that command line, ready made.

``python -m benchmarks`` (or ``stc-gpu bench run``) finds every such module, runs each in its own
process and writes one JSON file and one Markdown report (see :mod:`benchmarks.__main__`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Callable

REQUIRED_KEYS = ("name", "title", "rows", "notes")


def check_result(result: dict) -> dict:
    """``result`` unchanged if it follows the convention, else ``ValueError`` naming the problem."""
    if not isinstance(result, dict):
        raise ValueError(f"a benchmark returns a dict, got {type(result).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ValueError(f"benchmark result lacks {', '.join(missing)}")
    if not all(isinstance(row, dict) for row in result["rows"]):
        raise ValueError("benchmark rows must be dicts")
    return result


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    return columns


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """A GitHub Markdown table of ``rows`` (columns in first-seen order; blanks where missing)."""
    if not rows:
        return "(no rows)"
    columns = _columns(rows)
    cells = [columns] + [[_format_value(row.get(col, "")) for col in columns] for row in rows]
    lines = ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |"
             for line in cells]
    lines.insert(1, "|" + "---|" * len(columns))
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU model and cores, Python, torch and CUDA versions, and the CUDA device names if any."""
    import torch

    cuda = torch.cuda.is_available()
    return {"cpu": _cpu_model(), "cpu_cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda if cuda else None,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if cuda else []}


def bench_main(run: Callable[..., dict], description: str,
               argv: list[str] | None = None, *, options: dict | None = None,
               worker: Callable[[list[str]], None] | None = None) -> dict | None:
    """The command line every benchmark shares: ``--quick --device --json PATH``.

    Runs ``run(quick, device)``, prints its rows (Markdown) and notes, writes the result to ``--json``.
    ``options`` adds a benchmark's own flags, ``{"--flag": add_argument keyword arguments}``; their
    values go to ``run`` as keyword arguments (named by their ``dest``). With ``--worker`` in the
    arguments, ``worker(arguments)`` runs instead (the benchmark's own subprocesses) and None is
    returned.
    """
    argv = sys.argv[1:] if argv is None else argv
    if worker is not None and "--worker" in argv:
        worker(argv)
        return None
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes on 2 CPU cores)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--json", type=Path, help="write the result here as JSON")
    extra = [parser.add_argument(flag, **kwargs).dest for flag, kwargs in (options or {}).items()]
    args = parser.parse_args(argv)
    result = check_result(run(args.quick, args.device,
                              **{dest: getattr(args, dest) for dest in extra}))
    print(f"{result['title']}\n\n{markdown_table(result['rows'])}\n")
    for note in result["notes"]:
        print(f"- {note}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
