"""Kerberos in a test realm on loopback (Debian's krb5kdc): virthypervd
with auth = kerberos reaches a hypervsim that requires sealing, its
credentials from a client keytab or a credential cache and no password
anywhere; and pywinrm's own WinRM Kerberos framing, with python3-gssapi
doing the Kerberos part that Debian's pykerberos lacks, against the same
host."""

# first: it sets up OpenSSL for pywinrm before anything loads it
from winrm_sim import NS, V2, envelope  # isort: skip

import base64
import os
import shutil
import tempfile

import gssapi
import gssapi.raw as graw
import requests
from winrm.encryption import Encryption

import taptest
from hvd_env import DaemonSession
from krb5_realm import Realm


class NegotiateKerberos(requests.auth.AuthBase):
    """requests' side of Negotiate with python3-gssapi, and the
    wrap_winrm / unwrap_winrm pywinrm's Encryption asks of it"""

    def __init__(self, host, ccache):
        self.name = gssapi.Name(f"HTTP@{host}",
                                gssapi.NameType.hostbased_service)
        self.creds = gssapi.Credentials(usage="initiate",
                                        store={"ccache": ccache})
        self.ctx = None

    def __call__(self, r):
        if self.ctx is None:
            flags = (gssapi.RequirementFlag.mutual_authentication |
                     gssapi.RequirementFlag.integrity |
                     gssapi.RequirementFlag.confidentiality)
            self.ctx = gssapi.SecurityContext(
                name=self.name, usage="initiate", flags=flags,
                mech=gssapi.MechType.kerberos, creds=self.creds)
            token = self.ctx.step()
            r.headers["Authorization"] = ("Negotiate " +
                                          base64.b64encode(token).decode())
            r.register_hook("response", self.answered)
        return r

    def answered(self, r, **kwargs):
        www = r.headers.get("WWW-Authenticate", "")
        if www.startswith("Negotiate ") and not self.ctx.complete:
            self.ctx.step(base64.b64decode(www[len("Negotiate "):]))
        return r

    def wrap_winrm(self, host, message):
        iov = graw.IOV(graw.IOVBufferType.header, message,
                       graw.IOVBufferType.padding, std_layout=False)
        graw.wrap_iov(self.ctx, iov, confidential=True)
        return iov[1].value + (iov[2].value or b""), iov[0].value

    def unwrap_winrm(self, host, message, header):
        iov = graw.IOV((graw.IOVBufferType.header, False, header), message,
                       std_layout=False)
        graw.unwrap_iov(self.ctx, iov)
        return iov[1].value


class Kerberos(DaemonSession):
    sim_args = ()
    credentials = "krb5_keytab"

    def setUp(self):
        if not shutil.which("krb5kdc", path="/usr/sbin:/usr/bin"):
            self.skipTest("Debian's krb5-kdc is not installed")
        self.realm_dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.realm_dir.cleanup)
        self.realm = Realm(self.realm_dir.name)
        self.addCleanup(self.realm.stop)
        # hypervsim, virthypervd and the tests read the realm's krb5.conf
        old = os.environ.get("KRB5_CONFIG")
        os.environ["KRB5_CONFIG"] = self.realm.conf
        self.addCleanup(self.restore_env, old)
        self.sim_args = ("--keytab", self.realm.host_keytab)
        super().setUp()

    @staticmethod
    def restore_env(old):
        if old is None:
            os.environ.pop("KRB5_CONFIG", None)
        else:
            os.environ["KRB5_CONFIG"] = old

    def write_config(self, credentials=None):
        super().write_config()
        kind = credentials or self.credentials
        value = (self.realm.user_keytab if kind == "krb5_keytab"
                 else self.realm.ccache)
        # by the name of the host's service principal, HTTP/localhost
        with open(self.conf, "w") as f:
            f.write(f"[daemon]\npoll_interval_ms = {self.poll_interval_ms}\n"
                    f"default_host = hv01\n[host hv01]\n"
                    f"url = http://localhost:{self.sim_port}/wsman\n"
                    f"auth = kerberos\n{kind} = {value}\n")
        # no password anywhere
        with open(self.auth, "w") as f:
            f.write("")

    def test_keytab_then_snapshots(self):
        self.assertIn("web1", self.virsh("list", "--all").stdout)
        self.virsh("snapshot-create-as", "db1", "kerberos")
        self.assertIn("kerberos", self.virsh("snapshot-list", "db1").stdout)
        self.virsh("snapshot-delete", "db1", "kerberos")
        self.assertNotIn("kerberos",
                         self.virsh("snapshot-list", "db1").stdout)

    def restart_with(self, credentials):
        self.stop_daemon(self.daemon)
        for path in (self.sock, self.sock + "-ro"):
            if os.path.exists(path):
                os.unlink(path)
        self.write_config(credentials)
        self.daemon = self.start_daemon()
        self.addCleanup(self.stop_daemon, self.daemon)

    def test_credential_cache(self):
        # without a ticket in the cache: refused, and the error says so
        self.restart_with("krb5_ccache")
        r = self.virsh("list", "--all", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Kerberos", r.stderr)
        # kinit, as k5start or a cron job would: the next call goes through
        self.realm.kinit()
        self.assertIn("db1", self.virsh("list", "--all").stdout)

    def test_pywinrm_framing(self):
        url = f"http://localhost:{self.sim_port}/wsman"
        session = requests.Session()
        self.realm.kinit()
        session.auth = NegotiateKerberos("localhost", self.realm.ccache)
        r = session.post(url, data=b"", headers={
            "Content-Type": "application/soap+xml;charset=UTF-8"})
        self.assertEqual(r.status_code, 200)
        self.assertTrue(session.auth.ctx.complete)
        enc = Encryption(session, "kerberos")
        body = envelope(url, NS["n"] + "/Enumerate", V2 + "*",
                        "<n:Enumerate><w:OptimizeEnumeration/><w:Filter "
                        "Dialect=\"http://schemas.microsoft.com/wbem/wsman/"
                        "1/WQL\">SELECT * FROM Msvm_ComputerSystem"
                        "</w:Filter></n:Enumerate>")
        for _ in range(3):
            req = enc.prepare_encrypted_request(session, url, body.encode())
            self.assertNotIn(b"Msvm_ComputerSystem", req.body)
            r = session.send(req)
            self.assertEqual(r.status_code, 200)
            self.assertTrue(r.headers["Content-Type"].startswith(
                "multipart/encrypted"))
            text = enc.parse_encrypted_response(r)
            self.assertIn(b"<p:ElementName>HV01</p:ElementName>", text)


if __name__ == "__main__":
    taptest.main()
