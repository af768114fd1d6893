/*
 * lwm2m/opaque.c -- opaque codec (content format 42; LwM2M Core 1.2 §7.4.2)
 *
 * The simplest format: the payload is the value.  Kept as its own codec so
 * that format.c dispatches every format the same way and so that the
 * "only for opaque resources" rule lives in one place.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/opaque.h"

enum ls_rc lwm2m_opaque_decode(const uint8_t *buf, size_t len,
                               const struct lwm2m_path *base,
                               const struct lwm2m_model *model,
                               struct lwm2m_data *out, struct ls_error *err)
{
    if (!base || base->depth < LWM2M_DEPTH_RESOURCE)
        return ls_error_set(err, LS_EINVAL, "opaque needs a resource path");
    if (len > 0 && !buf)
        return ls_error_set(err, LS_EINVAL, "opaque payload is NULL");
    const struct lwm2m_resource_def *def =
        lwm2m_model_resource(model, base->id[0], base->id[2]);
    if (def && def->type != LWM2M_TYPE_OPAQUE) {
        char s[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(base, s);
        return ls_error_set(err, LS_EPROTO, "opaque payload for %s resource %s",
                            lwm2m_type_name(def->type), s);
    }
    if (!lwm2m_data_append_bytes(out, base, LWM2M_TYPE_OPAQUE, buf, len, err))
        return err ? err->code : LS_ENOMEM;
    return LS_OK;
}

enum ls_rc lwm2m_opaque_encode(const struct lwm2m_data *in,
                               const struct lwm2m_path *base,
                               const struct lwm2m_model *model,
                               struct lwm2m_buf *out, struct ls_error *err)
{
    if (!base || in->count != 1)
        return ls_error_set(err, LS_EINVAL, "opaque carries exactly one value, not %zu",
                            in->count);
    const struct lwm2m_value *v = &in->values[0];
    if (!lwm2m_path_equal(&v->path, base) || base->depth < LWM2M_DEPTH_RESOURCE)
        return ls_error_set(err, LS_EINVAL, "opaque value must be at the resource path requested");
    if (v->type != LWM2M_TYPE_OPAQUE)
        return ls_error_set(err, LS_EINVAL, "opaque cannot carry a %s value",
                            lwm2m_type_name(v->type));
    return lwm2m_buf_append(out, v->v.bytes.ptr, v->v.bytes.len, err);
}
