#!/usr/bin/python3
"""Backup benchmark: the cost of an incremental backup against the bytes
the guest changed, next to a full backup of the same disk and to
`qemu-img convert` copying that disk, in one run. python3-libvirt drives
virthypervd on hypervsim, whose answers wait --latency ms each, as a real
host's do. For each backup: the time from backup-begin to the job's end,
the bytes of VHDX written, the bytes changed (checkpoint-dumpxml --size
before it), and the WS-Man round trips.

usage: bench/backup.py [--disk-mib N] [--latency MS] [--build DIR]
"""

import argparse
import glob
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, "/usr/lib/python3/dist-packages")
import libvirt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import free_port, wait_path  # noqa: E402

MB = 1 << 20


def control(url, **request):
    req = urllib.request.Request(
        url + "/control", json.dumps(request).encode(),
        {"Content-Type": "application/json",
         "Authorization": "Basic QWRtaW5pc3RyYXRvcjpzZWNyZXQ="})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def folder_bytes(path):
    return sum(os.path.getsize(f) for f in
               glob.glob(os.path.join(path, "**", "*.vhdx"), recursive=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--disk-mib", type=int, default=256)
    ap.add_argument("--latency", type=int, default=20)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-backup-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = subprocess.Popen(
        [os.path.join(args.build, "sim/hypervsim"), "--state-dir",
         os.path.join(tmp, "host"), "--listen", f"127.0.0.1:{port}",
         "--user", "Administrator", "--password", "secret"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    control(url, op="add-vm", name="bench", disks=1, disk_mb=args.disk_mib)
    with open(os.path.join(tmp, "host", "host.json")) as f:
        disk = [v for v in json.load(f)["vms"]
                if v["name"] == "bench"][0]["disks"][0]["path"]
    # the guest's data before the first backup: random, so nothing is
    # skipped as zeros
    rnd = random.Random(1)
    with subprocess.Popen([os.path.join(args.build, "tools/virt-vhdx"),
                           "write", disk, "--offset", "0"],
                          stdin=subprocess.PIPE) as w:
        for _ in range(args.disk_mib):
            w.stdin.write(rnd.randbytes(MB))
    auth = os.path.join(tmp, "auth.conf")
    with open(auth, "w") as f:
        f.write("[credentials-sim]\nusername = Administrator\n"
                "password = secret\n[auth-hyperv-127.0.0.1]\n"
                "credentials = sim\n")
    sock = os.path.join(tmp, "hvd.sock")
    hvd = subprocess.Popen(
        [os.path.join(args.build, "src/virthypervd"), "--socket", sock,
         "--host", f"{url}/wsman", "--auth-file", auth, "--state-dir",
         os.path.join(tmp, "state")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_path(sock + "-ro", hvd, "virthypervd")
    control(url, op="latency", ms=args.latency)
    conn = libvirt.open(f"hyperv+unix:///system?socket={sock}")
    dom = conn.lookupByName("bench")

    def backup(name, since=None):
        folder = os.path.join(tmp, name)
        win = "C:" + folder.replace("/", "\\")
        inc = f"<incremental>{since}</incremental>" if since else ""
        xml = (f"<domainbackup>{inc}<disks><disk name='sda' type='file'>"
               f"<target file='{win}\\Virtual Hard Disks\\bench.vhdx'/>"
               "</disk></disks></domainbackup>")
        changed = None
        if since:
            doc = dom.checkpointLookupByName(since).getXMLDesc(
                libvirt.VIR_DOMAIN_CHECKPOINT_XML_SIZE |
                libvirt.VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN)
            changed = int(re.search(r'size="(\d+)"', doc).group(1))
        trips = control(url, op="counters")["requests"]
        t = time.perf_counter()
        dom.backupBegin(xml, f"<domaincheckpoint><name>{name}</name>"
                             "</domaincheckpoint>")
        while dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE:
            time.sleep(0.01)
        took = time.perf_counter() - t
        done = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        if done["type"] != libvirt.VIR_DOMAIN_JOB_COMPLETED:
            sys.exit(f"backup {name} failed: {done}")
        trips = control(url, op="counters")["requests"] - trips
        return took, folder_bytes(folder), changed, trips

    rows = []
    t = time.perf_counter()
    subprocess.run(["qemu-img", "convert", "-f", "vhdx", "-O", "vhdx", disk,
                    os.path.join(tmp, "qemu-img.vhdx")], check=True)
    ref = time.perf_counter() - t
    rows.append(("qemu-img convert (full copy)", ref,
                 os.path.getsize(os.path.join(tmp, "qemu-img.vhdx")), None,
                 None))
    full = backup("full")
    rows.append(("full backup", *full))
    prev = "full"
    for mib in (1, 16, 64):
        mib = min(mib, args.disk_mib // 2)
        offset = rnd.randrange(0, (args.disk_mib - mib) * MB)
        for k in range(mib):
            control(url, op="write", vm="bench", disk=0,
                    offset=offset + k * MB, text="x" * MB)
        name = f"inc{mib}"
        rows.append((f"incremental, {mib} MiB written", *backup(name, prev)))
        prev = name

    print(f"# {args.disk_mib} MiB disk, {args.latency} ms per WS-Man answer")
    print(f"{'':<30} {'time s':>8} {'written MiB':>12} {'changed MiB':>12} "
          f"{'round trips':>12} {'time vs full':>13}")
    for label, took, written, changed, trips in rows:
        print(f"{label:<30} {took:8.2f} {written / MB:12.1f} "
              f"{'' if changed is None else f'{changed / MB:.1f}':>12} "
              f"{'' if trips is None else trips:>12} "
              f"{took / full[0]:12.2f}x")
    conn.close()
    hvd.terminate()
    sim.terminate()
    hvd.wait()
    sim.wait()
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
