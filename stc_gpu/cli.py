"""The ``stc-gpu`` command line: one click group, one subcommand per stage."""
from __future__ import annotations

import click

from stc_gpu import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stc-gpu")
def cli() -> None:
    """Sparsify-then-Classify: text classifiers from a frozen language model's neurons."""


# ------------------------------------------------------------------ run / predict / explain
def _csv_list(value):
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@cli.command()
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="TOML file with run options (flat keys, as in STCConfig); CLI options override it.")
@click.option("--model", help="Hugging Face model name or folder [default: all-MiniLM-L6-v2].")
@click.option("--data", type=click.Path(exists=True),
              help="CSV / JSONL / Parquet file or a saved `datasets` folder [default: bundled RT snippets].")
@click.option("--text-column", help="Column holding the texts [default: text].")
@click.option("--label-column", "label_columns", multiple=True,
              help="Label column; repeat for several tasks over the same texts [default: label].")
@click.option("--split-column", help="Optional column with train/validation/test values.")
@click.option("--store", type=click.Path(), help="Feature store folder [default: stc_store].")
@click.option("--out", type=click.Path(), help="Report folder [default: stc_runs/latest].")
@click.option("--device", help="cpu, cuda or cuda:N [default: cuda if available].")
@click.option("--backend", type=click.Choice(["auto", "torch", "cuml", "sklearn"]),
              help="Probe solver backend [default: auto].")
@click.option("--kinds", help="Comma list of hidden,ffn.")
@click.option("--pools", help="Comma list of mean,max,single.")
@click.option("--metric", type=click.Choice(["accuracy", "macro_f1"]),
              help="Validation metric for every selection [default: accuracy].")
@click.option("--combine-kinds/--no-combine-kinds", default=None,
              help="Also aggregate hidden and ffn neurons together (beyond the paper).")
@click.option("--max-texts", type=int, help="Use only the first N rows.")
@click.option("--seed", type=int, help="Seed of the train/validation/test split [default: 0].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def run(config_file, quiet, label_columns, kinds, pools, **options):
    """Extract (reused when stored) -> probe -> sparsify -> aggregate -> report.

    Without options: the built-in demo, all-MiniLM-L6-v2 on Rotten Tomatoes snippets.
    """
    from stc_gpu.config import STCConfig
    from stc_gpu.stc import pipeline

    overrides = {k: v for k, v in options.items() if v is not None}
    if label_columns:
        overrides["label_columns"] = list(label_columns)
    if kinds:
        overrides["kinds"] = _csv_list(kinds)
    if pools:
        overrides["pools"] = _csv_list(pools)
    try:
        config = (STCConfig.from_toml(config_file, **overrides) if config_file
                  else STCConfig.from_dict(overrides))
        if config.data is None and config.max_texts is None:
            config.max_texts = DEMO_MAX_TEXTS
        results = pipeline.run(config, show_progress=not quiet)
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise click.ClickException(str(err)) from err
    for task, res in results.items():
        click.echo(f"\n[{task}]")
        click.echo(_summary_table(res))
    click.echo(f"\nreport: {config.out}")


#: The built-in demo uses this many RT snippets so it finishes in minutes on 2 CPU cores.
DEMO_MAX_TEXTS = 4000


def _summary_table(results: dict) -> str:
    sel = results["selection"]
    lines = [f"{'':<10} {'test acc':>9} {'test F1':>9}  configuration"]
    for name in ("embedding", "probe", "agg"):
        if name in sel:
            s = sel[name]
            conf = ", ".join(f"{k}={s[k]}" for k in ("kind", "pool", "layer", "eta", "L_temp", "C",
                                                     "n_features") if k in s)
            lines.append(f"{name:<10} {s['test_acc']:>9.4f} {s['test_f1']:>9.4f}  {conf}")
    return "\n".join(lines)


@cli.command()
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "texts_file", type=click.Path(exists=True, dir_okay=False),
              help="Read texts from a file, one per line.")
@click.option("--device", help="cpu, cuda or cuda:N.")
@click.option("--proba", is_flag=True, help="Print class probabilities too.")
def predict(classifier, texts, texts_file, device, proba):
    """Classify TEXTS with a saved CLASSIFIER (the `classifier/` folder of a run)."""
    from stc_gpu.stc.classifier import STCClassifier

    texts = _gather_texts(texts, texts_file)
    try:
        clf = STCClassifier.load(classifier, device=device)
        labels = clf.predict(texts)
        probs = clf.predict_proba(texts) if proba else None
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    for i, (text, label) in enumerate(zip(texts, labels)):
        extra = ("\t" + " ".join(f"{c}={p:.3f}" for c, p in zip(clf.classes_, probs[i]))
                 if probs is not None else "")
        click.echo(f"{label}{extra}\t{text}")


@cli.command()
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "texts_file", type=click.Path(exists=True, dir_okay=False),
              help="Read texts from a file, one per line.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default="explain.html",
              show_default=True, help="HTML file to write.")
@click.option("--device", help="cpu, cuda or cuda:N.")
def explain(classifier, texts, texts_file, out_file, device):
    """Token-level heat map (paper §5.3): each token scored by the classifier on its own."""
    from pathlib import Path

    from stc_gpu.report.heatmap import token_heatmaps_html
    from stc_gpu.stc.classifier import STCClassifier

    texts = _gather_texts(texts, texts_file)
    try:
        clf = STCClassifier.load(classifier, device=device)
        scored = clf.token_scores(texts)
        labels = clf.predict(texts)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    items = [{"tokens": toks, "scores": s, "title": f"predicted: {lab}"}
             for (toks, s), lab in zip(scored, labels)]
    Path(out_file).write_text(token_heatmaps_html(items, label_names=[str(c) for c in clf.classes_]))
    click.echo(f"wrote {out_file}")


def _gather_texts(texts, texts_file) -> list[str]:
    texts = list(texts)
    if texts_file:
        with open(texts_file, encoding="utf-8") as f:
            texts += [line.rstrip("\n") for line in f if line.strip()]
    if not texts:
        raise click.UsageError("give texts as arguments or with --file")
    return texts


def main() -> None:
    """Console-script entry point."""
    cli()
