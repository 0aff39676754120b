"""Operations: `make run` from a fresh clone in a directory only its owner can enter."""
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import http.client

import harness

ROOT = harness.ROOT


def _https_status(port, path, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=3)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


class MakeRunAnywhere(unittest.TestCase):
    """The first thing a new user does: clone, `make run`, open the form."""

    def test_make_run_in_mode_700_clone(self):
        home = tempfile.mkdtemp(prefix="redress-home-")
        os.chmod(home, 0o700)  # as every home directory is: the postgres user cannot enter it
        clone = os.path.join(home, "redress")
        subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
        port, pgport = harness.free_port(), harness.free_port()
        os.makedirs(os.path.join(clone, "var"))
        conf = open(os.path.join(ROOT, "config/redress.conf.example")).read()
        conf = conf.replace("port = 8443", f"port = {port}").replace("port=5433", f"port={pgport}")
        self.assertIn(f"port={pgport}", conf)
        with open(os.path.join(clone, "var/redress.conf"), "w") as f:
            f.write(conf)
        log_path = os.path.join(home, "make-run.log")
        log = open(log_path, "wb")
        env = dict(os.environ, MAKEFLAGS="-j2")
        proc = subprocess.Popen(["make", "run"], cwd=clone, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
        pgdir = os.path.join(clone, "var/pg")
        try:
            status, deadline = None, time.time() + 300
            while time.time() < deadline and proc.poll() is None:
                cert = os.path.join(clone, "var/tls/cert.pem")
                if os.path.exists(cert):
                    try:
                        status = _https_status(port, "/healthz", cert)
                        if status == 200:
                            break
                    except (OSError, ssl.SSLError):
                        pass
                time.sleep(0.5)
            out = open(log_path, errors="replace").read()
            self.assertEqual(status, 200, "make run never became healthy:\n" + out[-4000:])
            if os.geteuid() == 0:
                # The cluster runs as postgres, so its data cannot be inside the clone.
                self.assertTrue(os.path.islink(pgdir), out[-2000:])
                self.assertTrue(os.path.realpath(pgdir).startswith("/var/lib/redress/pg-"))
            real = os.path.realpath(pgdir)
            self.assertTrue(os.path.exists(os.path.join(real, "data/postmaster.pid")))
            # Ctrl-C stops everything: the servers and the cluster.
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(60)
            out = open(log_path, errors="replace").read()
            self.assertIn("run: stopped", out)
            self.assertFalse(os.path.exists(os.path.join(real, "data/postmaster.pid")), out[-2000:])
            with self.assertRaises(OSError):
                _https_status(port, "/healthz", os.path.join(clone, "var/tls/cert.pem"))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
            subprocess.run([os.path.join(clone, "scripts/pgcluster.sh"), "destroy", pgdir], check=False)
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
