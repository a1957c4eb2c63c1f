"""The test acting as systemd's file descriptor store.

FDStore is a unix datagram socket given to the daemon as NOTIFY_SOCKET. It
takes sd_notify datagrams as systemd does: FDSTORE=1 with FDNAME=... and
the descriptors as SCM_RIGHTS, FDSTOREREMOVE=1, READY=1. start_server()
starts the daemon with what the store holds at descriptors 3.. and
LISTEN_PID (the child's own pid, through `bash -c 'exec ...'`), LISTEN_FDS
and LISTEN_FDNAMES, as systemd starts a unit whose store is not empty.
"""
import array
import os
import socket
import subprocess
import threading

from conftest import BIN


class FDStore:
    """systemd's fd store, as far as a Type=notify service sees it."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.fds = {}          # FDNAME -> descriptor held by the test
        self.messages = []     # every datagram's text
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
            except OSError:
                return
            fds = []
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(payload[:len(payload) - len(payload) % a.itemsize])
                    fds.extend(a)
            text = data.decode(errors="replace")
            fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
            with self.lock:
                self.messages.append(text)
                name = fields.get("FDNAME", "stored")
                if fields.get("FDSTORE") == "1" and fds:
                    if name in self.fds:
                        os.close(self.fds[name])
                    self.fds[name] = fds[0]
                    for extra in fds[1:]:
                        os.close(extra)
                elif fields.get("FDSTOREREMOVE") == "1":
                    if name in self.fds:
                        os.close(self.fds.pop(name))
                else:
                    for fd in fds:
                        os.close(fd)

    def has(self, *names):
        with self.lock:
            return all(n in self.fds for n in names)

    def count(self, prefix):
        with self.lock:
            return sum(1 for m in self.messages if m.startswith(prefix) or ("\n" + prefix) in m)

    def take(self, name):
        """Forgets (and returns) a stored descriptor without closing it."""
        with self.lock:
            return self.fds.pop(name)

    def close(self):
        self.stopped = True
        self.sock.close()
        with self.lock:
            for fd in self.fds.values():
                os.close(fd)
            self.fds.clear()


def start_server(mountpoint, store, log, args=(), fds=None, names=("fuse", "state")):
    """Starts the daemon with NOTIFY_SOCKET=store and, when `fds` (a list
    of descriptors, default: the store's `names`) is not empty, those at
    3.. with LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES."""
    env = dict(os.environ, NOTIFY_SOCKET=store.path)
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(k, None)
    if fds is None:
        with store.lock:
            fds = [store.fds[n] for n in names] if all(n in store.fds for n in names) else []
    high = []
    for i, fd in enumerate(fds):
        h = 200 + i
        os.dup2(fd, h, inheritable=True)
        high.append(h)
    pidfile = os.path.join(os.path.dirname(log.name), "daemon.pid")
    cmd = [BIN, "-p", pidfile, *args, mountpoint]
    if high:
        moves = " ".join(f"{3 + i}<&{h} {h}<&-" for i, h in enumerate(high))
        env.update(LISTEN_FDS=str(len(high)), LISTEN_FDNAMES=":".join(names[:len(high)]))
        cmd = ["bash", "-c", f'exec {moves}; LISTEN_PID=$$ exec "$0" "$@"', *cmd]
    try:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=high)
    finally:
        for h in high:
            os.close(h)
