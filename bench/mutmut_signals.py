"""pytest plugin for mutation runs only (loaded by `[tool.mutmut] pytest_add_cli_args`).

mutmut's fork server ignores SIGINT and installs its own SIGCHLD and SIGTERM handlers,
and each mutant's test run is a fork of it, so it inherits them; the CLI subprocesses
of the tests even inherit the ignored SIGINT across exec. The Ctrl-C tests
(test_engine, test_sweep) and stress/interrupt.py expect Python's default handler, so
without this every mutant those tests cover would be reported killed whatever it does.
"""

from __future__ import annotations

import signal


def pytest_configure(config) -> None:
    if config.getoption("collectonly"):
        return  # the fork server's own warm-up: leave its handlers alone
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
