"""Mixed precision (``models.precision``): bf16 autocast with fp32 islands, every model's loss terms in bf16 beside
fp32 on the same weights and batch, scoring in fp32, and a precision that never moves an fp32 run's id."""

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.cli import main
from benchmark.config.run_config import RunConfig
from benchmark.launch import cost
from benchmark.launch.planning import expand, load_sweep, plan
from benchmark.records.io import read_records
from benchmark.records.schema import REFERENCE_MODEL, upgrade
from benchmark.run import provenance
from benchmark.suites import SUITES
from core.errors import BenchmarkError
from models import MODELS, build_model, resolve_config
from models.gwae.critic import JointCritic, spectral_norm
from models.gwae.losses import gw_loss, penalty_of
from models.precision import MixedPrecision, autocast, batch, fp32, memory_format, of

ROOT = Path(__file__).resolve().parents[1]
BF16 = torch.bfloat16
#: bf16 keeps 8 significant bits (relative rounding 2^-9); through a network's dozen layers and a loss's sums the
#: terms move by up to about 1% relative, and terms near zero (a KL of 0.005, an orthogonality of 3e-5) by their
#: rounding at the scale of what they are computed from. A forgotten fp32 island fails (a dtype error) or moves a
#: term far more.
RTOL, ATOL = 0.02, 0.01
#: Terms that legitimately move further, and why.
WIDER = {
    # zong mode fits the mixture on [z, rel, cos]: cos sits within 1e-3 of 1 with a spread near bf16's resolution
    # of the decoder's output, so the energy under the (fp32-trained) statistics moves by half its value
    ("dagmm-zong", "energy"): (0.6, 0.0),
    ("dagmm-zong", "loss"): (0.02, 0.05),
}


def _model(name: str, shape=(3, 32, 32)) -> tuple[nn.Module, torch.Tensor]:
    """A model after one fp32 training step (spectral norms iterated, DAGMM statistics set) and a batch."""
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, {"z_dim": 4}), shape)
    x = torch.rand(16, *shape, generator=torch.Generator().manual_seed(1))
    model.train_batch(x, model.build_optimizers())
    return model, x


@pytest.mark.parametrize("name", MODELS.names())
def test_every_models_loss_terms_in_bf16_match_fp32_on_the_same_weights_and_batch(name):
    model, x = _model(name)
    terms = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(5)  # the same noise draws
        with autocast("cpu", precision):  # as the trainer runs it: bf16 in its channels-last layout
            terms[precision] = copy.deepcopy(model).to(memory_format=memory_format(precision)).eval_batch(
                batch(x, precision))
    assert terms["fp32"].keys() == terms["bf16"].keys()
    for key, want in terms["fp32"].items():
        got = terms["bf16"][key]
        rtol, atol = WIDER.get((name, key), (RTOL, ATOL))
        assert math.isfinite(got) and abs(got - want) <= rtol * abs(want) + atol, (key, want, got)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_trains_in_bf16_with_finite_terms_and_fp32_weights_and_optimizer_state(name):
    model, x = _model(name)
    model, x = model.to(memory_format=torch.channels_last), batch(x, "bf16")
    optimizers = model.build_optimizers()
    with autocast("cpu", "bf16"):
        for _ in range(2):
            terms = model.train_batch(x, optimizers)
            assert all(math.isfinite(v) for v in terms.values()), terms
    assert all(p.dtype in (torch.float32, torch.float64) for p in model.state_dict().values() if p.is_floating_point())
    states = [s for o in optimizers.values() for st in o.state.values() for s in st.values() if torch.is_tensor(s)]
    assert all(s.dtype != BF16 for s in states)


def test_scoring_sees_bf16_forward_passes_with_fp32_outputs_and_fp32_sees_the_model_itself():
    model, x = _model("gwae-gmp")
    model.eval()
    assert of(model, "fp32") is model
    view = of(model, "bf16")
    assert isinstance(view, MixedPrecision) and view.ood_scorer == model.ood_scorer
    encoder_dtypes = []
    hook = model.encoder.register_forward_hook(lambda m, i, out: encoder_dtypes.append(
        (out[0] if isinstance(out, tuple) else out).dtype))
    codes = view.encode(x, "mean")
    hook.remove()
    assert encoder_dtypes == [BF16] and codes.dtype == torch.float32
    for out in (view.decode(codes), view.ood_score(x, "mean"), view.generate(4), view.reconstruct(x)):
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
    with torch.no_grad():
        torch.testing.assert_close(codes, model.encode(x, "mean"), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("kind", ["official", "modern"])
def test_spectral_norm_under_autocast_runs_its_power_iteration_in_fp32(kind):
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(32, 16), kind)
    twin = copy.deepcopy(layer)
    x = torch.randn(8, 32)
    with autocast("cpu", "bf16"):
        out = layer(x)
    assert out.dtype == BF16
    reference = twin(x)  # the same power iteration, outside autocast
    buffers = [b for n, b in layer.named_buffers() if n.rsplit(".", 1)[-1].lstrip("_") in ("u", "v")]
    assert buffers and all(b.dtype == torch.float32 for b in buffers)
    for a, b in zip(buffers, [b for n, b in twin.named_buffers() if b.dtype == torch.float32 and b.dim() == 1],
                    strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(out.float(), reference, rtol=0.02, atol=0.02)


def test_the_critic_takes_a_bf16_training_step_the_issue_saw_fail():
    critic = JointCritic((3, 32, 32), 4)
    with autocast("cpu", "bf16"):
        critic(torch.rand(4, 3, 32, 32), torch.randn(4, 4)).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in critic.parameters() if p.grad is not None)


def test_gw_loss_and_gradient_penalty_are_fp32_islands_bitwise_equal_under_autocast():
    g = torch.Generator().manual_seed(3)
    z, x, log_c = torch.randn(16, 4, generator=g), torch.rand(16, 3, 8, 8, generator=g), torch.tensor(0.2)
    with autocast("cpu", "bf16"):
        inside = gw_loss(z, x, log_c)
    assert inside.dtype == torch.float32 and torch.equal(inside, gw_loss(z, x, log_c))
    z_bf = z.to(BF16)
    with autocast("cpu", "bf16"):
        upcast = gw_loss(z_bf, x, log_c)
    torch.testing.assert_close(upcast, gw_loss(z_bf.float(), x, log_c), rtol=0, atol=0)

    xb, zb = torch.rand(6, 3, 8, 8, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    f = (xb.flatten(1).sum(1) * 0.3 + zb.pow(2).sum(1)).to(BF16)  # a bf16 critic value
    with autocast("cpu", "bf16"):
        gp = penalty_of(f, xb, zb)
    assert gp.dtype == torch.float32 and torch.isfinite(gp)


def test_fp32_island_upcasts_and_switches_autocast_off():
    a, b = torch.randn(4, 4).to(BF16), torch.randn(4, 4, dtype=torch.float64)
    with autocast("cpu", "bf16"), fp32(a, b) as (a32, b64):
        assert a32.dtype == torch.float32 and b64.dtype == torch.float64
        assert (a32 @ a32).dtype == torch.float32


# -- run identity, records, planning -------------------------------------------------------------------------------
def _committed_configs() -> list[Path]:
    """Every committed run: the presets' records and the long budget's, kept apart so each gets its own page."""
    return sorted(p for root in ("records", "records-long") for p in (ROOT / "results" / root).glob("*/*/config.json"))


def test_every_committed_run_folder_rebuilds_to_its_stored_run_id():
    """fp32 hashes as before the option existed: every committed record keeps its run id; bf16 ones say so."""
    paths = _committed_configs()
    assert paths
    for path in paths:
        data = json.loads(path.read_text())
        precision = data["train"].get("precision", "fp32")
        assert precision != "fp32" or "precision" not in data["train"], path
        run = RunConfig.from_dict(data, type(SUITES.get(data["suite"]).presets[data["preset"]].eval_params))
        assert run.run_id == data["run_id"] == path.parent.name and run.train.precision == precision


def test_bf16_is_its_own_run_id_row_and_record_field():
    fp32_runs, bf16_runs = plan("ood", "smoke", ["vae"]), plan("ood", "smoke", ["vae"], train_overrides={
        "precision": "bf16"})
    (a,), (b,) = fp32_runs, bf16_runs
    assert a.run_id != b.run_id and b.config.to_dict()["train"]["precision"] == "bf16"
    assert "precision" not in a.config.to_dict()["train"]
    assert a.config.labels.hparams == "-" and b.config.labels.hparams == "precision=bf16"
    suite = SUITES.get("ood")
    assert RunConfig.from_dict({"run_id": b.run_id, **b.config.to_dict()}, type(suite.presets["smoke"].eval_params)) \
        == b.config
    assert upgrade({"run_id": "x"})["precision"] == "fp32"
    with pytest.raises(BenchmarkError, match="precision must be one of fp32, bf16"):
        plan("ood", "smoke", ["vae"], train_overrides={"precision": "fp16"})


def test_a_sweep_file_names_the_precision_once(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('suite = "ood"\npreset = "smoke"\nmodels = ["vae"]\nprecision = "bf16"\n')
    assert load_sweep(path).train == {"precision": "bf16"}
    path.write_text('suite = "ood"\nprecision = "bf16"\n[train]\nprecision = "fp32"\n')
    with pytest.raises(BenchmarkError, match="precision is given twice"):
        load_sweep(path)


def test_the_bf16_side_by_side_sweep_is_the_committed_ood_runs_with_new_ids():
    bf16 = {(s.model, s.seed): s for s in expand(load_sweep(ROOT / "slurm" / "examples" / "ood-bf16.toml"))}
    committed = {}
    for path in _committed_configs():
        data = json.loads(path.read_text())
        fp32 = "precision" not in data["train"]
        paper = data["model_config"].get("prior", {}).get("mode", "paper") == "paper"
        default = data["preset"] == "default"  # the long runs are other configurations
        if data["suite"] == "ood" and data["model"] in ("vae", "dagmm", "gwae-gmp") and fp32 and paper and default:
            committed[(data["model"], data["seed"])] = data
    assert bf16.keys() == committed.keys() and len(bf16) == 9
    for key, spec in bf16.items():
        mine, theirs = spec.config.to_dict(), committed[key]
        assert spec.run_id != theirs["run_id"] and mine["train"].pop("precision") == "bf16"
        assert mine == {k: v for k, v in theirs.items() if k != "run_id"}, key  # nothing else differs


def test_plan_prices_bf16_runs_from_the_bf16_table(monkeypatch, tmp_path):
    monkeypatch.setattr(cost, "SECONDS_PER_STEP_BF16", {"1x28x28": {"vae": 0.001}})
    (bf16,) = plan("ood", "smoke", ["vae"], train_overrides={"precision": "bf16"})
    (dagmm,) = plan("ood", "smoke", ["dagmm"], train_overrides={"precision": "bf16"})
    rows = cost.estimate([bf16, dagmm], 1000, tmp_path)
    assert rows[0]["s_per_step"] == 0.001 and rows[0]["cost_source"] == "table: 2-core CPU, bf16"
    assert rows[1]["s_per_step"] == cost.SECONDS_PER_STEP["1x28x28"]["dagmm"]
    assert rows[1]["cost_source"] == "table: 2-core CPU, fp32"  # not measured in bf16: the fp32 figure, said so


@pytest.mark.slow
def test_a_bf16_suite_run_through_the_cli_records_its_precision_and_warns_once_without_bf16_units(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(provenance, "has_bf16_units", lambda device: False)
    code = main(["run", "--suite", "ood", "--preset", "smoke", "--models", "vae,dagmm", "--precision", "bf16",
                 "--out", str(tmp_path), "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.err.count("has no bf16 units") == 2  # one line per run
    records = read_records(tmp_path)
    assert {r["model"] for r in records} == {"vae", "dagmm", REFERENCE_MODEL}
    assert all(math.isfinite(r["value"]) for r in records)
    assert all(r["precision"] == "bf16" and r["hparams"] == "precision=bf16" for r in records
               if r["model"] != REFERENCE_MODEL)  # reference rows score pixels: no model, no precision
    assert "precision=bf16" in printed.out and "torch threads" in (tmp_path / "index.html").read_text()
