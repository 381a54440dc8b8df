"""The command line's start-up and manners: `--version`; `--help` imports neither Mesa nor numpy;
the help lines of commands not named match their modules'; one progress policy (a bar on a
terminal, lines in a log, nothing with --quiet); `run` ends with the wall time and names its
directory by file; summary.json carries the git commit; `app` refuses bad input in one line."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.cli import COMMANDS, build_parser, main
from sim.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("mesa", "numpy", "pandas", "scipy", "pydantic", "matplotlib", "solara")


def test_version():
    r = subprocess.run([sys.executable, "-m", "sim", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"gridsim {sim.__version__}"


def test_help_imports_nothing_heavy():
    """What `gridsim --help` runs, in a fresh interpreter: no Mesa, numpy, pandas … loaded."""
    code = ("import sys\nfrom sim.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "[]", f"gridsim --help imported {lines[-1]}"
    assert all(name in r.stdout for name in COMMANDS)


def test_help_lines_match_the_commands_own():
    """The top-level help names every command with the line its own module gives it."""
    def helps(parser):
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        return {a.dest: a.help for a in sub._choices_actions}

    assert helps(build_parser(full=True)) == {name: text for name, (_, text) in COMMANDS.items()}
    assert helps(build_parser()) == helps(build_parser(full=True))


class Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_one_progress_policy():
    log = Stream(tty=False)
    with Progress(50, "town", "day", stream=log) as bar:
        for _ in range(50):
            bar.update()
    lines = log.getvalue().splitlines()
    assert bar.mode == "log" and len(lines) == 10 and "\r" not in log.getvalue()
    assert lines[0].startswith("town: day 5/50 (10 %)") and lines[-1].startswith("town: day 50/50 (100 %)")

    term = Stream(tty=True)
    with Progress(50, "town", "day", stream=term) as bar:
        bar.update(50)
    assert bar.mode == "bar" and "\r" in term.getvalue()        # tqdm's bar, redrawn in place

    quiet = Stream(tty=False)
    with Progress(50, "town", "day", stream=quiet, quiet=True) as bar:
        bar.update(50)
    assert bar.mode == "off" and quiet.getvalue() == ""


def test_run_logs_progress_ends_with_wall_time_and_records_the_commit(tmp_path, monkeypatch, capsys):
    scenario = tmp_path / "mytown.yaml"
    scenario.write_text("extends: " + str(ROOT / "scenarios" / "default.yaml") + "\nname: default\nwarmup_days: 5\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(scenario), "--days", "10", "--scale", "0.02"]) == 0
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1]
    assert " s wall (" in last and last.endswith("out/mytown/")       # wall time, and the file's stem, not the name
    assert (tmp_path / "out" / "mytown" / "summary.json").exists() and not (tmp_path / "out" / "default").exists()
    progress = err.strip().splitlines()                                   # captured: not a terminal, so lines
    assert progress and all(line.startswith("default: day ") for line in progress) and "15/15" in progress[-1]
    versions = json.loads((tmp_path / "out" / "mytown" / "summary.json").read_text())["versions"]
    git = shutil.which("git")
    head = subprocess.run([git, "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True) if git else None
    if head is None or head.returncode != 0:
        pytest.skip("not a git checkout: no commit to record")
    assert versions["git_commit"].removesuffix("-dirty") == head.stdout.strip()


def test_quiet_run_prints_no_progress(tmp_path, capsys):
    assert main(["run", str(ROOT / "scenarios" / "default.yaml"), "--days", "3", "--scale", "0.02", "--set",
                 "warmup_days=2", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("args, expected", [
    (["app", "nowhere.yaml"], "nowhere.yaml"),
    (["app", "--residents", "10"], "--residents 10"),
    (["app", "--port", "70000"], "--port 70000"),
])
def test_app_refuses_bad_input_in_one_line(args, expected, capsys):
    pytest.importorskip("solara", reason="needs the app extra")
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]
