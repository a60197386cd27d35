import sys

from benchmark.cli import Terminated, main

if __name__ == "__main__":  # spawned worker processes (run --jobs) import this module as __mp_main__
    try:
        code = main()
    except Terminated:
        code = 143  # 128 + SIGTERM, as a shell reports a process it terminated
    except KeyboardInterrupt:
        code = 130  # 128 + SIGINT; main printed the one-line resume hint
    sys.stdout.flush()
    raise SystemExit(code)
