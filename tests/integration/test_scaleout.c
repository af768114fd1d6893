/*
 * tests/integration/test_scaleout.c -- scale-out on real parts: two
 * lodestar-server processes on one database behind nginx's UDP stream
 * proxy (Debian: nginx + libnginx-mod-stream) with source-address affinity
 *
 * lodestar-sim clients from 16 distinct 127.A.0.k source addresses (64
 * clients per address) register through the proxy and are spread over both
 * instances; a Read /3/0 on either instance reaches a device held by the
 * other (routed through the commands table); after a SIGKILL of one
 * instance, its devices' next Update goes through the proxy to the
 * survivor, which answers 4.04 (it does not hold rd/<id>), so the client
 * registers again there, as LwM2M clients must; then a Read works.
 *
 * nginx is a throwaway: its own config and prefix in a temporary
 * directory, `-g 'daemon off;'`, `master_process off` (one process, so a
 * failed test leaves no orphaned worker; and it never changes user, so
 * running as root needs no `user` directive), error log on stderr.  The
 * deployment shape it stands for is in docs/deployment.md.
 *
 * Needs LODESTAR_TEST_PGURI, nginx and its stream module (exit 77 without).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "queue_common.h"

#define CLIENTS 1024            /* 16 source addresses of 64 clients each */
#define LIFETIME "10"           /* s: Updates every 8 s */
#define REGISTER_MS 90000
#define MOVE_MS 60000           /* B's devices re-registered at A */
#define NGINX_MS 15000
#define STREAM_MODULE "/usr/lib/nginx/modules/ngx_stream_module.so"

static char nginx_bin[512];
static const char *stream_module;   /* NULL: built in */

/* nginx from LODESTAR_NGINX or the usual sbin/bin directories; false when none. */
static bool scaleout_find_nginx(void)
{
    const char *env = getenv("LODESTAR_NGINX");
    const char *dirs[] = { "/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin" };
    if (env && *env) {
        snprintf(nginx_bin, sizeof nginx_bin, "%s", env);
        return access(nginx_bin, X_OK) == 0;
    }
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(nginx_bin, sizeof nginx_bin, "%s/nginx", dirs[i]);
        if (access(nginx_bin, X_OK) == 0)
            return true;
    }
    return false;
}

/* The stream module: Debian's dynamic module, or built into nginx. */
static bool scaleout_find_stream(void)
{
    if (access(STREAM_MODULE, R_OK) == 0) {
        stream_module = STREAM_MODULE;
        return true;
    }
    char cmd[600], line[8192] = "";
    snprintf(cmd, sizeof cmd, "'%s' -V 2>&1", nginx_bin);
    FILE *f = popen(cmd, "r");
    if (!f)
        return false;
    size_t n = fread(line, 1, sizeof line - 1, f);
    line[n] = '\0';
    pclose(f);
    return strstr(line, "--with-stream ") || strstr(line, "--with-stream\n");
}

/*
 * The config of docs/deployment.md, for a test: one UDP listener, the two
 * instances' CoAP ports as upstream, hashed on the client's address.  No
 * proxy_responses: the server sends a separate response after its empty
 * ACK and its own requests (Read, Observe notifications come back), so the
 * number of datagrams per client datagram is not fixed.  proxy_timeout
 * keeps the client's session (and so the way back to it) past the test's
 * 8 s Update interval.
 */
static void scaleout_write_conf(const char *path, const char *dir, unsigned port,
                                const char *coap_a, const char *coap_b)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    if (stream_module)
        fprintf(f, "load_module %s;\n", stream_module);
    fprintf(f,
            "master_process off;\n"
            "pid %s/nginx.pid;\n"
            "error_log stderr notice;\n"
            "events { worker_connections 8192; }\n"
            "stream {\n"
            "    upstream lodestar_coap {\n"
            "        hash $remote_addr consistent;\n"
            "        server %s max_fails=1 fail_timeout=30s;\n"
            "        server %s max_fails=1 fail_timeout=30s;\n"
            "    }\n"
            "    server {\n"
            "        listen 127.0.0.1:%u udp;\n"
            "        proxy_pass lodestar_coap;\n"
            "        proxy_timeout 10m;\n"
            "    }\n"
            "}\n",
            dir, coap_a, coap_b, port);
    ck_assert_int_eq(fclose(f), 0);
}

static struct harness_proc *scaleout_start_nginx(const char *dir, unsigned port,
                                                 const char *coap_a, const char *coap_b)
{
    char conf[600];
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    scaleout_write_conf(conf, dir, port, coap_a, coap_b);
    char *argv[] = { "nginx", "-c", conf, "-p", (char *)dir, "-e", "stderr",
                     "-g", "daemon off;", NULL };
    struct harness_proc *p = harness_proc_spawn("nginx", nginx_bin, argv, NULL);
    ck_assert_ptr_nonnull(p);
    /* single-process mode logs nothing once it is up: wait for the pid
     * file, written after the listening socket is open */
    char pid[600];
    snprintf(pid, sizeof pid, "%s/nginx.pid", dir);
    int64_t deadline = harness_now_ms() + NGINX_MS;
    while (access(pid, R_OK) != 0) {
        int status;
        if (harness_proc_wait_exit(p, 0, &status) || harness_now_ms() > deadline) {
            char *e = harness_proc_stderr(p);
            ck_abort_msg("nginx did not start:\n%s", e);
        }
        harness_sleep_ms(50);   /* poll interval */
    }
    return p;
}

static long long scaleout_count(const char *sql, const char *arg)
{
    return atoll(qc_db(sql, arg));
}

/* Holder of the first registration of prefix-% held by instance. */
static void scaleout_device_of(const char *like, const char *instance, char *ep, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT endpoint FROM registrations WHERE endpoint LIKE '%s'"
             " AND instance_id = $1 ORDER BY endpoint LIMIT 1", like);
    snprintf(ep, cap, "%s", qc_db(sql, instance));
    ck_assert_msg(ep[0], "no device held by %s", instance);
}

/* GET /api/devices/ep/3/0 through s: 200 with the sim's manufacturer. */
static void scaleout_read(const struct qc_server *s, const char *ep)
{
    char path[160], *body = NULL;
    snprintf(path, sizeof path, "/api/devices/%s/3/0?timeout=20", ep);
    int st = qc_call(s, "GET", path, NULL, &body);
    ck_assert_msg(st == 200, "GET %s on %s: %d %s", path, s->http, st, body ? body : "");
    ck_assert_msg(strstr(body, "\"/3/0/0\"") && strstr(body, "Lodestar"), "%s", body);
    free(body);
}

START_TEST(test_scaleout_nginx)
{
    struct qc_server a, b;
    char dir[] = "/tmp/lodestar-scaleout.XXXXXX", prefix[48], like[64], sql[256], ep_a[96],
         ep_b[96], server[64], src_net[8], count[16];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    snprintf(prefix, sizeof prefix, "scl%s", qc_tag);
    snprintf(like, sizeof like, "%s-%%", prefix);

    /* behind a proxy every datagram comes from the proxy's address: the
     * per-source-address Register limit would throttle the whole fleet */
    const char *env[] = { "LODESTAR_REG_RATE_LIMIT=0", NULL };
    qc_start(&a, "127.0.0.1:0", env);
    qc_start(&b, "127.0.0.1:0", env);
    unsigned port = harness_free_udp_port();
    struct harness_proc *ngx = scaleout_start_nginx(dir, port, a.coap, b.coap);

    /* the devices: only the proxy's address is known to them */
    const char *sim_bin = getenv("LODESTAR_SIM_BIN");
    ck_assert_msg(sim_bin && *sim_bin, "LODESTAR_SIM_BIN is not set (run through meson test)");
    snprintf(server, sizeof server, "coap://127.0.0.1:%u", port);
    snprintf(src_net, sizeof src_net, "%u", 10 + (unsigned)(strtoul(qc_tag, NULL, 16) % 240));
    snprintf(count, sizeof count, "%d", CLIENTS);
    char *sim_argv[] = { "lodestar-sim", "--server", server, "--count", count, "--prefix",
                         prefix, "--lifetime", LIFETIME, "--duration", "600", "--window", "64",
                         "--src-net", src_net, "--json", "--quiet", NULL };
    struct harness_proc *sim = harness_proc_spawn("sim", sim_bin, sim_argv, NULL);
    ck_assert_ptr_nonnull(sim);
    snprintf(count, sizeof count, "%d", CLIENTS);
    ck_assert_msg(qc_db_wait("SELECT count(*) FROM registrations WHERE endpoint LIKE $1", like,
                             count, REGISTER_MS),
                  "%s of %d registered", qc_db("SELECT count(*) FROM registrations"
                                               " WHERE endpoint LIKE $1", like), CLIENTS);

    /* spread over both instances, and the server sees the proxy, not the
     * device */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM registrations WHERE endpoint LIKE '%s'"
             " AND instance_id = $1", like);
    long long at_a = scaleout_count(sql, a.instance), at_b = scaleout_count(sql, b.instance);
    fprintf(stderr, "test_scaleout: %lld devices at A, %lld at B\n", at_a, at_b);
    ck_assert_int_eq(at_a + at_b, CLIENTS);
    ck_assert_int_gt(at_a, 0);
    ck_assert_int_gt(at_b, 0);
    ck_assert_int_eq(scaleout_count("SELECT count(*) FROM registrations WHERE endpoint LIKE $1"
                                    " AND address NOT LIKE '127.0.0.1:%'", like), 0);

    /* an API call on either instance reaches a device held by the other */
    scaleout_device_of(like, a.instance, ep_a, sizeof ep_a);
    scaleout_device_of(like, b.instance, ep_b, sizeof ep_b);
    scaleout_read(&a, ep_b);
    scaleout_read(&b, ep_a);
    ck_assert_str_eq(qc_db("SELECT target_instance || ' ' || state FROM commands"
                           " WHERE endpoint = $1 AND op = 'read'", ep_b),
                     qc_db("SELECT $1 || ' done'", b.instance));
    scaleout_read(&b, ep_b);     /* held: answered locally */

    /* B dies; its devices' next Update goes to A, which takes them */
    ck_assert_int_eq(harness_proc_signal(b.p, SIGKILL), 0);
    int status = 0;
    ck_assert(harness_proc_wait_exit(b.p, 10000, &status));
    int64_t t0 = harness_now_ms();
    snprintf(count, sizeof count, "%d", CLIENTS);
    ck_assert_msg(qc_db_wait(sql, a.instance, count, MOVE_MS), "%s of %d at A after %d ms",
                  qc_db(sql, a.instance), CLIENTS, MOVE_MS);
    fprintf(stderr, "test_scaleout: %lld devices moved to A in %" PRId64 " ms\n", at_b,
            harness_now_ms() - t0);
    char routed[32];
    snprintf(routed, sizeof routed, "%s",
             qc_db("SELECT count(*) FROM commands WHERE endpoint = $1", ep_b));
    scaleout_read(&a, ep_b);
    ck_assert_str_eq(qc_db("SELECT count(*) FROM commands WHERE endpoint = $1", ep_b), routed);

    /* the simulator: every Register acknowledged, and nothing else failed
     * than the Updates B's death cost (4.04 from A, then a Register) */
    ck_assert_int_eq(harness_proc_signal(sim, SIGINT), 0);
    ck_assert(harness_proc_wait_exit(sim, 30000, &status));
    char *out = harness_proc_stdout(sim), *err = harness_proc_stderr(sim);
    ck_assert_msg(!strstr(err, "Sanitizer") && !strstr(err, "runtime error"), "%s", err);
    json_t *r = json_loads(out, 0, NULL);
    ck_assert_msg(r, "lodestar-sim report: %s\n%s", out, err);
    json_t *reg = json_object_get(json_object_get(r, "ops"), "register");
    ck_assert_int_eq(json_integer_value(json_object_get(reg, "failed")), 0);
    ck_assert_int_ge(json_integer_value(json_object_get(reg, "ok")), CLIENTS + at_b);
    json_decref(r);
    free(out);
    free(err);
    harness_proc_free(sim);

    ck_assert_int_eq(harness_proc_stop_dump(ngx, "nginx", 10000), 0);
    harness_proc_free(ngx);
    harness_proc_free(b.p);
    qc_stop(&a);
    char pid[600];
    snprintf(pid, sizeof pid, "%s/nginx.pid", dir);
    unlink(pid);
    snprintf(pid, sizeof pid, "%s/nginx.conf", dir);
    unlink(pid);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* docs/deployment.md's nginx configuration is one nginx accepts
 * (`nginx -t`; the module and pid file added as the test needs them). */
START_TEST(test_scaleout_doc_config)
{
    const char *root = getenv("LODESTAR_SOURCE_ROOT");
    ck_assert_msg(root && *root, "LODESTAR_SOURCE_ROOT is not set (run through meson test)");
    char path[600], dir[] = "/tmp/lodestar-scaleout.XXXXXX", conf[600], pid[600];
    snprintf(path, sizeof path, "%s/docs/deployment.md", root);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "%s: cannot open", path);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    char *start = strstr(doc, "```nginx\n"), *end = start ? strstr(start + 9, "```") : NULL;
    ck_assert_msg(start && end, "%s: no ```nginx block", path);
    *end = '\0';
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    snprintf(pid, sizeof pid, "%s/nginx.pid", dir);
    f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    if (stream_module)
        fprintf(f, "load_module %s;\n", stream_module);
    fprintf(f, "pid %s;\n%s", pid, start + 9);
    ck_assert_int_eq(fclose(f), 0);
    char *argv[] = { "nginx", "-t", "-q", "-c", conf, "-p", dir, "-e", "stderr", NULL };
    struct harness_proc *p = harness_proc_spawn("nginx", nginx_bin, argv, NULL);
    ck_assert_ptr_nonnull(p);
    int status = -1;
    ck_assert(harness_proc_wait_exit(p, NGINX_MS, &status));
    char *err = harness_proc_stderr(p);
    ck_assert_msg(status == 0, "nginx -t on docs/deployment.md's configuration: %s", err);
    free(err);
    harness_proc_free(p);
    unlink(conf);
    unlink(pid);      /* nginx -t creates it to check the path */
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("scaleout");
    TCase *tc = tcase_create("scaleout");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_scaleout_doc_config);
    tcase_add_test(tc, test_scaleout_nginx);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    harness_pg_uri();     /* exits 77 when unset */
    if (!scaleout_find_nginx() || !scaleout_find_stream()) {
        fprintf(stderr, "test_scaleout: no nginx with the stream module (apt-get install nginx"
                        " libnginx-mod-stream): skipped\n");
        return HARNESS_SKIP;
    }
    qc_init();
    return harness_run_suite(suite()) ? 1 : 0;
}
