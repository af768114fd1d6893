/*
 * tools/sim_firmware.c -- /5/0/0 Package of a simulated client: Block1
 * writes, Block2 reads (see sim_firmware.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim_firmware.h"

#include <stdlib.h>
#include <string.h>

#include "lwm2m/data.h"
#include "lwm2m/format.h"

#define OPT_BLOCK2 23
#define OPT_BLOCK1 27
#define OPT_SIZE2 28

#define C_CHANGED 0x44
#define C_CONTENT 0x45
#define C_CONTINUE 0x5f         /* 2.31 */
#define C_BAD_REQUEST 0x80
#define C_BAD_OPTION 0x82
#define C_NOT_ALLOWED 0x85
#define C_NOT_ACCEPTABLE 0x86
#define C_INCOMPLETE 0x88       /* 4.08 */
#define C_TOO_LARGE 0x8d
#define C_UNSUPPORTED 0x8f

#define MAX_SZX 6               /* 1024-byte blocks: one datagram */

bool sim_firmware_path(const struct lwm2m_path *path)
{
    return path->depth == 3 && path->id[0] == 5 && path->id[1] == 0 && path->id[2] == 0;
}

void sim_firmware_free(struct sim_firmware *fw)
{
    if (!fw)
        return;
    free(fw->package);
    free(fw->upload);
    free(fw);
}

static void answer(const struct sim_coap_parsed *req, unsigned code, struct sim_coap_msg *resp)
{
    sim_coap_init(resp, SIM_COAP_ACK, code, req->mid, req->token, req->token_len);
}

static uint32_t block_value(uint32_t num, bool more, unsigned szx)
{
    return num << 4 | (more ? 8u : 0u) | szx;
}

/* The whole body of a write as the package's bytes, in the request's
 * Content-Format (opaque as is; others through lwm2m/). */
static unsigned take_package(struct sim_firmware *fw, unsigned format,
                             const struct lwm2m_model *model)
{
    if (format == LWM2M_FORMAT_OPAQUE) {
        free(fw->package);
        fw->package = fw->upload;
        fw->package_len = fw->upload_len;
        fw->upload = NULL;
        fw->upload_len = fw->upload_cap = 0;
        return C_CHANGED;
    }
    struct lwm2m_data data;
    struct ls_error err = { 0 };
    struct lwm2m_path path = lwm2m_path_resource(5, 0, 0);
    lwm2m_data_init(&data);
    unsigned code = C_BAD_REQUEST;
    if (lwm2m_format_decode(format, fw->upload, fw->upload_len, &path, model, &data, &err) ==
        LS_OK) {
        for (size_t i = 0; i < data.count; i++) {
            const struct lwm2m_value *v = &data.values[i];
            if (!sim_firmware_path(&v->path) || v->type != LWM2M_TYPE_OPAQUE)
                continue;
            uint8_t *p = malloc(v->v.bytes.len ? v->v.bytes.len : 1);
            if (!p)
                break;
            memcpy(p, v->v.bytes.ptr, v->v.bytes.len);
            free(fw->package);
            fw->package = p;
            fw->package_len = v->v.bytes.len;
            code = C_CHANGED;
            break;
        }
    }
    lwm2m_data_free(&data);
    fw->upload_len = 0;
    return code;
}

static void write_block(struct sim_firmware **fwp, const struct sim_coap_parsed *req,
                        const struct lwm2m_model *model, struct sim_coap_msg *resp,
                        enum sim_served *what)
{
    if (!sim_coap_find(req, SIM_COAP_OPT_CONTENT_FORMAT)) {
        answer(req, C_UNSUPPORTED, resp);
        return;
    }
    unsigned format = sim_coap_uint(req, SIM_COAP_OPT_CONTENT_FORMAT, 0);
    bool blockwise = sim_coap_find(req, OPT_BLOCK1) != NULL;
    uint32_t b1 = sim_coap_uint(req, OPT_BLOCK1, 0), num = b1 >> 4;
    unsigned szx = b1 & 7;
    bool more = blockwise && (b1 & 8);
    if (szx == 7) {
        answer(req, C_BAD_OPTION, resp);
        return;
    }
    if (!*fwp && !(*fwp = calloc(1, sizeof **fwp))) {
        answer(req, C_TOO_LARGE, resp);
        return;
    }
    struct sim_firmware *fw = *fwp;
    size_t size = (size_t)16 << szx, at = (size_t)num * size;
    if (num == 0)
        fw->upload_len = 0;
    if (at != fw->upload_len || (more && req->payload_len != size)) {
        answer(req, C_INCOMPLETE, resp);     /* out of order, or a short middle block */
        return;
    }
    if (at + req->payload_len > SIM_FIRMWARE_MAX) {
        answer(req, C_TOO_LARGE, resp);
        return;
    }
    if (at + req->payload_len > fw->upload_cap) {
        size_t cap = fw->upload_cap ? fw->upload_cap : 16384;
        while (cap < at + req->payload_len)
            cap *= 2;
        uint8_t *p = realloc(fw->upload, cap);
        if (!p) {
            answer(req, C_TOO_LARGE, resp);
            return;
        }
        fw->upload = p;
        fw->upload_cap = cap;
    }
    if (req->payload_len)
        memcpy(fw->upload + at, req->payload, req->payload_len);
    fw->upload_len = at + req->payload_len;
    unsigned code = more ? C_CONTINUE : take_package(fw, format, model);
    answer(req, code, resp);
    if (blockwise)
        sim_coap_option_uint(resp, OPT_BLOCK1, block_value(num, more, szx));
    *what = !more && code == C_CHANGED ? SIM_SERVED_WRITE : SIM_SERVED_OTHER;
}

static void read_block(const struct sim_firmware *fw, const struct sim_coap_parsed *req,
                       const struct lwm2m_model *model, struct sim_coap_msg *resp,
                       enum sim_served *what)
{
    unsigned format = sim_coap_uint(req, SIM_COAP_OPT_ACCEPT, LWM2M_FORMAT_OPAQUE);
    const uint8_t *pkg = fw ? fw->package : NULL;
    size_t pkg_len = fw ? fw->package_len : 0;
    struct lwm2m_buf body = { 0 };
    const uint8_t *b = pkg;
    size_t blen = pkg_len;
    if (format != LWM2M_FORMAT_OPAQUE) {
        struct lwm2m_data data;
        struct ls_error err = { 0 };
        struct lwm2m_path path = lwm2m_path_resource(5, 0, 0);
        lwm2m_data_init(&data);
        bool ok = lwm2m_data_append_bytes(&data, &path, LWM2M_TYPE_OPAQUE,
                                          pkg ? pkg : (const uint8_t *)"", pkg_len, &err) &&
                  lwm2m_format_encode(format, &data, &path, model, &body, &err) == LS_OK;
        lwm2m_data_free(&data);
        if (!ok) {
            lwm2m_buf_free(&body);
            answer(req, C_NOT_ACCEPTABLE, resp);
            *what = SIM_SERVED_OTHER;
            return;
        }
        b = body.data;
        blen = body.len;
    }
    bool asked = sim_coap_find(req, OPT_BLOCK2) != NULL;
    uint32_t b2 = sim_coap_uint(req, OPT_BLOCK2, MAX_SZX), num = b2 >> 4;
    unsigned szx = (b2 & 7) < MAX_SZX ? b2 & 7 : MAX_SZX;
    size_t size = (size_t)16 << szx, at = (size_t)num * size;
    if ((b2 & 7) == 7 || (at >= blen && !(at == 0 && blen == 0))) {
        lwm2m_buf_free(&body);
        answer(req, C_BAD_OPTION, resp);
        *what = SIM_SERVED_OTHER;
        return;
    }
    size_t n = blen - at < size ? blen - at : size;
    bool more = at + n < blen;
    answer(req, C_CONTENT, resp);
    sim_coap_option_uint(resp, SIM_COAP_OPT_CONTENT_FORMAT, format);
    if (asked || more)
        sim_coap_option_uint(resp, OPT_BLOCK2, block_value(num, more, szx));
    if (num == 0 && more)
        sim_coap_option_uint(resp, OPT_SIZE2, (uint32_t)blen);
    sim_coap_payload(resp, b + at, n);
    lwm2m_buf_free(&body);
    *what = num == 0 ? SIM_SERVED_READ : SIM_SERVED_OTHER;
}

void sim_firmware_serve(struct sim_firmware **fw, const struct sim_coap_parsed *req,
                        const struct lwm2m_model *model, struct sim_coap_msg *resp,
                        enum sim_served *what)
{
    *what = SIM_SERVED_OTHER;
    if (req->code == 1 && !sim_coap_find(req, SIM_COAP_OPT_OBSERVE))
        read_block(*fw, req, model, resp, what);
    else if ((req->code == 2 || req->code == 3) && req->payload_len)
        write_block(fw, req, model, resp, what);
    else
        answer(req, C_NOT_ALLOWED, resp);
}
