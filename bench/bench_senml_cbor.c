/*
 * bench/bench_senml_cbor.c -- SenML CBOR decode throughput on a ~1 MB pack
 *
 * Builds a Read-like pack (strings, integers, floats, times, object links
 * over many instances), encodes it with lwm2m_senml_cbor_encode, then
 * decodes it repeatedly with and without the built-in model and prints
 * MB/s.  Build against a release liblwm2m.a, e.g.
 *   cc -O2 -I. bench/bench_senml_cbor.c build-rel/lwm2m/liblwm2m.a \
 *      -lcbor -ljansson -lxml2 -lm -o bench_senml_cbor
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwm2m/model.h"
#include "lwm2m/senml_cbor.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void build(struct lwm2m_data *d, size_t target_bytes)
{
    lwm2m_data_init(d);
    for (uint16_t i = 0; d->count * 13 < target_bytes && i < 60000; i++) {
        struct lwm2m_path p = lwm2m_path_resource(3, i, 0);
        lwm2m_data_append_bytes(d, &p, LWM2M_TYPE_STRING, "Open Mobile Alliance", 20, NULL);
        p = lwm2m_path_resource_instance(3, i, 7, 0);
        lwm2m_data_append(d, &p, LWM2M_TYPE_INTEGER, NULL)->v.i = 3800 + i;
        p = lwm2m_path_resource_instance(3, i, 7, 1);
        lwm2m_data_append(d, &p, LWM2M_TYPE_INTEGER, NULL)->v.i = 5000;
        p = lwm2m_path_resource(3, i, 9);
        lwm2m_data_append(d, &p, LWM2M_TYPE_INTEGER, NULL)->v.i = 100;
        p = lwm2m_path_resource(3, i, 13);
        lwm2m_data_append(d, &p, LWM2M_TYPE_TIME, NULL)->v.i = 1795472845;
        p = lwm2m_path_resource(3, i, 14);
        lwm2m_data_append_bytes(d, &p, LWM2M_TYPE_STRING, "+01:00", 6, NULL);
        p = lwm2m_path_resource_instance(3, i, 22, 0);
        struct lwm2m_value *v = lwm2m_data_append(d, &p, LWM2M_TYPE_OBJLNK, NULL);
        v->v.objlnk.obj = 33606;
        v->v.objlnk.inst = i;
    }
}

static double run(const struct lwm2m_buf *b, const struct lwm2m_model *m, int iters,
                  size_t *count)
{
    double t0 = now_s();
    for (int k = 0; k < iters; k++) {
        struct lwm2m_data d;
        struct ls_error err = { 0 };
        lwm2m_data_init(&d);
        if (lwm2m_senml_cbor_decode(b->data, b->len, NULL, m, &d, &err) != LS_OK) {
            fprintf(stderr, "decode failed: %s\n", err.msg);
            exit(1);
        }
        *count = d.count;
        lwm2m_data_free(&d);
    }
    return (double)b->len * iters / (now_s() - t0) / 1e6;
}

int main(void)
{
    struct lwm2m_data d;
    struct lwm2m_buf b = { 0 };
    struct lwm2m_path base = lwm2m_path_object(3);
    build(&d, 1 << 20);
    if (lwm2m_senml_cbor_encode(&d, &base, NULL, &b, NULL) != LS_OK)
        return 1;
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    size_t count = 0;
    run(&b, NULL, 3, &count); /* warm up */
    double untyped = run(&b, NULL, 50, &count);
    double typed = run(&b, m, 50, &count);
    printf("payload %zu bytes, %zu values: decode %.0f MB/s untyped, %.0f MB/s with model\n",
           b.len, count, untyped, typed);
    lwm2m_model_free(m);
    lwm2m_buf_free(&b);
    lwm2m_data_free(&d);
    return 0;
}
