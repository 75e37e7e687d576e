"""Raw torch.ops.hyperkit calls that used to crash the process or read out of bounds
(issue 22, item 1) now raise a Python exception naming what is wrong. The calls run in a
subprocess, so that a regression shows as a signal instead of killing the test run."""

import subprocess
import sys

import pytest

CASES = {
    # per-plane output count taken from window/stride instead of the grad: SIGSEGV
    "minmax_backward_grad_smaller_than_window_says":
        ("g=torch.rand(1,1,1,1); i=torch.zeros(1,1,1,1,dtype=torch.int64); "
         "T.minmax_pool2d_backward(g,g,i,i,2048,2048,[1,1],[1,1])", "ValueError",
         "pools to (N, C, 2048, 2048)"),
    # zero stride: SIGFPE
    "minmax_backward_zero_stride":
        ("g=torch.rand(1,1,4,4); i=torch.zeros(1,1,4,4,dtype=torch.int64); "
         "T.minmax_pool2d_backward(g,g,i,i,8,8,[2,2],[0,0])", "ValueError",
         "stride must be two integers >= 1"),
    # float64 grad_max with float32 grad_min: read out of bounds
    "minmax_backward_mixed_dtypes":
        ("g=torch.rand(1,1,1,1); i=torch.zeros(1,1,1,1,dtype=torch.int64); "
         "T.minmax_pool2d_backward(g.double(),g,i,i,2,2,[2,2],[2,2])", "TypeError",
         "share one dtype"),
    "grid_backward_mixed_dtypes":
        ("g=torch.rand(1,1,1,1); i=torch.zeros(1,1,1,1,dtype=torch.int64); "
         "T.grid_minmax_pool_backward(g.double(),g,i,i,4,4,[2,2],[0],[0])", "TypeError",
         "share one dtype"),
    # ys + ph overflowed int64 and passed the bounds check
    "gather_position_overflow":
        ("hyperkit.gather_patches(np.zeros((20,20,3),np.float32), 5, "
         "positions=([0],[2**63-3],[0]))", "ValueError", "does not fit a 5x5 window"),
    # KeyError 'pop from an empty set'
    "gather_no_images":
        ("z=torch.zeros(1,dtype=torch.int64); T.gather_patches([], [2,2], z, z, z)",
         "ValueError", "images is empty"),
    # blamed NaN/Inf pixels
    "lcn_underflowing_sigma":
        ("hyperkit.lcn(np.random.rand(20,20,3).astype(np.float32), sigma=1e-300)",
         "ValueError", "sigma must be at least"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_raises_instead_of_crashing(name):
    call, exc, words = CASES[name]
    code = ("import numpy as np, torch, hyperkit, hyperkit.ops\n"
            "T = torch.ops.hyperkit\n"
            f"try:\n    {call}\n    print('NO ERROR')\n"
            "except Exception as e:\n    print(type(e).__name__, '|', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"died with {r.returncode}: {r.stderr[-400:]}"
    got = r.stdout.strip().splitlines()[-1]
    assert got.startswith(exc + " |") and words in got, got
