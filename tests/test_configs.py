"""The configs: Table 1 and the presets, validation, stable ids, every setting's declared source,
and that reading them needs no TensorFlow."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ebgan_tf.configs import mlp as config
from ebgan_tf.configs.adversarial import AdversarialConfig
from ebgan_tf.configs.conv import ConvConfig
from ebgan_tf.configs.ladder import LadderConfig
from ebgan_tf.configs.scales import Scale, rows_every
from ebgan_tf.configs.settings import SOURCES, settings_rows, stable_id

REPO = Path(__file__).resolve().parents[1]


def test_table1_grid_sizes_and_restrictions():
    ebgan = list(config.table1_grid("ebgan"))
    gan = list(config.table1_grid("gan"))
    assert len(ebgan) == 512 and len(gan) == 6144 and len(list(config.table1_grid("ebgan_pt"))) == 512
    assert {(c.optim_d, c.optim_g, c.lr) for c in ebgan} == {("adam", "adam", 1e-3)}
    assert {c.lr for c in gan} == {1e-2, 1e-3, 1e-4}
    assert len({c.trial_id for c in ebgan + gan}) == 512 + 6144
    assert all(c.margin == 10.0 for c in ebgan)


def test_trial_id_is_stable_and_sensitive_to_every_setting():
    cfg = config.preset("fig9")
    assert cfg.trial_id == config.preset("fig9").trial_id
    assert cfg.trial_id != cfg.replace(seed=1).trial_id
    assert cfg.trial_id != cfg.replace(energy_reduction="mse").trial_id
    assert cfg.trial_id != cfg.replace(sgd_dampening="torch").trial_id


def test_a_setting_added_later_is_out_of_ids_at_its_default_only():
    # sgd_dampening came after the committed reports: at its default the id payload is the one
    # those runs hashed; at any other value it is hashed. config.json (to_dict) always holds it.
    cfg = config.preset("fig4_gan", sgd_momentum=0.9)
    assert "sgd_dampening" not in cfg.id_dict() and "sgd_momentum" in cfg.id_dict()
    assert cfg.to_dict()["sgd_dampening"] == "keras"
    torch = cfg.replace(sgd_dampening="torch")
    assert torch.id_dict()["sgd_dampening"] == "torch"
    for c in (cfg, torch):
        assert config.MLPConfig(**c.id_dict()) == c == config.MLPConfig(**c.to_dict())
    with pytest.raises(ValueError, match="sgd_dampening"):
        cfg.replace(sgd_dampening="pytorch")


def test_presets_and_effective_pt_weight():
    assert config.preset("fig4_ebgan_pt").effective_pt_weight == 0.1
    assert config.preset("fig4_ebgan").effective_pt_weight == 0.0
    assert config.preset("fig4_gan").paper_settings() == {
        "nLayerG": 5, "nLayerD": 2, "sizeG": 1600, "sizeD": 1024, "dropoutD": False,
        "optimD": "sgd", "optimG": "sgd", "lr": 0.01}
    with pytest.raises(ValueError, match="unknown preset"):
        config.preset("fig99")


@pytest.mark.parametrize("bad", [dict(kind="wgan"), dict(optim_d="rmsprop"), dict(margin=-1.0),
                                 dict(kind="ebgan", n_layer_d=1)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        config.MLPConfig(**bad)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.MLPConfig().lr = 0.1




def test_the_cpu_grid_keeps_the_trial_ids_of_the_committed_report():
    # A refactor must not re-run committed trials: the ids are a hash of every setting.
    from ebgan_tf.experiments import mnist_grid

    committed = pd.read_csv(REPO / "reports" / "fig2" / "results.csv")
    seeds = sorted(committed["seed"].unique())
    assert seeds == list(range(len(seeds)))
    grid = mnist_grid.GridExperiment(mnist_grid.SCALES["cpu"], num_seeds=len(seeds))
    assert [t.trial_id for t in grid.specs()] == committed["trial_id"].tolist()


@pytest.mark.parametrize("cls", [config.MLPConfig, ConvConfig, LadderConfig])
def test_every_setting_declares_its_source_and_every_choice_its_reason(cls):
    for f in dataclasses.fields(cls):
        assert f.metadata.get("source") in SOURCES, f"{cls.__name__}.{f.name} has no source"
        if f.metadata["source"] in ("choice", "recalled"):
            assert len(f.metadata.get("why", "")) > 10, f"{cls.__name__}.{f.name} says no why"


def test_settings_rows_carry_the_values_used():
    cfg = config.preset("fig9", adam_beta1=0.9)
    rows = {r["setting"]: r for r in settings_rows(cfg, ("choice",))}
    assert rows["adam_beta1"]["value"] == 0.9 and rows["adam_beta1"]["source"] == "choice"
    assert "size_g" not in rows  # A Table 1 setting (paper), not a choice.


def test_conv_and_mlp_configs_share_the_adversarial_settings():
    shared = {f.name for f in dataclasses.fields(AdversarialConfig)}
    assert shared <= {f.name for f in dataclasses.fields(ConvConfig)}
    assert shared <= {f.name for f in dataclasses.fields(config.MLPConfig)}
    assert ConvConfig(kind="ebgan").stop_gradient_target is False  # Once missing from ConvConfig.
    with pytest.raises(ValueError, match="kind"):
        ConvConfig(kind="gan")  # The convolutional baseline is named dcgan.


def test_stable_id_hashes_the_payload_with_sorted_keys():
    assert stable_id("x", {"a": 1, "b": 2}) == stable_id("x", {"b": 2, "a": 1})
    assert stable_id("x", {"a": 1}) != stable_id("x", {"a": 2})
    assert stable_id("run", {}).startswith("run-") and len(stable_id("run", {})) == 14


def test_scale_budget_must_divide_into_rows():
    with pytest.raises(ValueError, match="multiple of log_every"):
        Scale("cpu", "", train_steps=10, batch_size=8, log_every=3)
    with pytest.raises(ValueError, match="scale"):
        Scale("huge", "", train_steps=10, batch_size=8, log_every=5)
    assert rows_every(24, 3) == 8 and rows_every(2400, 10) == 240 and rows_every(7, 2) == 7


def test_configs_import_without_tensorflow():
    code = ("import sys; import ebgan_tf.configs.mlp, ebgan_tf.configs.conv, "
            "ebgan_tf.configs.ladder, ebgan_tf.configs.scales, ebgan_tf.cli; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_docs_settings_page_is_generated_from_the_configs():
    from ebgan_tf.tools import settings_doc

    assert settings_doc.DOC_PATH.read_text(encoding="utf-8") == settings_doc.render(), (
        "docs/settings.md is stale: run python -m ebgan_tf.tools.settings_doc")
