/*
 * tests/fuzz/fuzz_command.c -- server_command_parse (server/command.c)
 *
 * Any input must parse or fail cleanly with a message; what parses must
 * hold a path of a depth its op allows and attribute queries that are
 * NUL-terminated text.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "server/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lwm2m_model *model;
    struct server_command c;
    struct ls_error err = { 0 };
    if (!model && !(model = lwm2m_model_new(NULL)))
        abort();
    if (server_command_parse((const char *)data, size, model, &c, &err) == LS_OK) {
        if (c.path.depth > 4 || c.n_queries > SERVER_COMMAND_MAX_ATTRS || !c.attributes_json)
            abort();
        for (size_t i = 0; i < c.n_queries; i++)
            if (strlen(c.queries[i]) == 0)
                abort();
    } else if (!err.msg[0]) {
        abort();   /* every failure says why */
    }
    server_command_free(&c);
    return 0;
}
