"""The batch files behind docs/RESULTS.md (bench/jobs/*.txt) are valid gmgan command lines: a typo in a --set key
or a flag would otherwise surface only when bench/run_batch.py reaches that run, possibly hours into a GPU lease."""

import importlib.util
from pathlib import Path

import pytest

from gmgan.cli import build_parser, build_train_config

BENCH = Path(__file__).parent.parent / "bench"
JOBS = sorted((BENCH / "jobs").glob("*.txt"))
_spec = importlib.util.spec_from_file_location("run_batch", BENCH / "run_batch.py")
_run_batch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_run_batch)
parse_jobs = _run_batch.parse_jobs  # the batch runner's own parser, so the test reads the files as it does


def _parse(parser, argv):
    try:
        args, unknown = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse's own error (a missing value, a bad choice)
        pytest.fail(f"{' '.join(argv)}: argparse exited {exc.code}")
    assert not unknown, f"{' '.join(argv)}: unrecognized {unknown}"
    return args


def test_there_are_job_files():
    assert JOBS, "bench/jobs/*.txt not found"


@pytest.mark.parametrize("path", JOBS, ids=lambda p: p.name)
def test_every_job_is_a_valid_gmgan_command(path, tmp_path):
    parser, _ = build_parser()
    jobs = parse_jobs(path)
    assert jobs, f"{path.name} has no jobs"
    names = [name for name, _, _ in jobs]
    assert len(names) == len(set(names)), f"{path.name}: a run name is used twice (their folders would collide)"
    for name, train, post in jobs:
        args = _parse(parser, ["train", *train, "--out", str(tmp_path / name)])
        build_train_config(args)  # unknown --set keys and invalid values raise ConfigError here
        for cmd in post:
            cmd = [c.replace("{run}", str(tmp_path / name)) for c in cmd]
            _parse(parser, [cmd[0], str(tmp_path / name), *cmd[1:]])


def test_a_misspelt_key_is_caught(tmp_path):
    """The check above can fail: a job with a --set key gmgan does not have is rejected."""
    from gmgan.config import ConfigError

    bad = tmp_path / "bad.txt"
    bad.write_text("r: --preset mnist --set train.learning_rate=1e-4\n")
    parser, _ = build_parser()
    (name, train, _), = parse_jobs(bad)
    with pytest.raises(ConfigError):
        build_train_config(_parse(parser, ["train", *train, "--out", str(tmp_path / name)]))
