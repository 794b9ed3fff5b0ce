"""The front doors: the console script, python -m, exit codes, and a start-up that stays light."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from kars_actions import __version__
from kars_actions.cli import COMMANDS, cli


def test_version_through_click_runner() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"kars-actions, version {__version__}"


def test_help_lists_every_step() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["deploy-everything"])
    assert result.exit_code == 2


def test_every_registered_command_module_exposes_a_click_command() -> None:
    import importlib

    import click

    for name, (module, _help) in COMMANDS.items():
        command = importlib.import_module(module).command
        assert isinstance(command, click.Command), name


def _modules_loaded_by(args: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        "from kars_actions.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_version_and_help_do_not_import_heavy_libraries() -> None:
    for args in (["--version"], ["--help"]):
        loaded = _modules_loaded_by(args)
        assert not {"github", "httpx", "jsonschema", "yaml"} & loaded, args


def test_python_dash_m_and_exit_code_for_usage_errors() -> None:
    ok = subprocess.run([sys.executable, "-m", "kars_actions", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and __version__ in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "kars_actions", "--no-such-flag"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_error_edge_turns_unexpected_exceptions_into_one_redacted_line() -> None:
    import io

    import pytest

    from kars_actions.cli._common import run
    from kars_actions.core import gha
    from kars_actions.core.report import TextReporter

    gha.SECRETS.register("leaky-token-value")
    err = io.StringIO()

    def explode() -> object:
        raise RuntimeError("request with leaky-token-value failed")

    with pytest.raises(SystemExit) as info:
        run(TextReporter(out=io.StringIO(), err=err), explode)  # type: ignore[arg-type]
    assert info.value.code == 1
    text = err.getvalue()
    assert "leaky-token-value" not in text and "Traceback" not in text
    assert text.startswith("error: internal error: RuntimeError: request with *** failed")


def test_error_edge_maps_kars_errors_to_their_exit_codes() -> None:
    import io

    import pytest

    from kars_actions.cli._common import run
    from kars_actions.core.errors import AuthError, ConfigError
    from kars_actions.core.report import TextReporter

    for error, code in ((ConfigError("bad config"), 2), (AuthError("no", service="Railway"), 3)):

        def fail(error: Exception = error) -> object:
            raise error

        err = io.StringIO()
        with pytest.raises(SystemExit) as info:
            run(TextReporter(out=io.StringIO(), err=err), fail)  # type: ignore[arg-type]
        assert info.value.code == code
