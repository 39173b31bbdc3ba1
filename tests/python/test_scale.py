"""Scale: a loss over more than 2**31 elements, proving 64-bit indexing in the core.

No 8 GB allocation: input and target are broadcast views (stride 0) of small arrays, which
the core reads through its strided block gather. The target varies by row and the input by
column, so an index truncated to 32 bits (rows revisited or skipped, a wrong element count)
changes the result; it is compared with the closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastloss.functional as F

ROWS, COLS = 2**15 + 8, 2**16  # 2**31 + 2**19 elements


@pytest.mark.slow
def test_mse_over_more_than_2_31_elements():
    cols = np.linspace(-1.0, 1.0, COLS)
    rows = np.arange(ROWS) * 1e-4
    input = np.broadcast_to(cols.astype(np.float32), (ROWS, COLS))
    target = np.broadcast_to(rows.astype(np.float32)[:, None], (ROWS, COLS))
    assert input.size > 2**31
    x = cols.astype(np.float32).astype(np.float64)
    t = rows.astype(np.float32).astype(np.float64)
    # sum_{r,c} (x_c - t_r)^2 = R sum x^2 - 2 sum t sum x + C sum t^2
    expected = ROWS * np.sum(x * x) - 2 * np.sum(t) * np.sum(x) + COLS * np.sum(t * t)
    total = F.mse_loss(input, target, reduction="sum")
    np.testing.assert_allclose(float(total), expected, rtol=1e-6)
    mean = F.mse_loss(input, target, reduction="mean")
    np.testing.assert_allclose(float(mean), expected / (ROWS * COLS), rtol=1e-6)
