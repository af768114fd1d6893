#!/usr/bin/env node
/*
 * tests/npm/client.js -- drive the third-party LwM2M client lwm2m-node-lib
 * (LwM2M 1.0, NoSec, plain CoAP) through Register, an optional Update and
 * De-register against one server, for tests/integration/test_npm_client.c
 *
 * Usage:
 *   node client.js --host 127.0.0.1 --port 5683 --endpoint NAME
 *                  [--lifetime 300] [--object /3/0]... [--resource /3/0/0=Acme]...
 *                  [--update] [--wait-signal] [--capture] [--step-timeout-ms 10000]
 *                  [--timeout-ms 30000]
 *
 * Prints one JSON object per line on stdout, nothing else (the library's own
 * log goes to stderr):
 *   {"step":"start","lib":"lwm2m-node-lib","version":"1.4.0","node":"v20..."}
 *   {"step":"wire","dir":"c2s","code":"0.02","path":"/rd","query":[...],
 *    "content_format":null,"payload":"</3/0>","hex":"..."}     (--capture;
 *    "accept" too when the datagram has an Accept option)
 *   {"step":"register","ok":true,"location":"/rd/...","port":40123,"ms":12}
 *   {"step":"update","ok":true,"code":"2.04","port":40777,"ms":3}  (--update)
 *   {"step":"op","op":"read","path":"/3/0/0","value":"Acme","port":40777}
 *   {"step":"op","op":"write","path":"/3/0/0","value":"Widget","port":40777}
 *   {"step":"waiting","signal":"SIGUSR2","pid":4242}           (--wait-signal)
 *   {"step":"deregister","ok":true,"code":"2.02","ms":3}
 *   {"step":"done","ok":true}
 * --wait-signal holds the registration until SIGUSR2 arrives (SIGUSR1
 * belongs to node's inspector), so a test can look at the server's state
 * between Register and De-register.
 * A failed step prints "ok":false with an "error" (and the answer's "code"
 * when one came) and then {"step":"done","ok":false}; exit status 1.  A
 * refused Update is reported but does not stop the run: De-register still
 * follows, and "done" tells whether Register and De-register succeeded.  When a step takes longer than
 * --step-timeout-ms, or the whole run longer than --timeout-ms, it prints
 * {"step":"timeout",...} and exits 2, so a test never hangs on it.
 *
 * "port" is the local UDP port the library registered (or updated) from,
 * which is also where it listens for the server's requests: the library
 * sends every request from a fresh socket on a new ephemeral port, closes
 * that socket when the answer comes, and then starts a CoAP listener on
 * the very same port (lib/lwm2m-client.js startListener: config.client.port
 * = res.outSocket.port).  So the source address of the latest Register or
 * Update is where the server must send Read/Write, and there is a
 * listener there.  Listeners from earlier requests stay open (the library
 * never closes them) with the library's default handlers.
 * An "op" line is printed for every Read and Write the server sends and
 * the library serves (through its setHandler hooks; "value" is the value
 * read or the payload written, as text).
 *
 * --capture puts a UDP relay between the client and the server and prints
 * every datagram both ways, decoded, so a test can show exactly what the
 * library sends.  The relay opens one upstream socket per client socket,
 * so the server still sees a new source port whenever the library uses a
 * new socket (it does, for every request).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
'use strict';

const dgram = require('dgram');

function parseArgs(argv) {
    const a = {
        host: '127.0.0.1', port: 5683, endpoint: null, lifetime: 300,
        objects: [], resources: [], update: false, capture: false, waitSignal: false,
        stepTimeoutMs: 10000, timeoutMs: 30000
    };
    for (let i = 2; i < argv.length; i++) {
        const k = argv[i];
        const v = () => {
            if (i + 1 >= argv.length) throw new Error('missing value for ' + k);
            return argv[++i];
        };
        switch (k) {
        case '--host': a.host = v(); break;
        case '--port': a.port = Number(v()); break;
        case '--endpoint': a.endpoint = v(); break;
        case '--lifetime': a.lifetime = Number(v()); break;
        case '--object': a.objects.push(v()); break;
        case '--resource': a.resources.push(v()); break;
        case '--update': a.update = true; break;
        case '--capture': a.capture = true; break;
        case '--wait-signal': a.waitSignal = true; break;
        case '--step-timeout-ms': a.stepTimeoutMs = Number(v()); break;
        case '--timeout-ms': a.timeoutMs = Number(v()); break;
        default: throw new Error('unknown argument ' + k);
        }
    }
    if (!a.endpoint) throw new Error('--endpoint is required');
    if (!Number.isInteger(a.port) || a.port <= 0 || a.port > 65535) throw new Error('bad --port');
    if (a.objects.length === 0) a.objects.push('/3/0');
    return a;
}

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

/* Decodes the parts of a CoAP datagram (RFC 7252 section 3) a reader of
 * the capture needs; never throws on garbage. */
function decodeCoap(buf) {
    const out = { hex: buf.toString('hex') };
    if (buf.length < 4) return out;
    const tkl = buf[0] & 0x0f;
    out.type = ['CON', 'NON', 'ACK', 'RST'][(buf[0] >> 4) & 0x03];
    out.code = (buf[1] >> 5) + '.' + String(buf[1] & 0x1f).padStart(2, '0');
    out.mid = buf.readUInt16BE(2);
    let pos = 4 + tkl, num = 0;
    const path = [], query = [], location = [];
    out.content_format = null;
    while (pos < buf.length && buf[pos] !== 0xff) {
        let delta = buf[pos] >> 4, len = buf[pos] & 0x0f;
        pos++;
        if (delta === 13) delta = buf[pos++] + 13;
        else if (delta === 14) { delta = buf.readUInt16BE(pos) + 269; pos += 2; }
        if (len === 13) len = buf[pos++] + 13;
        else if (len === 14) { len = buf.readUInt16BE(pos) + 269; pos += 2; }
        if (delta === 15 || len === 15 || pos + len > buf.length) { out.malformed = true; return out; }
        num += delta;
        const val = buf.subarray(pos, pos + len);
        pos += len;
        if (num === 11) path.push(val.toString());
        else if (num === 15) query.push(val.toString());
        else if (num === 8) location.push(val.toString());
        else if (num === 12) out.content_format = val.length ? val.readUIntBE(0, val.length) : 0;
        else if (num === 17) out.accept = val.length ? val.readUIntBE(0, val.length) : 0;
    }
    if (path.length) out.path = '/' + path.join('/');
    if (query.length) out.query = query;
    if (location.length) out.location = '/' + location.join('/');
    if (pos < buf.length) out.payload = buf.subarray(pos + 1).toString();
    return out;
}

/* A relay on 127.0.0.1:<ephemeral> that forwards to host:port and reports
 * each datagram; resolves with its port. */
function startRelay(host, port) {
    return new Promise((resolve, reject) => {
        const front = dgram.createSocket('udp4');
        const upstream = new Map();
        front.on('message', (msg, rinfo) => {
            const key = rinfo.address + ':' + rinfo.port;
            let up = upstream.get(key);
            if (!up) {
                up = dgram.createSocket('udp4');
                up.on('message', (answer) => {
                    emit(Object.assign({ step: 'wire', dir: 's2c' }, decodeCoap(answer)));
                    front.send(answer, rinfo.port, rinfo.address);
                });
                up.bind(0, '127.0.0.1');
                up.unref();
                upstream.set(key, up);
            }
            emit(Object.assign({ step: 'wire', dir: 'c2s' }, decodeCoap(msg)));
            up.send(msg, port, host);
        });
        front.on('error', reject);
        front.bind(0, '127.0.0.1', () => {
            front.unref();
            resolve(front.address().port);
        });
    });
}

/* Remembers the code of every answer the library receives: it does not
 * pass the De-register answer's code on, nor an Update's on success.  The
 * library and this script share one copy of the coap package (npm installs
 * it flat), so patching its Agent reaches the library's requests. */
function hookAnswers(state) {
    const Agent = require('coap').Agent;
    const request = Agent.prototype.request;
    Agent.prototype.request = function () {
        const req = request.apply(this, arguments);
        req.on('response', (res) => { state.lastCode = res.code; });
        return req;
    };
}

/* Reports every Read and Write the server sends to the listener the
 * library opened for info (the latest Register or Update): a new listener
 * starts with the library's default handlers, so this runs after each. */
function traceOps(client, info) {
    const port = info.localPort;
    const path = (type, id, res) => '/' + type + '/' + id + '/' + res;
    client.setHandler(info.serverInfo, 'read', (type, id, res, value, cb) => {
        emit({ step: 'op', op: 'read', path: path(type, id, res), value: String(value),
               port: port });
        cb(null);
    });
    client.setHandler(info.serverInfo, 'write', (type, id, res, value, cb) => {
        emit({ step: 'op', op: 'write', path: path(type, id, res), value: String(value),
               port: port });
        cb(null);
    });
}

/* Runs fn(callback) as one step: resolves with its result, or exits 2 when
 * it does not call back in time (the library can fail silently, e.g. when
 * its listener cannot bind, and never call back). */
function step(name, ms, fn) {
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const timer = setTimeout(() => {
            emit({ step: 'timeout', in: name, ms: ms });
            process.exit(2);
        }, ms);
        fn((error, result) => {
            clearTimeout(timer);
            if (error) {
                const e = new Error(error.name ? error.name + ': ' + error.message : String(error));
                e.step = name;
                e.ms = Date.now() - started;
                reject(e);
            } else {
                resolve({ result: result, ms: Date.now() - started });
            }
        });
    });
}

async function run(args) {
    const lib = require('lwm2m-node-lib');
    const version = require('lwm2m-node-lib/package.json').version;
    const logger = require('logops');
    logger.setStream(process.stderr);
    logger.setLevel(process.env.LWM2M_CLIENT_LOG_LEVEL || 'FATAL');
    emit({ step: 'start', lib: 'lwm2m-node-lib', version: version, node: process.version });

    const client = lib.client;
    const state = { lastCode: null };
    hookAnswers(state);
    let port = args.port, host = args.host;
    if (args.capture) {
        port = await startRelay(args.host, args.port);
        host = '127.0.0.1';
    }
    client.init({
        client: {
            lifetime: String(args.lifetime),
            version: '1.0',
            logLevel: process.env.LWM2M_CLIENT_LOG_LEVEL || 'FATAL',
            ipProtocol: 'udp4',
            serverProtocol: 'udp4',
            port: 0
        }
    });
    for (const o of args.objects) {
        await step('create ' + o, args.stepTimeoutMs, (cb) => client.registry.create(o, cb));
    }
    for (const r of args.resources) {
        const m = /^(\/\d+\/\d+)\/(\d+)=(.*)$/s.exec(r);
        if (!m) throw new Error('bad --resource ' + r + ' (want /O/I/R=value)');
        await step('set ' + r, args.stepTimeoutMs,
                   (cb) => client.registry.setResource(m[1], m[2], m[3], cb));
    }

    const reg = await step('register', args.stepTimeoutMs,
                           (cb) => client.register(host, port, null, args.endpoint, cb));
    const info = reg.result;
    traceOps(client, info);
    emit({ step: 'register', ok: true, location: info.location, port: info.localPort,
           ms: reg.ms });

    /* A refused Update does not end the run: the registration is still
     * there and De-register must still work. */
    if (args.update) {
        state.lastCode = null;
        try {
            const up = await step('update', args.stepTimeoutMs, (cb) => client.update(info, cb));
            traceOps(client, info);
            emit({ step: 'update', ok: true, code: state.lastCode, port: info.localPort,
                   ms: up.ms });
        } catch (e) {
            emit({ step: 'update', ok: false, code: state.lastCode, error: e.message, ms: e.ms });
        }
    }

    if (args.waitSignal) {
        emit({ step: 'waiting', signal: 'SIGUSR2', pid: process.pid });
        await step('waiting', args.stepTimeoutMs,
                   (cb) => process.once('SIGUSR2', () => cb(null)));
    }

    state.lastCode = null;
    const de = await step('deregister', args.stepTimeoutMs, (cb) => client.unregister(info, cb));
    const ok = /^2\./.test(state.lastCode || '');
    emit({ step: 'deregister', ok: ok, code: state.lastCode, ms: de.ms });
    return ok;
}

function main() {
    let args;
    try {
        args = parseArgs(process.argv);
    } catch (e) {
        emit({ step: 'usage', ok: false, error: e.message });
        process.exit(64);
    }
    const whole = setTimeout(() => {
        emit({ step: 'timeout', in: 'run', ms: args.timeoutMs });
        process.exit(2);
    }, args.timeoutMs);
    run(args).then((ok) => {
        emit({ step: 'done', ok: ok });
        clearTimeout(whole);
        process.exit(ok ? 0 : 1);
    }, (e) => {
        emit({ step: e.step || 'run', ok: false, error: e.message, ms: e.ms });
        emit({ step: 'done', ok: false });
        process.exit(1);
    });
}

main();
