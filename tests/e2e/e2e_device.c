/*
 * tests/e2e/e2e_device.c -- the harness LwM2M device as a process, for the
 * dashboard end-to-end test (tests/e2e/dashboard.mjs)
 *
 *   e2e_device HOST:PORT ENDPOINT [VERSION]
 *   e2e_device --bootstrap HOST:PORT ENDPOINT PSK_IDENTITY PSK_KEY_HEX [VERSION]
 *
 * Registers (plain CoAP, lifetime 300 s, objects 1, 3, 5 and 32769) and
 * prints "registered rd/<id>" on stdout; then answers the server on its
 * own thread while it reads commands from stdin, one a line:
 *   set PATH VALUE     harness_device_set_value (observers are notified);
 *                      prints "ok" or "error"
 *   quit (or EOF)      de-registers and exits 0
 * Exit 1 when the registration fails.
 *
 * --bootstrap: a device fresh from the factory, with only its bootstrap
 * account (DTLS-PSK with lodestar-bootstrap at HOST:PORT).  It bootstraps
 * (POST /bs), registers with the server account written to it and prints
 * "registered rd/<id>"; then it sends an Update every UPDATE_MS while it
 * reads stdin.  When an Update fails (the registration was ended, the
 * session cut: its keys were revoked) it prints "dropped <code>" and plays
 * what a real client does: bootstrap again, register again ("registered
 * ..." once more).  An Execute of /1/x/9 (server-initiated bootstrap)
 * does the same.  stdin: set, quit as above; "hold" stops the Updates
 * until "go" (both print "ok").  Exit 1 when a bootstrap or registration fails for
 * BOOTSTRAP_MS.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lwm2m_device.h"

#define TIMEOUT_MS 10000
#define UPDATE_MS 1000        /* --bootstrap: Update period (how soon a drop is seen) */
#define BOOTSTRAP_MS 30000    /* --bootstrap: give up re-bootstrapping after this */
#define LIFETIME_S 300
#define RETRY_MS 200          /* pause between tries while a daemon loads fresh keys */

/* --bootstrap: "hold" stops the Updates (the test then sees a drop on
 * its pages before the device reacts), "go" resumes them. */
static bool held;

/* Applies one stdin line; false on "quit". */
static bool e2e_device_command(struct harness_device *d, char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "quit") == 0)
        return false;
    if (strcmp(line, "hold") == 0 || strcmp(line, "go") == 0) {
        held = line[0] == 'h';
        puts("ok");
        fflush(stdout);
        return true;
    }
    if (strncmp(line, "set ", 4) == 0) {
        char *path = line + 4, *value = strchr(path, ' ');
        if (value) {
            *value++ = '\0';
            puts(harness_device_set_value(d, path, value) ? "ok" : "error");
            fflush(stdout);
            return true;
        }
    }
    fprintf(stderr, "e2e_device: unknown command \"%s\"\n", line);
    return true;
}

/* "0a1b.." -> bytes; the count, or 0 when it is not hex. */
static size_t e2e_device_unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    if (n == 0 || n > cap || strlen(h) % 2)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        if (sscanf(h + 2 * i, "%2x", &b) != 1)
            return 0;
        out[i] = (uint8_t)b;
    }
    return n;
}

/* Bootstrap with d's bootstrap account, then register: retried until
 * BOOTSTRAP_MS (lodestar-server loads issued keys on a notification).
 * The registered device (d untouched), or NULL. */
static struct harness_device *e2e_device_bootstrap(struct harness_device *d, const char *ep,
                                                   char *loc, size_t cap)
{
    int64_t deadline = harness_now_ms() + BOOTSTRAP_MS;
    struct harness_bs_result r = { 0 };
    int code = 0;
    do {
        struct harness_device *n = harness_device_rebootstrap(d, ep, LIFETIME_S, 8000, &r, &code,
                                                              loc, cap);
        if (n)
            return n;
        harness_sleep_ms(RETRY_MS);
    } while (harness_now_ms() < deadline);
    fprintf(stderr, "e2e_device: no bootstrap: request %d finished %d register %d\n",
            r.request_code, r.finished, code);
    return NULL;
}

/* Waits up to ms for a stdin line; 1 = a line in buf, 0 = none yet, -1 = EOF. */
static int e2e_device_line(char *buf, size_t cap, int ms)
{
    struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
    if (poll(&p, 1, ms) <= 0)
        return 0;
    return fgets(buf, (int)cap, stdin) ? 1 : -1;
}

static int e2e_device_bootstrap_main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: e2e_device --bootstrap HOST:PORT ENDPOINT IDENTITY KEY_HEX [VERSION]\n");
        return 2;
    }
    uint8_t key[64];
    size_t key_len = e2e_device_unhex(argv[5], key, sizeof key);
    if (!key_len) {
        fprintf(stderr, "e2e_device: the key is not hex\n");
        return 2;
    }
    const char *ep = argv[3];
    struct harness_device_options o = { .server = argv[2], .psk_identity = argv[4],
                                        .psk_key = key, .psk_key_len = key_len,
                                        .version = argc > 6 ? argv[6] : "1.1",
                                        .no_server_instance = true };
    struct harness_device *factory = harness_device_new(&o);
    if (!factory)
        return 1;
    /* Unbuffered: a line never waits in stdio's buffer while poll() sees
     * nothing to read. */
    setvbuf(stdin, NULL, _IONBF, 0);
    char loc[128];
    struct harness_device *d = e2e_device_bootstrap(factory, ep, loc, sizeof loc);
    harness_device_free(factory);
    char line[1024];
    while (d) {
        printf("registered %s\n", loc);
        fflush(stdout);
        if (!harness_device_start_thread(d))
            break;
        unsigned triggers = harness_device_bootstrap_triggers(d);
        int code = 204, got;
        while (code == 204 && harness_device_bootstrap_triggers(d) == triggers) {
            got = e2e_device_line(line, sizeof line, UPDATE_MS);
            if (got < 0 || (got > 0 && !e2e_device_command(d, line))) {
                code = harness_device_deregister(d, loc, TIMEOUT_MS);
                harness_device_free(d);
                return code == 202 ? 0 : 1;
            }
            if (got == 0 && !held)
                code = harness_device_update(d, loc, NULL, NULL, 3000);
        }
        printf("dropped %d\n", code == 204 ? 0 : code);
        fflush(stdout);
        harness_device_stop_thread(d);
        struct harness_device *n = e2e_device_bootstrap(d, ep, loc, sizeof loc);
        harness_device_free(d);
        d = n;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bootstrap") == 0)
        return e2e_device_bootstrap_main(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: e2e_device HOST:PORT ENDPOINT [VERSION]\n");
        return 2;
    }
    struct harness_device_options o = { .server = argv[1],
                                        .version = argc > 3 ? argv[3] : "1.1" };
    struct harness_device *d = harness_device_new(&o);
    if (!d)
        return 1;
    char location[128];
    int code = harness_device_register_lwm2m(d, argv[2], 300, NULL, false, NULL, TIMEOUT_MS,
                                             location, sizeof location);
    if (code != 201) {
        fprintf(stderr, "e2e_device: Register answered %d\n", code);
        harness_device_free(d);
        return 1;
    }
    printf("registered %s\n", location);
    fflush(stdout);
    if (!harness_device_start_thread(d)) {
        harness_device_free(d);
        return 1;
    }
    char line[1024];
    while (fgets(line, sizeof line, stdin) && e2e_device_command(d, line))
        ;
    code = harness_device_deregister(d, location, TIMEOUT_MS);
    harness_device_free(d);
    return code == 202 ? 0 : 1;
}
