/*
 * lwm2m/model.h -- object models: which resources an object has, and types
 *
 * A registry of object definitions keyed by (object id, version).  It starts
 * with the built-in core objects (model_builtin.c, written from the OMA
 * registry facts) and may load any directory of OMA DDF XML files
 * (model_ddf.c, libxml2); a loaded definition replaces the built-in one with
 * the same id and version.  Codecs use it to type values in formats that
 * carry no types (TLV, plain text); every lookup may return NULL and the
 * codecs then fall back to untyped (opaque) values.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_MODEL_H
#define LODESTAR_LWM2M_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "runtime/err.h"

/* Operations a resource allows (DDF <Operations>: R, W, RW, E, none). */
enum lwm2m_operation {
    LWM2M_OP_READ = 1,
    LWM2M_OP_WRITE = 2,
    LWM2M_OP_EXECUTE = 4,
};

struct lwm2m_resource_def {
    uint16_t id;
    const char *name;
    enum lwm2m_type type;     /* NONE for executable resources */
    unsigned operations;      /* bit set of enum lwm2m_operation */
    bool multiple;            /* multi-instance resource */
    bool mandatory;
    const char *units;        /* may be "" */
    const char *range;        /* RangeEnumeration text; may be "" */
    const char *description;  /* may be "" */
};

struct lwm2m_object_def {
    uint16_t id;
    const char *name;
    const char *version;      /* "1.0", "1.1", ... */
    const char *urn;          /* "urn:oma:lwm2m:oma:3:1.1"; may be "" */
    bool multiple;            /* multiple instances */
    bool mandatory;
    const char *description;
    size_t n_resources;
    const struct lwm2m_resource_def *resources; /* sorted by id */
};

struct lwm2m_model;

/* A registry holding the built-in objects.  Caller owns; NULL on ENOMEM. */
struct lwm2m_model *lwm2m_model_new(struct ls_error *err);
void lwm2m_model_free(struct lwm2m_model *m);

/* Loads one DDF XML file (may hold several <Object>s). */
enum ls_rc lwm2m_model_load_file(struct lwm2m_model *m, const char *path,
                                 struct ls_error *err) LS_MUST_CHECK;
/* Loads every *.xml file in dir; fails on the first bad file, naming it. */
enum ls_rc lwm2m_model_load_dir(struct lwm2m_model *m, const char *dir,
                                struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_model_load_buffer -- loads DDF XML held in memory (an upload, a
 * fuzzer input).  buf, len are borrowed for the call; name only labels
 * errors ("<name>:<line>: ...").  Added after the first draft of this header.
 *
 * The document must have an <LWM2M> root; objects whose ObjectType is not
 * "MODefinition" (reusable-resource lists) are skipped.  A document type
 * declaration is refused, and no entity or external resource is ever
 * fetched or expanded.  Limits: LWM2M_MODEL_MAX_FILE bytes, 256 objects per
 * document, 4096 resources per object.  A document that fails to parse
 * adds no object.  Returns LS_OK, LS_EPROTO (malformed or not a
 * DDF), LS_ENOMEM (allocation or limit).
 */
#define LWM2M_MODEL_MAX_FILE (4u << 20)
enum ls_rc lwm2m_model_load_buffer(struct lwm2m_model *m, const char *buf,
                                   size_t len, const char *name,
                                   struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_model_object -- the definition of object id at version, or at the
 * newest version known when version is NULL.  Borrowed: valid until the
 * model is freed or loads more files.
 */
const struct lwm2m_object_def *lwm2m_model_object(const struct lwm2m_model *m,
                                                  uint16_t id,
                                                  const char *version);

/* The resource definition at the newest version; NULL when unknown or m is NULL. */
const struct lwm2m_resource_def *lwm2m_model_resource(const struct lwm2m_model *m,
                                                      uint16_t obj, uint16_t res);

/* Iteration over every definition, by id then version. */
size_t lwm2m_model_count(const struct lwm2m_model *m);
const struct lwm2m_object_def *lwm2m_model_at(const struct lwm2m_model *m,
                                              size_t index);

#endif /* LODESTAR_LWM2M_MODEL_H */
