import os

import pytest

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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: the tiny test models' matmuls gain nothing from intra-op
    threads, whose synchronization is costly on a loaded machine (docs/trainers.md, Running)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
