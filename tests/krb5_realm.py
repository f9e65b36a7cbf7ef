"""A Kerberos realm on loopback for the tests: Debian's krb5kdc on a free
port with its database in a temporary folder, the host's service key
(HTTP/localhost) in one keytab and a user's in another. Everything it runs
reads the realm's krb5.conf through KRB5_CONFIG."""

import os
import shutil
import subprocess
import time

from winrm_sim import free_port

REALM = "TEST.REALM"


def available():
    return all(shutil.which(p, path="/usr/sbin:/usr/bin") for p in
               ("krb5kdc", "kdb5_util", "kadmin.local", "kinit"))


class Realm:
    def __init__(self, folder, user="Administrator", password="secret"):
        self.dir = folder
        self.user = user
        self.password = password
        self.port = free_port()
        self.conf = os.path.join(folder, "krb5.conf")
        self.host_keytab = os.path.join(folder, "http.keytab")
        self.user_keytab = os.path.join(folder, "user.keytab")
        self.ccache = "FILE:" + os.path.join(folder, "ccache")
        kdc_conf = os.path.join(folder, "kdc.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{self.port}
    }}
[domain_realm]
    localhost = {REALM}
""")
        with open(kdc_conf, "w") as f:
            f.write(f"""[kdcdefaults]
    kdc_ports = {self.port}
    kdc_tcp_ports = {self.port}
[realms]
    {REALM} = {{
        database_name = {folder}/principal
        key_stash_file = {folder}/stash
        acl_file = {folder}/kadm5.acl
    }}
[logging]
    kdc = FILE:{folder}/kdc.log
""")
        self.env = dict(os.environ, KRB5_CONFIG=self.conf,
                        KRB5_KDC_PROFILE=kdc_conf)
        self.run("kdb5_util", "-r", REALM, "create", "-s", "-P", "master")
        for q in (f"addprinc -pw {password} {user}",
                  "addprinc -randkey HTTP/localhost",
                  f"ktadd -k {self.host_keytab} HTTP/localhost",
                  f"ktadd -k {self.user_keytab} -norandkey {user}"):
            self.run("kadmin.local", "-r", REALM, "-q", q)
        self.kdc = subprocess.Popen(["/usr/sbin/krb5kdc", "-n"],
                                    env=self.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        probe = "FILE:" + os.path.join(folder, "probe")
        for _ in range(100):
            if self.kinit(probe, check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("krb5kdc did not start")

    def run(self, *args, check=True):
        return subprocess.run(args, env=self.env, capture_output=True,
                              text=True, check=check, timeout=60)

    def kinit(self, ccache=None, check=True):
        """The user's ticket in the realm's credential cache (or ccache),
        from the user's keytab."""
        return self.run("kinit", "-k", "-t", self.user_keytab, "-c",
                        ccache or self.ccache, self.user, check=check)

    def stop(self):
        self.kdc.terminate()
        self.kdc.wait(timeout=30)
