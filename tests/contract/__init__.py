"""Cases of the solver-contract test (tests/test_contract.py), one file per family.

Each ``cases_<family>.py`` defines ``CASES``: id -> a module-level function that builds a fresh,
small solver; optionally ``STEPS``: id -> an even step count (default 6), and
``comparable(case_id, state) -> state`` to drop what the wall clock wrote into a state dict.
"""
