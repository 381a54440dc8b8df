"""docs/figures are never stale: `make figures` stamps them with the sweeps' model code, and
this test fails when the model has changed since (issue 14 item 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sim.experiments.design import ExperimentError, load_experiment
from sim.experiments.runner import code_digest, model_code
from sim.experiments.stamp import check_stamp, main, make_stamp
from sim.experiments.store import Store

ROOT = Path(__file__).resolve().parents[1]
STAMP = ROOT / "docs" / "figures" / "MODEL_CODE.json"


@pytest.mark.parametrize("stamp", [STAMP, STAMP.with_name("MODEL_CODE_POSTERIOR.json")])
def test_docs_figures_come_from_the_current_model_code(stamp):
    """Fails after any change to the model's code until `make figures` (and `make figures-posterior`)
    is run again."""
    problems = check_stamp(stamp, ROOT)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target, sweeps, files, stamp", [
    ("figures", "out/sweeps/", "FIG_FILES", "MODEL_CODE.json"),
    ("figures-posterior", "out/sweeps-posterior/", "POST_FILES", "MODEL_CODE_POSTERIOR.json")])
def test_the_makefile_stamps_every_figure_it_copies(target, sweeps, files, stamp):
    text = (ROOT / "Makefile").read_text()
    start = text.index(f"\n{target}:")
    end = text.find("\n\n", start)
    figures = text[start:end if end > 0 else len(text)]
    copied = {line.split()[-1] for line in figures.splitlines() if line.strip().startswith(f"cp {sweeps}")}
    copied |= set(re.findall(r"--(?:out|csv) (docs/figures/\S+)", figures))       # tables written there
    block = text[text.index(f"{files} :="):text.index("\n\n", text.index(f"{files} :="))]
    block = block.split("\n#")[0]
    stamped = {f"docs/figures/{name}" for name in re.findall(r"\w+\.(?:png|csv|md)", block)}
    assert copied and copied == stamped
    assert f"-m sim.experiments.stamp docs/figures/{stamp}" in figures


def _store(tmp_path: Path, name: str, code: dict[str, str]) -> Path:
    exp_file = tmp_path / f"{name}.yaml"
    exp_file.write_text(f"scenario: {ROOT / 'scenarios' / 'default.yaml'}\nseed: 1\ndays: 5\nscale: 0.01\n"
                        "axes:\n  fulltime_ratio: [0.1, 0.2]\n")
    out = tmp_path / "sweeps" / name
    with Store(out) as store:
        store.bind(load_experiment(exp_file), code)
    return out


def test_stamp_records_the_stores_code_and_catches_changes(tmp_path):
    figure = tmp_path / "curves.png"
    figure.write_bytes(b"png")
    now = _store(tmp_path, "a", model_code())
    stamp = make_stamp([now, _store(tmp_path, "b", model_code())], [figure], "make figures", tmp_path)
    assert stamp["code_digest"] == code_digest(model_code()) and set(stamp["sweeps"]) == {"a", "b"}
    assert stamp["sweeps"]["a"]["replicates"] == 1 and stamp["sweeps"]["a"]["scale"] == 0.01
    path = tmp_path / "MODEL_CODE.json"
    path.write_text(json.dumps(stamp))
    assert check_stamp(path, tmp_path) == []
    figure.write_bytes(b"another png")                        # a figure replaced after stamping
    assert any("curves.png: not the file" in p for p in check_stamp(path, tmp_path))
    old = dict(model_code(), **{"sim/model.py": "0" * 64})   # figures of other model code
    path.write_text(json.dumps(make_stamp([_store(tmp_path, "c", old)], [], "make figures", tmp_path)))
    assert any("sim/model.py changed since" in p for p in check_stamp(path, tmp_path))
    assert "no stamp" in check_stamp(tmp_path / "missing.json", tmp_path)[0]
    with pytest.raises(ExperimentError, match="other model code"):          # stores that disagree
        make_stamp([now, tmp_path / "sweeps" / "c"], [], "make figures", tmp_path)


def test_stamp_command_writes_or_refuses_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    store = _store(tmp_path, "a", model_code())
    assert main(["out/MODEL_CODE.json", str(store), "--command", "make figures FIG_SCALE=0.5"]) == 0
    assert json.loads((tmp_path / "out" / "MODEL_CODE.json").read_text())["command"] == "make figures FIG_SCALE=0.5"
    assert main(["out/other.json", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0] and not (tmp_path / "out" / "other.json").exists()
