"""hypervsim driven by a WS-Management client nobody here wrote: Debian's
python3-winrm sending raw SOAP. Enumerations, gets, faults, checkpoints
and the control interface."""

# first: it sets up OpenSSL for pywinrm's NTLM before anything loads it
from winrm_sim import NS, V2, SimSession, envelope  # isort: skip

import time
import os

from winrm.exceptions import InvalidCredentialsError, WinRMTransportError
from winrm.transport import Transport

import taptest


class WinrmAgainstSim(SimSession):
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
        # paths are Windows paths; a property without a value is nil
        for i in items:
            self.assertRegex(self.prop(i, "ConfigurationDataRoot"),
                             r"^C:\\[^/]*$")
            self.assertEqual(
                i.find("{%s}SwapFileDataRoot" % i.tag.split("}")[0][1:])
                .get("{http://www.w3.org/2001/XMLSchema-instance}nil"),
                "true")

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
        # as Windows answers it (microsoft/omi issue 254)
        text = self.fault_text(e)
        self.assertIn("a:DestinationUnreachable", text)
        self.assertIn("/2004/08/addressing/fault</a:Action>", text)
        self.assertIn('Code="2150858752"', text)
        self.assertIn("<f:Message><f:ProviderFault", text)
        self.assertFalse(text.startswith("<?xml"), text)

    def test_envelope_limit_and_locale_refused(self):
        # MS-WSMV 3.1.4.1.7 and 8, as WinRM answers them
        small = envelope(self.url, NS["x"] + "/Get", V2 + "Msvm_ComputerSystem",
                         "").replace(">153600<", ">4096<")
        with self.assertRaises(WinRMTransportError) as e:
            self.t.send_message(small)
        self.assertIn("<s:Value>w:EncodingLimit</s:Value>",
                      self.fault_text(e))
        self.assertIn('Code="2150858805"', self.fault_text(e))
        must = envelope(self.url, NS["x"] + "/Get", V2 + "Msvm_ComputerSystem",
                        "").replace(
            "<w:OperationTimeout>",
            '<w:Locale xml:lang="en-US" s:mustUnderstand="true"/>'
            "<w:OperationTimeout>")
        with self.assertRaises(WinRMTransportError) as e:
            self.t.send_message(must)
        self.assertIn("<s:Value>w:UnsupportedFeature</s:Value>",
                      self.fault_text(e))
        # mustUnderstand="false", as the project's client sends it: past
        # the headers, to the Get's own fault (it names no object)
        ok = must.replace('s:mustUnderstand="true"/>',
                          's:mustUnderstand="false"/>')
        with self.assertRaises(WinRMTransportError) as e:
            self.t.send_message(ok)
        self.assertIn("w:InvalidSelectors", self.fault_text(e))

    def test_bad_password(self):
        t = Transport(self.url, username="Administrator", password="nope",
                      auth_method="basic", message_encryption="never")
        with self.assertRaises(InvalidCredentialsError):
            t.send_message(envelope(self.url, NS["x"] + "/Get",
                                    V2 + "Msvm_ComputerSystem", ""))

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
            if fault == "drop":
                # pywinrm seals a request once, and would send it again
                # as it was over the new connection's new authentication
                self.new_transport()
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

    def test_more_associations(self):
        db1 = self.vm_name("db1")
        vm = ("{Msvm_ComputerSystem.CreationClassName='Msvm_ComputerSystem',"
              f"Name='{db1}'}}")
        settings = self.enumerate(f"ASSOCIATORS OF {vm} WHERE AssocClass = "
                                  "Msvm_ElementSettingData")
        self.assertEqual([self.prop(x, "InstanceID") for x in settings],
                         [f"Microsoft:{db1}"])
        job_id, _, _ = self.wait_job(self.create_snapshot(db1))
        snap = self.enumerate(
            "ASSOCIATORS OF {Msvm_ConcreteJob.InstanceID='%s'} WHERE "
            "AssocClass = Msvm_AffectedJobElement" % job_id)[0]
        # the snapshot service affects every VM and every checkpoint
        affected = self.enumerate(
            "ASSOCIATORS OF {Msvm_VirtualSystemSnapshotService.Name="
            "'vssnapsvc'} WHERE AssocClass = Msvm_ServiceAffectsElement")
        self.assertEqual(len(affected), 3 + 1)
        self.assertEqual(self.enumerate(
            f"ASSOCIATORS OF {vm} WHERE AssocClass = "
            "Msvm_LastAppliedSnapshot"), [])
        ref = self.ref("Msvm_VirtualSystemSettingData",
                       {"InstanceID": self.prop(snap, "InstanceID")})
        self.wait_job(self.invoke("ApplySnapshot",
                                  f"<p:Snapshot>{ref}</p:Snapshot>"))
        applied = self.enumerate(f"ASSOCIATORS OF {vm} WHERE AssocClass = "
                                 "Msvm_LastAppliedSnapshot")
        self.assertEqual([self.prop(x, "InstanceID") for x in applied],
                         [self.prop(snap, "InstanceID")])


class WinrmSealed(WinrmAgainstSim):
    """Every test above again against a host as Windows ships it: NTLM, and
    every body sealed with its session key (AllowUnencrypted = false),
    which pywinrm does itself; then what such a host refuses."""
    sim_args = ("--require-sealing",)
    transport = {"auth_method": "ntlm", "message_encryption": "always"}

    def sealed_request(self, body):
        self.t.build_session()
        return self.t.encryption.prepare_encrypted_request(
            self.t.session, self.url, body.encode())

    def enumerate_body(self):
        return envelope(self.url, NS["n"] + "/Enumerate", V2 + "*",
                        "<n:Enumerate><w:OptimizeEnumeration/><w:Filter "
                        "Dialect=\"http://schemas.microsoft.com/wbem/wsman/"
                        "1/WQL\">SELECT * FROM Msvm_ComputerSystem"
                        "</w:Filter></n:Enumerate>")

    def test_the_wire_is_sealed(self):
        req = self.sealed_request(self.enumerate_body())
        self.assertTrue(req.headers["Content-Type"].startswith(
            'multipart/encrypted;protocol="application/'
            'HTTP-SPNEGO-session-encrypted"'))
        self.assertNotIn(b"Msvm_ComputerSystem", req.body)
        r = self.t.session.send(req)
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["Content-Type"].startswith(
            "multipart/encrypted"))
        self.assertNotIn(b"Envelope", r.content)
        self.assertIn(b"<w:Items>",
                      self.t.encryption.parse_encrypted_response(r))

    def test_tampered_body_refused(self):
        req = self.sealed_request(self.enumerate_body())
        body = bytearray(req.body)
        body[-40] ^= 1  # inside the sealed SOAP, before the last boundary
        req.body = bytes(body)
        r = self.t.session.send(req)
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.headers.get("Connection"), "close")
        # nothing is lost: a new session is served
        self.new_transport()
        self.assertEqual(len(self.enumerate(
            "SELECT * FROM Msvm_ComputerSystem")), 4)

    def test_unsealed_body_refused(self):
        self.t.build_session()
        self.sealed_request(self.enumerate_body())  # authenticated
        r = self.t.session.post(self.url, data=self.enumerate_body(),
                                headers={"Content-Type":
                                         "application/soap+xml;"
                                         "charset=UTF-8"})
        self.assertEqual(r.status_code, 401)

    def test_basic_over_http_refused(self):
        t = Transport(self.url, username="Administrator", password="secret",
                      auth_method="basic", message_encryption="never")
        with self.assertRaises(InvalidCredentialsError):
            t.send_message(self.enumerate_body())

    def test_wrong_ntlm_password(self):
        t = Transport(self.url, username="Administrator", password="nope",
                      **self.transport)
        with self.assertRaises(InvalidCredentialsError):
            t.send_message(self.enumerate_body())


if __name__ == "__main__":
    taptest.main()
