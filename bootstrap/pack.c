/*
 * bootstrap/pack.c -- Bootstrap-Pack-Request (LwM2M 1.2): GET /bspack?ep=
 *
 * Core TS 1.2 "Bootstrap-Pack-Request Operation": the client asks for its
 * whole bootstrap information in one exchange and replaces every object
 * in the pack except its bootstrap account and /3/0.  The answer is 2.05
 * with the plan's writes (bsconfig.h) as one SenML CBOR, SenML JSON or
 * LwM2M CBOR document, as Accept asks (default SenML CBOR); libcoap sends
 * it block-wise when it is large.  Without Discover the client's bootstrap
 * account is assumed at /0/0 (the factory layout), so server accounts take
 * /0/1 onwards.  A configuration with "pack": false is refused with 4.05
 * (bootstrap.c), sending the client to POST /bs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "bootstrap/bootstrap_int.h"

#include <stdlib.h>

#include "lwm2m/format.h"

static void release(coap_session_t *s, void *app_ptr)
{
    free(app_ptr);
}

static bool encode(struct bs_session *bs, struct lwm2m_buf *out, struct ls_error *err)
{
    struct lwm2m_bsconfig_issued is[LWM2M_BSCONFIG_MAX_SERVERS];
    struct lwm2m_data all;
    struct lwm2m_path root = lwm2m_path_root();
    bs_session_issued(bs, is);
    if (lwm2m_bsconfig_plan_build(bs->cfg, NULL, is, &bs->plan, err) != LS_OK)
        return false;
    if (lwm2m_bsconfig_plan_pack(&bs->plan, &all, err) != LS_OK)
        return false;
    enum ls_rc rc = lwm2m_format_encode(bs->accept, &all, &root, bs->b->model, out, err);
    lwm2m_data_free(&all);
    return rc == LS_OK;
}

void bs_pack_answer(struct bs_session *bs, coap_resource_t *r, coap_session_t *s,
                    const coap_pdu_t *req, coap_pdu_t *resp)
{
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    bs->format = bs->accept;
    if (!encode(bs, &out, &err)) {
        lwm2m_buf_free(&out);
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_INTERNAL_ERROR);
        bs_session_note(bs, "pack", "/bspack", COAP_RESPONSE_CODE_INTERNAL_ERROR);
        bs_session_end(bs, false, BS_CAUSE_INTERNAL, "pack: %s", err.msg);
        return;
    }
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
    if (!coap_add_data_large_response(r, s, req, resp, NULL, (uint16_t)bs->accept, -1, 0,
                                      out.len, out.data, release, out.data)) {
        /* libcoap released the buffer through release() */
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_INTERNAL_ERROR);
        bs_session_note(bs, "pack", "/bspack", COAP_RESPONSE_CODE_INTERNAL_ERROR);
        bs_session_end(bs, false, BS_CAUSE_INTERNAL, "pack: cannot attach %zu bytes", out.len);
        return;
    }
    atomic_fetch_add(&bs->b->st.pack_served, 1);
    bs_session_note(bs, "pack", "/bspack", COAP_RESPONSE_CODE_CONTENT);
    bs_session_end(bs, true, BS_CAUSE_NONE, NULL);
}
