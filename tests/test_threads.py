"""gmgan's OpenMP defaults (set before torch loads, unless the user chose) and train.threads."""

import os
import subprocess
import sys

import torch

from gmgan.config import make_config
from gmgan.threads import DEFAULTS, apply_defaults
from gmgan.train import Trainer


def test_defaults_apply_unless_the_user_chose():
    env = {}
    assert apply_defaults(env) == DEFAULTS and env["OMP_WAIT_POLICY"] == "PASSIVE"
    for chosen in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "100"}, {"GMGAN_THREADING": "off"}):
        env = dict(chosen)
        assert apply_defaults(env) == {} and env == chosen


def test_the_command_sets_them_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GMGAN_THREADING")}
    code = "import gmgan.__main__, os, sys; print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["PASSIVE", "True"]
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "ACTIVE"


def test_train_threads(tmp_path):
    before = torch.get_num_threads()
    try:
        cfg = make_config("toy-grid5", {"train": {"threads": 2, "steps": 1}})
        Trainer(cfg, tmp_path / "r", progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
