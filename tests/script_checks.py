"""Checks of a reproduction script's bad-input behaviour, shared by the script tests: one line on
stderr, the expected exit code, no traceback, nothing written."""

from pathlib import Path


def assert_one_line_error(out, message: str, output_dir: Path, returncode: int = 2) -> None:
    """`out` (a finished subprocess) failed with exactly one `error:` line containing `message`."""
    assert out.returncode == returncode, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert not Path(output_dir).exists()


def assert_missing_data_error(out, output_dir: Path) -> None:
    """The script stopped on a data folder without mnist/, before writing anything."""
    assert_one_line_error(out, "error: no MNIST folder", output_dir, returncode=1)
    assert out.stderr.strip().splitlines()[-1].startswith("error: no MNIST folder")
