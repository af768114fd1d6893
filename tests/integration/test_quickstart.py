#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# tests/integration/test_quickstart.py -- runs docs/quickstart.md's commands
#
# The fenced shell blocks preceded by an HTML comment marker are run in
# order, each with `bash -euo pipefail` in a scratch copy of the checkout
# (scripts/, static/, and build/ as a symlink to the meson build directory
# under test), so the quick start's `.lodestar/` is private and a
# developer's running instance is never touched:
#
#   <!-- test -->                 run; must exit 0
#   <!-- test: background -->     start and leave running (killed at the end)
#   <!-- test: expect TEXT -->    run until its output contains TEXT (30 s)
#
# The ports the page names (127.0.0.1:8080, 127.0.0.1:5683) are replaced by
# free ones, passed to scripts/run.sh through LODESTAR_HTTP, LODESTAR_PG_PORT,
# LODESTAR_SERVER_FLAGS and LODESTAR_BOOTSTRAP_FLAGS; LODESTAR_NO_BUILD=1
# makes it use the build as it is.  Whatever happens, `scripts/run.sh stop`
# runs, the background blocks are killed and the copy is removed.
#
# Environment (meson sets them): LODESTAR_SOURCE_ROOT, LODESTAR_BUILD_ROOT.

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MARKER = re.compile(r"<!-- test(?::\s*(background|expect\s+(.+?)))?\s*-->\s*\n"
                    r"```(?:sh|bash)\n(.*?)\n```", re.S)
BLOCK_TIMEOUT = 300     # s: scripts/run.sh on a loaded machine
EXPECT_TIMEOUT = 30     # s: an expect block until its text shows


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blocks(markdown):
    """[(mode, expect, script)] in page order."""
    out = []
    for m in MARKER.finditer(markdown):
        mode = "run" if not m.group(1) else m.group(1).split()[0]
        out.append((mode, m.group(2), m.group(3)))
    return out


def environment(http, pg, coap):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODESTAR_")}
    udp = [free_port(socket.SOCK_DGRAM) for _ in range(3)]
    env.update({
        "LODESTAR_NO_BUILD": "1",
        "LODESTAR_HTTP": http,
        "LODESTAR_PG_PORT": str(pg),
        "LODESTAR_SERVER_FLAGS": f"--coap {coap} --coaps 127.0.0.1:{udp[0]}",
        "LODESTAR_BOOTSTRAP_FLAGS":
            f"--coap 127.0.0.1:{udp[1]} --coaps 127.0.0.1:{udp[2]}",
    })
    return env


def scratch_copy(src, build):
    work = tempfile.mkdtemp(prefix="lodestar-quickstart.")
    os.chmod(work, 0o755)     # as root, the cluster's user must reach .lodestar/pg
    shutil.copytree(os.path.join(src, "scripts"), os.path.join(work, "scripts"))
    shutil.copytree(os.path.join(src, "static"), os.path.join(work, "static"),
                    ignore=shutil.ignore_patterns("node_modules"))
    os.symlink(build, os.path.join(work, "build"))
    return work


def run_block(i, script, work, env, expect):
    deadline = time.monotonic() + (EXPECT_TIMEOUT if expect else BLOCK_TIMEOUT)
    while True:
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=BLOCK_TIMEOUT)
        ok = p.returncode == 0 and (expect is None or expect in p.stdout)
        if ok or expect is None or time.monotonic() > deadline:
            break
        time.sleep(0.5)     # poll interval: the device registers in the background
    print(f"--- block {i} (exit {p.returncode}):\n{script}\n{p.stdout}", flush=True)
    if p.returncode != 0:
        raise AssertionError(f"block {i} exited {p.returncode}")
    if expect is not None and expect not in p.stdout:
        raise AssertionError(f"block {i}: no {expect!r} in its output")


def main():
    src = os.environ.get("LODESTAR_SOURCE_ROOT")
    build = os.environ.get("LODESTAR_BUILD_ROOT")
    if not src or not build:
        print("LODESTAR_SOURCE_ROOT / LODESTAR_BUILD_ROOT unset (run through meson test)")
        return 1
    with open(os.path.join(src, "docs", "quickstart.md"), encoding="utf-8") as f:
        steps = blocks(f.read())
    modes = [b[0] for b in steps]
    # the page's shape: start, a device in the background, what proves it is
    # seen, stop -- a marker lost in an edit fails here rather than passing
    if (len(steps) < 4 or modes[0] != "run" or "background" not in modes
            or "expect" not in modes or "run.sh stop" not in steps[-1][2]):
        print(f"docs/quickstart.md: unexpected test blocks: {steps}")
        return 1

    http = f"127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    coap = f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
    pg = free_port(socket.SOCK_STREAM)
    env = environment(http, pg, coap)
    work = scratch_copy(src, build)
    background = []
    started = time.monotonic()
    try:
        for i, (mode, expect, script) in enumerate(steps, 1):
            script = script.replace("127.0.0.1:8080", http).replace("127.0.0.1:5683", coap)
            if mode == "background":
                log = open(os.path.join(work, f"background-{i}.log"), "w")
                background.append((subprocess.Popen(
                    ["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))
                print(f"--- block {i} (background):\n{script}", flush=True)
                continue
            for p, _ in background:
                if p.poll() is not None:
                    raise AssertionError(f"a background block exited {p.returncode}")
            run_block(i, script, work, env, expect)
        print(f"quickstart: {len(steps)} blocks in {time.monotonic() - started:.1f} s")
        return 0
    except (AssertionError, subprocess.TimeoutExpired) as e:
        print(f"quickstart: FAILED: {e}")
        for name in ("lodestar-server.log", "lodestar-bootstrap.log"):
            path = os.path.join(work, ".lodestar", "log", name)
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    print(f"--- {name} (end):\n{''.join(f.readlines()[-20:])}")
        return 1
    finally:
        for p, log in background:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            log.close()
        subprocess.run(["bash", "scripts/run.sh", "stop"], cwd=work, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
