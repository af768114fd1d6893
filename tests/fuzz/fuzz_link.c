/*
 * tests/fuzz/fuzz_link.c -- lwm2m_link_parse, _register_parse and _format
 *
 * Any input must parse or fail cleanly; whatever parses must print, and the
 * printed text must parse again to the same number of links and attributes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "lwm2m/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lwm2m_link_list list, again;
    struct lwm2m_link_register reg;
    struct lwm2m_buf buf = { 0 };
    if (lwm2m_link_parse((const char *)data, size, &list, NULL) != LS_OK)
        return 0;
    if (lwm2m_link_register_parse(&list, &reg, NULL) == LS_OK) {
        for (size_t i = 0; i < reg.n_objects; i++)
            (void)lwm2m_link_register_version(&reg, reg.objects[i].id);
        lwm2m_link_register_free(&reg);
    }
    for (size_t i = 0; i < list.count; i++) {
        uint64_t v;
        (void)lwm2m_link_attr_uint(&list.links[i], "pmin", UINT32_MAX, &v, NULL);
    }
    if (lwm2m_link_format(list.links, list.count, &buf, NULL) != LS_OK)
        abort();   /* a parsed list always prints */
    if (lwm2m_link_parse((const char *)buf.data, buf.len, &again, NULL) != LS_OK)
        abort();   /* and what we print parses */
    if (again.count != list.count)
        abort();
    for (size_t i = 0; i < list.count; i++)
        if (again.links[i].n_attrs != list.links[i].n_attrs)
            abort();
    lwm2m_link_list_free(&again);
    lwm2m_buf_free(&buf);
    lwm2m_link_list_free(&list);
    return 0;
}
