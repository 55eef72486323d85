"""The ``voxsep`` command line: options and positionals in any order, help, error exit codes."""

from __future__ import annotations

import itertools

import pytest

from voxsep import cli


def _subparsers(parser):
    return next(a for a in parser._actions if a.nargs == "A...").choices


def parse(argv: list[str]):
    return cli.build_parser().parse_args(argv)


def test_train_accepts_options_and_overrides_in_any_order():
    parts = [["recipe.yaml"], ["optim.lr=5e-4", "data.segment=3"], ["--exp-dir", "exp/x"], ["--resume"]]
    seen = set()
    for order in itertools.permutations(range(1, 4)):
        argv = ["train", *parts[0], *itertools.chain.from_iterable(parts[i] for i in order)]
        args = parse(argv)
        seen.add((args.recipe, tuple(args.overrides), args.exp_dir, args.resume))
    assert seen == {("recipe.yaml", ("optim.lr=5e-4", "data.segment=3"), "exp/x", True)}
    # The order that failed with "unrecognized arguments" before intermixed parsing:
    args = parse(["train", "r.yaml", "--exp-dir", "X", "model.args.hidden=8", "--init-from", "a.pt", "lr=1"])
    assert args.overrides == ["model.args.hidden=8", "lr=1"] and args.init_from == "a.pt"


def test_separate_inputs_between_options():
    args = parse(["separate", "a.wav", "--out", "o", "b.wav", "--force", "folder/", "--model", "m.pt"])
    assert args.inputs == ["a.wav", "b.wav", "folder/"]
    assert (str(args.out), args.model, args.force) == ("o", "m.pt", True)


def test_nested_subcommands_intermix_too():
    preparers = _subparsers(_subparsers(cli.build_parser())["prepare"])
    assert preparers and all(isinstance(p, cli.IntermixedParser) for p in preparers.values())
    a = parse(["prepare", "check", "--n-src", "2", "root", "--decode"])
    b = parse(["prepare", "check", "root", "--decode", "--n-src", "2"])
    a.func = b.func = None  # closures from two separate parsers
    assert vars(a) == vars(b) and (str(a.path), a.n_src, a.decode) == ("root", 2, True)


def test_every_subcommand_parser_intermixes_and_has_examples():
    commands = _subparsers(cli.build_parser())
    assert set(commands) == set(cli.COMMANDS)
    for name, parser in commands.items():
        assert isinstance(parser, cli.IntermixedParser), name
        assert "example" in (parser.epilog or "").lower(), f"voxsep {name} --help has no examples"


def test_errors_keep_exit_codes(capsys):
    with pytest.raises(SystemExit) as usage_error:
        parse(["train", "r.yaml", "--exp-dir", "X", "--no-such-option"])
    assert usage_error.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a required option is still required, in any order
        parse(["train", "r.yaml", "lr=1"])
    with pytest.raises(SystemExit):  # mutually exclusive options are still exclusive
        parse(["train", "r.yaml", "--resume", "lr=1", "--overwrite", "--exp-dir", "X"])
    # A user error inside a command: one line on stderr naming the file, exit code 2.
    assert cli.main(["train", "missing-recipe.yaml", "lr=1", "--exp-dir", "unused"]) == 2
    assert "missing-recipe.yaml" in capsys.readouterr().err


def test_bare_voxsep_prints_the_help_and_exits_0(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: voxsep") and "separate" in out and "evaluate" in out


def test_missing_corpus_names_the_data_key_and_the_prepare_command(tmp_path, monkeypatch, capsys):
    from voxsep.commands.train import prepare_advice

    monkeypatch.chdir(tmp_path)
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    assert cli.main(["train", str(root / "recipes" / "offline" / "conv_tasnet_small.yaml"),
                     "--exp-dir", str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voxsep train: error: data.pool: data/offline/wav8k/utterances_train.csv not found")
    assert "'voxsep prepare offline data/offline'" in err and "data.pool=PATH" in err
    assert "'voxsep prepare librimix'" in prepare_advice("data/Libri2Mix/wav8k/min/metadata/x.csv")
    assert "'voxsep prepare wsj0mix'" in prepare_advice("/d/wsj0-2mix/wav8k/min/tr")
    assert prepare_advice("elsewhere/x.csv").startswith("build the corpus with 'voxsep prepare'")


def test_evaluate_accepts_the_bundled_model_name(tmp_path, monkeypatch, capsys):
    from voxsep import pretrained

    def scripted(model, data, out, **kwargs):  # stands in for the scoring: what did it get?
        raise ValueError(f"scored {model.model_name} from {kwargs['model_path']}")

    monkeypatch.setattr("voxsep.evaluate.evaluate", scripted)
    (tmp_path / "test.csv").write_text("")
    # as separate and export: the name resolves to the bundled checkpoint
    assert cli.main(["evaluate", "--model", pretrained.DEFAULT_MODEL, str(tmp_path / "test.csv"),
                     "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert f"scored conv_tasnet from {pretrained.pretrained_path()}" in err


def test_prepare_errors_have_the_prefix_of_every_command(capsys):
    assert cli.main(["prepare", "offline"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("voxsep prepare: error: give the output folder") and "error" not in captured.out
