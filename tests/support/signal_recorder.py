#!/usr/bin/env python3
"""A command for signal tests: records every signal it receives.

Usage: signal_recorder.py LOG READY [STOP]
Appends one line per signal (its name) to LOG, writes READY once its
handlers are installed, and exits 0 half a second after the STOP signal
(default SIGTERM) arrives, so a duplicate would still be recorded; or
after 20 s.
"""
import os
import signal
import sys
import time

log_path, ready_path = sys.argv[1], sys.argv[2]
NAMES = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"]
stop_signal = getattr(signal, sys.argv[3]) if len(sys.argv) > 3 else signal.SIGTERM
stop_at = None


def record(signum, _frame):
    global stop_at
    with open(log_path, "a") as log:
        log.write(signal.Signals(signum).name + "\n")
    if signum == stop_signal and stop_at is None:
        stop_at = time.time() + 0.5


for name in NAMES:
    signal.signal(getattr(signal, name), record)
with open(ready_path, "w") as ready:
    ready.write(str(os.getpid()))
deadline = time.time() + 20
while (stop_at is None or time.time() < stop_at) and time.time() < deadline:
    time.sleep(0.01)
sys.exit(0)
