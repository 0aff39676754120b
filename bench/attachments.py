#!/usr/bin/env python3
"""make bench-attachments: should evidence files go through the submissions' group commit or their
own transaction? Measured in one run on one private cluster and one redress-intake:

  1. the rate and latency of grievance submissions (4 clients, keep-alive, 20 s) alone: the
     reference;
  2. the same while 2 other clients upload 10 MiB files back to back, each file its own
     transaction on the worker's one database connection, in the submissions' pipeline
     ([engagement] attachment_connection = 0);
  3. the same with the files on a database connection of their own per worker (= 1, the default);
  4. the time of one 10 MiB upload, alone.

Reported as ratios to (1): what files cost the submissions next to them. Had files joined the
group commit itself, every submission of a batch would wait for the batch's files (its COMMIT
returns only after their bytes reached the WAL): (4) is that wait, per file."""
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
FILE = b"%PDF-1.4\n" + os.urandom(10 * 1024 * 1024 - 9)
GRIEVANCE = json.dumps({"description": "The network was shut down in our district on 1 November.",
                        "category": "network_shutdown", "country": "KE", "people_affected": 5000})


def multipart(data):
    b = "benchb0undary"
    return (b"--" + b.encode() + b'\r\nContent-Disposition: form-data; name="file"; filename="f.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n" + data + b"\r\n--" + b.encode() + b"--\r\n",
            "multipart/form-data; boundary=" + b)


def submitter(intake, stop, out):
    conn = intake.connection()
    while not stop.is_set():
        t = time.perf_counter()
        st, _, _ = intake.request("POST", "/v1/grievances", GRIEVANCE, {"Content-Type": "application/json"},
                                  conn=conn)
        if st == 201:
            out.append(time.perf_counter() - t)
    conn.close()


def uploader(intake, ref, receipt, stop, out):
    body, ct = multipart(FILE)
    conn = intake.connection(timeout=60)
    while not stop.is_set():
        t = time.perf_counter()
        st, _, _ = intake.request("POST", f"/v1/grievances/{ref}/attachments", body,
                                  {"Content-Type": ct, "Authorization": "Receipt " + receipt,
                                   "Idempotency-Key": str(uuid.uuid4())}, conn=conn)
        if st == 201:
            out.append(time.perf_counter() - t)
        # Keep the grievance under its file limit: the bench measures storing, not refusing.
        harness.CLUSTER.sql("DELETE FROM grievance_attachment WHERE grievance_id = "
                            "(SELECT id FROM grievance WHERE reference = %s)", (ref,))
    conn.close()


def run(intake, uploads, refs):
    stop = threading.Event()
    lat, up = [], []
    threads = [threading.Thread(target=submitter, args=(intake, stop, lat)) for _ in range(4)]
    for i in range(uploads):
        threads.append(threading.Thread(target=uploader, args=(intake, *refs[i], stop, up)))
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join()
    lat.sort()
    return lat, up


def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


def start(cluster, tmp, name, own):
    cfg = harness.make_config(os.path.join(tmp, name), cluster, **{
        "server.log_level": "warn", "engagement.attachments_max": "100",
        "engagement.attachment_connection": own, "server.request_timeout": "60"})
    intake = harness.Intake(cfg)
    intake.wait_healthy()
    refs = []
    for _ in range(2):
        _, _, data = intake.request("POST", "/v1/grievances", GRIEVANCE, {"Content-Type": "application/json"})
        d = json.loads(data)
        refs.append((d["reference"], d["receipt"]))
    return intake, refs


def line(name, lat, ref=None, up=None):
    text = f"{name:34s} {len(lat) / SECONDS:6.0f}/s  p50 {pct(lat, .5):7.2f} ms  p99 {pct(lat, .99):8.2f} ms"
    if up is not None:
        text += f"  ({len(up) * 10 / SECONDS:.1f} MiB/s of files)"
    if ref:
        text += (f"  ratio: rate {len(lat) / max(1, len(ref)):.2f}, p50 {pct(lat, .5) / pct(ref, .5):.2f}, "
                 f"p99 {pct(lat, .99) / pct(ref, .99):.2f}")
    print(text)


def main():
    with harness.Cluster.start() as cluster, tempfile.TemporaryDirectory(prefix="redress-bench-att-") as tmp:
        harness.CLUSTER = cluster
        intake, refs = start(cluster, tmp, "own", "1")
        try:
            alone, _ = run(intake, 0, refs)
            own, own_up = run(intake, 2, refs)
            body, ct = multipart(FILE)
            one = []
            for _ in range(5):
                t = time.perf_counter()
                intake.request("POST", f"/v1/grievances/{refs[0][0]}/attachments", body,
                               {"Content-Type": ct, "Authorization": "Receipt " + refs[0][1],
                                "Idempotency-Key": str(uuid.uuid4())})
                one.append(time.perf_counter() - t)
                cluster.sql("DELETE FROM grievance_attachment")
        finally:
            intake.stop()
        intake, refs = start(cluster, tmp, "shared", "0")
        try:
            shared, shared_up = run(intake, 2, refs)
        finally:
            intake.stop()
    line("submissions alone", alone)
    line("+ 2 uploaders, shared connection", shared, alone, shared_up)
    line("+ 2 uploaders, own connection", own, alone, own_up)
    print(f"one 10 MiB upload alone: median {statistics.median(one) * 1000:.0f} ms "
          f"({statistics.median(one) * 1000 / pct(alone, .5):.0f} x a submission's p50)")


if __name__ == "__main__":
    main()
