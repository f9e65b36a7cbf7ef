#!/usr/bin/python3
"""Per-call latency of python3-libvirt against virthypervd (on hypervsim,
caches warm) next to libvirtd's test driver over the same kind of UNIX
socket, in one run: lookups by name and UUID, info, state, isActive and
listAllDomains. Median and 95th percentile of N calls each, in µs.

usage: bench/daemon.py [--calls N] [--build DIR]
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, "/usr/lib/python3/dist-packages")
import libvirt  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_path(path, proc, what):
    for _ in range(400):
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        time.sleep(0.05)
    sys.exit(f"{what} did not start")


def start_virthypervd(build, tmp):
    port = free_port()
    sim = subprocess.Popen(
        [os.path.join(build, "sim/hypervsim"), "--state-dir",
         os.path.join(tmp, "host"), "--listen", f"127.0.0.1:{port}",
         "--sample", "--user", "Administrator", "--password", "secret"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = os.path.join(tmp, "auth.conf")
    with open(auth, "w") as f:
        f.write("[credentials-sim]\nusername = Administrator\n"
                "password = secret\n[auth-hyperv-127.0.0.1]\n"
                "credentials = sim\n")
    sock = os.path.join(tmp, "hvd.sock")
    time.sleep(0.5)
    hvd = subprocess.Popen(
        [os.path.join(build, "src/virthypervd"), "--socket", sock,
         "--host", f"http://127.0.0.1:{port}/wsman", "--auth-file", auth,
         "--state-dir", os.path.join(tmp, "state")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_path(sock + "-ro", hvd, "virthypervd")
    return [hvd, sim], f"hyperv+unix:///system?socket={sock}", "web1"


def start_libvirtd(tmp):
    d = os.path.join(tmp, "libvirtd")
    os.makedirs(os.path.join(d, "drivers"))
    conf = os.path.join(d, "libvirtd.conf")
    with open(conf, "w") as f:
        f.write(f'unix_sock_dir = "{d}"\nunix_sock_rw_perms = "0700"\n'
                'auth_unix_rw = "none"\nauth_unix_ro = "none"\n')
    # no hypervisor driver modules: the test driver lives in libvirt itself
    env = dict(os.environ, LIBVIRT_DRIVER_DIR=os.path.join(d, "drivers"))
    proc = subprocess.Popen(
        ["/usr/sbin/libvirtd", "-f", conf, "-p", os.path.join(d, "pid")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = os.path.join(d, "libvirt-sock")
    wait_path(sock, proc, "libvirtd")
    return [proc], f"test+unix:///default?socket={sock}", "test"


def measure(uri, name, calls):
    conn = libvirt.open(uri)
    dom = conn.lookupByName(name)
    uuid = dom.UUID()
    cases = {
        "lookupByName": lambda: conn.lookupByName(name),
        "lookupByUUID": lambda: conn.lookupByUUID(uuid),
        "info": dom.info,
        "state": dom.state,
        "isActive": dom.isActive,
        "listAllDomains": conn.listAllDomains,
    }
    out = {}
    for label, fn in cases.items():
        for _ in range(50):  # warm
            fn()
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e6)
        times.sort()
        out[label] = (statistics.median(times),
                      times[int(len(times) * 0.95) - 1])
    conn.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    if not shutil.which("/usr/sbin/libvirtd"):
        sys.exit("libvirtd (package libvirt-daemon) is needed")
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        try:
            p, hv_uri, hv_name = start_virthypervd(args.build, tmp)
            procs += p
            p, lv_uri, lv_name = start_libvirtd(tmp)
            procs += p
            hv = measure(hv_uri, hv_name, args.calls)
            lv = measure(lv_uri, lv_name, args.calls)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
    print(f"{args.calls} calls each, µs per call "
          "(median / 95th percentile)")
    print(f"{'call':16} {'virthypervd':>20} {'libvirtd test':>20} "
          f"{'ratio':>7}")
    for label in hv:
        h, lvv = hv[label], lv[label]
        print(f"{label:16} {h[0]:9.0f} / {h[1]:8.0f} {lvv[0]:9.0f} / "
              f"{lvv[1]:8.0f} {h[0] / lvv[0]:7.2f}")


if __name__ == "__main__":
    main()
