"""The paper's Tables 5 and 6 recomputed by :mod:`stc_gpu.cost`, beside the printed figures."""
from __future__ import annotations

from stc_gpu.cost import max_rel_diff, paper_tables, table_rows

from benchmarks import bench_main


def run(quick: bool = False, device: str = "cpu") -> dict:
    """Both tables as one list of rows (a ``Table`` column says which); quick and device unused."""
    tables = paper_tables()
    rows = [{"Table": number, **row} for number, key in (("5", "table5"), ("6", "table6"))
            for row in table_rows(tables, key)]
    return {"name": "cost_tables", "title": "Paper Tables 5 and 6: ours (paper, relative diff.)",
            "rows": rows,
            "notes": [f"largest |relative difference| over all cells: "
                      f"{100 * max_rel_diff(tables):.2f}%",
                      "formulas and hidden constants that reproduce the tables: docs/cost-model.md"]}


def main() -> None:
    bench_main(run, __doc__)


if __name__ == "__main__":
    main()
