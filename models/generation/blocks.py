"""What the adversarial baselines (ALI, AVB, VAE-GAN) share: the discriminators' conv depth and the config checks.

One place, so that the three discriminators shrink the same way on small images and the configs reject the same
values with the same messages.
"""

from __future__ import annotations

from models.networks import conv_out


def image_stages(size: int, max_stages: int) -> tuple[int, int]:
    """(stride-2 convs, final side): convs from ``size`` until the side is 1 or ``max_stages`` are used.

    With six at most (ALI, AVB): 64 -> (6, 1) as vaetc's six convs; 32 -> (5, 1); 28 -> (4, 1) via 14, 7, 3;
    8 -> (3, 1). With four (VAE-GAN): 64 -> (4, 4).
    """
    stages = 0
    while size > 1 and stages < max_stages:
        size = conv_out(size)
        stages += 1
    return stages, size


def check_mode(mode: str, modes: tuple[str, ...]) -> None:
    if mode not in modes:
        raise ValueError(f"mode must be one of {', '.join(modes)}, got {mode!r}")


def check_betas(**named: tuple[float, float]) -> None:
    """Each Adam ``betas`` pair, by its config field's name: two numbers in [0, 1)."""
    for name, betas in named.items():
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{name} must be two numbers in [0, 1), got {betas}")


def check_two_rates(mode: str, modes: tuple[str, ...], z_dim: int, lr: float, lr_disc: float) -> None:
    """The mode, z_dim and both learning rates of a model with a separately trained discriminator (AVB, VAE-GAN)."""
    check_mode(mode, modes)
    if z_dim < 1 or not lr > 0 or not lr_disc > 0:
        raise ValueError(f"z_dim >= 1, lr > 0 and lr_disc > 0 are required, got {z_dim}, {lr}, {lr_disc}")
