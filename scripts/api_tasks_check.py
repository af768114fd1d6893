#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""scripts/api_tasks_check.py -- run every curl example of docs/api.md's
"Tasks" section against a live lodestar-server

Usage (from the source root, with a throwaway PostgreSQL as in scripts/test.sh):

    LODESTAR_TEST_PGURI="host=127.0.0.1 port=P dbname=lodestar_test user=U" \\
        scripts/api_tasks_check.py BUILD_DIR

It creates a database, starts BUILD_DIR/server/lodestar-server on it with a
random admin token, registers the harness device (BUILD_DIR/tests/e2e/
e2e_device, endpoint dev-1, LwM2M 1.1, objects 1, 3, 5 and the vendor object
32769 whose DDF is in tests/data/models, given as --models), then runs
each example in order with LODESTAR and TOKEN set, in a scratch directory
(for the -o files).  Ids the examples name (batch 7, workflow 12, rotation
3, token 4) are replaced by the ones the earlier examples created.  An
example fails on a 5xx, 400, 401, 403, 405, or a 404 "no such resource"
(a route the server does not have); any other 404 (an id that does not
exist here, e.g. command 17) passes.  The event stream examples are cut
after 2 s.  Exit status 0 when every example passed.
"""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scan(line):
    """(line without a trailing shell comment, whether a quote is left open)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and i and line[i - 1] in " \t":
            return line[:i].rstrip(), False
    return line, quote is not None


def tasks_commands():
    """The curl commands of the Tasks section: continuation lines joined,
    a quoted body spanning lines kept whole, trailing comments dropped."""
    text = open(os.path.join(ROOT, "docs", "api.md"), encoding="utf-8").read()
    start = text.index("## Tasks")
    end = text.index("\n## ", start + 1)
    cmds = []
    for block in re.findall(r"```sh\n(.*?)```", text[start:end], re.S):
        cur = ""
        for line in block.splitlines():
            cur += line
            if cur.endswith("\\"):
                cur = cur[:-1]
                continue
            cur, open_quote = scan(cur)
            if open_quote:
                cur += "\n"
                continue
            if cur.strip().startswith("curl "):
                cmds.append(cur.strip())
            cur = ""
    return cmds


def wait_line(proc, pattern, timeout):
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline() if proc.stderr else ""
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise SystemExit("no line matching %r:\n%s" % (pattern, "".join(lines)))


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    build = os.path.abspath(sys.argv[1])
    uri = os.environ.get("LODESTAR_TEST_PGURI")
    if not uri:
        print("LODESTAR_TEST_PGURI is not set: skipped")
        return 77
    db = "lodestar_apitasks_%d" % os.getpid()
    subprocess.run(["psql", "-X", "-q", uri, "-c", "CREATE DATABASE " + db], check=True)
    work = tempfile.mkdtemp(prefix="lodestar-apitasks-")
    token = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODESTAR_")}
    env.update(LODESTAR_DB=uri + " dbname=" + db, LODESTAR_MASTER_KEY=secrets.token_hex(32))
    server = subprocess.Popen([os.path.join(build, "server", "lodestar-server"), "--http",
                               "127.0.0.1:0", "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0",
                               "--admin-token", token, "--models",
                               os.path.join(ROOT, "tests", "data", "models")],
                              env=env, stderr=subprocess.PIPE, text=True)
    device = None
    failed = 0
    try:
        http = wait_line(server, r"proto=http addr=(\S+)", 30).group(1)
        coap = wait_line(server, r"proto=coap addr=(\S+)", 30).group(1)
        wait_line(server, r"event=started", 30)
        # keep draining the log, so a chatty server never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        device = subprocess.Popen([os.path.join(build, "tests", "e2e", "e2e_device"), coap,
                                   "dev-1", "1.1"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        if "registered" not in device.stdout.readline():
            raise SystemExit("the device did not register")
        with open(os.path.join(work, "devices.csv"), "w") as f:
            f.write("endpoint,server_uri,ssid,security\n"
                    "acme-imp-1,coaps://lwm2m.example.com:5684,101,psk\n")
        cenv = dict(os.environ, LODESTAR="http://" + http, TOKEN=token)
        ids = {}
        for cmd in tasks_commands():
            run = cmd
            for example, key in (("batches/7", "batch"), ("workflows/12", "workflow"),
                                 ("rotations/3", "rotation"), ("tokens/4", "token")):
                if key in ids:
                    run = run.replace(example, example.split("/")[0] + "/" + str(ids[key]))
            stream = "/api/events" in run
            run += " -o out.body -w '%{http_code}'" if "-o " not in run else " -w '%{http_code}'"
            if stream:
                run += " --max-time 2"
            r = subprocess.run(["bash", "-c", run], cwd=work, env=cenv, capture_output=True,
                               text=True, timeout=60)
            status = int(r.stdout[-3:]) if r.stdout[-3:].isdigit() else 0
            body = ""
            if os.path.exists(os.path.join(work, "out.body")):
                body = open(os.path.join(work, "out.body"), errors="replace").read()
                os.unlink(os.path.join(work, "out.body"))
            ok = status and status < 500 and status not in (400, 401, 403, 405) and not (
                status == 404 and "no such resource" in body)
            if stream:
                ok = status == 200
            try:
                j = json.loads(body)
                for key, field in (("batch", "id"), ("workflow", "workflow"),
                                   ("rotation", "rotation")):
                    if "/%s" % {"batch": "factory/batches", "workflow": "bootstrap?",
                                "rotation": "bootstrap/rotations"}[key] in run and field in j:
                        ids[key] = j[field]
                if "/api/tokens" in run and "-X POST" in run and "id" in j:
                    ids["token"] = j["id"]
            except ValueError:
                pass
            print("%s %d %s" % ("ok  " if ok else "FAIL", status, cmd[:150]))
            if not ok:
                print("     " + body[:300].replace("\n", " "))
                failed += 1
    finally:
        if device:
            device.stdin.close()
            device.wait(timeout=20)
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["psql", "-X", "-q", uri, "-c", "DROP DATABASE %s WITH (FORCE)" % db])
    print("%d examples failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
