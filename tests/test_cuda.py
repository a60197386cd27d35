"""CUDA correctness: the same numbers as on CPU, training and resuming on the GPU, the CLI on cuda.

Skipped where torch sees no CUDA device (CI, laptops); run on a GPU machine with
``python -m pytest tests/test_cuda.py``. Comparisons switch TF32 off so that a device bug,
not TF32 rounding, is what a failure shows; training itself keeps PyTorch's defaults.
"""

import copy
import math

import pytest
import torch

from benchmark.cli import main
from benchmark.records.io import read_records
from benchmark.run.folder import RunFolder
from benchmark.suites import SUITES
from models import MODELS, build_model, precision, resolve_config
from models.gwae.losses import gw_loss, pairwise_distances

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def exact_fp32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_pairwise_distances_on_cuda_match_float64_with_an_exactly_zero_diagonal():
    """At the paper's D = 12288 (64x64x3) and B = 64, with the GPU's default matmul settings."""
    x = torch.rand(64, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ref = torch.cdist(x.flatten(1).double(), x.flatten(1).double(), compute_mode="donot_use_mm_for_euclid_dist")
    got = pairwise_distances(x.to(CUDA)).double().cpu()
    assert torch.equal(got.diagonal(), torch.zeros(64, dtype=torch.float64))
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-3)


def test_gw_loss_value_and_gradients_on_cuda_match_cpu(exact_fp32):
    g = torch.Generator().manual_seed(1)
    z, x = torch.randn(64, 16, generator=g), torch.rand(64, 3, 64, 64, generator=g)
    out = {}
    for dev in (CPU, CUDA):
        zd = z.to(dev, copy=True).requires_grad_()
        log_c = torch.tensor(0.3, device=dev, requires_grad=True)
        loss = gw_loss(zd, x.to(dev), log_c)
        loss.backward()
        out[dev.type] = [t.detach().cpu() for t in (loss, zd.grad, log_c.grad)]
    for a, b in zip(out["cpu"], out["cuda"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS.names())
def test_codes_decodes_and_ood_scores_on_cuda_match_cpu(name, exact_fp32):
    torch.manual_seed(0)
    cpu_model = build_model(name, resolve_config(name, {"z_dim": 4}), (3, 32, 32)).eval()
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    g = torch.Generator().manual_seed(2)
    x, z = torch.rand(16, 3, 32, 32, generator=g), torch.randn(8, 4, generator=g)
    with torch.no_grad():
        pairs = [
            (cpu_model.encode(x, "mean"), gpu_model.encode(x.to(CUDA), "mean")),
            (cpu_model.decode(z), gpu_model.decode(z.to(CUDA))),
            (cpu_model.ood_score(x, "mean"), gpu_model.ood_score(x.to(CUDA), "mean")),
        ]
    for a, b in pairs:
        assert b.device.type == "cuda"
        torch.testing.assert_close(a, b.cpu(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_takes_finite_training_steps_on_cuda(name):
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, {"z_dim": 4}), (3, 32, 32)).to(CUDA)
    before = copy.deepcopy(model.state_dict())
    optimizers = model.build_optimizers()
    x = torch.rand(16, 3, 32, 32, device=CUDA)
    for _ in range(3):
        terms = model.train_batch(x, optimizers)
        assert all(math.isfinite(float(v)) for v in terms.values()), terms
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "no parameter moved"
    states = [s for o in optimizers.values() for s in o.state.values() for s in s.values() if torch.is_tensor(s)]
    assert all(s.device.type == "cuda" for s in states if s.dim() > 0)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_takes_finite_bf16_training_steps_on_cuda_with_fp32_scoring_outputs(name):
    torch.manual_seed(0)
    model = build_model(name, resolve_config(name, {"z_dim": 4}), (3, 32, 32)).to(CUDA)
    model = model.to(memory_format=precision.memory_format("bf16"))
    optimizers = model.build_optimizers()
    x = precision.batch(torch.rand(16, 3, 32, 32, device=CUDA), "bf16")
    with precision.autocast(CUDA, "bf16"):
        for _ in range(3):
            terms = model.train_batch(x, optimizers)
            assert all(math.isfinite(float(v)) for v in terms.values()), terms
    view = precision.of(model.eval(), "bf16")
    for out in (view.encode(x, "mean"), view.ood_score(x, "mean"), view.generate(4)):
        assert out.dtype == torch.float32 and out.device.type == "cuda" and torch.isfinite(out).all()


def test_trainer_on_cuda_resumes_like_an_uninterrupted_run_and_its_checkpoint_loads_on_cpu(
    tmp_path, make_trainer, crash_on_step
):
    reference = make_trainer(tmp_path / "a", device=CUDA, critic_steps=1)
    result = reference.fit()
    assert result.finished and result.peak_cuda_mb > 0

    crashing = make_trainer(tmp_path / "b", device=CUDA, critic_steps=1)
    restore = crash_on_step(type(crashing.model), 5)  # epoch 2, step 2
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    restore()
    resumed = make_trainer(tmp_path / "b", device=CUDA, critic_steps=1).fit()
    assert resumed.resumed_at == [1] and resumed.epochs == 3
    assert len(resumed.history) == len(result.history)
    for got, want in zip(resumed.history, result.history, strict=True):  # cuDNN kernels need not be bitwise
        assert got == pytest.approx(want, rel=1e-4, abs=1e-5)

    on_cpu = RunFolder(tmp_path / "a").load(make_trainer(tmp_path / "c", critic_steps=1).model, "last", CPU)
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(on_cpu.encode(x, "mean"),
                                   reference.model.eval().encode(x.to(CUDA), "mean").cpu(), rtol=1e-3, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES.names())
def test_every_suite_smoke_runs_every_model_on_cuda_through_the_cli(suite, tmp_path, capsys):
    code = main(["run", "--suite", suite, "--preset", "smoke", "--device", "cuda", "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    records = read_records(tmp_path)
    assert {r["model"] for r in records} == set(SUITES.get(suite).models)
    assert all(math.isfinite(r["value"]) for r in records)
    assert all(r["hardware"].get("gpu") and r["peak_cuda_mb"] > 0 for r in records)
