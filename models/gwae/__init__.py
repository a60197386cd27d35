"""GWAE (Nakagawa et al., ICLR 2023): the model, its Gromov-Wasserstein loss terms, its priors and its critic."""
