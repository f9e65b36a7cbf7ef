"""A session with a fresh hypervsim through Debian's python3-winrm: its
Transport sends raw SOAP written from the reference (§9.5), as a
third-party Hyper-V tool would. The test modules build on SimSession."""

import os

# before anything loads OpenSSL: pywinrm's NTLM needs MD4 (see the file)
os.environ.setdefault("OPENSSL_CONF", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "data", "openssl-legacy.cnf"))

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

from winrm.transport import Transport

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


def control(url, request):
    """A request to hypervsim's control interface at url; its JSON answer,
    a refusal included."""
    req = urllib.request.Request(
        url, data=json.dumps(request).encode(), method="POST",
        headers={"Authorization": "Basic " + base64.b64encode(
            b"Administrator:secret").decode()})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


SERVICES = {
    "Msvm_VirtualSystemSnapshotService": "vssnapsvc",
    "Msvm_VirtualSystemManagementService": "vmms",
    "Msvm_VirtualSystemReferencePointService": "vsrefpointsvc",
    "Msvm_CollectionManagementService": "vmcollectionmgmtsvc",
    "Msvm_CollectionSnapshotService": "vmcollectionsnapshotsvc",
    "Msvm_ImageManagementService": "vhdsvc",
}


class SimSession(unittest.TestCase):
    sim_args = ()  # more hypervsim options
    transport = {"auth_method": "basic", "message_encryption": "never"}

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.restart()
        self.addCleanup(self.stop)

    def restart(self):
        """Starts hypervsim on the state folder, on a new port."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/wsman"
        self.proc = subprocess.Popen(
            [HYPERVSIM, "--state-dir", self.tmp.name, "--listen",
             f"127.0.0.1:{port}", "--sample", "--user", "Administrator",
             "--password", "secret", *self.sim_args],
            stdout=subprocess.DEVNULL)
        for _ in range(100):
            # a new Transport each time: one whose first exchange failed
            # would go on without its encryption
            self.new_transport()
            try:
                self.enumerate("SELECT * FROM Msvm_ComputerSystem")
                return
            except Exception:
                time.sleep(0.05)
        self.fail("hypervsim did not start")

    def new_transport(self):
        self.t = Transport(self.url, username="Administrator",
                           password="secret", **self.transport)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        # a clean exit: under the sanitizers a leak or error makes it fail
        self.assertEqual(self.proc.wait(timeout=30), 0)

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

    def control(self, **request):
        return control(self.url.replace("/wsman", "/control"), request)

    def vm_name(self, element_name):
        vm = self.enumerate("SELECT * FROM Msvm_ComputerSystem WHERE "
                            f"ElementName = '{element_name}'")[0]
        return self.prop(vm, "Name")

    def invoke(self, method, params,
               cls="Msvm_VirtualSystemSnapshotService"):
        svc = V2 + cls
        keys = {"CreationClassName": cls, "Name": SERVICES[cls],
                "SystemCreationClassName": "Msvm_ComputerSystem",
                "SystemName": "HV01"}
        body = f'<p:{method}_INPUT xmlns:p="{svc}">{params}</p:{method}_INPUT>'
        doc = self.send(svc + "/" + method, svc, body, keys)
        return doc.find("s:Body/{%s}%s_OUTPUT" % (svc, method), NS)

    @staticmethod
    def out(out, name):
        svc = out.tag[1:].split("}")[0]
        return out.findtext("{%s}%s" % (svc, name))

    def wait_job(self, out):
        svc = out.tag[1:].split("}")[0]
        self.assertEqual(out.findtext("{%s}ReturnValue" % svc), "4096")
        ref = out.find("{%s}Job/a:ReferenceParameters" % svc, NS)
        job_id = ref.find("w:SelectorSet/w:Selector", NS).text
        cls = ref.findtext("w:ResourceURI", namespaces=NS).rsplit("/", 1)[1]
        percents = []
        for _ in range(400):
            doc = self.send(NS["x"] + "/Get", V2 + cls, "",
                            {"InstanceID": job_id})
            job = doc.find("s:Body/{%s%s}%s" % (V2, cls, cls), NS)
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
