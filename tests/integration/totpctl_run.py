"""totpctl runs that tests/integration/totpctl.sh watches from outside.

start(fifo, cmd, **popen_args) makes FIFO, fills it to its (4 KiB)
capacity, starts CMD with its stdout there and waits (up to 15 s) until a
process named totpctl sits in write(1, ...).  It returns (p, r, blocked):
the Popen, the FIFO's read end (reading it lets the write go on), and
whether the write was seen blocked.

foreground() is a preexec_fn: the terminal's signals at their default
action, as in a terminal's foreground job (a suite run in the background
inherits SIGINT ignored).

end_of(p) waits for P (a session leader) to end, up to 10 s (then kills
its group), and for its whole group to be gone, up to 10 s more (the
guard undoing a create): (returncode, killed, group_gone).
"""
import fcntl
import os
import signal
import subprocess
import time

F_SETPIPE_SZ = 1031


def start(fifo, cmd, **popen_args):
    os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    try:
        while True:
            os.write(w, b"x" * 512)
    except BlockingIOError:
        pass
    out = os.open(fifo, os.O_WRONLY)            # the program's stdout, full
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, **popen_args)
    os.close(out)
    os.close(w)
    for _ in range(1500):
        try:
            sc = open("/proc/%d/syscall" % p.pid).read().split()
            comm = open("/proc/%d/comm" % p.pid).read().strip()
            if comm == "totpctl" and sc[:2] == ["1", "0x1"]:
                return p, r, True
        except OSError:
            pass
        if p.poll() is not None:
            break
        time.sleep(0.01)
    return p, r, False


def foreground():
    for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)


def end_of(p):
    killed = False
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        rc = p.wait()
        killed = True
    for _ in range(1000):
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            return rc, killed, True
        time.sleep(0.01)
    return rc, killed, False
