import sys

from benchmark.cli import Terminated, main

try:
    code = main()
except Terminated:
    code = 143  # 128 + SIGTERM, as a shell reports a process it terminated
except KeyboardInterrupt:
    code = 130  # 128 + SIGINT; main printed the one-line resume hint
sys.stdout.flush()
raise SystemExit(code)
