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


def one_sentence(r):
    """Asserts `r` is a refused command line: nothing on standard output,
    one line `swift-lxcfs: ...` on standard error, exit 64 (EX_USAGE)."""
    assert r.returncode == 64 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("swift-lxcfs: ") and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


def test_a_mistyped_subcommand_is_refused_naming_the_subcommands(tmp_path):
    r = subprocess.run([BIN, "frobnicate"], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    err = one_sentence(r)
    assert "'frobnicate' is no subcommand (serve, render, supervise, reattach, cdi-spec, webhook" in err, err
    assert "see 'swift-lxcfs --help'." in err, err
    # Behind the daemon's flags it is the mount point's word: refused the same way.
    err = one_sentence(subprocess.run([BIN, "-l", "frobnicate"], capture_output=True, text=True, timeout=30,
                                      cwd=tmp_path))
    assert "'frobnicate' is no subcommand (serve, render" in err, err
    assert not os.path.exists(tmp_path / "frobnicate")


def test_a_relative_mount_point_that_is_a_directory_is_still_one(tmp_path):
    # lxcfs (libfuse) takes `lxcfs mnt` from the folder holding mnt.
    os.mkdir(tmp_path / "mnt")
    mnt = str(tmp_path / "mnt")
    log = open(tmp_path / "d.log", "w+")
    proc = subprocess.Popen([BIN, "--no-reattach", "-p", str(tmp_path / "d.pid"), "mnt"], cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: mount_type(mnt) == "fuse.lxcfs" or proc.poll() is not None, what=f"mount at {mnt}")
        log.seek(0)
        assert proc.poll() is None, log.read()
    finally:
        terminate(proc)
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)
        log.close()


@pytest.mark.parametrize("flag,value,sentence", [
    ("--container-cpu-budget", "-1", "--container-cpu-budget takes 0 to 1024 cores, not -1.0"),
    ("--render-cache-ms", "-5", "--render-cache-ms takes 0 to 10000 milliseconds, not -5"),
])
def test_a_negative_number_is_refused_as_out_of_range_not_missing(tmp_path, flag, value, sentence):
    r = subprocess.run([BIN, flag, value, "-p", str(tmp_path / "d.pid"), str(tmp_path / "mnt")],
                       capture_output=True, text=True, timeout=30)
    err = one_sentence(r)
    assert sentence in err and "Missing value" not in err, err


def test_render_of_a_process_that_does_not_exist_fails():
    r = subprocess.run([BIN, "render", "--pid", "999999999", "/proc/meminfo"], capture_output=True, text=True,
                       timeout=30)
    err = one_sentence(r)
    assert "no process 999999999: /proc/999999999 does not exist" in err, err


def test_render_takes_the_path_as_under_the_mount_point_too():
    # "proc/meminfo", as the file is named under /var/lib/lxcfs.
    for relative in ("sys/devices/system/cpu/online", "proc/cpuinfo"):
        plain = subprocess.run([BIN, "render", "--pid", "1", relative], capture_output=True, text=True, timeout=30)
        slash = subprocess.run([BIN, "render", "--pid", "1", "/" + relative], capture_output=True, text=True,
                               timeout=30)
        assert plain.returncode == 0 and plain.stdout and plain.stdout == slash.stdout, plain.stderr


def test_a_pidfile_in_a_missing_directory_is_refused(tmp_path):
    missing = tmp_path / "no" / "such"
    mnt = tmp_path / "mnt"
    os.mkdir(mnt)
    err = one_sentence(subprocess.run([BIN, "--no-reattach", "-p", str(missing / "x.pid"), str(mnt)],
                                      capture_output=True, text=True, timeout=30))
    assert f"the pidfile's directory {missing} does not exist; create it or pass another -p" in err, err
    assert not os.path.exists(tmp_path / "no") and mount_type(str(mnt)) is None
    err = one_sentence(subprocess.run([BIN, "--no-reattach", "--runtime-dir", str(missing), str(mnt)],
                                      capture_output=True, text=True, timeout=30))
    assert "pass another --runtime-dir" in err, err


def test_lxcfs_7_flags_start_the_daemon_and_runtime_dir_holds_the_pidfile(tmp_path):
    # lxcfs 7's own command line: --disable-zswap, --runtime-dir DIR, -s, --enable-pidfd.
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    run = tmp_path / "run"
    os.mkdir(run)
    log = open(tmp_path / "d.log", "w+")
    proc = subprocess.Popen([BIN, "-s", "--enable-pidfd", "--disable-zswap", "--runtime-dir", str(run), "-l",
                             "--no-reattach", mnt], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: mount_type(mnt) == "fuse.lxcfs" or proc.poll() is not None, what=f"mount at {mnt}")
        log.seek(0)
        assert proc.poll() is None, log.read()
        wait_for(lambda: (run / "swift-lxcfs.pid").exists(), what="the pidfile in the runtime directory")
        assert (run / "swift-lxcfs.pid").read_text().strip() == str(proc.pid)
        meminfo = open(os.path.join(mnt, "proc/meminfo")).read()
        lines = [line.split() for line in meminfo.splitlines() if line.startswith(("Zswap:", "Zswapped:"))]
        host = [line for line in open("/proc/meminfo").read().splitlines() if line.startswith("Zswap")]
        assert len(lines) == len(host) and all(line[1:] == ["0", "kB"] for line in lines), lines
    finally:
        terminate(proc)
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)
        log.close()
    assert proc.returncode == 0


def test_help_says_what_the_lxcfs_7_flags_do():
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=30)
    text = " ".join(r.stdout.split())
    for flag in ("--disable-zswap", "--runtime-dir <DIR>", "-s ", "--enable-pidfd"):
        assert flag in text, flag
    assert "Show Zswap and Zswapped as 0 kB" in text and "no effect here" in text


def test_debug_logs_a_fallback_once_per_file_and_cgroups_not_per_read(tmp_path):
    # A daemon that sees no memory hierarchy (unmounted in its own mount
    # namespace) cannot read any reader's memory cgroup: meminfo falls back.
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    log = open(tmp_path / "d.log", "w+")
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                             f"umount -l /sys/fs/cgroup/memory && exec {BIN} -d --render-cache-ms 0 --no-reattach "
                             f"-p {tmp_path / 'd.pid'} {mnt}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        def mounted():
            try:
                return any(line.split()[4] == mnt and " - fuse" in line
                           for line in open(f"/proc/{proc.pid}/mountinfo"))
            except OSError:
                return False
        wait_for(lambda: mounted() or proc.poll() is not None, what="the daemon's mount")
        assert proc.poll() is None, open(tmp_path / "d.log").read()
        served = f"/proc/{proc.pid}/root{mnt}/proc/meminfo"
        for _ in range(5):
            with open(served) as f:
                assert f.read().startswith("MemTotal:")
        log.seek(0)
        text = log.read()
        lines = [line for line in text.splitlines() if "/proc/meminfo: memory cgroup unreadable, host values" in line]
        assert len(lines) == 1, text
        assert f"pid={os.getpid()}" in lines[0], lines[0]
    finally:
        terminate(proc)
        log.close()
