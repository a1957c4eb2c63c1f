#!/usr/bin/env python3
"""A stand-in for the swift-lxcfs server's side of systemd's fd-store
protocol (sd_notify(3), sd_listen_fds(3)), for testing what holds the store
(the supervisor, systemd) without a FUSE mount.

Started fresh (no LISTEN_FDS for this pid) it makes two memfds named
`fuse` and `state`, writes a token into `fuse`, stores both with
`FDSTORE=1` + `FDNAME=...` over NOTIFY_SOCKET (SCM_RIGHTS), then sends
READY=1. Started with LISTEN_PID == its pid, LISTEN_FDS and LISTEN_FDNAMES,
it takes the descriptors from 3 on instead and stores nothing. Each start
appends one line (a Python literal: python3-minimal has no json) to the file named by $STANDIN_LOG: pid, whether it
resumed, the names, the token read from `fuse`, its inode, what LISTEN_PID
said and argv.

Signals, as the server's: SIGTERM/SIGINT = final stop (FDSTOREREMOVE=1 for
both names, exit 0); SIGUSR2 = hand-over stop (exit 0, store untouched).
$STANDIN_SIGTERM=handover makes SIGTERM a hand-over stop.
$STANDIN_EXIT=N makes it exit N right after READY=1 (a crash loop).
"""
import array
import os
import signal
import socket
import sys
import time


def notify(message, fds=()):
    name = os.environ.get("NOTIFY_SOCKET")
    if not name:
        return
    address = "\0" + name[1:] if name.startswith("@") else name
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        s.sendmsg([message.encode()], anc, 0, address)
    finally:
        s.close()


def log(entry):
    path = os.environ.get("STANDIN_LOG")
    if path:
        with open(path, "a") as f:
            f.write(repr(entry) + "\n")


def main():
    pid = os.getpid()
    listen_pid = os.environ.get("LISTEN_PID")
    count = int(os.environ.get("LISTEN_FDS", "0") or 0)
    names = os.environ.get("LISTEN_FDNAMES", "").split(":") if count else []
    fds = {}
    if listen_pid == str(pid) and count > 0:
        for i, n in enumerate(names[:count]):
            fds[n] = 3 + i
        resumed = "fuse" in fds
    else:
        resumed = False
    if not resumed:
        fds = {}
        for n in ("fuse", "state"):
            fd = os.memfd_create(n, 0)
            fds[n] = fd
        os.write(fds["fuse"], f"token-{pid}-{time.monotonic_ns()}".encode())
    token = os.pread(fds["fuse"], 200, 0).decode()
    log({"pid": pid, "resumed": resumed, "names": names, "token": token,
         "inode": os.fstat(fds["fuse"]).st_ino, "listen_pid": listen_pid,
         "listen_fds": count, "argv": sys.argv[1:],
         "notify_socket": os.environ.get("NOTIFY_SOCKET", "")})

    def final(*_):
        notify("FDSTOREREMOVE=1\nFDNAME=fuse")
        notify("FDSTOREREMOVE=1\nFDNAME=state")
        notify("STOPPING=1")
        log({"pid": pid, "stop": "final"})
        os._exit(0)

    def handover(*_):
        log({"pid": pid, "stop": "handover"})
        os._exit(0)

    term = handover if os.environ.get("STANDIN_SIGTERM") == "handover" else final
    if os.environ.get("STANDIN_LOG_JOBS"):
        def jobs_then(stop):
            def on_term(*_):
                import subprocess
                r = subprocess.run(["systemctl", "list-jobs", "--no-legend", "--plain"], capture_output=True, text=True)
                log({"pid": pid, "jobs": r.stdout})
                stop()
            return on_term
        term = jobs_then(term)
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGINT, final)
    signal.signal(signal.SIGUSR2, handover)
    if not resumed:
        notify("FDSTORE=1\nFDNAME=fuse", [fds["fuse"]])
        notify("FDSTORE=1\nFDNAME=state", [fds["state"]])
    notify(f"READY=1\nMAINPID={pid}")
    if "STANDIN_EXIT" in os.environ:
        os._exit(int(os.environ["STANDIN_EXIT"]))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
