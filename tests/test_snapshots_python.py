"""Domain snapshots through python3-libvirt: the virsh scenario's calls,
the lifecycle events of a revert, job info while Hyper-V merges, and two
clients racing for the same VM."""

import queue
import threading

import libvirt

import taptest
from hvd_env import EventLoop, expect_event
from test_snapshots_virsh import SnapshotSession

FORCE = libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE
RUNNING = libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING


def snapshot_xml(name, description=None):
    desc = f"<description>{description}</description>" if description else ""
    return f"<domainsnapshot><name>{name}</name>{desc}</domainsnapshot>"


class Snapshots(SnapshotSession):
    def setUp(self):
        EventLoop.start()
        super().setUp()
        self.conn = libvirt.open(self.uri)
        self.addCleanup(self.conn.close)
        self.conn.setKeepAlive(2, 3)
        self.dom = self.conn.lookupByName("web1")
        self.events = queue.Queue()
        cb = self.conn.domainEventRegisterAny(
            self.dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            lambda c, d, e, det, o: self.events.put((e, det)), None)
        self.addCleanup(self.conn.domainEventDeregisterAny, cb)

    def expect(self, event, detail):
        expect_event(self, self.events, (event, detail))

    def names(self, snaps):
        return sorted(s.getName() for s in snaps)

    def test_tree(self):
        dom = self.dom
        self.write("python-1")
        p1 = dom.snapshotCreateXML(snapshot_xml("p1", "one"))
        self.write("python-2")
        p2 = dom.snapshotCreateXML(snapshot_xml("p2"))
        self.assertEqual(p1.getName(), "p1")
        self.assertEqual(self.names(dom.listAllSnapshots()), ["p1", "p2"])
        self.assertEqual(dom.snapshotNum(), 2)
        self.assertEqual(sorted(dom.snapshotListNames()), ["p1", "p2"])
        self.assertEqual(p2.getParent().getName(), "p1")
        with self.assertRaises(libvirt.libvirtError) as e:
            p1.getParent()
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT)
        self.assertEqual(e.exception.get_error_domain(),
                         libvirt.VIR_FROM_DOMAIN_SNAPSHOT)
        self.assertTrue(dom.hasCurrentSnapshot())
        self.assertEqual(dom.snapshotCurrent().getName(), "p2")
        self.assertTrue(p2.isCurrent())
        self.assertFalse(p1.isCurrent())
        self.assertTrue(p1.hasMetadata())
        self.assertEqual(p1.numChildren(), 1)
        self.assertEqual(p1.listChildrenNames(), ["p2"])
        self.assertEqual(self.names(p1.listAllChildren(
            libvirt.VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS)), ["p2"])
        self.assertEqual(dom.snapshotLookupByName("p1").getName(), "p1")
        self.assert_valid(p1.getXMLDesc(), "/usr/share/libvirt/schemas/"
                          "domainsnapshot.rng")

        # starting a memoryless snapshot in a running domain is risky
        with self.assertRaises(libvirt.libvirtError) as e:
            dom.revertToSnapshot(p1, RUNNING)
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_SNAPSHOT_REVERT_RISKY)
        dom.revertToSnapshot(p1, FORCE | RUNNING)
        self.expect(libvirt.VIR_DOMAIN_EVENT_STOPPED,
                    libvirt.VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT)
        self.expect(libvirt.VIR_DOMAIN_EVENT_STARTED,
                    libvirt.VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT)
        self.assertEqual(self.read(8), "python-1")
        self.assertTrue(dom.isActive())
        self.assertEqual(dom.state(), [libvirt.VIR_DOMAIN_RUNNING,
                                       libvirt.VIR_DOMAIN_RUNNING_FROM_SNAPSHOT])
        dom.revertToSnapshot(p2, FORCE | libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED)
        self.expect(libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
                    libvirt.VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT)
        self.assertEqual(dom.state(), [libvirt.VIR_DOMAIN_PAUSED,
                                       libvirt.VIR_DOMAIN_PAUSED_FROM_SNAPSHOT])
        self.assertEqual(self.read(8), "python-2")

        before = self.read(8)
        p1.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
        self.assertEqual(dom.listAllSnapshots(), [])
        self.assertFalse(dom.hasCurrentSnapshot())
        self.assertEqual(self.read(8), before)
        self.check_files()

    def test_merge_job_and_race(self):
        dom = self.dom
        dom.snapshotCreateXML(snapshot_xml("m1"))
        self.write("after-m1")
        # the merge takes 5 s on the host, longer than the deleting
        # client waits for a keepalive answer
        self.control(op="fail-job", job_type=72, delay_ms=5000)
        results = {}

        def delete(key):
            conn = libvirt.open(self.uri)
            conn.setKeepAlive(1, 2)
            try:
                conn.lookupByName("web1").snapshotLookupByName(
                    "m1").delete()
                results[key] = None
            except libvirt.libvirtError as e:
                results[key] = e
            finally:
                conn.close()

        first = threading.Thread(target=delete, args=("first",))
        first.start()
        seen = []
        while first.is_alive():
            info = dom.jobInfo()
            if info[0] != libvirt.VIR_DOMAIN_JOB_NONE:
                seen.append(info)
                if len(seen) == 3:
                    # a second client, while the first one's merge runs
                    delete("second")
            first.join(0.2)
        self.assertIsNone(results["first"])
        self.assertIsInstance(results["second"], libvirt.libvirtError)
        self.assertIn("busy", str(results["second"]))
        self.assertTrue(seen)
        self.assertEqual(seen[0][0], libvirt.VIR_DOMAIN_JOB_UNBOUNDED)
        # dataProcessed carries Hyper-V's PercentComplete
        self.assertGreater(max(s[4] for s in seen), 0)
        self.assertEqual(dom.jobInfo()[0], libvirt.VIR_DOMAIN_JOB_NONE)
        self.assertEqual(dom.listAllSnapshots(), [])
        self.assertEqual(self.read(8), "after-m1")
        self.check_files()


if __name__ == "__main__":
    taptest.main()
