"""The calls libvirt's clients make around snapshots, answered as
libvirt's own drivers answer them: domblkinfo, dommemstat, domjobinfo
(GET_JOB_STATS first), managed-save removal, the event registrations
virt-manager makes for objects Hyper-V does not have, the close event at
shutdown, CONNECT_GET_URI and the unknown-procedure error as libvirtd
fills it."""

import os
import re
import shutil
import signal
import struct
import threading

import libvirt

import rpc_raw
import taptest
from hvd_env import DaemonSession, EventLoop, wait_for

CONNECT_GET_URI = 110
CONNECT_REGISTER_CLOSE_CALLBACK = 360
CONNECT_EVENT_CONNECTION_CLOSED = 362


def xdr_string(payload, at):
    n, = struct.unpack(">I", payload[at:at + 4])
    return payload[at + 4:at + 4 + n].decode(), at + 4 + n + (-n % 4)


def xdr_optional_string(payload, at):
    has, = struct.unpack(">I", payload[at:at + 4])
    if not has:
        return None, at + 4
    return xdr_string(payload, at + 4)


class Calls(DaemonSession):
    def setUp(self):
        super().setUp()
        self.conn = libvirt.open(self.uri)
        self.addCleanup(self.conn.close)

    def test_block_info(self):
        dom = self.conn.lookupByName("web1")
        cap, alloc, phys = dom.blockInfo("sda")
        self.assertEqual(cap, 64 * 1024 * 1024, (cap, alloc, phys))
        self.assertEqual(alloc, phys)  # one file
        dom.snapshotCreateXML("<domainsnapshot><name>b1</name>"
                              "</domainsnapshot>")
        cap2, alloc2, phys2 = dom.blockInfo("sda")
        self.assertEqual(cap2, cap)
        # the chain holds both files; the new AVHDX grows as the guest
        # writes into it
        self.assertEqual(alloc2, phys + phys2)
        self.control(op="write", vm="web1", disk=0, offset=5 << 20,
                     text="new data")
        cap3, alloc3, phys3 = dom.blockInfo("sda")
        self.assertGreater(phys3, phys2)
        self.assertEqual(alloc3, phys + phys3)
        cap2, alloc2, phys2 = cap3, alloc3, phys3
        # named by the active file, as domblklist shows it
        path = re.search(r"<source file=[\"']([^\"']+)",
                         dom.XMLDesc()).group(1)
        self.assertTrue(path.lower().endswith(".avhdx"), path)
        self.assertEqual(dom.blockInfo(path), [cap2, alloc2, phys2])
        info = self.virsh("domblkinfo", "web1", "sda", "--human").stdout
        self.assertRegex(info, r"Capacity:\s+64\.000 MiB")
        with self.assertRaises(libvirt.libvirtError) as e:
            dom.blockInfo("sdz")
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_INVALID_ARG)
        self.assertIn("no disk 'sdz'", str(e.exception))

    def test_avhdx_names(self):
        """Each checkpoint's AVHDX is named <root disk>_<GUID>.avhdx, as
        Hyper-V names them, also for a root disk with an underscore of its
        own (web1's second disk, web1_1.vhdx)."""
        dom = self.conn.lookupByName("web1")
        for n in range(8):
            dom.snapshotCreateXML(f"<domainsnapshot><name>n{n}</name>"
                                  "</domainsnapshot>")
        files = re.findall(r"<source file=[\"']([^\"']+)",
                           dom.XMLDesc())
        guid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        tops = [f.split("\\")[-1] for f in files
                if f.lower().endswith(".avhdx")]
        self.assertRegex(" ".join(tops), rf"(?i)\bweb1_{guid}\.avhdx\b")
        self.assertRegex(" ".join(tops), rf"(?i)\bweb1_1_{guid}\.avhdx\b")
        for f in tops:
            self.assertRegex(f, rf"(?i)^web1(_1)?_{guid}\.avhdx$")

    def test_memory_stats(self):
        web1 = self.conn.lookupByName("web1")
        kib = web1.info()[2]  # the memory Hyper-V gives it
        self.assertEqual(web1.memoryStats(), {"actual": kib})
        self.assertIn(f"actual {kib}",
                      self.virsh("dommemstat", "web1").stdout)
        with self.assertRaises(libvirt.libvirtError) as e:
            self.conn.lookupByName("db1").memoryStats()
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_INVALID)

    def test_vcpu_count(self):
        out = self.virsh("vcpucount", "web1").stdout
        for line in ("maximum +config +2", "maximum +live +2",
                     "current +config +2", "current +live +2"):
            self.assertRegex(out, line)
        db1 = self.conn.lookupByName("db1")
        self.assertEqual(db1.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG |
                                        libvirt.VIR_DOMAIN_VCPU_MAXIMUM), 2)
        with self.assertRaises(libvirt.libvirtError) as e:
            db1.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_INVALID)

    def test_job_stats(self):
        dom = self.conn.lookupByName("web1")
        self.assertEqual(dom.jobStats(), {"type": libvirt.VIR_DOMAIN_JOB_NONE})
        self.assertIn("Job type:         None",
                      self.virsh("domjobinfo", "web1").stdout)
        snap = dom.snapshotCreateXML("<domainsnapshot><name>j1</name>"
                                     "</domainsnapshot>")
        done = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED |
                            libvirt.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)
        self.assertEqual(done["type"], libvirt.VIR_DOMAIN_JOB_COMPLETED, done)
        self.assertEqual(done["operation"],
                         libvirt.VIR_DOMAIN_JOB_OPERATION_SNAPSHOT)
        self.assertTrue(done["success"])

        # a slow merge: the delete shows while it runs, then as completed
        self.control(op="slow-merge", ms=300)
        seen = []

        def watch():
            c = libvirt.open(self.uri)
            d = c.lookupByName("web1")
            while not stop.is_set():
                st = d.jobStats()
                if st["type"] != libvirt.VIR_DOMAIN_JOB_NONE:
                    seen.append(st)
                stop.wait(0.05)
            c.close()
        stop = threading.Event()
        t = threading.Thread(target=watch)
        t.start()
        snap.delete()
        stop.set()
        t.join()
        self.assertTrue(seen, "no job seen while the delete ran")
        self.assertEqual(seen[0]["type"], libvirt.VIR_DOMAIN_JOB_UNBOUNDED)
        self.assertEqual(seen[0]["operation"],
                         libvirt.VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_DELETE)
        self.assertEqual(seen[0]["data_total"], 100)
        out = self.virsh("domjobinfo", "web1", "--completed").stdout
        self.assertRegex(out, r"Job type:\s+Completed")
        self.assertRegex(out, r"Operation:\s+Snapshot delete")
        # read once without KEEP_COMPLETED, as libvirt's drivers do
        self.assertEqual(dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED),
                         {"type": libvirt.VIR_DOMAIN_JOB_NONE})

    def test_managed_save_remove(self):
        self.control(op="set-vm", name="db1", state="saved")
        dom = self.conn.lookupByName("db1")
        wait_for("the saved state", lambda: dom.hasManagedSaveImage())
        dom.managedSaveRemove()
        self.assertFalse(dom.hasManagedSaveImage())
        self.assertEqual(dom.state()[0], libvirt.VIR_DOMAIN_SHUTOFF)
        dom.managedSaveRemove()  # nothing left: nothing to do

    def test_other_event_registrations(self):
        EventLoop.start()
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        ids = [
            conn.networkEventRegisterAny(
                None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
                lambda *a: None, None),
            conn.storagePoolEventRegisterAny(
                None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
                lambda *a: None, None),
            conn.storagePoolEventRegisterAny(
                None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH,
                lambda *a: None, None),
            conn.nodeDeviceEventRegisterAny(
                None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE,
                lambda *a: None, None),
        ]
        # domain events still come while they are registered
        events = []
        conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            lambda c, d, ev, detail, o: events.append((d.name(), ev)), None)
        self.conn.lookupByName("db1").create()
        wait_for("db1's start event",
                 lambda: ("db1", libvirt.VIR_DOMAIN_EVENT_STARTED) in events)
        conn.networkEventDeregisterAny(ids[0])
        conn.storagePoolEventDeregisterAny(ids[1])
        conn.storagePoolEventDeregisterAny(ids[2])
        conn.nodeDeviceEventDeregisterAny(ids[3])

    def test_disk_snapshot_state(self):
        """A checkpoint without memory of a running VM is disk-snapshot, and
        stays so once the VM stops; one of the VM off is shutoff."""
        web1 = self.conn.lookupByName("web1")

        def state(name):
            xml = web1.snapshotLookupByName(name).getXMLDesc()
            return re.search(r"<state>(.*)</state>", xml).group(1)
        web1.snapshotCreateXML("<domainsnapshot><name>live</name>"
                               "</domainsnapshot>")
        self.assertEqual(state("live"), "disk-snapshot")
        # what the daemon recorded is gone: the VM's TimeOfLastStateChange,
        # older than the checkpoint, says it anyway
        taken = os.path.join(self.dir, "state", "snapshots", "hv01")
        shutil.rmtree(taken)
        web1.listAllSnapshots()  # a listing reads the host anew
        self.assertEqual(state("live"), "disk-snapshot")
        self.assertTrue(os.listdir(taken))
        web1.destroy()
        self.assertEqual(state("live"), "disk-snapshot")
        web1.snapshotCreateXML("<domainsnapshot><name>off</name>"
                               "</domainsnapshot>")
        self.assertEqual(state("off"), "shutoff")
        names = lambda f: sorted(s.getName() for s in  # noqa: E731
                                 web1.listAllSnapshots(f))
        self.assertEqual(names(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY),
                         ["live"])
        self.assertEqual(names(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE),
                         ["off"])

    def raw(self):
        c = rpc_raw.RawClient(self.sock)
        self.addCleanup(c.close)
        return c

    def test_unknown_procedure_fields(self):
        c = self.raw().open()
        proc, serial, status, payload = c.call(999)
        self.assertEqual(status, 1)
        code, domain = struct.unpack(">ii", payload[:8])
        message, at = xdr_optional_string(payload, 8)
        level, has_dom = struct.unpack(">iI", payload[at:at + 8])
        at += 8
        str1, at = xdr_optional_string(payload, at)
        str2, at = xdr_optional_string(payload, at)
        str3, at = xdr_optional_string(payload, at)
        int1, int2, has_net = struct.unpack(">iiI", payload[at:at + 12])
        # what libvirtd's virReportError fills
        self.assertEqual((code, domain, level), (libvirt.VIR_ERR_RPC,
                                                 libvirt.VIR_FROM_RPC, 2))
        self.assertEqual(message, "unknown procedure: 999")
        self.assertEqual((has_dom, str1, str2, str3, int1, int2, has_net),
                         (0, "%s", message, None, -1, -1, 0))

    def test_get_uri(self):
        c = self.raw()
        c.call(rpc_raw.AUTH_LIST)
        name = "hyperv:///system"
        status = c.call(rpc_raw.CONNECT_OPEN,
                        struct.pack(">I", 1) + rpc_raw.xdr_string(name) +
                        struct.pack(">I", 0))[2]
        self.assertEqual(status, 0)
        proc, serial, status, payload = c.call(CONNECT_GET_URI)
        self.assertEqual((status, xdr_string(payload, 0)[0]), (0, name))

    def test_close_event_at_shutdown(self):
        c = self.raw().open()
        self.assertEqual(c.call(CONNECT_REGISTER_CLOSE_CALLBACK)[2], 0)
        quiet = self.raw().open()  # registered none: told nothing
        self.daemon.send_signal(signal.SIGTERM)
        proc, serial, status, payload = c.reply()
        self.assertEqual(proc, CONNECT_EVENT_CONNECTION_CLOSED)
        self.assertEqual(struct.unpack(">i", payload)[0],
                         libvirt.VIR_CONNECT_CLOSE_REASON_EOF)
        self.assertTrue(c.closed_by_peer())
        with self.assertRaises(EOFError):
            quiet.reply()
        self.assertEqual(self.daemon.wait(timeout=30), 0, self.log())

    def test_close_callback_binding(self):
        EventLoop.start()
        conn = libvirt.open(self.uri)
        reasons = []
        conn.registerCloseCallback(lambda c, r, o: reasons.append(r), None)
        self.daemon.send_signal(signal.SIGTERM)
        wait_for("the close callback", lambda: reasons)
        self.assertEqual(reasons, [libvirt.VIR_CONNECT_CLOSE_REASON_EOF])


if __name__ == "__main__":
    taptest.main()
