#!/usr/bin/python3
"""Listing benchmark: what `virsh snapshot-list` and `virsh list --all`
cost in WS-Man round trips and in wall time with hypervsim answering each
request --latency ms late, as a real host does, and what hypervsim's
per-request time does as the host grows.

1. A VM with 50 checkpoints and two disks, a daemon that has read none of
   them: the cold snapshot-list, then the warm one, at each latency, next
   to the budget of 15 round-trip times.
2. A host of --vms VMs with 10 checkpoints each next to the 3-VM sample
   host: the daemon's start-up and first `virsh list --all`, a cold
   snapshot-list of one VM, and hypervsim's time per request (no latency).

usage: bench/listing.py [--latency MS ...] [--vms N] [--build DIR]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backup import control  # noqa: E402
from daemon import free_port, wait_path  # noqa: E402


class Host:
    def __init__(self, build, sample):
        self.build = build
        self.tmp = tempfile.mkdtemp(prefix="bench-listing-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sim = subprocess.Popen(
            [os.path.join(build, "sim/hypervsim"), "--state-dir",
             os.path.join(self.tmp, "host"), "--listen",
             f"127.0.0.1:{self.port}", "--user", "Administrator",
             "--password", "secret"] + (["--sample"] if sample else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                control(self.url, op="counters")
                break
            except OSError:
                time.sleep(0.05)
        self.auth = os.path.join(self.tmp, "auth.conf")
        with open(self.auth, "w") as f:
            f.write("[credentials-sim]\nusername = Administrator\n"
                    "password = secret\n[auth-hyperv-127.0.0.1]\n"
                    "credentials = sim\n")
        self.hvd = None

    def start_daemon(self):
        self.stop_daemon()
        sock = os.path.join(self.tmp, "hvd.sock")
        for p in (sock, sock + "-ro"):
            if os.path.exists(p):
                os.unlink(p)
        shutil.rmtree(os.path.join(self.tmp, "state"), ignore_errors=True)
        self.hvd = subprocess.Popen(
            [os.path.join(self.build, "src/virthypervd"), "--socket", sock,
             "--host", f"{self.url}/wsman", "--auth-file", self.auth,
             "--state-dir", os.path.join(self.tmp, "state")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_path(sock + "-ro", self.hvd, "virthypervd")
        self.uri = f"hyperv+unix:///system?socket={sock}"

    def stop_daemon(self):
        if self.hvd:
            self.hvd.send_signal(signal.SIGTERM)
            self.hvd.wait(timeout=30)
            self.hvd = None

    def requests(self):
        return control(self.url, op="counters")["requests"]

    def timed(self, *args):
        """(seconds, round trips) of one virsh command"""
        n = self.requests()
        t = time.monotonic()
        subprocess.run(["virsh", "-q", "-c", self.uri, *args], check=True,
                       stdout=subprocess.DEVNULL)
        return time.monotonic() - t, self.requests() - n

    def close(self):
        self.stop_daemon()
        self.sim.send_signal(signal.SIGTERM)
        self.sim.wait(timeout=30)
        shutil.rmtree(self.tmp, ignore_errors=True)


def checkpoints_cold_warm(build, latencies):
    h = Host(build, sample=True)
    for i in range(50):
        control(h.url, op="snapshot", vm="web1", name=f"c{i:02}")
    print("## snapshot-list of a VM with 50 checkpoints and 2 disks\n")
    print("| latency (ms) | cold (s) | cold trips | cold / latency | "
          "budget (s) | warm (s) | warm trips |")
    print("|---|---|---|---|---|---|---|")
    for ms in latencies:
        h.start_daemon()
        subprocess.run(["virsh", "-q", "-c", h.uri, "list", "--all"],
                       check=True, stdout=subprocess.DEVNULL)
        control(h.url, op="latency", ms=ms)
        cold, cold_n = h.timed("snapshot-list", "web1")
        warm, warm_n = h.timed("snapshot-list", "web1")
        control(h.url, op="latency", ms=0)
        print(f"| {ms} | {cold:.2f} | {cold_n} | "
              f"{cold * 1000 / ms if ms else 0:.1f} | {15 * ms / 1000:.2f} | "
              f"{warm:.2f} | {warm_n} |")
    h.close()


def host_scale(build, vms):
    rows = []
    for label, count in (("3-VM sample host", 0), (f"{vms} VMs", vms)):
        h = Host(build, sample=count == 0)
        t = time.monotonic()
        for i in range(count):
            control(h.url, op="add-vm", name=f"vm{i:03}", disks=1, disk_mb=8)
            for k in range(10):
                control(h.url, op="snapshot", vm=f"vm{i:03}", name=f"c{k}")
        made = time.monotonic() - t
        target = "vm000" if count else "db1"
        if not count:
            for k in range(10):
                control(h.url, op="snapshot", vm=target, name=f"c{k}")
        n = h.requests()
        t = time.monotonic()
        h.start_daemon()
        subprocess.run(["virsh", "-q", "-c", h.uri, "list", "--all"],
                       check=True, stdout=subprocess.DEVNULL)
        first = time.monotonic() - t
        first_n = h.requests() - n
        snap, snap_n = h.timed("snapshot-list", target)
        rows.append((label, first, first_n, snap, snap_n,
                     snap * 1000 / max(snap_n, 1), made))
        h.close()
    print(f"\n## a host of {vms} VMs with 10 checkpoints each, no latency\n")
    print("| host | start-up and list --all (s) | trips | cold "
          "snapshot-list (s) | trips | ms per request |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]} | {r[3]:.3f} | {r[4]} | "
              f"{r[5]:.2f} |")
    print(f"\nper-request time, {vms} VMs / sample host: "
          f"{rows[1][5] / rows[0][5]:.2f}x (budget 2x); made in "
          f"{rows[1][6]:.0f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=int, nargs="*", default=[20, 100])
    ap.add_argument("--vms", type=int, default=500)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    checkpoints_cold_warm(args.build, args.latency)
    if args.vms:
        host_scale(args.build, args.vms)


if __name__ == "__main__":
    main()
