"""Every iterative method keeps the solver contract (gtlearn/core/solver.py): N steps straight
equal N/2 steps + checkpoint + a fresh process resuming + N/2 steps, bit for bit, and the gap
record has the shared schema. Cases: tests/contract/cases_*.py."""

from __future__ import annotations

import pytest
from contract.harness import all_cases, check_case, load_cases

from gtlearn.core.solver import Solver

CASES = all_cases()


@pytest.mark.parametrize(("case_file", "case_id"), CASES, ids=[f"{p.stem[6:]}:{c}" for p, c in CASES])
def test_resume_is_exact_and_gap_is_a_record(case_file, case_id, tmp_path):
    solver = load_cases(case_file).CASES[case_id]()
    assert isinstance(solver, Solver)
    check_case(case_file, case_id, tmp_path)
