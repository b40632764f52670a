"""Tasks are plug-ins found in one registry, and SQLite is reached only through the database
package (docs/evolve.md, Tasks and The database)."""

import ast
from pathlib import Path

import pytest
from _evolve_helpers import tiny_cfg

from evolve import config
from evolve.patch import check_result
from evolve.screen import screen
from evolve.tasks import TASKS, CFRTask, PSROTask, make_task
from gtlearn.core.errors import GtlearnError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["cfr", "psro"])
def test_each_task_is_registered_with_a_valid_seed(name):
    task = TASKS[name].cls()
    assert task.name == name
    screen(task.seed_program)
    check_result(task.seed_program, task.seed_program, task.functions)
    assert task.child_driver is not None and task.baseline_name


def test_unknown_task_is_a_one_line_error():
    with pytest.raises(GtlearnError, match="run.task must be one of cfr, psro, got 'cfrr'"):
        config.validate({"run": {"task": "cfrr"}})


def test_task_config_comes_from_the_cascade_section():
    cfg = config.validate({"run": {"task": "psro"}, "cascade": {"auc_weight": 0.25, "baseline_iterations": 77}})
    task = make_task(cfg)
    assert isinstance(task, PSROTask)
    assert {(s["auc_weight"], s["baseline_iterations"]) for s in task.stages(cfg)} == {(0.25, 77)}
    assert isinstance(make_task(tiny_cfg()), CFRTask)


def test_cfr_stages_hold_checkpoints_and_heldout_seeds():
    stages = make_task(tiny_cfg()).stages(tiny_cfg())
    assert [s["stage"] for s in stages] == [0, 1, 2, 3]
    assert stages[1]["games"] == [{"game": "kuhn_poker", "checkpoints": [20]}]
    assert stages[2]["games"] == [{"game": "kuhn_poker", "checkpoints": [10, 60]}]
    assert stages[3]["games"][0]["checkpoints"] == [60, 120] and stages[3]["seeds"] == [1, 2]


def test_no_sql_outside_the_database_package():
    offenders = []
    for path in sorted((ROOT / "evolve").rglob("*.py")):
        if path.parent.name == "db" and path.parent.parent.name == "evolve":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "executescript", "executemany", "conn"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if "sqlite3" in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports sqlite3")
    assert not offenders, "\n".join(offenders)
