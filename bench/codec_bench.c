/*
 * bench/codec_bench.c -- decode/encode throughput of every content format
 *
 * Builds two data sets in memory: a Device instance (/3/0) whose TLV form
 * is about 4 KB (the usual strings plus multi-instance power-source and
 * error-code resources), and about 1 MB of TLV worth of Temperature
 * (/3303) instances of six values each.  Every multi-value format wired
 * in lwm2m/format.c encodes each set once to get its payload, then is
 * timed decoding and encoding it; the single-value formats (text, opaque,
 * cbor) are timed on one value.  A third set is SenML CBOR's own Read
 * case: about 1 MB of SenML CBOR over many Device (/3) instances
 * (strings, integers, times, object links), decoded with and without the
 * model (target: 200 MB/s).  Figures are per format's own payload
 * size, so a verbose format shows fewer MB/s but the same values/s scale.
 *
 * Timing: CLOCK_MONOTONIC; each figure is the best of REPEATS runs, each
 * run looping until MIN_RUN_S has passed (best-of filters scheduler noise
 * on a shared machine).  Decoding includes lwm2m_data_init/free, as a
 * server pays them per payload.  Build without sanitizers for figures:
 *   meson setup build-bench -Dtests=false --buildtype=release -Doptimization=2
 *   ./build-bench/bench/codec_bench > bench/results/codecs.md
 * An argument ("tlv", "senml-cbor", ...) runs that format only, for perf.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lwm2m/format.h"

#define REPEATS 5
#define MIN_RUN_S 0.25

struct result {
    double decode_s; /* seconds per operation, best run */
    double encode_s;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, unsigned format, const struct ls_error *err)
{
    fprintf(stderr, "codec_bench: %s (format %u): %s\n", what, format, err->msg);
    exit(1);
}

static void add_str(struct lwm2m_data *d, struct lwm2m_path p, const char *s)
{
    struct ls_error err = { 0 };
    if (!lwm2m_data_append_bytes(d, &p, LWM2M_TYPE_STRING, s, strlen(s), &err))
        die("append", 0, &err);
}

static struct lwm2m_value *add(struct lwm2m_data *d, struct lwm2m_path p, enum lwm2m_type t)
{
    struct ls_error err = { 0 };
    struct lwm2m_value *v = lwm2m_data_append(d, &p, t, &err);
    if (!v)
        die("append", 0, &err);
    return v;
}

/* A Device instance with n instances in each multiple resource. */
static void build_device(struct lwm2m_data *d, unsigned n)
{
    static const char *const strs[][2] = {
        { "0", "Open Mobile Alliance" }, { "1", "Lightweight M2M Client" },
        { "2", "345000123" },            { "3", "1.0" },
        { "14", "+02:00" },              { "15", "Europe/Berlin" },
        { "16", "U" },                   { "17", "Demo device type" },
        { "18", "HW rev 3" },            { "19", "SW 2.4.1" },
    };
    lwm2m_data_init(d);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        add_str(d, lwm2m_path_resource(3, 0, (uint16_t)atoi(strs[i][0])), strs[i][1]);
    static const uint16_t multi[] = { 6, 7, 8, 11 };
    for (size_t r = 0; r < sizeof multi / sizeof multi[0]; r++)
        for (unsigned k = 0; k < n; k++)
            add(d, lwm2m_path_resource_instance(3, 0, multi[r], (uint16_t)k),
                LWM2M_TYPE_INTEGER)->v.i = multi[r] == 7 ? 3800 + 7 * (int64_t)k : (int64_t)k % 8;
    add(d, lwm2m_path_resource(3, 0, 9), LWM2M_TYPE_INTEGER)->v.i = 100;
    add(d, lwm2m_path_resource(3, 0, 10), LWM2M_TYPE_INTEGER)->v.i = 15;
    add(d, lwm2m_path_resource(3, 0, 13), LWM2M_TYPE_TIME)->v.i = 1367491215;
    add(d, lwm2m_path_resource(3, 0, 20), LWM2M_TYPE_INTEGER)->v.i = 1;
    add(d, lwm2m_path_resource(3, 0, 21), LWM2M_TYPE_INTEGER)->v.i = 65536;
    lwm2m_data_sort(d);
}

/* n Temperature instances of six values each. */
static void build_temperature(struct lwm2m_data *d, unsigned n)
{
    lwm2m_data_init(d);
    for (unsigned i = 0; i < n; i++) {
        uint16_t inst = (uint16_t)i;
        double t = 15.0 + (i % 200) * 0.125;
        add(d, lwm2m_path_resource(3303, inst, 5518), LWM2M_TYPE_TIME)->v.i = 1700000000 + i;
        add(d, lwm2m_path_resource(3303, inst, 5601), LWM2M_TYPE_FLOAT)->v.f = t - 3.5;
        add(d, lwm2m_path_resource(3303, inst, 5602), LWM2M_TYPE_FLOAT)->v.f = t + 4.25;
        add(d, lwm2m_path_resource(3303, inst, 5700), LWM2M_TYPE_FLOAT)->v.f = t + 0.1 * (i % 7);
        add_str(d, lwm2m_path_resource(3303, inst, 5701), "Cel");
        add_str(d, lwm2m_path_resource(3303, inst, 5750), "Temperature sensor");
    }
}

/* n Device instances of a Read of /3: the SenML CBOR 1 MB case. */
static void build_device_pack(struct lwm2m_data *d, unsigned n)
{
    lwm2m_data_init(d);
    for (unsigned k = 0; k < n; k++) {
        uint16_t i = (uint16_t)k;
        add_str(d, lwm2m_path_resource(3, i, 0), "Open Mobile Alliance");
        add(d, lwm2m_path_resource_instance(3, i, 7, 0), LWM2M_TYPE_INTEGER)->v.i = 3800 + i;
        add(d, lwm2m_path_resource_instance(3, i, 7, 1), LWM2M_TYPE_INTEGER)->v.i = 5000;
        add(d, lwm2m_path_resource(3, i, 9), LWM2M_TYPE_INTEGER)->v.i = 100;
        add(d, lwm2m_path_resource(3, i, 13), LWM2M_TYPE_TIME)->v.i = 1795472845;
        add_str(d, lwm2m_path_resource(3, i, 14), "+01:00");
        struct lwm2m_value *v = add(d, lwm2m_path_resource_instance(3, i, 22, 0),
                                    LWM2M_TYPE_OBJLNK);
        v->v.objlnk.obj = 33606;
        v->v.objlnk.inst = i;
    }
}

static size_t encoded_size(unsigned format, const struct lwm2m_data *d, struct lwm2m_path base)
{
    struct lwm2m_buf b = { 0 };
    struct ls_error err = { 0 };
    if (lwm2m_format_encode(format, d, &base, NULL, &b, &err) != LS_OK)
        die("encode", format, &err);
    size_t n = b.len;
    lwm2m_buf_free(&b);
    return n;
}

static size_t tlv_size(const struct lwm2m_data *d, struct lwm2m_path base)
{
    return encoded_size(LWM2M_FORMAT_TLV, d, base);
}

static double time_decode(unsigned format, const struct lwm2m_buf *payload,
                          const struct lwm2m_path *base, const struct lwm2m_model *model,
                          size_t expect_values)
{
    double best = 1e9;
    for (int r = 0; r < REPEATS; r++) {
        size_t iters = 0;
        double t0 = now_s(), t;
        do {
            struct lwm2m_data d;
            struct ls_error err = { 0 };
            lwm2m_data_init(&d);
            if (lwm2m_format_decode(format, payload->data, payload->len, base, model, &d,
                                    &err) != LS_OK)
                die("decode", format, &err);
            if (d.count != expect_values) {
                fprintf(stderr, "codec_bench: format %u decoded %zu values, expected %zu\n",
                        format, d.count, expect_values);
                exit(1);
            }
            lwm2m_data_free(&d);
            iters++;
            t = now_s() - t0;
        } while (t < MIN_RUN_S);
        if (t / (double)iters < best)
            best = t / (double)iters;
    }
    return best;
}

static double time_encode(unsigned format, const struct lwm2m_data *d,
                          const struct lwm2m_path *base, const struct lwm2m_model *model)
{
    double best = 1e9;
    struct lwm2m_buf b = { 0 };
    for (int r = 0; r < REPEATS; r++) {
        size_t iters = 0;
        double t0 = now_s(), t;
        do {
            struct ls_error err = { 0 };
            b.len = 0; /* reuse the buffer, as a server reuses its PDU buffer */
            if (lwm2m_format_encode(format, d, base, model, &b, &err) != LS_OK)
                die("encode", format, &err);
            iters++;
            t = now_s() - t0;
        } while (t < MIN_RUN_S);
        if (t / (double)iters < best)
            best = t / (double)iters;
    }
    lwm2m_buf_free(&b);
    return best;
}

static const char *only; /* argv[1]: run one format only (for profiling) */

static void row(unsigned format, const char *set, const struct lwm2m_data *d,
                struct lwm2m_path base, const struct lwm2m_model *model)
{
    if (only && strcmp(only, lwm2m_format_name(format)) != 0)
        return;
    struct lwm2m_buf payload = { 0 };
    struct ls_error err = { 0 };
    if (lwm2m_format_encode(format, d, &base, model, &payload, &err) != LS_OK)
        die("encode", format, &err);
    double dec = time_decode(format, &payload, &base, model, d->count);
    double enc = time_encode(format, d, &base, model);
    double mb = (double)payload.len / 1e6;
    printf("| %-10s | %-22s | %9zu | %7zu | %9.1f | %12.0f | %9.1f | %12.0f |\n",
           lwm2m_format_name(format), set, payload.len, d->count, mb / dec,
           (double)d->count / dec, mb / enc, (double)d->count / enc);
    fflush(stdout);
    lwm2m_buf_free(&payload);
}

static void print_machine(void)
{
    char model_name[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon) {
                    snprintf(model_name, sizeof model_name, "%s", colon + 2);
                    model_name[strcspn(model_name, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    printf("# Codec throughput\n\n");
    printf("- date: %s\n- machine: %ld CPUs (nproc), %s\n", date,
           sysconf(_SC_NPROCESSORS_ONLN), model_name);
    printf("- build: --buildtype=release -Doptimization=2 (-O2), no sanitizers; best of %d runs "
           "of >= %.2f s each, CLOCK_MONOTONIC\n", REPEATS, MIN_RUN_S);
    printf("- decode includes lwm2m_data_init/free per payload; encode reuses one output "
           "buffer; the built-in model types TLV/text/cbor values\n\n");
}

int main(int argc, char **argv)
{
    only = argc > 1 ? argv[1] : NULL;
    static const unsigned multi[] = {
        LWM2M_FORMAT_TLV, LWM2M_FORMAT_SENML_CBOR, LWM2M_FORMAT_LWM2M_CBOR,
        LWM2M_FORMAT_SENML_JSON, LWM2M_FORMAT_JSON,
    };
    struct ls_error err = { 0 };
    struct lwm2m_model *model = lwm2m_model_new(&err);
    if (!model)
        die("model", 0, &err);

    struct lwm2m_data dev, temp;
    unsigned n = 1;
    for (;; n++) { /* grow until the TLV form reaches 4 KB */
        build_device(&dev, n);
        if (tlv_size(&dev, lwm2m_path_instance(3, 0)) >= 4096)
            break;
        lwm2m_data_free(&dev);
    }
    unsigned inst = 1000;
    build_temperature(&temp, inst);
    inst = (unsigned)((double)inst * 1e6 / (double)tlv_size(&temp, lwm2m_path_object(3303)));
    lwm2m_data_free(&temp);
    build_temperature(&temp, inst);

    print_machine();
    printf("| format     | payload                | bytes     | values  | dec MB/s  | dec values/s "
           "| enc MB/s  | enc values/s |\n");
    printf("|------------|------------------------|-----------|---------|-----------|--------------"
           "|-----------|--------------|\n");
    char label[64];
    for (size_t f = 0; f < sizeof multi / sizeof multi[0]; f++)
        row(multi[f], "/3/0 Device (4 KB TLV)", &dev, lwm2m_path_instance(3, 0), model);
    snprintf(label, sizeof label, "/3303 x%u (1 MB TLV)", inst);
    for (size_t f = 0; f < sizeof multi / sizeof multi[0]; f++)
        row(multi[f], label, &temp, lwm2m_path_object(3303), model);

    /* SenML CBOR's own case: ~1 MB of Device instances, typed and untyped. */
    struct lwm2m_data pack;
    unsigned devs = 1000;
    build_device_pack(&pack, devs);
    devs = (unsigned)((double)devs * 1e6 /
                      (double)encoded_size(LWM2M_FORMAT_SENML_CBOR, &pack, lwm2m_path_object(3)));
    lwm2m_data_free(&pack);
    build_device_pack(&pack, devs);
    snprintf(label, sizeof label, "/3 x%u (1 MB SenML-CBOR)", devs);
    row(LWM2M_FORMAT_SENML_CBOR, label, &pack, lwm2m_path_object(3), model);
    snprintf(label, sizeof label, "/3 x%u, no model", devs);
    row(LWM2M_FORMAT_SENML_CBOR, label, &pack, lwm2m_path_object(3), NULL);
    lwm2m_data_free(&pack);

    /* Single-value formats: one value each. */
    struct lwm2m_data one;
    lwm2m_data_init(&one);
    add_str(&one, lwm2m_path_resource(3, 0, 0), "Open Mobile Alliance");
    row(LWM2M_FORMAT_TEXT, "/3/0/0 string", &one, lwm2m_path_resource(3, 0, 0), model);
    row(LWM2M_FORMAT_CBOR, "/3/0/0 string", &one, lwm2m_path_resource(3, 0, 0), model);
    lwm2m_data_free(&one);
    lwm2m_data_init(&one);
    add(&one, lwm2m_path_resource(3303, 0, 5700), LWM2M_TYPE_FLOAT)->v.f = 21.37;
    row(LWM2M_FORMAT_TEXT, "/3303/0/5700 float", &one, lwm2m_path_resource(3303, 0, 5700), model);
    row(LWM2M_FORMAT_CBOR, "/3303/0/5700 float", &one, lwm2m_path_resource(3303, 0, 5700), model);
    lwm2m_data_free(&one);
    lwm2m_data_init(&one);
    static uint8_t blob[4096];
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 31);
    struct lwm2m_path pkg = lwm2m_path_resource(5, 0, 0);
    if (!lwm2m_data_append_bytes(&one, &pkg, LWM2M_TYPE_OPAQUE, blob, sizeof blob, &err))
        die("append", 0, &err);
    row(LWM2M_FORMAT_OPAQUE, "/5/0/0 4 KB opaque", &one, pkg, model);
    lwm2m_data_free(&one);

    lwm2m_data_free(&dev);
    lwm2m_data_free(&temp);
    lwm2m_model_free(model);
    return 0;
}
