#!/usr/bin/env python3
"""Runs a command as the foreground job of a new pseudo-terminal, copies
everything it prints to stdout, and exits with its exit status.

Usage: pty_capture.py COMMAND...
"""
import os
import pty
import sys

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = sys.stdout.buffer
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out.write(chunk)
out.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
