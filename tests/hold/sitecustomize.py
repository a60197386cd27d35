"""Runs at the start of a test's CLI child (``tests/hold``): with ``$GWAE_BENCH_HOLD=DIR``, install the hold as
the trainer's ``after_epoch`` seam; without it, nothing (and nothing imported)."""

import os

if os.environ.get("GWAE_BENCH_HOLD"):
    import time
    from pathlib import Path

    from benchmark.run import trainer

    def _hold(run_dir: Path, epoch: int) -> None:
        folder = Path(os.environ["GWAE_BENCH_HOLD"])
        (folder / f"{Path(run_dir).name}.epoch{epoch}").touch()
        while (folder / "hold").exists():
            time.sleep(0.05)

    trainer.after_epoch = _hold
