"""One command-line convention: every command found in the click group (all groups and
subcommands) names a shared option the same way, with the same help, and shows the config's
default; every command that reads a dataset takes it as --data."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from stc_gpu.cli import cli
from stc_gpu.cli.options import SHARED, shown
from stc_gpu.config import field_default

#: Commands that read a dataset (texts, or texts and labels).
READS_DATA = {"run", "extract", "predict", "explain"}


def _commands(group: click.Group, path=()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(cli)


def _canonical(name: str) -> str:
    return name.lstrip("-").replace("-", "_").lower()


def _flat(text: str) -> str:
    return "".join(text.split())


def test_the_walk_finds_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"run", "extract", "predict", "explain", "store", "store ls", "store info", "bench",
            "bench run", "bench tables"} <= names


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_shared_options_have_one_name_and_one_help(path, command):
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        for opt in param.opts:
            field = _canonical(opt)
            if field in SHARED or param.name in SHARED:  # a shared concept: the shared spelling
                shared_name = field if field in SHARED else param.name
                option, kwargs = SHARED[shared_name]
                assert param.opts == [option], (path, param.opts)
                assert param.name == shared_name, (path, param.name)
                expected = kwargs["help"].replace("{default}", shown(field_default(shared_name))
                                                  if "{default}" in kwargs["help"] else "")
                assert param.help == expected, (path, opt)
    if " ".join(path) in READS_DATA:
        assert "--data" in {o for p in command.params for o in getattr(p, "opts", [])}, path


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_help_shows_the_shared_help_and_the_config_default(path, command):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    page = _flat(result.output)
    for param in command.params:
        if isinstance(param, click.Option) and param.name in SHARED:
            assert _flat(f"{param.opts[0]} ") in page
            assert _flat(param.help) in page, (path, param.opts)
            if "{default}" in SHARED[param.name][1]["help"]:
                assert _flat(f"[default: {shown(field_default(param.name))}]") in page


def test_the_defaults_come_from_the_config():
    """The help of run and extract shows the same defaults, the config's."""
    pages = {name: _flat(CliRunner().invoke(cli, [name, "--help"]).output)
             for name in ("run", "extract")}
    for name in ("model", "text_column", "store", "kinds", "pools", "block_rows"):
        default = _flat(f"[default: {shown(field_default(name))}]")
        assert all(default in page for page in pages.values()), name


def test_the_positional_forms_stay_as_hidden_aliases(tmp_path):
    usage = CliRunner().invoke(cli, ["extract", "--help"]).output.splitlines()[0]
    assert usage.endswith("extract [OPTIONS]")
    data = tmp_path / "d.csv"
    data.write_text("text\na\n")
    both = CliRunner().invoke(cli, ["extract", str(data), "--data", str(tmp_path)])
    assert both.exit_code == 2 and "give --data or the positional DATA, not both" in both.output
    neither = CliRunner().invoke(cli, ["extract"])
    assert neither.exit_code == 2 and "give the dataset with --data" in neither.output
    missing = CliRunner().invoke(cli, ["store", "ls", "--store", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no feature store at" in missing.output
    same = CliRunner().invoke(cli, ["store", "ls", str(tmp_path / "none")])
    assert same.output == missing.output


def test_run_takes_the_extraction_options_of_extract(tmp_path):
    """--max-layer stops the model there (no final site, so no references, and a note says
    why); --block-rows, --token-budget and --dtype reach the extraction."""
    import json

    from stc_gpu.store.feature_store import StoreEntry
    from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus

    texts, labels = planted_corpus(60)
    data = write_corpus(tmp_path / "d.csv", texts, labels)
    model = save_tiny_model(tmp_path / "model", texts=texts)
    res = CliRunner().invoke(cli, ["run", "--model", str(model), "--data", str(data), "--store",
                                   str(tmp_path / "store"), "--out", str(tmp_path / "out"),
                                   "--max-layer", "1", "--block-rows", "25", "--token-budget",
                                   "256", "--dtype", "float32", "--pools", "mean", "--C-grid",
                                   "1", "--eta-grid", "0.8", "--quiet"])
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    entry = StoreEntry.open(results["store_entry"])
    assert entry.kinds == ("hidden", "ffn") and entry.block_rows == 25
    assert entry.layers("hidden") == [0, 1] and entry.layers("ffn") == [0, 1]
    assert entry.metadata["model"]["dtype"] == "float32"
    assert {r["layer"] for r in results["probes"]} == {0, 1}
    assert any("no Embedding or own-pooling reference" in note for note in results["notes"])
