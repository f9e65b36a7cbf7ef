"""virthypervd against clients that misbehave: clients that close before
their reply, that never read, that stop while events flow, hundreds of
connections, connections that never open or stop mid-packet; each time
the daemon lives on and other clients are served."""

import signal
import struct
import subprocess
import threading
import time

import libvirt

import taptest
from hvd_env import VIRTHYPERVD, DaemonSession, EventLoop, wait_for
from rpc_raw import (CONNECT_CLOSE, CONNECT_GET_CAPABILITIES,
                     CONNECT_GET_HOSTNAME, CONNECT_LIST_ALL_DOMAINS,
                     DOMAIN_LOOKUP_BY_NAME, OPEN_ARGS, CONNECT_OPEN,
                     AUTH_LIST, RawClient, error_message, packet,
                     xdr_string)

LIST_ARGS = struct.pack(">iI", 1, 0)  # need_results, flags
CALLS = [
    (CONNECT_GET_HOSTNAME, b""),
    (DOMAIN_LOOKUP_BY_NAME, xdr_string("web1")),
    (CONNECT_LIST_ALL_DOMAINS, LIST_ARGS),
    (CONNECT_CLOSE, b""),
    (CONNECT_GET_CAPABILITIES, b""),
]
# what "served at once" means here: far below a hang, far above a call
SERVED_WITHIN = 5.0


class Robust(DaemonSession):
    def assert_served(self):
        """Another client is served, promptly, and the daemon lives."""
        start = time.monotonic()
        r = self.virsh("list", "--all")
        took = time.monotonic() - start
        print(f"# {self.id().split('.')[-1]}: virsh list served in "
              f"{took:.2f} s", flush=True)
        self.assertIn("web1", r.stdout)
        self.assertLess(took, SERVED_WITHIN, "virsh list took %.1f s" % took)
        self.assertIsNone(self.daemon.poll(), self.log())


class ClosingEarly(Robust):
    daemon_config = "workers = 2\n"

    def test_clients_close_before_reply(self):
        for i in range(100):
            c = RawClient(self.sock).open()
            c.send(*CALLS[i % len(CALLS)])
            c.close()
        self.assert_served()

    def test_clients_killed_while_calls_wait(self):
        # two workers and a slow host: calls queue up behind each other,
        # and their clients go away while they wait
        self.control(op="latency", ms=100)
        clients = []
        for i in range(20):
            c = RawClient(self.sock).open()
            c.send(CONNECT_LIST_ALL_DOMAINS, LIST_ARGS)
            c.send(*CALLS[i % len(CALLS)])
            clients.append(c)
        for c in clients:
            c.close()
        # the handshake of a virsh killed midway
        c = RawClient(self.sock)
        c.send(AUTH_LIST)
        c.send(CONNECT_OPEN, OPEN_ARGS)
        c.close()
        self.control(op="latency", ms=0)
        self.assert_served()


class Unread(Robust):
    def test_pipelined_calls_never_read(self):
        c = RawClient(self.sock).open()
        self.addCleanup(c.close)
        c.sock.sendall(b"".join(
            packet(CONNECT_LIST_ALL_DOMAINS, LIST_ARGS, serial)
            for serial in range(3, 503)))
        self.assert_served()
        # the stalled client is not read past max_client_requests: once it
        # reads, it gets its replies
        got = {c.reply()[1] for _ in range(50)}
        self.assertEqual(len(got), 50)
        self.assertTrue(got <= set(range(3, 503)))
        self.assert_served()

    def test_stopped_event_listener(self):
        EventLoop.start()
        stopped = subprocess.Popen(
            ["virsh", "-c", self.uri, "event", "--all", "--loop",
             "--event", "lifecycle"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stopped.wait)
        self.addCleanup(stopped.kill)
        time.sleep(1)
        stopped.send_signal(signal.SIGSTOP)
        self.addCleanup(stopped.send_signal, signal.SIGCONT)

        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        seen = []
        lock = threading.Lock()

        def on_event(conn, dom, event, detail, opaque):
            with lock:
                seen.append(event)
        cb = conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_event, None)
        self.addCleanup(conn.domainEventDeregisterAny, cb)
        web1 = conn.lookupByName("web1")
        rounds = 40
        for _ in range(rounds):
            web1.suspend()
            web1.resume()
        wait_for("every event at the healthy listener",
                 lambda: len(seen) >= 2 * rounds)
        self.assertEqual(seen.count(libvirt.VIR_DOMAIN_EVENT_SUSPENDED),
                         rounds)
        self.assert_served()


class OutputLimit(Robust):
    daemon_config = "max_client_requests = 1000\nmax_client_output = 65536\n"

    def test_client_over_its_output_limit(self):
        c = RawClient(self.sock).open()
        self.addCleanup(c.close)
        try:
            for _ in range(1000):
                c.send(CONNECT_GET_CAPABILITIES)
        except (BrokenPipeError, ConnectionResetError):
            pass  # disconnected before all were sent
        wait_for("the disconnect of a client that does not read",
                 lambda: "max_client_output: disconnected" in self.log())
        self.assert_served()
        with self.assertRaises((EOFError, ConnectionResetError)):
            while True:
                c.reply()


class ManyClients(Robust):
    daemon_config = "max_clients = 400\n"

    def test_300_connections(self):
        clients = [RawClient(self.sock).open() for _ in range(300)]
        ro = [RawClient(self.sock + "-ro").open() for _ in range(20)]
        self.assert_served()
        for c in clients + ro:
            c.close()
        self.assert_served()


class Limits(Robust):
    daemon_config = ("max_clients = 8\nmax_anonymous_clients = 3\n"
                     "read_timeout = 1\nhandshake_timeout = 5\n")

    def test_anonymous_clients_refused_then_timed_out(self):
        # each is accepted (it has had an answer) before virsh comes: the
        # two sockets are not accepted from in any set order
        idle = [RawClient(self.sock + "-ro") for _ in range(3)]
        for c in idle:
            c.call(AUTH_LIST)
        r = self.virsh("list", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("too many clients opening a connection", r.stderr)
        self.assertIn("max_anonymous_clients", r.stderr)
        # connections that never open are closed after handshake_timeout
        for c in idle:
            c.sock.settimeout(15)
            self.assertTrue(c.closed_by_peer())
            c.close()
        self.assert_served()

    def test_max_clients(self):
        clients = [RawClient(self.sock).open() for _ in range(8)]
        r = self.virsh("list", check=False)
        self.assertIn("too many clients", r.stderr)
        self.assertIn("max_clients", r.stderr)
        # a refused client gets one answer and is gone
        c = RawClient(self.sock)
        proc, serial, status, payload = c.call(AUTH_LIST)
        self.assertEqual(status, 1)
        self.assertIn("max_clients", error_message(payload))
        self.assertTrue(c.closed_by_peer())
        c.close()
        clients.pop().close()
        self.assert_served()
        for c in clients:
            c.close()

    def test_limit_that_is_not_a_number(self):
        conf = self.conf + ".bad"
        with open(conf, "w") as f:
            f.write(f"[daemon]\nmax_clients = lots\n\n"
                    f"[host hv01]\nurl = {self.sim_url}/wsman\n")
        r = subprocess.run(
            [VIRTHYPERVD, "--config", conf, "--socket",
             self.sock + ".other"], capture_output=True, text=True,
            timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("max_clients = 'lots' is not a whole number",
                      r.stderr)

    def test_packet_that_stalls(self):
        # the largest length there is, a header, then nothing
        c = RawClient(self.sock).open()
        c.sock.sendall(struct.pack(">I", 4 + 33554432) + b"\0" * 24)
        c.sock.settimeout(15)
        self.assertTrue(c.closed_by_peer())
        c.close()
        self.assertIn("in the middle of a packet", self.log())
        self.assert_served()


if __name__ == "__main__":
    taptest.main()
