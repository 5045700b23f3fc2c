"""Started with the target's own Python: runs Visdom's server without its download step.

`python -m visdom.server` calls download_scripts() first, which needs the internet
and crashes offline; run_server.main() parses the same flags and skips it.
This file is executed by path inside the target venv, so it imports nothing
from visdom_chaos.

Visdom sets tornado's debug=True, so tornado's autoreload re-executes the server
when an imported file changes: argv[0] stays this file's path so that restart
works as it would for `python -m visdom.server` (and loses the in-memory envs).
"""

import signal
import sys

from visdom.server.run_server import main

if __name__ == "__main__":
    # The harness spawns this with SIGINT/SIGTERM blocked (held back until it has
    # registered the child) and a signal mask survives exec: unblock them, or the server
    # ignores every SIGTERM and only dies by SIGKILL after the stop timeout.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.argv = [__file__, *sys.argv[1:]]
    main()
