/*
 * tests/fuzz/fuzz_ddf.c -- lwm2m_model_load_buffer (DDF XML from memory)
 *
 * Any input must load or fail cleanly; a loaded object must be findable
 * and its resources sorted by id.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "lwm2m/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    if (!m)
        abort();
    if (lwm2m_model_load_buffer(m, (const char *)data, size, "fuzz.xml", NULL) == LS_OK) {
        for (size_t i = 0; i < lwm2m_model_count(m); i++) {
            const struct lwm2m_object_def *o = lwm2m_model_at(m, i);
            if (lwm2m_model_object(m, o->id, o->version) != o)
                abort();
            for (size_t r = 1; r < o->n_resources; r++)
                if (o->resources[r - 1].id >= o->resources[r].id)
                    abort();
        }
    }
    lwm2m_model_free(m);
    return 0;
}
