"""The SGD momentum probe's trial table (issue 14): variants, shared packs, the committed grid's
ids at momentum 0, and its Markdown table."""

from pathlib import Path

import pandas as pd

from ebgan_tf.experiments import mnist_grid
from ebgan_tf.packed import pack_key
from ebgan_tf.tools import sgd_momentum_probe as probe

REPO = Path(__file__).resolve().parents[1]


def test_the_variants_of_a_cell_share_a_pack_and_differ_only_in_momentum():
    rows = probe.probe_trials(["g3d2-sgd-sgd-1e-2"], [400, 2000], [0, 1])
    assert len(rows) == 2 * 2 * len(probe.VARIANTS) == len({t.trial_id for _, _, t in rows})
    first = [t.config for _, _, t in rows[:len(probe.VARIANTS)]]
    assert len({pack_key(c) for c in first}) == 1
    assert [(c.sgd_momentum, c.sgd_dampening) for c in first] == list(probe.VARIANTS.values())
    assert {(c.train_steps, c.seed) for c in first} == {(400, 0)}


def test_momentum_0_at_400_steps_is_the_committed_cpu_grid_trial():
    committed = set(pd.read_csv(REPO / "reports" / "fig2" / "results.csv")["trial_id"])
    grid = {t.trial_id for t in mnist_grid.grid_trials("cpu")}
    for cell in set(probe.CELLS) - {"fig4a"}:  # Fig. 4(a) is wider than the cpu grid.
        ids = {t.trial_id: v for _, v, t in probe.probe_trials([cell], [400], [0])}
        assert [v for i, v in ids.items() if i in committed and i in grid] == ["m0"], cell


def test_markdown_table_places_each_result_in_its_column():
    rows = probe.probe_trials(["fig4a"], [400], [0, 1])
    results = {rows[0][2].trial_id: {"status": "ok", "log_is": 0.01234, "frechet_distance": 150.4},
               rows[1][2].trial_id: {"status": "diverged"},
               rows[2][2].trial_id: {"status": "ok", "log_is": 7.2e-12, "frechet_distance": 204}}
    lines = probe.markdown_table(rows, results).splitlines()
    assert lines[0] == "| cell | variant | 400 steps, seed 0 | 400 steps, seed 1 |"
    assert lines[2] == "| fig4a | m0 | 0.012 / 150 | not run |"
    assert lines[3] == "| fig4a | m0.5 torch | diverged | not run |"
    assert lines[4] == "| fig4a | m0.9 torch | 7e-12 / 204 | not run |"
    assert len(lines) == 2 + len(probe.VARIANTS)


def test_a_subset_of_variants_keeps_their_ids():
    every = {v: t.trial_id for _, v, t in probe.probe_trials(["fig4a"], [2000], [0])}
    some = probe.probe_trials(["fig4a"], [2000], [0], ("m0.5 torch", "m0.9 torch"))
    assert {v: t.trial_id for _, v, t in some} == {
        v: every[v] for v in ("m0.5 torch", "m0.9 torch")}
