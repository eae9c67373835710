"""The options several ``stc-gpu`` commands share: one name, one help text, one default each;
and the config they build (:func:`config_from`).

Every default comes from :class:`stc_gpu.config.STCConfig` (:func:`~stc_gpu.config.field_default`)
and is shown in the help from there. The click options themselves default to None, so a command
tells "not given" from the default (``run`` lets a ``--config`` file fill what the command line
leaves out); :func:`resolved` then fills in the config's default.
"""
from __future__ import annotations

import click

from stc_gpu.config import STCConfig, field_default
from stc_gpu.vocabulary import DEFAULT_TOKEN_BUDGET


def comma_list(value: str | None, option: str, cast=str) -> list | None:
    """``"a, b"`` -> ``["a", "b"]`` (each item through ``cast``); None stays None."""
    if value is None:
        return None
    try:
        items = [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected a comma-separated list, got {value!r}",
                                 param_hint=option) from None
    if not items:
        raise click.BadParameter("must not be empty", param_hint=option)
    return items


def mib(n_bytes: int) -> str:
    """A size in MiB, as the commands print it."""
    return f"{n_bytes / 2 ** 20:,.1f} MiB"


def shown(value) -> str:
    """A default as the help shows it: lists comma-joined, floats short."""
    if isinstance(value, (list, tuple)):
        return ",".join(shown(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_help(name: str) -> str:
    """``[default: ...]`` of STCConfig field ``name``, for a help text."""
    return f"[default: {shown(field_default(name))}]"


def _comma_callback(ctx, param, value):
    return comma_list(value, param.opts[0])


#: config field -> (option name, click keyword arguments); "{default}" in a help is the field's
#: default in STCConfig.
SHARED = {
    "data": ("--data", dict(type=click.Path(exists=True), help=(
        "CSV/TSV, JSONL or Parquet file (optionally .gz/.bz2/.zst) or a `datasets` "
        "save_to_disk folder."))),
    "text_column": ("--text-column", dict(help="Column holding the texts [default: {default}].")),
    "model": ("--model", dict(help="Hugging Face model name (hub or packaged) or local folder "
                                   "[default: {default}].")),
    "revision": ("--revision", dict(help="Model revision (hub models).")),
    "store": ("--store", dict(type=click.Path(file_okay=False),
                              help="Feature store folder (extract and run create it) "
                                   "[default: {default}].")),
    "kinds": ("--kinds", dict(callback=_comma_callback,
                              help="Comma list of sites: hidden, ffn [default: {default}].")),
    "pools": ("--pools", dict(callback=_comma_callback,
                              help="Comma list of token poolings: mean, max, single "
                                   "[default: {default}].")),
    "max_layer": ("--max-layer", dict(type=click.IntRange(min=0), help=(
        "Read layers 0..N only; the model never runs past block N [default: every layer]."))),
    "max_length": ("--max-length", dict(type=click.IntRange(min=1), help=(
        "Tokens per text, longer texts are cut [default: the model's own limit, e.g. 1024 "
        "for GPT-2]."))),
    "device": ("--device", dict(help="cpu, cuda or cuda:N [default: cuda when available, "
                                     "else cpu].")),
    "dtype": ("--dtype", dict(help="Compute dtype: float16, bfloat16 or float32 [default: "
                                   "float16 on CUDA, float32 on CPU].")),
    "token_budget": ("--token-budget", dict(type=click.IntRange(min=1), help=(
        f"Padded tokens per forward batch [default: {DEFAULT_TOKEN_BUDGET}, or --max-length "
        "if larger]."))),
    "block_rows": ("--block-rows", dict(type=click.IntRange(min=1), help=(
        "Rows per stored block (and chunk) [default: {default}]."))),
    "max_texts": ("--max-texts", dict(type=click.IntRange(min=1),
                                      help="Use only the first N texts [default: all].")),
    "quiet": ("--quiet", dict(is_flag=True, help="No progress bars.")),
}


def shared(*names: str):
    """Decorator adding the shared options ``names`` (config fields), in that order."""
    def decorate(command):
        for name in reversed(names):
            option, kwargs = SHARED[name]
            if "{default}" in kwargs["help"]:
                kwargs = dict(kwargs, help=kwargs["help"].replace(
                    "{default}", shown(field_default(name))))
            command = click.option(option, name, **kwargs)(command)
        return command
    return decorate


def resolved(name: str, value):
    """``value`` of shared option ``name``, or the config's default when it was not given."""
    return field_default(name) if value is None else value


class HiddenArgument(click.Argument):
    """A positional argument kept as an alias of an option: accepted, not shown in the usage."""

    def get_usage_pieces(self, ctx) -> list[str]:
        return []


def one_of(option: str, value, alias: str, alias_value):
    """The value given as ``option`` or as its positional ``alias`` (a usage error if both
    differ)."""
    if value is not None and alias_value is not None and value != alias_value:
        raise click.UsageError(f"give {option} or the positional {alias}, not both")
    return value if value is not None else alias_value


def config_file_option(command):
    """Decorator adding ``--config FILE.toml`` (as ``config_file``), read by :func:`config_from`."""
    return click.option(
        "--config", "config_file", type=click.Path(exists=True, dir_okay=False),
        help="TOML file with run options (flat keys, as in STCConfig); CLI options override "
             "it.")(command)


def config_from(config_file: str | None, options: dict) -> STCConfig:
    """The command's :class:`STCConfig`: the ``config_file`` (TOML, if given), then the
    ``options`` given on the command line (None: not given); a bad value is a one-line error."""
    overrides = {k: v for k, v in options.items() if v is not None}
    try:
        return (STCConfig.from_toml(config_file, **overrides) if config_file
                else STCConfig.from_dict(overrides))
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise click.ClickException(str(err)) from err
