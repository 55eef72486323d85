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
