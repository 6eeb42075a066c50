#!/usr/bin/env python3
"""dsr's benchmark: run it with `python3 benches/bench.py` (not part of the test suite).

It builds the release binary and measures, against fake HTTP systems that answer every call
after a fixed latency and against the real PostgreSQL on 127.0.0.1:

1. one export over 6 systems (a 2-level identity graph) vs its critical path (2 calls);
2. a batch erase of N subjects x 5 systems at concurrency 32 vs the ideal (work / 32), and
   dsr's peak memory;
3. the export of one subject with 1,000,000 rows from PostgreSQL: rows/s and peak memory.

Everything runs on loopback; the fakes and the data are made here and removed afterwards.
"""

import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DSR = os.path.join(ROOT, "target", "release", "dsr")
PG_URL = os.environ.get("DSR_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")


class Fake:
    """Per system: people (by email) and items (by person id); every answer waits LATENCY.

    Finds look records up in an index, so that the fake's own work per call stays the same
    whatever the number of records: a scan of 10,000 people took about 1 ms of CPU per call
    under Python's global lock, which stretched the latency of every call with the batch size.
    """

    def __init__(self, latency):
        self.latency = latency
        self.lock = threading.Lock()
        self.people = {}  # system -> id -> record
        self.items = {}
        self.index = {}  # (kind, system) -> matched value -> {id: record}
        self.calls = 0

    def seed(self, system, people, items):
        with self.lock:
            self.people[system] = {p["id"]: p for p in people}
            self.items[system] = {i["id"]: i for i in items}
            for kind, records, field in (("people", people, "email"), ("items", items, "person")):
                by = self.index[(kind, system)] = {}
                for r in records:
                    by.setdefault(str(r[field]), {})[r["id"]] = r

    def handler(fake):
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # http.server sends the headers and the body of an answer as two writes. With Nagle's
            # algorithm on, the body waits for the client to acknowledge the headers, and on a
            # reused connection the client delays that acknowledgement by up to 40 ms: every
            # call on a kept-alive connection then took 50 ms plus up to 40. Real servers set
            # TCP_NODELAY; so does the fake now, and its calls take the latency they are given.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def route(self):
                time.sleep(fake.latency)
                with fake.lock:
                    fake.calls += 1
                url = urllib.parse.urlparse(self.path)
                parts = url.path.strip("/").split("/")
                q = dict(urllib.parse.parse_qsl(url.query))
                if len(parts) < 2:
                    return 404, {"error": "no such path"}
                system, kind = parts[0], parts[1]
                table = (fake.people if kind == "people" else fake.items).get(system, {})
                with fake.lock:
                    by = fake.index.get((kind, system), {})
                    if len(parts) == 2 and self.command == "GET":
                        value = q.get("email" if kind == "people" else "person")
                        return 200, {"data": list(by.get(value, {}).values())}
                    if len(parts) == 3:
                        rid = parts[2]
                        if rid not in table:
                            return 404, {"error": "not found"}
                        if self.command == "DELETE":
                            record = table.pop(rid)
                            field = "email" if kind == "people" else "person"
                            by.get(str(record[field]), {}).pop(rid, None)
                            return 200, {"deleted": True}
                        return 200, table[rid]
                return 404, {"error": "no such path"}

            def do_GET(self):
                self.reply(*self.route())

            def do_DELETE(self):
                self.reply(*self.route())

        return H


class Server(http.server.ThreadingHTTPServer):
    # Many connections arrive at once; the default backlog of 5 would refuse some.
    request_queue_size = 512


def serve(fake):
    server = Server(("127.0.0.1", 0), fake.handler())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def system(name, kind_lines, collections):
    return (
        f"  {name}:\n{kind_lines}    purpose: Benchmark\n    legal_basis: contract\n"
        f"    retention: 1 day\n    collections:\n{collections}"
    )


def http_system(name, url, collections):
    lines = (
        "    connector: http\n    definition: latency.yaml\n"
        f"    base_url: {url}\n"
        '    auth: { token: "${file:token}" }\n'
        f"    config: {{ system: {name} }}\n    concurrency: 64\n"
    )
    return system(name, lines, collections)


def run(args, cwd, env):
    """Runs dsr under /usr/bin/time; returns (seconds, peak RSS in MB, stdout)."""
    rss_file = os.path.join(cwd, ".rss")
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, DSR, *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    if p.returncode not in (0, 1):
        sys.exit(f"dsr {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    with open(rss_file) as f:
        rss_mb = int(f.read().strip().splitlines()[-1]) / 1024
    return wall, rss_mb, p.stdout


def steps_span(stdout):
    """Seconds from the first step's start to the last step's end (the run itself)."""
    out = json.loads(stdout)
    steps = [s for s in out["steps"] if s.get("started")]

    def t(s):
        return time_of(s)

    starts = [time_of(s["started"]) for s in steps]
    ends = [time_of(s["finished"]) for s in steps]
    return max(ends) - min(starts)


def time_of(rfc3339):
    # 2026-11-23T12:00:00.123456789Z -> seconds (fractions kept to microseconds)
    date, frac = rfc3339.rstrip("Z"), "0"
    if "." in date:
        date, frac = date.split(".")
    base = time.mktime(time.strptime(date, "%Y-%m-%dT%H:%M:%S"))
    return base + float("0." + frac[:6])


def psql(sql):
    subprocess.run(["psql", PG_URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--subjects", type=int, default=1000, help="batch size (the target is set for 10000)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--only", choices=["export", "batch", "rows"], help="run one measure only")
    a = ap.parse_args()
    if not a.skip_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    latency = a.latency_ms / 1000
    work = tempfile.mkdtemp(prefix="dsr-bench-")
    env = dict(os.environ, DSR_STATE_DIR=os.path.join(work, "state"), DSR_TEST_PG_URL=PG_URL, NO_COLOR="1")
    shutil.copy(os.path.join(ROOT, "benches", "latency.yaml"), work)
    with open(os.path.join(work, "token"), "w") as f:
        f.write("bench-token\n")
    fake = Fake(latency)
    server, url = serve(fake)
    header = "version: 1\norganisation: Benchmark\nidentities: [email]\nsystems:\n"
    results = []

    def say(text):
        print(text, file=sys.stderr, flush=True)

    want = lambda part: a.only in (None, part)

    if want("export"):
        export6(a, work, env, fake, url, header, latency, results, say)
    if want("batch"):
        batch(a, work, env, fake, url, header, latency, results, say)
    server.shutdown()
    if want("rows"):
        rows(a, work, env, header, results, say)
    shutil.rmtree(work, ignore_errors=True)

    width = max(len(r[0]) for r in results)
    print(f"{'measure'.ljust(width)}  {'result':44}  {'ratio':8}  {'target':18}  met")
    for name, result, ratio, target, ok in results:
        print(f"{name.ljust(width)}  {result:44}  {ratio:8}  {target:18}  {'yes' if ok else 'NO'}")


def export6(a, work, env, fake, url, header, latency, results, say):
    say("1/3 export over 6 systems ...")
    # 1. One export, 6 systems, two levels.
    pb = header
    for i in range(1, 4):
        fake.seed(f"a{i}", [{"id": "p1", "email": "alice@example.com"}], [])
        pb += http_system(f"a{i}", url, "      people:\n        match: { email: identity.email }\n        provides: { pid: id }\n")
        fake.seed(f"b{i}", [], [{"id": f"i{j}", "person": "p1"} for j in range(3)])
        pb += http_system(f"b{i}", url, f"      items:\n        match: {{ person: a{i}.people.pid }}\n")
    with open(os.path.join(work, "export6.yaml"), "w") as f:
        f.write(pb)
    spans = []
    for n in range(5):
        wall, rss, out = run(["--json", "export", "alice@example.com", "--playbook", "export6.yaml", "--out", f"e{n}"], work, env)
        spans.append(steps_span(out))
    span = sorted(spans)[len(spans) // 2]
    critical = 2 * latency
    results.append(("export, 6 systems, 2 levels (median of 5)", f"{span * 1000:.0f} ms vs critical path {critical * 1000:.0f} ms", f"{span / critical:.2f} x", "<= 1.10 x", span / critical <= 1.10))



def batch(a, work, env, fake, url, header, latency, results, say):
    say(f"2/3 batch erase of {a.subjects} subjects ...")
    # 2. Batch erase: N subjects x 5 systems at concurrency 32.
    pb = header
    people = [f"p{k}@example.com" for k in range(a.subjects)]
    for i in range(1, 6):
        fake.seed(f"s{i}", [{"id": f"s{i}-{k}", "email": e} for k, e in enumerate(people)], [])
        pb += http_system(f"s{i}", url, "      people:\n        match: { email: identity.email }\n        erase: delete\n")
    with open(os.path.join(work, "erase5.yaml"), "w") as f:
        f.write(pb)
    with open(os.path.join(work, "people.csv"), "w") as f:
        f.write("email\n" + "\n".join(people) + "\n")
    fake.calls = 0
    wall, rss, out = run(["--json", "--concurrency", "32", "batch", "erase", "people.csv", "--playbook", "erase5.yaml", "--yes"], work, env)
    calls = fake.calls
    if calls == 0:
        sys.exit("the batch made no calls:\n" + out[-2000:])
    ideal = calls * latency / 32
    results.append((f"batch erase, {a.subjects} subjects x 5 systems, concurrency 32", f"{wall:.1f} s vs ideal {ideal:.1f} s ({calls} calls)", f"{wall / ideal:.2f} x", "<= 1.15 x", wall / ideal <= 1.15))
    results.append(("  peak RSS of that batch", f"{rss:.0f} MB", "", "<= 64 MB", rss <= 64))


def rows(a, work, env, header, results, say):
    say(f"3/3 export of {a.rows:,} rows ...")
    # 3. One subject with many rows from PostgreSQL.
    psql("DROP SCHEMA IF EXISTS dsr_bench CASCADE; CREATE SCHEMA dsr_bench;"
         "CREATE TABLE dsr_bench.users (id int PRIMARY KEY, email text);"
         "INSERT INTO dsr_bench.users VALUES (1, 'big@example.com');"
         "CREATE TABLE dsr_bench.events (id bigint PRIMARY KEY, user_id int, at timestamptz, kind text, amount numeric(12,2));"
         f"INSERT INTO dsr_bench.events SELECT g, 1, now() - g * interval '1 second', 'page_view', g % 1000 FROM generate_series(1, {a.rows}) g;"
         "CREATE INDEX ON dsr_bench.events (user_id); ANALYZE dsr_bench.events;")
    pb = header + system("pg", "    connector: postgres\n    url: ${env:DSR_TEST_PG_URL}\n    schema: dsr_bench\n    timeout: 60s\n",
                         "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n      events:\n        match: { user_id: users.uid }\n")
    with open(os.path.join(work, "big.yaml"), "w") as f:
        f.write(pb)
    wall, rss, out = run(["--json", "export", "big@example.com", "--playbook", "big.yaml", "--out", "big"], work, env)
    step = [s for s in json.loads(out)["steps"] if s["collection"] == "events"][0]
    # Over the whole command, not the step alone: the data files are synced to disk when the
    # report is written, after the step has finished.
    rate = step["records"] / wall
    results.append((f"export of {step['records']:,} rows from PostgreSQL", f"{rate:,.0f} rows/s ({wall:.1f} s; the step {step['duration_ms'] / 1000:.1f} s)", "", ">= 200,000 rows/s", rate >= 200_000))
    results.append(("  peak RSS of that export", f"{rss:.0f} MB", "", "<= 64 MB", rss <= 64))
    psql("DROP SCHEMA dsr_bench CASCADE;")


if __name__ == "__main__":
    main()
