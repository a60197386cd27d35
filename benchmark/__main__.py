from benchmark.cli import main

if __name__ == "__main__":  # spawned worker processes (run --jobs) import this module as __mp_main__
    raise SystemExit(main())
