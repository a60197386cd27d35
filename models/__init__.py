"""Model registry: every benchmark model is a name, a class and its default config.

``gwae-gmp`` and friends are the same GWAE class with another prior family; the prior is one
field of the config, so it is also a sweep axis (``--set prior.name=...``). Models of other installed
distributions join the registry at import through entry points (group ``gwae_bench.models``, ``core.plugins``):
each loads a ``ModelSpec`` or a ``BenchmarkModel`` subclass, and records name where it came from (``source``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core import plugins
from core.config import from_dict, merge, to_dict
from core.registry import Registry
from models.base import BenchmarkModel
from models.dagmm.model import DAGMM
from models.disentangling.annealed_vae import AnnealedVAE
from models.disentangling.beta_tcvae import BetaTCVAE
from models.disentangling.dip_vae import DIPVAE
from models.disentangling.factor_vae import FactorVAE
from models.generation.ali import ALI
from models.generation.avb import AdversarialVariationalBayes
from models.generation.geco import GECO
from models.generation.guided_vae import GuidedVAE
from models.generation.ladder_vae import LadderVAE
from models.generation.sigma_vae import SigmaVAE
from models.generation.two_stage import TwoStageVAE
from models.generation.vae_gan import VAEGAN
from models.generation.vampprior import VampPriorVAE
from models.generation.vitae import VITAE
from models.generation.vlae import VLAE
from models.gwae.model import GWAE
from models.gwae.priors import PRIORS, PriorConfig
from models.vae import VAE
from models.wae import WAE


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its class (which names its typed config) and the registry's defaults over it.

    ``summary`` is what ``list`` prints for a plugin (built-ins pass theirs to ``MODELS.add``); ``source`` is
    set by the loader for a plugin (``"dist version"``, recorded as ``model_source``), empty for a built-in.
    """

    cls: type[BenchmarkModel]
    defaults: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    source: str = ""


MODELS: Registry[ModelSpec] = Registry("model")
MODELS.add("vae", ModelSpec(VAE), "VAE: Gaussian encoder, sigmoid decoder, 1/2 squared error + KL")
#: beta = 4 as in Higgins et al. (2017); vaetc's bvae.yaml uses 0.1 for CelebA (presets may override).
MODELS.add("beta-vae", ModelSpec(VAE, {"beta": 4.0}), "beta-VAE: the VAE with a KL weight beta (default 4)")
MODELS.add("dagmm", ModelSpec(DAGMM), "DAGMM as the GWAE paper ran it (vaetc's): GMM over z, energy score")
MODELS.add(
    "dagmm-zong", ModelSpec(DAGMM, {"mode": "zong"}), "DAGMM of Zong et al. 2018: GMM over [z, rel, cos], energy score"
)
MODELS.add(
    "gwae-np", ModelSpec(GWAE, {"prior": {"name": "neural"}}), "GWAE with the neural prior (NP), the official setting"
)
MODELS.add(
    "gwae-fnp",
    ModelSpec(GWAE, {"prior": {"name": "factorized_neural"}}),
    "GWAE with the factorized neural prior (FNP, disentanglement meta-prior)",
)
MODELS.add(
    "gwae-gmp",
    ModelSpec(GWAE, {"prior": {"name": "gaussian_mixture"}}),
    "GWAE with the Gaussian-mixture prior (GMP, clustering meta-prior)",
)
MODELS.add("wae", ModelSpec(WAE), "WAE-MMD (Tolstikhin et al.): IMQ kernel, unbiased MMD to N(0, I)")
MODELS.add(
    "wae-infovae",
    ModelSpec(WAE, {"variant": "infovae", "encoder": "gaussian"}),
    "The official GWAE code's `wae` baseline: vaetc's MMDVAE (InfoVAE), KL + biased MMD",
)
MODELS.add(
    "beta-tcvae",
    ModelSpec(BetaTCVAE),
    "beta-TCVAE (Chen et al. 2018): KL + (beta - 1) TC, minibatch TC estimator mws | mss | paper (beta 2)",
)
MODELS.add(
    "factorvae",
    ModelSpec(FactorVAE),
    "FactorVAE (Kim & Mnih 2018): KL + gamma TC by a 5x1000 MLP discriminator on (z, permuted z)",
)
MODELS.add(
    "dip-vae-i",
    ModelSpec(DIPVAE, {"variant": "i", "lambda_od": 1.0, "lambda_d": 1.0}),
    "DIP-VAE-I (Kumar et al. 2018): covariance of the encoder means pushed to I (lambda_od 1, lambda_d 1)",
)
MODELS.add(
    "dip-vae-ii",
    ModelSpec(DIPVAE, {"variant": "ii", "lambda_od": 10.0, "lambda_d": 1.0}),
    "DIP-VAE-II (Kumar et al. 2018): covariance of q(z) pushed to I (lambda_od 10, lambda_d 1)",
)
MODELS.add(
    "annealed-vae",
    ModelSpec(AnnealedVAE),
    "AnnealedVAE (Burgess et al. 2018): gamma |KL - C|, capacity C linear from 0 to c_max",
)
MODELS.add(
    "geco",
    ModelSpec(GECO),
    "GECO (Rezende & Viola 2018) as vaetc: lambda (SSE - tolerance^2) + KL, clipped lambda steps; mode paper | fixed",
)
MODELS.add(
    "sigma-vae",
    ModelSpec(SigmaVAE),
    "sigma-VAE (Rybkin et al. 2021): paper = vaetc's (a plain VAE), fixed = the optimal-sigma Gaussian likelihood",
)
MODELS.add(
    "vampprior-vae",
    ModelSpec(VampPriorVAE),
    "VampPrior VAE (Tomczak & Welling 2018), 500 pseudo-inputs: paper = vaetc's KL and sampler, fixed = published",
)
MODELS.add(
    "ladder-vae",
    ModelSpec(LadderVAE),
    "Ladder VAE (Sonderby et al. 2016), 3 levels, latent BN, KL warm-up; mode paper (vaetc's) | fixed",
)
MODELS.add(
    "vlae",
    ModelSpec(VLAE),
    "VLAE (Zhao et al. 2017, vaetc's vladderae): 4 latent blocks injected at 4 decoder depths, ELBO",
)
MODELS.add(
    "two-stage-vae",
    ModelSpec(TwoStageVAE),
    "Two-stage VAE (Dai & Wipf 2019): image VAE with learned gamma, then a latent VAE from half the step budget",
)
MODELS.add(
    "guided-vae",
    ModelSpec(GuidedVAE),
    "Guided-VAE (Ding et al. 2020, unsupervised): VAE + deformable-PCA branch on [z_def, z_cont] + orthogonality",
)
MODELS.add(
    "u-vitae",
    ModelSpec(VITAE),
    "U-VITAE (Detlefsen & Hauberg 2019): appearance decoder warped by a z_p displacement field (vaetc's vitae)",
)
MODELS.add(
    "ali",
    ModelSpec(ALI),
    "ALI/BiGAN (Dumoulin et al., Donahue et al. 2017), joint (x, z) discriminator: paper = vaetc's alternating "
    "update, fixed = the authors' simultaneous one",
)
MODELS.add(
    "avb",
    ModelSpec(AdversarialVariationalBayes),
    "AVB (Mescheder et al. 2017): discriminator-estimated KL; paper = vaetc's untrained noise net, fixed = trained",
)
MODELS.add(
    "vae-gan",
    ModelSpec(VAEGAN),
    "VAE-GAN (Larsen et al. 2016): paper = vaetc's update (no adversarial decoder gradient), fixed = published",
)


def plugin_spec(obj: Any, source: str) -> tuple[ModelSpec, str]:
    """A plugin's entry point object as a registry entry: a ``ModelSpec``, or a ``BenchmarkModel`` subclass (its
    docstring's first line is the summary). Its defaults are resolved here, so a bad plugin fails at load."""
    if isinstance(obj, type) and issubclass(obj, BenchmarkModel):
        obj = ModelSpec(obj, summary=(obj.__doc__ or obj.__name__).strip().splitlines()[0])
    if not isinstance(obj, ModelSpec):
        raise TypeError(f"{obj!r} is neither a models.ModelSpec nor a models.BenchmarkModel subclass")
    config_cls = getattr(obj.cls, "config_cls", None)
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        raise TypeError(f"{obj.cls.__name__}.config_cls must be a dataclass")
    from_dict(config_cls, merge(to_dict(config_cls()), obj.defaults), where=obj.cls.__name__)
    spec = dataclasses.replace(obj, source=source)
    return spec, f"{spec.summary or spec.cls.__name__} [plugin: {source}]"


PLUGINS = plugins.load_into(plugins.MODELS_GROUP, MODELS, plugin_spec)


def resolve_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The model's typed config: class defaults, then the registry defaults, then overrides."""
    spec = MODELS.get(name)
    base = to_dict(spec.cls.config_cls())
    cfg = from_dict(spec.cls.config_cls, merge(merge(base, spec.defaults), overrides or {}), where=name)
    prior = getattr(cfg, "prior", None)
    if isinstance(prior, PriorConfig):
        PRIORS.get(prior.name)  # one clear error for an unknown prior name
    return cfg


def overrides_for(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The part of ``overrides`` whose keys are fields of the model's config (``prior`` only reaches GWAE)."""
    fields = set(to_dict(MODELS.get(name).cls.config_cls()))
    return {k: v for k, v in overrides.items() if k in fields}


def build_model(name: str, config: Any, image_shape: tuple[int, int, int]) -> BenchmarkModel:
    return MODELS.get(name).cls(config, image_shape)


def prior_of(name: str, config: Any) -> tuple[str, str]:
    """(prior, mode) for records: GWAE's prior config, else the model class's fixed label; the class's mode."""
    cls = MODELS.get(name).cls
    prior = getattr(config, "prior", None)
    return (prior.name if isinstance(prior, PriorConfig) else cls.prior_label), cls.mode_of(config)


__all__ = ["MODELS", "PLUGINS", "ModelSpec", "BenchmarkModel", "plugin_spec", "resolve_config", "build_model",
           "prior_of", "overrides_for"]
