/*
 * lwm2m/model_int.h -- internals shared by model.c, model_builtin.c and
 * model_ddf.c.  Included only inside lwm2m/; application code uses model.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_MODEL_INT_H
#define LODESTAR_LWM2M_MODEL_INT_H

#include "lwm2m/model.h"

/* The built-in definitions (model_builtin.c), sorted by id then version. */
extern const struct lwm2m_object_def *const model_builtin_objects[];
extern const size_t model_builtin_count;

/*
 * model_insert -- add def to m, replacing a definition with the same id and
 * version.  Consumes def (a loaded definition built by model_ddf.c, freed
 * with model_def_free()), even when the call fails.
 */
enum ls_rc model_insert(struct lwm2m_model *m, struct lwm2m_object_def *def,
                        struct ls_error *err) LS_MUST_CHECK;

/* Frees a loaded definition, which is a single block holding the struct,
 * its resources and its strings.  NULL ok. */
void model_def_free(struct lwm2m_object_def *def);

/* The resource res of object o (resources sorted by id), or NULL. */
const struct lwm2m_resource_def *model_def_resource(const struct lwm2m_object_def *o,
                                                    uint16_t res);

#endif /* LODESTAR_LWM2M_MODEL_INT_H */
