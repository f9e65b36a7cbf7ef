"""python3-libvirt against virthypervd and hypervsim, with and without an
event loop: lookups, information, XML, lifecycle calls, error codes, and
lifecycle events for changes the daemon made and changes made on the host
behind its back."""

import queue

import libvirt

import taptest
from hvd_env import DaemonSession, EventLoop, expect_event

EV = libvirt


class WithoutEventLoop(DaemonSession):
    """A plain script: no event loop, so no keepalive either."""

    def test_calls(self):
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        self.assertEqual(conn.getType(), "HYPERV")
        self.assertEqual(conn.getHostname(), "HV01")
        self.assertEqual(conn.getInfo()[0], "x86_64")
        doms = {d.name(): d for d in conn.listAllDomains()}
        self.assertEqual(sorted(doms), ["db1", "mail1", "web1"])
        web1 = conn.lookupByName("web1")
        self.assertEqual(web1.UUIDString(), doms["web1"].UUIDString())
        self.assertEqual(conn.lookupByUUIDString(web1.UUIDString()).name(),
                         "web1")
        self.assertEqual(conn.lookupByID(web1.ID()).name(), "web1")
        self.assertEqual(web1.state(), [libvirt.VIR_DOMAIN_RUNNING,
                                        libvirt.VIR_DOMAIN_RUNNING_BOOTED])
        state, maxmem, mem, vcpus, _ = web1.info()
        self.assertEqual(state, libvirt.VIR_DOMAIN_RUNNING)
        self.assertGreater(maxmem, 0)
        self.assertGreater(vcpus, 0)
        self.assertTrue(web1.isActive())
        self.assertTrue(web1.isPersistent())
        self.assertFalse(web1.autostart())
        self.assert_valid(web1.XMLDesc(0), "domain.rng")
        active = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        self.assertEqual([d.name() for d in active], ["web1"])
        shutoff = conn.listAllDomains(
            libvirt.VIR_CONNECT_LIST_DOMAINS_SHUTOFF)
        self.assertEqual(sorted(d.name() for d in shutoff), ["db1", "mail1"])

        db1 = doms["db1"]
        self.assertEqual(db1.ID(), -1)
        db1.create()
        self.assertTrue(db1.isActive())
        db1.suspend()
        self.assertEqual(db1.state()[0], libvirt.VIR_DOMAIN_PAUSED)
        db1.resume()
        db1.destroy()
        self.assertEqual(db1.state()[0], libvirt.VIR_DOMAIN_SHUTOFF)

    def test_errors(self):
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        with self.assertRaises(libvirt.libvirtError) as e:
            conn.lookupByName("nosuch")
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_NO_DOMAIN)
        self.assertEqual(e.exception.get_error_domain(),
                         libvirt.VIR_FROM_HYPERV)
        self.assertIn("Domain not found: no domain with matching name "
                      "'nosuch'", str(e.exception))
        db1 = conn.lookupByName("db1")
        with self.assertRaises(libvirt.libvirtError) as e:
            db1.suspend()
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_INVALID)
        with self.assertRaises(libvirt.libvirtError) as e:
            db1.XMLDesc(1 << 20)
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_INVALID_ARG)
        # an API the daemon does not serve: "not supported", as libvirt
        with self.assertRaises(libvirt.libvirtError) as e:
            db1.setMemory(1024)
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_NO_SUPPORT)

    def test_read_only_socket(self):
        conn = libvirt.open(f"hyperv+unix:///system?socket={self.sock}-ro")
        self.addCleanup(conn.close)
        web1 = conn.lookupByName("web1")
        self.assertTrue(web1.isActive())
        with self.assertRaises(libvirt.libvirtError) as e:
            web1.destroy()
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_DENIED)
        self.assertTrue(web1.isActive())


class WithEventLoop(DaemonSession):
    def setUp(self):
        EventLoop.start()
        super().setUp()
        self.conn = libvirt.open(self.uri)
        self.conn.setKeepAlive(5, 3)
        self.events = queue.Queue()
        self.cb = self.conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self.on_event, None)

    def tearDown(self):
        self.conn.domainEventDeregisterAny(self.cb)
        self.conn.close()

    def on_event(self, conn, dom, event, detail, opaque):
        self.events.put((dom.name(), event, detail))

    def expect(self, name, event, detail):
        expect_event(self, self.events, (name, event, detail))

    def test_events_of_calls(self):
        db1 = self.conn.lookupByName("db1")
        db1.create()
        self.expect("db1", libvirt.VIR_DOMAIN_EVENT_STARTED,
                    libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED)
        db1.suspend()
        self.expect("db1", libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
                    libvirt.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED)
        db1.resume()
        self.expect("db1", libvirt.VIR_DOMAIN_EVENT_RESUMED,
                    libvirt.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED)
        db1.shutdown()
        self.expect("db1", libvirt.VIR_DOMAIN_EVENT_STOPPED,
                    libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
        db1.create()
        self.expect("db1", libvirt.VIR_DOMAIN_EVENT_STARTED,
                    libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED)
        db1.destroy()
        self.expect("db1", libvirt.VIR_DOMAIN_EVENT_STOPPED,
                    libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED)

    def test_events_from_the_host(self):
        # changes made on the host are found by polling
        self.control(op="set-vm", name="mail1", state="running")
        self.expect("mail1", libvirt.VIR_DOMAIN_EVENT_STARTED,
                    libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED)
        self.control(op="set-vm", name="web1", state="saved")
        self.expect("web1", libvirt.VIR_DOMAIN_EVENT_STOPPED,
                    libvirt.VIR_DOMAIN_EVENT_STOPPED_SAVED)
        self.control(op="add-vm", name="new1")
        self.expect("new1", libvirt.VIR_DOMAIN_EVENT_DEFINED,
                    libvirt.VIR_DOMAIN_EVENT_DEFINED_ADDED)
        self.control(op="remove-vm", name="new1")
        self.expect("new1", libvirt.VIR_DOMAIN_EVENT_UNDEFINED,
                    libvirt.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED)

    def test_events_of_one_domain(self):
        seen = queue.Queue()
        db1 = self.conn.lookupByName("db1")
        cb = self.conn.domainEventRegisterAny(
            db1, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            lambda c, d, e, det, o: seen.put(d.name()), None)
        self.conn.lookupByName("mail1").create()
        db1.create()
        self.assertEqual(seen.get(timeout=15), "db1")
        self.assertTrue(seen.empty())
        self.conn.domainEventDeregisterAny(cb)


if __name__ == "__main__":
    taptest.main()
