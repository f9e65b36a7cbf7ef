#!/usr/bin/python3
"""A bounded soak of virthypervd on hypervsim: 16 clients mix snapshot
creates, reverts, deletes, lists and XML reads on eight VMs, and clients
that go away mid-call (virsh killed during a create, raw sockets closed
before their reply), while hypervsim answers 20 ms late and drops, fails
with 500 or garbles an answer now and then. Prints the operations done,
the errors by kind, the daemon's restarts (0 expected) and, once the
faults stop, the daemon's snapshot trees compared with the host's own
(host.json): they must match.

usage: bench/soak.py [--seconds N] [--clients N] [--build DIR]
"""

import argparse
import collections
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import free_port, wait_path  # noqa: E402

import libvirt  # noqa: E402

VMS = ["db1", "mail1"] + [f"soak{i}" for i in range(6)]
ERR_NAMES = {getattr(libvirt, n): n for n in sorted(dir(libvirt), reverse=True)
             if n.startswith("VIR_ERR_") and
             n not in ("VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR")}


class Soak:
    def __init__(self, build, tmp, clients):
        self.build, self.tmp, self.clients = build, tmp, clients
        self.port = free_port()
        self.sock = os.path.join(tmp, "hvd.sock")
        self.uri = f"hyperv+unix:///system?socket={self.sock}"
        self.lock = threading.Lock()
        self.done = collections.Counter()
        self.errors = collections.Counter()
        self.restarts = 0
        self.stop = threading.Event()
        self.serial = 0

    def control(self, **request):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/control",
            data=json.dumps(request).encode(),
            headers={"Authorization": "Basic QWRtaW5pc3RyYXRvcjpzZWNyZXQ="})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def start(self):
        self.sim = subprocess.Popen(
            [os.path.join(self.build, "sim/hypervsim"), "--state-dir",
             os.path.join(self.tmp, "host"), "--listen",
             f"127.0.0.1:{self.port}", "--sample", "--user", "Administrator",
             "--password", "secret"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_path(os.path.join(self.tmp, "host", "host.json"), self.sim,
                  "hypervsim")
        time.sleep(0.3)
        for vm in VMS[2:]:
            self.control(op="add-vm", name=vm, disks=1, disk_mb=64)
        with open(os.path.join(self.tmp, "auth.conf"), "w") as f:
            f.write("[credentials-sim]\nusername = Administrator\n"
                    "password = secret\n[auth-hyperv-127.0.0.1]\n"
                    "credentials = sim\n")
        self.start_daemon()
        self.control(op="latency", ms=20)

    def start_daemon(self):
        self.hvd = subprocess.Popen(
            [os.path.join(self.build, "src/virthypervd"), "--socket",
             self.sock, "--host", f"http://127.0.0.1:{self.port}/wsman",
             "--auth-file", os.path.join(self.tmp, "auth.conf"),
             "--state-dir", os.path.join(self.tmp, "state")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_path(self.sock + "-ro", self.hvd, "virthypervd")

    def count(self, what, error=None):
        with self.lock:
            self.done[what] += 1
            if error is not None:
                code = ERR_NAMES.get(error.get_error_code(), "?")
                text = (error.get_error_message() or "").split(":")[-1]
                # one kind, whichever snapshot it named
                text = re.sub(r"'[^']*'", "'…'", text.strip())
                self.errors[f"{what}: {code}: {text[:70]}"] += 1

    def name(self):
        with self.lock:
            self.serial += 1
            return f"k{self.serial}"

    def client(self, n):
        rnd = random.Random(n)
        conn = libvirt.open(self.uri)
        vms = [VMS[n % len(VMS)], VMS[(n + 3) % len(VMS)]]
        while not self.stop.is_set():
            dom = conn.lookupByName(rnd.choice(vms))
            pick = rnd.random()
            try:
                snaps = dom.listAllSnapshots()
                if pick < 0.3 or not snaps:
                    what = "create"
                    dom.snapshotCreateXML(
                        f"<domainsnapshot><name>{self.name()}</name>"
                        "</domainsnapshot>")
                elif pick < 0.45:
                    what = "revert"
                    dom.revertToSnapshot(rnd.choice(snaps),
                                         libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE)
                elif pick < 0.65:
                    what = "delete"
                    rnd.choice(snaps).delete()
                elif pick < 0.85:
                    what = "xml"
                    rnd.choice(snaps).getXMLDesc()
                else:
                    what = "list"
                    conn.listAllDomains()
                self.count(what)
            except libvirt.libvirtError as e:
                self.count(locals().get("what", "list"), e)
            time.sleep(rnd.uniform(0, 0.1))
        conn.close()

    def leaver(self, n):
        rnd = random.Random(1000 + n)
        while not self.stop.is_set():
            if rnd.random() < 0.5:
                p = subprocess.Popen(
                    ["virsh", "-q", "-c", self.uri, "snapshot-create-as",
                     rnd.choice(VMS), self.name()],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rnd.uniform(0, 0.4))
                p.send_signal(signal.SIGKILL)
                p.wait()
                self.count("virsh killed mid-create")
            else:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                hdr = struct.pack(">IIiIII", 0x20008086, 1, 66, 0, 1, 0)
                s.sendall(struct.pack(">I", 28) + hdr)
                s.close()
                self.count("raw client closed early")
            time.sleep(rnd.uniform(0, 0.2))

    def faults(self):
        rnd = random.Random(7)
        while not self.stop.wait(rnd.uniform(0.3, 1.5)):
            fault = {"op": "http-fault",
                     "fault": rnd.choice(["drop", "500", "malformed"]),
                     "after": rnd.random() < 0.3}
            target = rnd.choice([("Get", "Msvm_ConcreteJob"),
                                 ("Invoke", None), ("Enumerate", None),
                                 (None, None)])
            if target[0]:
                fault["action"] = target[0]
            if target[1]:
                fault["class"] = target[1]
            self.control(**fault)
            self.count(f"fault injected: {fault['fault']}")
            if self.hvd.poll() is not None:
                self.restarts += 1
                self.start_daemon()

    def compare(self):
        """The daemon's trees against host.json, once all is quiet."""
        with open(os.path.join(self.tmp, "host", "host.json")) as f:
            host = {vm["name"]: sorted(s["name"] for s in vm["snapshots"])
                    for vm in json.load(f)["vms"]}
        conn = libvirt.open(self.uri)
        mismatches = 0
        for vm in VMS:
            mine = sorted(s.getName() for s in
                          conn.lookupByName(vm).listAllSnapshots())
            unnamed = [n for n in host[vm] if n.startswith(vm + " - (")]
            same = mine == host[vm] and not unnamed
            mismatches += not same
            print(f"  {vm:8} daemon {len(mine):3}  host {len(host[vm]):3}  "
                  f"{'match' if same else 'MISMATCH'}"
                  + (f"  (unnamed on the host: {len(unnamed)})"
                     if unnamed else ""))
        conn.close()
        return mismatches


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    libvirt.registerErrorHandler(lambda *_: None, None)  # counted instead
    with tempfile.TemporaryDirectory() as tmp:
        soak = Soak(os.path.abspath(args.build), tmp, args.clients)
        soak.start()
        threads = [threading.Thread(target=soak.client, args=(n,))
                   for n in range(args.clients - 2)]
        threads += [threading.Thread(target=soak.leaver, args=(n,))
                    for n in range(2)]
        threads.append(threading.Thread(target=soak.faults))
        started = time.monotonic()
        for t in threads:
            t.start()
        soak.stop.wait(args.seconds)
        soak.stop.set()
        for t in threads:
            t.join()
        took = time.monotonic() - started
        soak.control(op="latency", ms=0)
        soak.control(op="clear-faults")
        alive = soak.hvd.poll() is None
        print(f"{args.clients} clients, {took:.0f} s, hypervsim 20 ms late "
              "with drops, 500s and garbled answers")
        print("operations:")
        for what, n in sorted(soak.done.items()):
            print(f"  {n:6}  {what}")
        print("errors by kind:")
        for what, n in soak.errors.most_common():
            print(f"  {n:6}  {what}")
        print(f"daemon restarts: {soak.restarts} "
              f"(alive at the end: {'yes' if alive else 'NO'})")
        print("trees, daemon against host:")
        mismatches = soak.compare()
        for p in (soak.hvd, soak.sim):
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
        sys.exit(1 if mismatches or soak.restarts or not alive else 0)


if __name__ == "__main__":
    main()
