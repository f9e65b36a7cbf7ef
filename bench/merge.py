#!/usr/bin/python3
"""Merge benchmark: a VHDX child holding N MiB merged into its parent, next
to `qemu-img commit` of a qcow2 overlay holding the same extents and a
`dd conv=fdatasync` of the same bytes; and creating a differencing disk
next to `qemu-img create -f qcow2 -b`. Warm page cache; median of runs.

usage: bench/merge.py [--mib N] [--runs R] [--dir DIR]  (VIRT_VHDX=path)
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

MB = 1 << 20
VV = os.environ.get("VIRT_VHDX", "build/tools/virt-vhdx")


def sh(*args, stdin=None):
    subprocess.run(args, input=stdin, check=True, stdout=subprocess.DEVNULL)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def touch_memory(gib):
    """Writes gib GiB of memory and frees it. On a virtual machine whose host
    backs guest memory lazily and takes back pages the guest has freed (free
    page reporting), the first write to such a page is a host fault: it would
    land on whichever tool gets those page-cache pages, depending on how long
    its set-up took, and swamp the differences measured here. So it is done
    right before every measured run, for every tool alike."""
    chunk = b"\x01" * (256 * MB)
    held = [bytearray(chunk) for _ in range(gib * 4)]
    del held


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--touch-gib", type=int, default=4,
                    help="memory written before each measured run (0: none)")
    a = ap.parse_args()
    n = a.mib
    work = tempfile.mkdtemp(prefix="bench-merge-", dir=a.dir)
    p = lambda name: os.path.join(work, name)
    data = os.urandom(n * MB)
    with open(p("data.bin"), "wb") as f:
        f.write(data)
    virtual = max(4 * n, 64)  # extents of 1 MiB every 4 MiB

    results = {}
    for layout in ("contiguous", "spread"):
        extents = ([(0, n * MB)] if layout == "contiguous" else
                   [(i * 4 * MB, MB) for i in range(n)])

        # VHDX: base with 32 MiB blocks, child with 2 MiB blocks (Hyper-V)
        def vhdx_prepare():
            sh(VV, "create", p("base.vhdx"), "--size", f"{virtual}M")
            sh(VV, "create", p("child.avhdx"), "--parent", p("base.vhdx"))
            at = 0
            for off, length in extents:
                sh(VV, "write", p("child.avhdx"), "--offset", str(off),
                   stdin=data[at : at + length])
                at += length

        def qcow_prepare():
            sh("qemu-img", "create", "-f", "qcow2", p("base.qcow2"),
               f"{virtual}M")
            sh("qemu-img", "create", "-f", "qcow2", "-b", p("base.qcow2"),
               "-F", "qcow2", p("ov.qcow2"))
            cmds = []
            for i, (off, length) in enumerate(extents):
                cmds += ["-c", f"write -P {i % 250 + 1} {off} {length}"]
            sh("qemu-io", "-f", "qcow2", *cmds, p("ov.qcow2"))

        def qcow_commit():
            sh("qemu-img", "commit", "-q", p("ov.qcow2"))
            fd = os.open(p("base.qcow2"), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)

        methods = {
            # --keep: qemu-img commit leaves its overlay too
            "vhdx": (vhdx_prepare,
                     lambda: sh(VV, "merge", "--keep", p("child.avhdx"))),
            "qcow": (qcow_prepare, qcow_commit),
            "dd": (lambda: None,
                   lambda: sh("dd", f"if={p('data.bin')}", f"of={p('out.bin')}",
                              "bs=1M", "conv=fdatasync", "status=none")),
        }
        times = {m: [] for m in methods}
        # rounds interleave the methods so that the disk's moods hit all
        for _ in range(a.runs):
            for m, (prepare, measure) in methods.items():
                for f in os.listdir(work):
                    if f != "data.bin":
                        os.unlink(p(f))
                prepare()
                os.sync()  # start from a quiet disk: no writeback of setup
                touch_memory(a.touch_gib)
                times[m].append(timed(measure))
        results[layout] = times

    print(f"merge of {n} MiB present in the child ({a.runs} rounds, warm "
          f"page cache, each run started after a sync and a "
          f"{a.touch_gib} GiB memory touch; median [best])")
    print(f"{'layout':<11} {'virt-vhdx merge':>18} {'qemu-img commit':>18} "
          f"{'dd fdatasync':>18} {'merge MB/s':>11} {'vs commit':>10} "
          f"{'vs dd':>6}")
    for layout, t in results.items():
        med = {m: statistics.median(v) for m, v in t.items()}
        best = {m: min(v) for m, v in t.items()}
        cell = lambda m: f"{med[m]:.3f}s [{best[m]:.3f}]"
        print(f"{layout:<11} {cell('vhdx'):>18} {cell('qcow'):>18} "
              f"{cell('dd'):>18} {n / med['vhdx']:>11.0f} "
              f"{med['qcow'] / med['vhdx']:>9.2f}x "
              f"{med['dd'] / med['vhdx']:>6.0%}")
    print("(vs commit > 1.00x: merge faster than qemu-img commit; "
          "vs dd: merge bandwidth as a share of dd's; targets 1.00x and 70%)")

    # creating a differencing disk
    sh(VV, "create", p("cbase.vhdx"), "--size", "40G")
    sh("qemu-img", "create", "-f", "qcow2", p("cbase.qcow2"), "40G")
    runs = 20

    def make_vhdx(i=[0]):
        i[0] += 1
        sh(VV, "create", p(f"c{i[0]}.avhdx"), "--parent", p("cbase.vhdx"))

    def make_qcow(i=[0]):
        i[0] += 1
        sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", p("cbase.qcow2"),
           "-F", "qcow2", p(f"c{i[0]}.qcow2"))

    tv = statistics.median(timed(make_vhdx) for _ in range(runs))
    tq = statistics.median(timed(make_qcow) for _ in range(runs))
    print(f"\ncreate a differencing child of a 40 GiB disk ({runs} runs, "
          f"median): virt-vhdx {tv * 1000:.1f} ms, qemu-img qcow2 -b "
          f"{tq * 1000:.1f} ms, ratio {tq / tv:.2f}x")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
