#!/usr/bin/env python3
"""Runs a command as the foreground job of a new pseudo-terminal, types
Ctrl-C once READY exists, and prints the command's exit status.

Usage: pty_ctrl_c.py READY -- COMMAND...
"""
import os
import pty
import sys
import time

ready = sys.argv[1]
command = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
deadline = time.time() + 10
while not os.path.exists(ready) and time.time() < deadline:
    time.sleep(0.01)
time.sleep(0.1)
os.write(fd, b"\x03")  # the terminal's VINTR: SIGINT to the foreground group
output = b""
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    output += chunk
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status))
