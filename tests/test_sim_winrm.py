"""hypervsim driven by a WS-Management client nobody here wrote: Debian's
python3-winrm, its Transport sending raw SOAP written from the reference
(§9.5), as a third-party Hyper-V tool would."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid
import base64
import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

from winrm.exceptions import InvalidCredentialsError, WinRMTransportError
from winrm.transport import Transport

import taptest

HYPERVSIM = os.environ["HYPERVSIM"]
V2 = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
}
ANON = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def envelope(url, action, resource, body, selectors=None):
    sel = ""
    if selectors:
        sel = "<w:SelectorSet>" + "".join(
            f'<w:Selector Name="{k}">{v}</w:Selector>'
            for k, v in selectors.items()) + "</w:SelectorSet>"
    return f"""<s:Envelope xmlns:s="{NS['s']}" xmlns:a="{NS['a']}"
 xmlns:n="{NS['n']}" xmlns:w="{NS['w']}"><s:Header>
<a:To>{url}</a:To>
<w:ResourceURI s:mustUnderstand="true">{resource}</w:ResourceURI>
<a:ReplyTo><a:Address s:mustUnderstand="true">{ANON}</a:Address></a:ReplyTo>
<a:Action s:mustUnderstand="true">{action}</a:Action>
<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>
<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>
<w:OperationTimeout>PT60S</w:OperationTimeout>{sel}
</s:Header><s:Body>{body}</s:Body></s:Envelope>"""


class WinrmAgainstSim(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/wsman"
        self.proc = subprocess.Popen(
            [HYPERVSIM, "--state-dir", self.tmp.name, "--listen",
             f"127.0.0.1:{port}", "--sample", "--user", "Administrator",
             "--password", "secret"], stdout=subprocess.DEVNULL)
        self.addCleanup(self.stop)
        self.t = Transport(self.url, username="Administrator",
                           password="secret", auth_method="basic",
                           message_encryption="never")
        for _ in range(100):
            try:
                self.enumerate("SELECT * FROM Msvm_ComputerSystem")
                return
            except Exception:
                time.sleep(0.05)
        self.fail("hypervsim did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.tmp.cleanup()

    def send(self, action, resource, body, selectors=None):
        reply = self.t.send_message(
            envelope(self.url, action, resource, body, selectors))
        return ET.fromstring(reply)

    def enumerate(self, wql, optimized=False, max_elements=None):
        opt = "<w:OptimizeEnumeration/>" if optimized else ""
        if max_elements:
            opt += f"<w:MaxElements>{max_elements}</w:MaxElements>"
        body = (f"<n:Enumerate>{opt}<w:Filter Dialect=\"http://schemas."
                f"microsoft.com/wbem/wsman/1/WQL\">{wql}</w:Filter>"
                f"</n:Enumerate>")
        doc = self.send(NS["n"] + "/Enumerate", V2 + "*", body)
        resp = doc.find("s:Body/n:EnumerateResponse", NS)
        items = list(resp.find("w:Items", NS) or [])
        ctx = resp.findtext("n:EnumerationContext", namespaces=NS)
        done = resp.find("w:EndOfSequence", NS) is not None
        seen = set()
        while not done:
            self.assertNotIn(ctx, seen)  # a fresh context every time
            seen.add(ctx)
            doc = self.send(NS["n"] + "/Pull", V2 + "Msvm_ComputerSystem",
                            f"<n:Pull><n:EnumerationContext>{ctx}</n:"
                            f"EnumerationContext></n:Pull>")
            resp = doc.find("s:Body/n:PullResponse", NS)
            items += list(resp.find("n:Items", NS))
            ctx = resp.findtext("n:EnumerationContext", namespaces=NS)
            done = resp.find("n:EndOfSequence", NS) is not None
        return items

    @staticmethod
    def fault_text(e):
        text = e.exception.response_text
        return text.decode() if isinstance(text, bytes) else text

    @staticmethod
    def prop(inst, name):
        for child in inst:
            if child.tag.endswith("}" + name):
                return child.text
        return None

    def test_enumerate_pull_one_by_one(self):
        vms = self.enumerate("SELECT * FROM Msvm_ComputerSystem WHERE "
                             "Description = 'Microsoft Virtual Machine'")
        self.assertEqual(sorted(self.prop(v, "ElementName") for v in vms),
                         ["db1", "mail1", "web1"])
        # the element's namespace is the concrete class's resource URI
        self.assertEqual(vms[0].tag, "{" + V2 + "Msvm_ComputerSystem}"
                         "Msvm_ComputerSystem")

    def test_optimized_in_one_round_trip(self):
        items = self.enumerate("SELECT * FROM Msvm_VirtualSystemSettingData",
                               optimized=True, max_elements=100)
        self.assertEqual(len(items), 3)

    def test_get_with_partial_selectors(self):
        vm = self.enumerate("SELECT * FROM Msvm_ComputerSystem WHERE "
                            "ElementName = 'web1'")[0]
        doc = self.send(NS["x"] + "/Get", V2 + "Msvm_ComputerSystem", "",
                        {"name": self.prop(vm, "Name")})
        got = doc.find("s:Body/{%sMsvm_ComputerSystem}Msvm_ComputerSystem"
                       % V2, NS)
        self.assertEqual(self.prop(got, "EnabledState"), "2")

    def test_class_uri_with_wql_is_refused(self):
        body = ("<n:Enumerate><w:Filter Dialect=\"http://schemas.microsoft."
                "com/wbem/wsman/1/WQL\">SELECT * FROM Msvm_ComputerSystem"
                "</w:Filter></n:Enumerate>")
        with self.assertRaises(WinRMTransportError) as e:
            self.send(NS["n"] + "/Enumerate", V2 + "Msvm_ComputerSystem",
                      body)
        self.assertEqual(e.exception.code, 500)
        self.assertIn("class name must be *", self.fault_text(e))

    def test_missing_object_fault(self):
        with self.assertRaises(WinRMTransportError) as e:
            self.send(NS["x"] + "/Get", V2 + "Msvm_ComputerSystem", "",
                      {"Name": "00000000-0000-0000-0000-000000000000"})
        self.assertIn("w:InvalidSelectors", self.fault_text(e))
        self.assertIn('Code="2150858752"', self.fault_text(e))

    def test_bad_password(self):
        t = Transport(self.url, username="Administrator", password="nope",
                      auth_method="basic", message_encryption="never")
        with self.assertRaises(InvalidCredentialsError):
            t.send_message(envelope(self.url, NS["x"] + "/Get",
                                    V2 + "Msvm_ComputerSystem", ""))

    def control(self, **request):
        req = urllib.request.Request(
            self.url.replace("/wsman", "/control"),
            data=json.dumps(request).encode(), method="POST",
            headers={"Authorization": "Basic " + base64.b64encode(
                b"Administrator:secret").decode()})
        try:
            with urllib.request.urlopen(req) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)

    def vm_name(self, element_name):
        vm = self.enumerate("SELECT * FROM Msvm_ComputerSystem WHERE "
                            f"ElementName = '{element_name}'")[0]
        return self.prop(vm, "Name")

    SVC = V2 + "Msvm_VirtualSystemSnapshotService"
    SVC_KEYS = {"CreationClassName": "Msvm_VirtualSystemSnapshotService",
                "Name": "vssnapsvc",
                "SystemCreationClassName": "Msvm_ComputerSystem",
                "SystemName": "HV01"}

    def invoke(self, method, params):
        svc = self.SVC
        body = f'<p:{method}_INPUT xmlns:p="{svc}">{params}</p:{method}_INPUT>'
        doc = self.send(svc + "/" + method, svc, body, self.SVC_KEYS)
        return doc.find("s:Body/{%s}%s_OUTPUT" % (svc, method), NS)

    def wait_job(self, out):
        svc = self.SVC
        self.assertEqual(out.findtext("{%s}ReturnValue" % svc), "4096")
        job_id = out.find("{%s}Job/a:ReferenceParameters/w:SelectorSet/"
                          "w:Selector" % svc, NS).text
        percents = []
        for _ in range(400):
            doc = self.send(NS["x"] + "/Get", V2 + "Msvm_ConcreteJob", "",
                            {"InstanceID": job_id})
            job = doc.find("s:Body/{%sMsvm_ConcreteJob}Msvm_ConcreteJob"
                           % V2, NS)
            percents.append(int(self.prop(job, "PercentComplete")))
            if self.prop(job, "JobState") in ("7", "10"):
                return job_id, job, percents
            time.sleep(0.05)
        self.fail("the job did not finish")

    @staticmethod
    def ref(cls, keys):
        sel = "".join(f'<w:Selector Name="{k}">{v}</w:Selector>'
                      for k, v in keys.items())
        return (f"<a:Address>{ANON}</a:Address><a:ReferenceParameters>"
                f"<w:ResourceURI>{V2}{cls}</w:ResourceURI><w:SelectorSet>"
                f"{sel}</w:SelectorSet></a:ReferenceParameters>")

    def create_snapshot(self, vm_id):
        vm = self.ref("Msvm_ComputerSystem",
                      {"CreationClassName": "Msvm_ComputerSystem",
                       "Name": vm_id})
        return self.invoke(
            "CreateSnapshot",
            f"<p:AffectedSystem>{vm}</p:AffectedSystem>"
            "<p:SnapshotSettings><![CDATA[<INSTANCE CLASSNAME=\"Msvm_Virtual"
            "SystemSnapshotSettingData\"><PROPERTY NAME=\"ConsistencyLevel\""
            " TYPE=\"uint8\"><VALUE>1</VALUE></PROPERTY></INSTANCE>]]>"
            "</p:SnapshotSettings><p:SnapshotType>2</p:SnapshotType>")

    def test_create_snapshot_and_poll_job(self):
        job_id, job, _ = self.wait_job(self.create_snapshot(
            self.vm_name("db1")))
        self.assertEqual(self.prop(job, "JobState"), "7")
        self.assertEqual(self.prop(job, "PercentComplete"), "100")
        snaps = self.enumerate(
            "ASSOCIATORS OF {Msvm_ConcreteJob.InstanceID='%s'} WHERE "
            "AssocClass = Msvm_AffectedJobElement ResultClass = "
            "Msvm_VirtualSystemSettingData" % job_id)
        self.assertEqual(len(snaps), 1)
        self.assertEqual(self.prop(snaps[0], "VirtualSystemType"),
                         "Microsoft:Hyper-V:Snapshot:Realized")
        # the VM now writes to a new AVHDX next to its VHDX
        disks = [os.path.join(d, f) for d, _, fs in os.walk(self.tmp.name)
                 for f in fs if f.endswith(".avhdx")]
        self.assertEqual(len(disks), 1)
        self.assertTrue(os.path.basename(disks[0]).startswith("db1_"))

    def test_revert_restores_guest_bytes(self):
        added = self.control(op="add-vm", name="app1", disks=1, disk_mb=16)
        self.assertTrue(added["ok"], added)
        self.assertTrue(self.control(op="write", vm="app1", offset=4096,
                                     text="version one")["ok"])
        job_id, job, _ = self.wait_job(self.create_snapshot(added["id"]))
        snap = self.enumerate(
            "ASSOCIATORS OF {Msvm_ConcreteJob.InstanceID='%s'} WHERE "
            "AssocClass = Msvm_AffectedJobElement ResultClass = "
            "Msvm_VirtualSystemSettingData" % job_id)[0]
        self.control(op="write", vm="app1", offset=4096, text="version TWO")
        self.assertEqual(self.control(op="read", vm="app1", offset=4096,
                                      length=11)["text"], "version TWO")
        ref = self.ref("Msvm_VirtualSystemSettingData",
                       {"InstanceID": self.prop(snap, "InstanceID")})
        _, job, _ = self.wait_job(self.invoke(
            "ApplySnapshot", f"<p:Snapshot>{ref}</p:Snapshot>"))
        self.assertEqual(self.prop(job, "JobState"), "7")
        self.assertEqual(self.control(op="read", vm="app1", offset=4096,
                                      length=11)["text"], "version one")

    def test_injected_job_failure(self):
        text = "Injected: the VSS writer timed out."
        self.assertTrue(self.control(op="fail-job", job_type=70,
                                     error_code=32774, text=text)["ok"])
        job_id, job, _ = self.wait_job(self.create_snapshot(
            self.vm_name("db1")))
        self.assertEqual(self.prop(job, "JobState"), "10")
        self.assertEqual(self.prop(job, "ErrorCode"), "32774")
        self.assertEqual(self.prop(job, "ErrorDescription"), text)
        doc = self.send(V2 + "Msvm_ConcreteJob/GetErrorEx",
                        V2 + "Msvm_ConcreteJob",
                        f'<p:GetErrorEx_INPUT xmlns:p="{V2}Msvm_ConcreteJob"/>',
                        {"InstanceID": job_id})
        errors = doc.findtext("s:Body/{%sMsvm_ConcreteJob}GetErrorEx_OUTPUT/"
                              "{%sMsvm_ConcreteJob}Errors" % (V2, V2),
                              namespaces=NS)
        self.assertIn(text, errors)
        # the fault was used once: the next job succeeds
        _, job, _ = self.wait_job(self.create_snapshot(self.vm_name("db1")))
        self.assertEqual(self.prop(job, "JobState"), "7")

    def test_injected_slow_job(self):
        self.control(op="fail-job", job_type=70, delay_ms=1500)
        started = time.monotonic()
        _, job, percents = self.wait_job(self.create_snapshot(
            self.vm_name("db1")))
        self.assertGreaterEqual(time.monotonic() - started, 1.4)
        self.assertEqual(self.prop(job, "JobState"), "7")
        self.assertGreater(len(set(percents)), 3)  # progress moved
        self.assertEqual(percents, sorted(percents))

    def test_injected_http_faults(self):
        for fault, want in (("500", "500"), ("malformed", None),
                            ("drop", None)):
            self.assertTrue(self.control(op="http-fault", fault=fault)["ok"])
            with self.assertRaises(Exception) as e:
                self.enumerate("SELECT * FROM Msvm_ComputerSystem")
            if want:
                self.assertEqual(e.exception.code, 500)
            # the fault was used once: the host answers again
            self.assertEqual(len(self.enumerate(
                "SELECT * FROM Msvm_ComputerSystem")), 4)
        self.assertFalse(self.control(op="http-fault", fault="fire")["ok"])

    def test_injected_latency(self):
        self.assertTrue(self.control(op="latency", ms=300)["ok"])
        started = time.monotonic()
        self.enumerate("SELECT * FROM Msvm_ComputerSystem", optimized=True,
                       max_elements=100)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.control(op="latency", ms=0)

    def test_control_errors_and_counters(self):
        r = self.control(op="frobnicate")
        self.assertFalse(r["ok"])
        self.assertIn("unknown control operation", r["error"])
        r = self.control(op="write", vm="nope", text="x")
        self.assertFalse(r["ok"])
        self.enumerate("SELECT * FROM Msvm_ComputerSystem")
        c = self.control(op="counters")
        self.assertGreaterEqual(c["counters"]["Enumerate Msvm_ComputerSystem"],
                                2)
        self.assertGreaterEqual(c["requests"], 3)


if __name__ == "__main__":
    taptest.main()
