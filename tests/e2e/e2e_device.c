/*
 * tests/e2e/e2e_device.c -- the harness LwM2M device as a process, for the
 * dashboard end-to-end test (tests/e2e/dashboard.mjs)
 *
 *   e2e_device HOST:PORT ENDPOINT [VERSION]
 *
 * Registers (plain CoAP, lifetime 300 s, objects 1, 3, 5 and 32769) and
 * prints "registered rd/<id>" on stdout; then answers the server on its
 * own thread while it reads commands from stdin, one a line:
 *   set PATH VALUE     harness_device_set_value (observers are notified);
 *                      prints "ok" or "error"
 *   quit (or EOF)      de-registers and exits 0
 * Exit 1 when the registration fails.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_device.h"

#define TIMEOUT_MS 10000

/* Applies one stdin line; false on "quit". */
static bool e2e_device_command(struct harness_device *d, char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "quit") == 0)
        return false;
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

int main(int argc, char **argv)
{
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
