"""The disentangling VAEs of disentanglement_lib's study and the GWAE paper's baselines.

beta-TCVAE (Chen et al. 2018), DIP-VAE-I/II (Kumar et al. 2018) and AnnealedVAE (Burgess et al.
2018): the VAE's Gaussian encoder, sigmoid decoder and 1/2 squared error, plus one regulariser each.
FactorVAE, which needs a discriminator and a second optimizer, is ``factor_vae``; one module per model.

The regularisers are pure tensor functions, each tested against an independent computation. Where the
GWAE authors' vaetc code (O) and disentanglement_lib (D) differ, the docstring says which one is followed
and why.
"""
