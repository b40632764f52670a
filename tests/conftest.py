import os

# Tests never touch the network, and use a private tree cache so they never see stale files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GTLEARN_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "gtlearn-test"))


def pytest_terminal_summary(terminalreporter):
    """Report how many argument vectors the CLI fuzz tests (tests/test_cli_fuzz*.py) ran."""
    import sys

    cases = [case for name in ("test_cli_fuzz", "test_cli_fuzz_alignment", "test_cli_fuzz_evolve") if name in sys.modules
             for case in getattr(sys.modules[name], "CASES_RUN", [])]
    if cases:
        terminalreporter.write_line(f"CLI fuzz: {len(cases)} argument vectors, each exit 2 with one error line")
