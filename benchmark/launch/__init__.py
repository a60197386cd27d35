"""Launch a sweep: plan its runs, estimate its cost, execute them (here or on SLURM), follow their state."""
