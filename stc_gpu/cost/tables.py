"""The paper's Tables 5 and 6: recomputed for its six models beside the printed figures, and their
text formatting (``ours (paper, ±x.xx%)`` per cell)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from stc_gpu.cost.counts import trainable_params, training_flops
from stc_gpu.cost.dims import PAPER_MODELS, paper_model_dims


@dataclass(frozen=True)
class PaperSetup:
    """Constants the paper uses for Tables 5 and 6 without printing all of them.

    ``n_train_texts`` (IMDb's training split) and ``lr_iterations`` are implied by the tables;
    RoBERTa's fine-tuning runs two epochs (section 5.2.1: "5.7 times when fine-tuning extends over
    two epochs").
    """

    n_train_texts: int = 25_000
    lr_iterations: int = 20
    rho_eta: float = 0.1
    n_pools: int = 3
    two_epoch_models: tuple[str, ...] = ("RoBERTa",)


#: Table 5 of the paper as printed: (fine-tuning params, STC params, ratio).
PAPER_TABLE5 = {
    "DistilBERT": (66e6, 93.3e3, 707), "RoBERTa": (125e6, 228e3, 548),
    "GPT2": (117e6, 228e3, 513), "GPT2-M": (345e6, 829e3, 416),
    "GPT2-L": (774e6, 1.97e6, 393), "GPT2-XL": (1.56e9, 3.97e6, 393)}
#: Table 6 of the paper as printed: (fine-tuning, forward, LR probes, LR agg., frozen+STC, speedup).
PAPER_TABLE6 = {
    "DistilBERT": (9.90e12, 3.43e12, 23.0e9, 8.05e9, 3.46e12, 2.86),
    "RoBERTa": (37.5e12, 6.48e12, 46.1e9, 30.0e9, 6.56e12, 5.72),
    "GPT2": (17.6e12, 6.33e12, 46.1e9, 30.0e9, 6.41e12, 2.75),
    "GPT2-M": (51.8e12, 18.5e12, 123e9, 154e9, 18.8e12, 2.76),
    "GPT2-L": (116e12, 41.1e12, 230e9, 426e9, 41.8e12, 2.78),
    "GPT2-XL": (234e12, 81.8e12, 384e9, 941e9, 83.1e12, 2.82)}
TABLE5_COLUMNS = ("finetune", "stc", "ratio")
TABLE6_COLUMNS = ("finetune", "forward", "lr_probes", "lr_aggregation", "frozen_stc", "speedup")
_HEADERS = {"finetune": "Fine-tuning", "stc": "STC", "ratio": "ratio", "forward": "Forward",
            "lr_probes": "LR Probes", "lr_aggregation": "LR Agg.", "frozen_stc": "Frozen + STC",
            "speedup": "Speedup"}


def _cells(ours: dict, paper: tuple, columns: tuple[str, ...]) -> dict:
    return {col: {"ours": ours[col], "paper": ref, "rel_diff": ours[col] / ref - 1}
            for col, ref in zip(columns, paper)}


def paper_tables(setup: PaperSetup = PaperSetup()) -> dict:
    """Tables 5 and 6 recomputed, every cell beside the paper's.

    Returns
    -------
    dict
        ``{"setup": {...}, "models": {name: {"dims": {...}, "table5": {col: cell},
        "table6": {col: cell}}}}`` where ``cell = {"ours", "paper", "rel_diff"}`` and
        ``rel_diff = ours / paper - 1``.
    """
    models = {}
    for name in PAPER_MODELS:
        dims = paper_model_dims(name)
        t5 = trainable_params(dims, rho_eta=setup.rho_eta, n_pools=setup.n_pools)
        t6 = training_flops(dims, n_texts=setup.n_train_texts,
                            finetune_epochs=2 if name in setup.two_epoch_models else 1,
                            lr_iterations=setup.lr_iterations, rho_eta=setup.rho_eta)
        models[name] = {"dims": asdict(dims),
                        "table5": _cells(t5, PAPER_TABLE5[name], TABLE5_COLUMNS),
                        "table6": _cells(t6, PAPER_TABLE6[name], TABLE6_COLUMNS)}
    return {"setup": asdict(setup), "models": models}


def format_count(value: float) -> str:
    """Three significant digits with the paper's suffixes: ``93.3K``, ``1.97M``, ``9.90T``."""
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            scaled = value / scale
            break
    else:
        suffix, scaled = "", value
    decimals = max(0, 2 - int(math.floor(math.log10(abs(scaled))))) if scaled else 0
    return f"{scaled:.{decimals}f}{suffix}"


def _format_cell(col: str, value: float) -> str:
    if col == "ratio":
        return f"{value:.0f}:1"
    if col == "speedup":
        return f"{value:.2f}"
    return format_count(value)


def table_rows(tables: dict, table: str) -> list[dict]:
    """Rows of ``"table5"`` or ``"table6"`` as strings: ``ours (paper, ±x.xx%)`` per column."""
    rows = []
    for name, model in tables["models"].items():
        row = {"Model": name}
        for col, cell in model[table].items():
            row[_HEADERS[col]] = (f"{_format_cell(col, cell['ours'])} "
                                  f"({_format_cell(col, cell['paper'])}, "
                                  f"{100 * cell['rel_diff']:+.2f}%)")
        rows.append(row)
    return rows


def format_paper_tables(tables: dict) -> str:
    """Both tables as aligned text for a terminal, and the largest relative difference."""
    blocks = []
    for number, key, title in (("5", "table5", "trainable parameters"),
                               ("6", "table6", "training FLOPs on IMDb")):
        rows = table_rows(tables, key)
        columns = list(rows[0])
        widths = [max(len(col), *(len(row[col]) for row in rows)) for col in columns]
        lines = [f"Table {number}: {title}, ours (paper, relative difference)", "",
                 "  ".join(col.ljust(w) for col, w in zip(columns, widths)).rstrip()]
        lines += ["  ".join(row[col].ljust(w) for col, w in zip(columns, widths)).rstrip()
                  for row in rows]
        blocks.append("\n".join(lines))
    blocks.append(f"largest |relative difference|: {100 * max_rel_diff(tables):.2f}% "
                  "(docs/cost-model.md explains the formulas)")
    return "\n\n".join(blocks)


def max_rel_diff(tables: dict) -> float:
    """Largest ``|rel_diff|`` over every cell of both tables."""
    return max(abs(cell["rel_diff"]) for model in tables["models"].values()
               for table in ("table5", "table6") for cell in model[table].values())
