"""The command line as swift-argument-parser reads it: the daemon is the
default subcommand, so lxcfs's command lines (its flags, bare or combined,
and a bare MOUNTPOINT) start the daemon as they always did; the other
subcommands are words in first place only; `supervise` passes the server's
command line on unchanged; errors are one sentence naming the right help.
"""
import os
import subprocess
import tempfile

import pytest

from conftest import BIN, wait_for, terminate
from test_supervise import Supervised


def mount_type(path):
    """The filesystem type of the topmost mount at `path`, or None."""
    found = None
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == path:
            found = fields[fields.index("-") + 1]
    return found


# Each with --no-reattach, so that no test daemon repairs other tests' binds.
@pytest.mark.parametrize("words", [
    ["-f", "-d", "-u", "-l", "--enable-cfs"],                       # lxcfs's short flags, one by one
    ["-fdul"],                                                      # and combined, as getopt reads them
    ["--foreground", "--disable-swap", "--enable-loadavg", "--enable-psi-poll"],
    ["serve", "-l"],                                                # the subcommand's own word
    [],                                                             # only -p and the MOUNTPOINT
])
def test_lxcfs_command_lines_start_the_daemon(tmp_path, words):
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    pidfile = str(tmp_path / "d.pid")
    if words[:1] == ["serve"]:
        argv = [BIN, "serve", "--no-reattach", "-p", pidfile, *words[1:], mnt]
    else:
        argv = [BIN, *words, "--no-reattach", "-p", pidfile, mnt]
    log = open(tmp_path / "d.log", "w+")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: mount_type(mnt) == "fuse.lxcfs" or proc.poll() is not None, what=f"mount at {mnt}")
        log.seek(0)
        assert proc.poll() is None, f"{argv}: {log.read()}"
        assert open(os.path.join(mnt, "proc/uptime")).read().count(" ") == 1
    finally:
        terminate(proc)
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)
        log.close()
    assert proc.returncode == 0


def test_help_names_the_subcommands_and_the_daemon_flags():
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for word in ("serve (default)", "render", "supervise", "reattach", "cdi-spec", "webhook"):
        assert word in r.stdout, word
    assert "__reattach" not in r.stdout   # the re-execs are hidden
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for flag in ("-f, --foreground", "-d, --debug", "-p, --pidfile", "-o <o>", "--enable-cfs",
                 "-u, --disable-swap", "-l, --enable-loadavg", "--takeover", "--no-reattach", "<mountpoint>"):
        assert flag in r.stdout, flag


def test_version_is_lxcfs_spelling_on_the_daemon_line_only():
    for argv in (["-v"], ["--version"], ["-d", "-v"]):
        r = subprocess.run([BIN, *argv], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() and r.stdout.strip()[0].isdigit(), (argv, r.stdout, r.stderr)
    # A subcommand's arguments are its own: -v is not rewritten there.
    r = subprocess.run([BIN, "render", "--pid", "1", "-v", "/proc/meminfo"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "'-v'" in r.stderr and "render --help" in r.stderr, r.stderr


@pytest.mark.parametrize("argv,hint", [
    (["--bogus"], "swift-lxcfs serve --help"),
    (["-p", "/tmp/x.pid", "render", "--pid", "1", "/proc/meminfo"], "swift-lxcfs serve --help"),
    (["/a", "/b"], "swift-lxcfs serve --help"),
    (["render", "--pid"], "swift-lxcfs render --help"),
    (["render", "--pid", "x", "/proc/meminfo"], "swift-lxcfs render --help"),
    (["reattach", "--bogus"], "swift-lxcfs reattach --help"),
    (["cdi-spec", "--mountpoint", "relative"], "swift-lxcfs cdi-spec --help"),
    (["supervise", "--ready-file"], "swift-lxcfs supervise --help"),
    (["supervise", "-p", "/tmp/x.pid", "--bogus", "/tmp/x"], "swift-lxcfs supervise --help"),
])
def test_command_line_errors_are_one_sentence_naming_the_right_help(argv, hint):
    r = subprocess.run([BIN, *argv], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and r.stdout == "", argv
    assert r.stderr.startswith("swift-lxcfs: ") and r.stderr.count("\n") == 1, r.stderr
    assert f"see '{hint}'." in r.stderr, r.stderr


def test_supervise_passes_the_server_command_line_on_unchanged(tmp_path):
    ready = str(tmp_path / "ready")
    server = ["-d", "-o", "allow_root", "-ul", "--enable-cfs", "-l"]
    # Supervised adds "-p PIDFILE MOUNTPOINT" after these.
    s = Supervised(tmp_path, *server[:3], "--ready-file=" + ready, *server[3:])
    try:
        first = s.wait_starts(1)[0]
        assert first["argv"] == [*server, "-p", str(tmp_path / "x.pid"), str(tmp_path / "mnt")], first["argv"]
        wait_for(lambda: os.path.exists(ready), what=f"the ready file:\n{s.output()}")
        assert open(ready).read().strip() == str(first["pid"])
    finally:
        s.stop()


def test_the_hidden_probe_answers_by_exit_status():
    assert subprocess.run([BIN, "__reattach-probe", "/proc/self/status"], timeout=30).returncode == 0
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([BIN, "__reattach-probe", os.path.join(d, "missing")], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 11 and "No such file" in r.stdout


def test_webhook_gets_its_arguments_unchanged(tmp_path):
    # `--name=value` and `--help` reach the webhook program as they were written.
    missing = str(tmp_path / "missing.crt")
    r = subprocess.run([BIN, "webhook", f"--tls-cert-file={missing}", f"--tls-private-key-file={missing}",
                        "--port=8443"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and missing in r.stderr and r.stderr.startswith("swift-lxcfs webhook: "), r.stderr
    r = subprocess.run([BIN, "webhook", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--tls-cert-file" in r.stdout and "serve (default)" not in r.stdout, r.stdout
