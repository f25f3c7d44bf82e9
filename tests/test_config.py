"""One source of truth: every option's default is its config's, and a bad value is refused in
the config, the same way from the CLI, a script or torchrun."""

from __future__ import annotations

import math
from dataclasses import MISSING, fields

import pytest
import typer

from filmcolor.cli import app
from filmcolor.config import (
    COLUMNS,
    PER_PAGE,
    ColorizeConfig,
    ConfigError,
    FramesConfig,
    KeyframesConfig,
    ShotsConfig,
)
from filmcolor.errors import UserError
from filmcolor.train.config import TrainConfig

# command -> the config its parameters build; parameters that are no field are listed apart
CONFIGS = {
    "colorize": ColorizeConfig,
    "frames": FramesConfig,
    "shots": ShotsConfig,
    "preview": ColorizeConfig,
    "train": TrainConfig,
    "keyframes": KeyframesConfig,
}
NOT_FIELDS = {  # parameters of a command that are not fields of its config, and their default
    "colorize": {"videos": None},
    "shots": {"csv_path": None},
    "preview": {"per_page": PER_PAGE, "columns": COLUMNS, "csv_path": None},
    "train": {"resume": None, "folder_weights": ()},  # FOLDER=FACTOR strings -> a dict
}


def _config_default(config: type, name: str):
    field = next(f for f in fields(config) if f.name == name)
    if field.default_factory is not MISSING:
        return field.default_factory()
    return None if field.default is MISSING else field.default


def _params():
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        for param in command.params:
            if param.name != "help":
                yield name, param


@pytest.mark.parametrize("command", sorted(CONFIGS))
def test_every_cli_default_is_the_configs(command):
    group = typer.main.get_command(app)
    config = CONFIGS[command]
    names = {f.name for f in fields(config)}
    checked = 0
    for param in group.commands[command].params:
        if param.name == "help":
            continue
        cli_default = param.default
        if param.name in NOT_FIELDS.get(command, {}):
            expected = NOT_FIELDS[command][param.name]
        else:
            assert param.name in names, f"{command} --{param.name} is no field of {config}"
            expected = _config_default(config, param.name)
        if param.name == "out":  # None: the config names the run folder by the time
            assert cli_default is None and TrainConfig().out.startswith("runs/")
            continue
        if isinstance(expected, list | tuple) or isinstance(cli_default, list | tuple):
            assert list(cli_default or ()) == list(expected or ()), (command, param.name)
        else:
            assert cli_default == expected, (command, param.name, cli_default, expected)
        checked += 1
    assert checked >= 4


def test_every_command_is_covered():
    group = typer.main.get_command(app)
    assert set(group.commands) == set(CONFIGS) | {"info"}
    assert not group.commands["info"].params


def test_no_help_text_repeats_a_default_that_click_shows():
    """A default shown by Click ([default: x]) is not also written in the help text."""
    shown = 0
    for command, param in _params():
        if param.param_type_name == "option" and param.show_default and param.default is not None:
            assert "[default:" not in (param.help or ""), (command, param.name)
            shown += 1
    assert shown > 30


@pytest.mark.parametrize(
    "config, options",
    [
        (ColorizeConfig, {"temperature": 0.0}),
        (ColorizeConfig, {"temperature": -1.0}),
        (ColorizeConfig, {"temperature": math.nan}),
        (ColorizeConfig, {"codec": "h264"}),
        (ColorizeConfig, {"codec": "ffv1", "crf": 18}),
        (ColorizeConfig, {"detector": "contents"}),
        (ColorizeConfig, {"temporal": 1.0}),
        (ColorizeConfig, {"batch_size": 0}),
        (ColorizeConfig, {"device": "tpu"}),
        (ColorizeConfig, {"precision": "fp8"}),
        (FramesConfig, {"temperature": 0.0}),
        (FramesConfig, {"render_size": -1}),
        (FramesConfig, {"render_size": 8}),  # accepted before: the network gave gray
        (ColorizeConfig, {"render_size": 31}),  # a traceback in the motion flow before
        (ShotsConfig, {"min_shot_frames": 0}),
    ],
)
def test_a_bad_value_is_a_user_error_in_the_library(tmp_path, config, options):
    args = (tmp_path,) if config is ShotsConfig else (tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError) as e:
        config(*args, **options)
    assert isinstance(e.value, UserError)
    name = next(iter(options))
    assert ("--" + name.replace("_", "-")).removesuffix("-frames") in str(e.value)


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "adamw"},
        {"stage": "colour"},
        {"screen_rule": "chromma"},
        {"preset": "compcat"},
        {"color_head": "bin"},
        {"lr": math.nan},
        {"val_fraction": 1.5},
        {"batch_size": 0},
        {"folder_weights": {"photos": -1.0}},
    ],
)
def test_train_config_checks_its_own_fields(options):
    with pytest.raises(ConfigError):
        TrainConfig(data="photos", **options)


def test_the_library_screens_as_the_cli_does():
    assert TrainConfig().screen_rule == "chroma"
