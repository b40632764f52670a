"""What every CLI fuzz test asserts of one bad argument vector (tests/test_cli_fuzz*.py)."""

from __future__ import annotations

from gtlearn.cli import main


def assert_one_error_line(argv: list[str], cases_run: list[list[str]], capsys) -> None:
    """Run ``gtlearn argv``: exit status 2, exactly one ``error:`` line, no traceback. The vector
    is appended to ``cases_run`` (counted in the session summary, tests/conftest.py)."""
    status = main(argv)
    captured = capsys.readouterr()
    cases_run.append(argv)
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert status == 2, (argv, captured.err[-2000:])
    assert len(errors) == 1, (argv, captured.err[-2000:])
    assert "Traceback" not in captured.err + captured.out, argv
