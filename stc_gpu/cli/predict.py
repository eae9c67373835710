"""``stc-gpu predict``, ``explain`` and ``export``: what a saved classifier does with texts."""
from __future__ import annotations

from pathlib import Path

import click

from stc_gpu.cli.options import mib, resolved, shared


def _texts_options(command):
    """The CLASSIFIER and TEXTS arguments and ``--file`` that predict and explain share."""
    command = click.option("--file", "texts_file", type=click.Path(exists=True, dir_okay=False),
                           help="Read texts from a file, one per line.")(command)
    command = click.argument("texts", nargs=-1)(command)
    return click.argument("classifier", type=click.Path(exists=True, file_okay=False))(command)


@click.command()
@_texts_options
@shared("data", "text_column", "device")
@click.option("--proba", is_flag=True, help="Print class probabilities too.")
def predict(classifier, texts, texts_file, data, text_column, device, proba):
    """Classify TEXTS (or those of --file or --data) with a saved CLASSIFIER (the `classifier/`
    folder of a run).

    Prints one line per text: its class (a multi-label classifier: its labels joined by the
    training's label separator, empty when none applies), the probabilities with --proba, and the
    text, separated by tabs.
    """
    from stc_gpu.stc.multilabel import MultiLabelSTC, load_classifier

    texts = _gather_texts(texts, texts_file, data, text_column)
    try:
        clf = load_classifier(classifier, device=device)
        labels, probs = clf.predict_with_proba(texts) if proba else (clf.predict(texts), None)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    if isinstance(clf, MultiLabelSTC):
        labels = [clf.config.label_separator.join(found) for found in labels]
    for i, (text, label) in enumerate(zip(texts, labels)):
        extra = ("\t" + " ".join(f"{c}={p:.3f}" for c, p in zip(clf.classes_, probs[i]))
                 if probs is not None else "")
        click.echo(f"{label}{extra}\t{text}")


@click.command()
@_texts_options
@shared("data", "text_column")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default="explain.html",
              show_default=True, help="HTML file to write.")
@shared("device")
@click.option("--class", "target",
              help="Explain this class [default: each text's predicted class].")
@click.option("--method", type=click.Choice(["attribution", "tokenwise", "both"]), default="both",
              show_default=True,
              help="attribution: each token's exact share of the logit; tokenwise: each token "
                   "through the classifier on its own (paper §5.3).")
def explain(classifier, texts, texts_file, data, text_column, out_file, device, target, method):
    """Token-level explanations of CLASSIFIER's predictions on TEXTS (or those of --file or
    --data), as an HTML page.

    The exact attribution splits the logit of one class (the predicted one, or --class) into one
    share per token plus the intercept (special tokens included, marked); the token-wise view
    (paper §5.3) colours each token by the probability the classifier gives it on its own. A
    multi-label classifier is explained one label at a time, by that label's classifier folder
    (CLASSIFIER/labels/<label>).
    """
    from stc_gpu.report.heatmap import explanations_html
    from stc_gpu.stc.classifier import STCClassifier

    texts = _gather_texts(texts, texts_file, data, text_column)
    try:
        _refuse_multi_label(classifier, "explain")
        clf = STCClassifier.load(classifier, device=device)
        if target is not None:
            clf.class_index(target)  # an unknown class fails before the model loads
        explained = clf.explain(texts, target=target)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    headings = [f"predicted: {e.predicted}" for e in explained]
    Path(out_file).write_text(explanations_html(explained, [str(c) for c in clf.classes_],
                                                headings, method=method))
    if method != "tokenwise":
        for e, text in zip(explained, texts):
            top = ", ".join(f"{token} {share:+.2f}" for token, share in e.largest())
            click.echo(f"{e.predicted}\tlogit({e.target}) {e.logit:+.2f} = intercept "
                       f"{e.intercept:+.2f} + tokens {e.shares.sum():+.2f}\t{top}\t{text}")
    click.echo(f"wrote {out_file}")


@click.command("export")
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="New folder for the export (must not exist or be empty).")
def export(classifier, out_dir):
    """Export a saved CLASSIFIER as ONNX + tokenizer + model card, served by onnxruntime alone
    (a multi-label classifier: one label's folder, CLASSIFIER/labels/<label>)."""
    import json

    from stc_gpu.export import runtime
    from stc_gpu.export.writer import export_classifier

    try:
        _refuse_multi_label(classifier, "export")
        out = export_classifier(classifier, out_dir)
    except (ValueError, FileNotFoundError, ImportError) as err:
        raise click.ClickException(str(err)) from None
    serving = json.loads((out / runtime.SERVING).read_text())
    click.echo(f"wrote {out}: blocks 0..{serving['n_blocks'] - 1} of {serving['n_layers']}, "
               f"{serving['n_features']} neurons ({serving['pool']}), model.onnx "
               f"{mib((out / runtime.MODEL).stat().st_size)}; onnxruntime vs torch: probabilities "
               f"within {serving['check']['max_probability_difference']:.1e}")
    click.echo("serve it with stc_gpu.export.runtime.ExportedClassifier (onnxruntime, tokenizers, "
               "numpy)")


def _refuse_multi_label(classifier: str, command: str) -> None:
    """ValueError when ``classifier`` is a saved multi-label classifier, naming the label folder
    that ``command`` takes instead."""
    from stc_gpu.stc.multilabel import label_folders, saved_labels

    labels = saved_labels(classifier)
    if labels is not None:
        example = Path(classifier) / "labels" / label_folders(labels)[0]
        raise ValueError(f"{classifier} is a multi-label classifier: {command} one label at a "
                         f"time with its classifier folder, e.g. {example}")


def _gather_texts(texts, texts_file, data, text_column) -> list[str]:
    """The texts given as arguments, then those of ``texts_file`` (one per line), then those of
    the ``data`` set's text column."""
    from stc_gpu.data.readers import iter_column

    texts = list(texts)
    if texts_file:
        with open(texts_file, encoding="utf-8") as f:
            texts += [line.rstrip("\n") for line in f if line.strip()]
    if data:
        try:
            texts += [t for batch in iter_column(data, resolved("text_column", text_column))
                      for t in batch]
        except (ValueError, FileNotFoundError) as err:
            raise click.ClickException(str(err)) from None
    if not texts:
        raise click.UsageError("give texts as arguments, with --file or with --data")
    return texts
