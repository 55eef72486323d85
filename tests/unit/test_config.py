"""Config: YAML round trip, overrides with type conversion, clear errors for bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from voxsep.config import Config, config_to_dict, dump_config, load_config, model_kwargs, save_config

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_defaults_and_round_trip(tmp_path):
    config = load_config(None)
    assert isinstance(config, Config) and config.optim.lr == 1e-3 and config.data.segment == 4.0
    config = load_config(None, ["model.args.hidden=64", "data.speed_perturb=[0.9, 1.1]"])
    path = save_config(config, tmp_path / "exp" / "config.yaml")
    assert load_config(path) == config
    assert yaml.safe_load(path.read_text()) == config_to_dict(config)
    assert not list(path.parent.glob(".*tmp"))


def test_overrides_convert_to_the_field_types(tmp_path):
    recipe = write(tmp_path, "optim: {lr: 1.0e-3}\ntrain: {epochs: 5}\n")
    config = load_config(recipe, [
        "optim.lr=5e-4",          # YAML 1.1 would read this as a string
        "data.segment=3",         # int -> float field
        "data.valid_segment=null",
        "train.epochs=7",
        "train.precision=bf16",
        "log.tensorboard=false",
        "optim.betas=[0.8, 0.99]",
        "model.args.causal=true",
        "model.args.hidden=256",
    ])
    assert config.optim.lr == 5e-4 and isinstance(config.optim.lr, float)
    assert config.data.segment == 3.0 and isinstance(config.data.segment, float)
    assert config.data.valid_segment is None
    assert config.train.epochs == 7 and config.train.precision == "bf16"
    assert config.log.tensorboard is False and config.optim.betas == [0.8, 0.99]
    assert config.model.args == {"causal": True, "hidden": 256}
    assert model_kwargs(config)["n_src"] == 2 and model_kwargs(config)["hidden"] == 256


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1e-3", r"'lrr' \(did you mean 'lr'\?\); valid keys: name, lr,"),
        ("optimizer.lr=1e-3", r"section 'optimizer' \(did you mean 'optim'\?\)"),
        ("model.args.hiden=3", r"'hiden' \(did you mean 'hidden'\?\)"),
        ("train.epochs=1.5", "must be an integer"),
        ("train.epochs=ten", "must be an integer"),
        ("data.segment=abc", "must be a number"),
        ("log.tensorboard=maybe", "must be true or false"),
        ("train.precision=fp8", "choose one of fp32, bf16, fp16"),
        ("loss.kind=sdr", "choose one of si_snr, snr"),
        ("optim.lr", "not of the form section.key=value"),
        ("schedule.factor=2", r"must be in \(0, 1\]"),
        ("data.batch_size=0", "must be > 0"),
        ("model.args.n_src=3", "disagrees with data.n_src=2"),
    ],
)
def test_bad_overrides_are_clear_errors(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, [override])


def test_bad_recipe_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="recipe not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match=r"recipe.yaml: unknown config key in section 'train': 'epoch' \(did you mean 'epochs'\?\)"):
        load_config(write(tmp_path, "train:\n  epoch: 3\n"))
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [unclosed\n"))
    with pytest.raises(ValueError, match="unknown model 'convtasnet'"):
        load_config(write(tmp_path, "model: {name: convtasnet}\n"))
    # YAML tags that would build Python objects are refused by safe_load
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(write(tmp_path, "train: !!python/object/apply:os.system ['true']\n"))
    with pytest.raises(ValueError, match="whole utterances"):
        load_config(None, ["data.segment=null"])


def test_dump_is_plain_yaml():
    text = dump_config(load_config(None))
    assert "!!" not in text and text.startswith("data:")


@pytest.mark.skipif(not RECIPES.is_dir(), reason="recipes/ not present")
@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*/*.yaml")) if RECIPES.is_dir() else [], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_bundled_recipe_loads_and_states_its_expected_score(recipe):
    config = load_config(recipe)
    from voxsep import models

    models.build(config.model.name, **model_kwargs(config))  # the arguments build a model
    header = recipe.read_text().split("\n\n")[0]
    lower = header.lower()
    states_score = "dB" in header or "not measured" in lower or "no published" in lower
    assert "expected" in lower and states_score, f"{recipe}: header must state the expected score (dB) and its source"


def test_n_src_is_a_number_or_a_range(tmp_path):
    from voxsep.config import model_n_src, n_src_range, variable_n_src

    config = load_config(None, ["data.n_src=[1, 3]", "loss.kind=si_snr_var", "loss.snr_max=30"])
    assert config.data.n_src == [1, 3] and n_src_range(config.data) == (1, 3)
    assert model_n_src(config.data) == 3 and variable_n_src(config.data)
    assert model_kwargs(config)["n_src"] == 3
    path = save_config(config, tmp_path / "config.yaml")
    assert load_config(path) == config
    fixed = load_config(None, ["data.n_src=3"])
    assert fixed.data.n_src == 3 and not variable_n_src(fixed.data)
    assert load_config(write(tmp_path, "data: {n_src: [2, 2]}\n")).data.n_src == [2, 2]
    several = load_config(None, ["data.train=[a.csv, b.csv]", "data.valid=c.csv"])
    assert several.data.train == ["a.csv", "b.csv"] and several.data.valid == "c.csv"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.n_src=[1, 3]"], "cannot score; use loss.kind=si_snr_var"),
        (["data.n_src=[1, 3]", "loss.kind=snr"], "use loss.kind=snr_var"),
        (["data.n_src=[1, 3]", "loss.kind=si_snr_var"], "needs loss.snr_max"),
        (["data.n_src=[3, 1]", "loss.kind=si_snr_var", "loss.snr_max=30"], "1 <= low <= high"),
        (["data.n_src=[0, 2]", "loss.kind=si_snr_var", "loss.snr_max=30"], "1 <= low <= high"),
        (["data.n_src=[1, 2, 3]", "loss.kind=si_snr_var", "loss.snr_max=30"], "1 <= low <= high"),
        (["data.n_src=0"], "must be > 0"),
        (["data.n_src=two"], "must be an integer"),
        (["data.n_src=[1, 3]", "loss.kind=si_snr_var", "loss.snr_max=30", "model.args.n_src=2"],
         "disagrees with data.n_src=3"),
        (["data.kind=dynamic", "data.n_src=[1, 2]", "loss.kind=si_snr_var", "loss.snr_max=30",
          "data.n_src_weights=[1, 2, 3]"], "one non-negative weight per count 1..2"),
        (["data.kind=dynamic", "data.n_src=[1, 2]", "loss.kind=si_snr_var", "loss.snr_max=30",
          "data.n_src_weights=[-1, 2]"], "one non-negative weight per count"),
        (["data.kind=dynamic", "data.n_src=[1, 2]", "loss.kind=si_snr_var", "loss.snr_max=30",
          "data.n_src_weights=[0, 0]"], "not all zero"),
        (["data.kind=dynamic", "data.n_src_weights=[1, 2]"], "needs data.kind=dynamic and a range"),
        (["data.kind=manifest", "data.n_src=[1, 2]", "loss.kind=si_snr_var", "loss.snr_max=30",
          "data.n_src_weights=[1, 2]"], "needs data.kind=dynamic and a range"),
    ],
)
def test_bad_n_src_ranges_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, overrides)


def test_the_1to2_recipe_fine_tunes_the_bundled_architecture():
    variable = load_config(RECIPES / "offline" / "conv_tasnet_bundled_1to2.yaml")
    bundled = load_config(RECIPES / "offline" / "conv_tasnet_bundled.yaml")
    assert variable.data.n_src == [1, 2] and variable.loss.kind == "si_snr_var" and variable.loss.snr_max == 30
    assert variable.model == bundled.model and model_kwargs(variable) == model_kwargs(bundled)
    assert [Path(v).parent.name + "/" + Path(v).name for v in variable.data.valid] == [
        "1speaker/valid_real.csv", "2speakers/valid_real.csv"], "one- and two-talker held-out human voices"
    assert variable.train.max_valid_batches == 0, "a cap would read the first manifest only"
    assert variable.data.pool == bundled.data.pool
