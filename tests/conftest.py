import os

# Tests never touch the network, and use a private tree cache so they never see stale files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GTLEARN_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "gtlearn-test"))


def pytest_terminal_summary(terminalreporter):
    """Report how many argument vectors the CLI fuzz test (tests/test_cli_fuzz.py) ran."""
    import sys

    fuzz = sys.modules.get("test_cli_fuzz")
    if fuzz is not None and fuzz.CASES_RUN:
        terminalreporter.write_line(f"CLI fuzz: {len(fuzz.CASES_RUN)} argument vectors, each exit 2 with one error line")
