"""A libvirt remote-protocol client on a bare socket, for tests that must
do what no library client does: close before the reply, pipeline calls
and never read, hold a packet half sent."""

import socket
import struct

PROGRAM = 0x20008086
KEEPALIVE = 0x6B656570
CALL, REPLY, MESSAGE = 0, 1, 2

# procedure numbers of libvirt's remote_protocol.x
CONNECT_OPEN = 1
CONNECT_CLOSE = 2
CONNECT_GET_CAPABILITIES = 7
DOMAIN_LOOKUP_BY_NAME = 23
CONNECT_GET_HOSTNAME = 59
AUTH_LIST = 66
CONNECT_LIST_ALL_DOMAINS = 273
DOMAIN_LIST_ALL_SNAPSHOTS = 274


def xdr_string(text):
    data = text.encode()
    return struct.pack(">I", len(data)) + data + b"\0" * (-len(data) % 4)


def packet(proc, payload=b"", serial=1, prog=PROGRAM, typ=CALL):
    header = struct.pack(">IIiIII", prog, 1, proc, typ, serial, 0)
    return struct.pack(">I", 4 + len(header) + len(payload)) + header + payload


OPEN_ARGS = struct.pack(">II", 0, 0)  # no name, no flags


class RawClient:
    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.serial = 0

    def send(self, proc, payload=b""):
        self.serial += 1
        self.sock.sendall(packet(proc, payload, self.serial))
        return self.serial

    def recv_exactly(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("the daemon closed the connection")
            out += chunk
        return out

    def reply(self):
        """The next packet that is not keepalive: (proc, serial, status,
        payload)."""
        while True:
            length, = struct.unpack(">I", self.recv_exactly(4))
            data = self.recv_exactly(length - 4)
            prog, vers, proc, typ, serial, status = struct.unpack(
                ">IIiIII", data[:24])
            if prog != KEEPALIVE:
                return proc, serial, status, data[24:]

    def call(self, proc, payload=b""):
        serial = self.send(proc, payload)
        got = self.reply()
        assert got[1] == serial, got
        return got

    def open(self):
        self.call(AUTH_LIST)
        proc, serial, status, payload = self.call(CONNECT_OPEN, OPEN_ARGS)
        assert status == 0, payload
        return self

    def closed_by_peer(self):
        """True once the daemon has closed the connection."""
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def error_message(payload):
    """The message of a remote_error payload."""
    code, domain, has = struct.unpack(">iiI", payload[:12])
    if not has:
        return None
    n, = struct.unpack(">I", payload[12:16])
    return payload[16:16 + n].decode()
