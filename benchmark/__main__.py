"""``python -m benchmark`` and the ``gwae-bench`` console script: one entry, one set of exit codes."""

import sys

from benchmark.cli import Terminated, main


def entry() -> int:
    """Run the CLI and map a termination or Ctrl-C to the exit status a shell reports for it."""
    try:
        code = main()
    except Terminated:
        code = 143  # 128 + SIGTERM, as a shell reports a process it terminated
    except KeyboardInterrupt:
        code = 130  # 128 + SIGINT; main printed the one-line resume hint
    sys.stdout.flush()
    return code


if __name__ == "__main__":  # spawned worker processes (run --jobs) import this module as __mp_main__
    raise SystemExit(entry())
