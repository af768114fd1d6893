/*
 * tests/unit/lwm2m/test_model.c -- lwm2m/model.c, model_builtin.c, model_ddf.c
 *
 * The registry directory comes from LODESTAR_SHARED (tests/unit/meson.build).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwm2m/model.h"
#include "suite_util.h"

static const char *registry_dir(void)
{
    static char dir[4096];
    const char *shared = getenv("LODESTAR_SHARED");
    snprintf(dir, sizeof dir, "%s/lwm2m-registry", shared ? shared : "../shared");
    return dir;
}

/* ---- built-in table ---------------------------------------------------- */

static const struct {
    uint16_t id;
    const char *version;
    const char *name;
    size_t n_resources;
} builtins[] = {
    { 0, "1.2", "LWM2M Security", 31 },      { 1, "1.2", "LwM2M Server", 28 },
    { 2, "1.1", "LwM2M Access Control", 4 }, { 3, "1.2", "Device", 23 },
    { 4, "1.3", "Connectivity Monitoring", 14 }, { 5, "1.2", "Firmware Update", 14 },
    { 6, "1.0", "Location", 7 },             { 7, "1.0", "Connectivity Statistics", 9 },
    { 9, "1.0", "LWM2M Software Management", 19 },
    { 10, "1.1", "LWM2M Cellular Connectivity", 14 },
    { 11, "1.1", "LWM2M APN Connection Profile", 34 },
    { 21, "2.0", "LWM2M OSCORE", 7 },        { 3303, "1.1", "Temperature", 12 },
    { 3304, "1.1", "Humidity", 12 },         { 3311, "1.0", "Light Control", 8 },
    { 3313, "1.1", "Accelerometer", 11 },    { 3347, "1.1", "Push button", 5 },
};

START_TEST(test_lwm2m_model_object_builtin)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    ck_assert_ptr_nonnull(m);
    const struct lwm2m_object_def *o = lwm2m_model_object(m, builtins[_i].id, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(o->name, builtins[_i].name);
    ck_assert_str_eq(o->version, builtins[_i].version);
    ck_assert_uint_eq(o->n_resources, builtins[_i].n_resources);
    ck_assert_ptr_eq(lwm2m_model_object(m, builtins[_i].id, builtins[_i].version), o);
    ck_assert_ptr_null(lwm2m_model_object(m, builtins[_i].id, "9.9"));
    for (size_t i = 1; i < o->n_resources; i++)
        ck_assert_uint_lt(o->resources[i - 1].id, o->resources[i].id);
    lwm2m_model_free(m);
}
END_TEST

START_TEST(test_lwm2m_model_count_sorted)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    size_t n = lwm2m_model_count(m);
    ck_assert_uint_eq(n, sizeof builtins / sizeof builtins[0]);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(lwm2m_model_at(m, i)->id, builtins[i].id);
    ck_assert_ptr_null(lwm2m_model_at(m, n));
    ck_assert_uint_eq(lwm2m_model_count(NULL), 0);
    ck_assert_ptr_null(lwm2m_model_at(NULL, 0));
    ck_assert_ptr_null(lwm2m_model_object(NULL, 3, NULL));
    ck_assert_ptr_null(lwm2m_model_object(m, 8, NULL));
    ck_assert_ptr_null(lwm2m_model_object(m, 65534, NULL));
    lwm2m_model_free(m);
    lwm2m_model_free(NULL);
}
END_TEST

START_TEST(test_lwm2m_model_resource_types)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    const struct lwm2m_resource_def *r = lwm2m_model_resource(m, 3, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->name, "Manufacturer");
    ck_assert_int_eq(r->type, LWM2M_TYPE_STRING);
    ck_assert_uint_eq(r->operations, LWM2M_OP_READ);
    r = lwm2m_model_resource(m, 3, 4);
    ck_assert_int_eq(r->type, LWM2M_TYPE_NONE);
    ck_assert_uint_eq(r->operations, LWM2M_OP_EXECUTE);
    ck_assert(r->mandatory);
    r = lwm2m_model_resource(m, 3, 13);
    ck_assert_int_eq(r->type, LWM2M_TYPE_TIME);
    ck_assert_uint_eq(r->operations, LWM2M_OP_READ | LWM2M_OP_WRITE);
    r = lwm2m_model_resource(m, 3, 6);
    ck_assert(r->multiple);
    ck_assert_int_eq(lwm2m_model_resource(m, 3, 22)->type, LWM2M_TYPE_OBJLNK);
    ck_assert_int_eq(lwm2m_model_resource(m, 3303, 5700)->type, LWM2M_TYPE_FLOAT);
    ck_assert_str_eq(lwm2m_model_resource(m, 3, 9)->units, "/100");
    ck_assert_str_eq(lwm2m_model_resource(m, 3, 9)->range, "0..100");
    ck_assert_int_eq(lwm2m_model_resource(m, 1, 0)->type, LWM2M_TYPE_INTEGER);
    ck_assert_int_eq(lwm2m_model_resource(m, 0, 3)->type, LWM2M_TYPE_OPAQUE);
    ck_assert_int_eq(lwm2m_model_resource(m, 0, 1)->type, LWM2M_TYPE_BOOLEAN);
    ck_assert_int_eq(lwm2m_model_resource(m, 5, 3)->type, LWM2M_TYPE_INTEGER);
    ck_assert_int_eq(lwm2m_model_resource(m, 4, 4)->type, LWM2M_TYPE_STRING);
    ck_assert_ptr_null(lwm2m_model_resource(m, 3, 23));
    ck_assert_ptr_null(lwm2m_model_resource(m, 8, 0));
    ck_assert_ptr_null(lwm2m_model_resource(NULL, 3, 0));
    lwm2m_model_free(m);
}
END_TEST

/* ---- DDF loader -------------------------------------------------------- */

static const char one_object[] =
    "<?xml version=\"1.0\"?>\n"
    "<LWM2M>\n"
    "  <Object ObjectType=\"MODefinition\">\n"
    "    <Name>Thing</Name><Description1><![CDATA[A <thing>]]></Description1>\n"
    "    <ObjectID>%u</ObjectID><ObjectURN>urn:x</ObjectURN>\n"
    "    <LWM2MVersion>1.1</LWM2MVersion><ObjectVersion>%s</ObjectVersion>\n"
    "    <MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>\n"
    "    <Resources>\n"
    "      <Item ID=\"7\"><Name>Run</Name><Operations>E</Operations>\n"
    "        <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>\n"
    "        <Type></Type><RangeEnumeration/><Units/><Description>go</Description></Item>\n"
    "      <Item ID=\"1\"><Name> Level </Name><Operations>RW</Operations>\n"
    "        <MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>\n"
    "        <Type>Unsigned Integer</Type><RangeEnumeration>0..9</RangeEnumeration>\n"
    "        <Units>m &amp; s</Units><Description/></Item>\n"
    "    </Resources>\n"
    "  </Object>\n"
    "</LWM2M>\n";

static enum ls_rc load_text(struct lwm2m_model *m, const char *text, struct ls_error *err)
{
    return lwm2m_model_load_buffer(m, text, strlen(text), "test.xml", err);
}

START_TEST(test_lwm2m_model_load_buffer_object)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    char doc[4096];
    struct ls_error err = { 0 };
    snprintf(doc, sizeof doc, one_object, 40000u, "");
    ck_assert_int_eq(load_text(m, doc, &err), LS_OK);
    const struct lwm2m_object_def *o = lwm2m_model_object(m, 40000, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(o->version, "1.0"); /* empty ObjectVersion */
    ck_assert_str_eq(o->name, "Thing");
    ck_assert_str_eq(o->description, "A <thing>");
    ck_assert_str_eq(o->urn, "urn:x");
    ck_assert(o->multiple);
    ck_assert(!o->mandatory);
    ck_assert_uint_eq(o->n_resources, 2);
    ck_assert_uint_eq(o->resources[0].id, 1); /* sorted */
    ck_assert_str_eq(o->resources[0].name, "Level");
    ck_assert_str_eq(o->resources[0].units, "m & s");
    ck_assert_str_eq(o->resources[0].range, "0..9");
    ck_assert_int_eq(o->resources[0].type, LWM2M_TYPE_UNSIGNED);
    ck_assert(o->resources[0].multiple);
    ck_assert_int_eq(o->resources[1].type, LWM2M_TYPE_NONE);
    ck_assert_uint_eq(o->resources[1].operations, LWM2M_OP_EXECUTE);
    ck_assert(o->resources[1].mandatory);
    ck_assert_uint_eq(lwm2m_model_count(m), sizeof builtins / sizeof builtins[0] + 1);
    lwm2m_model_free(m);
}
END_TEST

START_TEST(test_lwm2m_model_load_buffer_overrides_builtin)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    char doc[4096];
    size_t n = lwm2m_model_count(m);
    snprintf(doc, sizeof doc, one_object, 3u, "1.2");
    ck_assert_int_eq(load_text(m, doc, NULL), LS_OK);
    ck_assert_uint_eq(lwm2m_model_count(m), n);
    ck_assert_str_eq(lwm2m_model_object(m, 3, "1.2")->name, "Thing");
    /* and a loaded one replaces a loaded one */
    ck_assert_int_eq(load_text(m, doc, NULL), LS_OK);
    ck_assert_uint_eq(lwm2m_model_count(m), n);
    /* another version is added next to it; the newest wins for resources */
    snprintf(doc, sizeof doc, one_object, 3u, "1.10");
    ck_assert_int_eq(load_text(m, doc, NULL), LS_OK);
    ck_assert_uint_eq(lwm2m_model_count(m), n + 1);
    ck_assert_str_eq(lwm2m_model_object(m, 3, NULL)->version, "1.10");
    ck_assert_str_eq(lwm2m_model_resource(m, 3, 1)->name, "Level");
    snprintf(doc, sizeof doc, one_object, 3u, "1.0");
    ck_assert_int_eq(load_text(m, doc, NULL), LS_OK);
    const char *order[] = { "1.0", "1.2", "1.10" };
    size_t k = 0;
    for (size_t i = 0; i < lwm2m_model_count(m); i++)
        if (lwm2m_model_at(m, i)->id == 3)
            ck_assert_str_eq(lwm2m_model_at(m, i)->version, order[k++]);
    ck_assert_uint_eq(k, 3);
    lwm2m_model_free(m);
}
END_TEST

static const struct {
    const char *doc;
    const char *needle;   /* must appear in err.msg */
} bad_docs[] = {
    { "", "test.xml" },
    { "<LWM2M><Object>", "test.xml:1" },
    { "<LWM2M>\n<Object>\n</LWM2M>", "test.xml:" },
    { "<NotDDF/>", "not a DDF" },
    { "<LWM2M><Object ObjectType=\"MODefinition\"><Name>x</Name>"
      "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
      "</Object></LWM2M>", "without <ObjectID>" },
    { "<LWM2M>\n<Object><ObjectID>65535</ObjectID></Object></LWM2M>", "test.xml:2: <ObjectID>" },
    { "<LWM2M><Object><ObjectID>-1</ObjectID></Object></LWM2M>", "<ObjectID>" },
    { "<LWM2M><Object><ObjectID>3</ObjectID><MultipleInstances>Many</MultipleInstances>"
      "</Object></LWM2M>", "MultipleInstances" },
    { "<LWM2M><Object><ObjectID>3</ObjectID><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><ObjectVersion>one</ObjectVersion></Object></LWM2M>",
      "ObjectVersion" },
    { "<LWM2M><Object><ObjectID>3</ObjectID><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><Resources><Item><Name>x</Name></Item></Resources>"
      "</Object></LWM2M>", "ID attribute" },
    { "<LWM2M><Object><ObjectID>3</ObjectID><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><Resources>\n\n<Item ID=\"0\">"
      "<Operations>R</Operations><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><Type>Quaternion</Type></Item></Resources>"
      "</Object></LWM2M>", "test.xml:3: unknown resource <Type>" },
    { "<LWM2M><Object><ObjectID>3</ObjectID><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><Resources><Item ID=\"0\">"
      "<Operations>RWX</Operations><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><Type>String</Type></Item></Resources>"
      "</Object></LWM2M>", "<Operations>" },
    { "<LWM2M><Object><ObjectID>3</ObjectID><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><Resources>"
      "<Item ID=\"0\"><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><Type>String</Type></Item>"
      "<Item ID=\"0\"><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>"
      "<Mandatory>Optional</Mandatory><Type>String</Type></Item></Resources>"
      "</Object></LWM2M>", "duplicate resource ID 0" },
    /* XXE: an external entity must be neither fetched nor expanded. */
    { "<?xml version=\"1.0\"?>\n<!DOCTYPE LWM2M [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
      "<LWM2M><Object><Name>&xxe;</Name><ObjectID>3</ObjectID></Object></LWM2M>",
      "document type declarations are not allowed" },
    /* Billion laughs. */
    { "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
      "<LWM2M><Object><Name>&c;</Name></Object></LWM2M>", "not allowed" },
    { "<!DOCTYPE LWM2M SYSTEM \"http://example.invalid/x.dtd\"><LWM2M/>", "not allowed" },
    /* Undeclared entity without a DTD is a well-formedness error. */
    { "<LWM2M><Object><Name>&xxe;</Name></Object></LWM2M>", "test.xml:1" },
};

START_TEST(test_lwm2m_model_load_buffer_refuses)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    struct ls_error err = { 0 };
    size_t n = lwm2m_model_count(m);
    enum ls_rc rc = load_text(m, bad_docs[_i].doc, &err);
    ck_assert_msg(rc == LS_EPROTO, "case %d: rc %d msg %s", _i, rc, err.msg);
    ck_assert_msg(strstr(err.msg, bad_docs[_i].needle) != NULL, "case %d: \"%s\"", _i, err.msg);
    ck_assert_uint_eq(lwm2m_model_count(m), n);
    ck_assert_str_eq(lwm2m_model_object(m, 3, NULL)->name, "Device");
    lwm2m_model_free(m);
}
END_TEST

START_TEST(test_lwm2m_model_load_buffer_limits)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    struct ls_error err = { 0 };
    size_t len = LWM2M_MODEL_MAX_FILE + 1;
    char *big = malloc(len);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', len);
    ck_assert_int_eq(lwm2m_model_load_buffer(m, big, len, "big.xml", &err), LS_ENOMEM);
    ck_assert_ptr_nonnull(strstr(err.msg, "big.xml"));
    free(big);
    ls_error_clear(&err);
    ck_assert_int_eq(lwm2m_model_load_buffer(NULL, "", 0, "x", &err), LS_EINVAL);
    ls_error_clear(&err);
    /* Deep nesting is bounded by libxml2 (256 levels without XML_PARSE_HUGE). */
    size_t depth = 100000;
    char *deep = malloc(depth * 3 + 16);
    ck_assert_ptr_nonnull(deep);
    char *p = deep;
    p += sprintf(p, "<LWM2M>");
    for (size_t i = 0; i < depth; i++)
        p += sprintf(p, "<a>");
    ck_assert_int_eq(lwm2m_model_load_buffer(m, deep, (size_t)(p - deep), "deep.xml", &err),
                     LS_EPROTO);
    free(deep);
    lwm2m_model_free(m);
}
END_TEST

START_TEST(test_lwm2m_model_load_dir_registry)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    struct ls_error err = { 0 };
    enum ls_rc rc = lwm2m_model_load_dir(m, registry_dir(), &err);
    ck_assert_msg(rc == LS_OK, "%s", err.msg);
    /* 327 object files in the registry snapshot; every one must be in. */
    ck_assert_uint_ge(lwm2m_model_count(m), 320);
    const struct lwm2m_object_def *o = lwm2m_model_object(m, 3, NULL);
    ck_assert_str_eq(o->version, "1.2");
    ck_assert_uint_eq(o->n_resources, 23);
    ck_assert_str_ne(o->description, ""); /* loaded now, not built in */
    ck_assert_int_eq(lwm2m_model_resource(m, 3, 13)->type, LWM2M_TYPE_TIME);
    ck_assert_int_eq(lwm2m_model_resource(m, 3, 9)->type, LWM2M_TYPE_INTEGER);
    ck_assert_str_eq(lwm2m_model_resource(m, 3, 9)->units, "/100");
    o = lwm2m_model_object(m, 3303, NULL);
    ck_assert_uint_eq(o->n_resources, 12);
    ck_assert_int_eq(lwm2m_model_resource(m, 3303, 5700)->type, LWM2M_TYPE_FLOAT);
    ck_assert_int_eq(lwm2m_model_resource(m, 3303, 5605)->type, LWM2M_TYPE_NONE);
    ck_assert_int_eq(lwm2m_model_resource(m, 3303, 5701)->type, LWM2M_TYPE_STRING);
    ck_assert_uint_eq(lwm2m_model_object(m, 3416, NULL)->n_resources, 67);
    /* Every object of the registry matches the built-in table where both exist. */
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        ck_assert_uint_eq(lwm2m_model_object(m, builtins[i].id, builtins[i].version)->n_resources,
                          builtins[i].n_resources);
    lwm2m_model_free(m);
}
END_TEST

/* The built-in table says exactly what the registry files say. */
START_TEST(test_lwm2m_model_load_dir_matches_builtin)
{
    struct lwm2m_model *builtin = lwm2m_model_new(NULL), *loaded = lwm2m_model_new(NULL);
    struct ls_error err = { 0 };
    ck_assert_msg(lwm2m_model_load_dir(loaded, registry_dir(), &err) == LS_OK, "%s", err.msg);
    for (size_t i = 0; i < lwm2m_model_count(builtin); i++) {
        const struct lwm2m_object_def *b = lwm2m_model_at(builtin, i);
        const struct lwm2m_object_def *l = lwm2m_model_object(loaded, b->id, b->version);
        ck_assert_ptr_nonnull(l);
        ck_assert_ptr_ne(l, b);
        ck_assert_str_eq(l->name, b->name);
        ck_assert_str_eq(l->urn, b->urn);
        ck_assert_int_eq(l->multiple, b->multiple);
        ck_assert_int_eq(l->mandatory, b->mandatory);
        ck_assert_uint_eq(l->n_resources, b->n_resources);
        for (size_t r = 0; r < b->n_resources; r++) {
            const struct lwm2m_resource_def *x = &b->resources[r], *y = &l->resources[r];
            ck_assert_uint_eq(x->id, y->id);
            ck_assert_str_eq(x->name, y->name);
            ck_assert_msg(x->type == y->type, "/%u/%u type", b->id, x->id);
            ck_assert_uint_eq(x->operations, y->operations);
            ck_assert_int_eq(x->multiple, y->multiple);
            ck_assert_int_eq(x->mandatory, y->mandatory);
            ck_assert_str_eq(x->units, y->units);
            ck_assert_str_eq(x->range, y->range);
        }
    }
    lwm2m_model_free(builtin);
    lwm2m_model_free(loaded);
}
END_TEST

/* Each registry file alone, through load_file: names the file on failure. */
START_TEST(test_lwm2m_model_load_file_each_registry_file)
{
    char path[4200];
    size_t files = 0;
    for (unsigned id = 0; id < 40000; id++) {
        snprintf(path, sizeof path, "%s/%u.xml", registry_dir(), id);
        if (access(path, R_OK) != 0)
            continue;
        struct lwm2m_model *m = lwm2m_model_new(NULL);
        struct ls_error err = { 0 };
        ck_assert_msg(lwm2m_model_load_file(m, path, &err) == LS_OK, "%s", err.msg);
        ck_assert_ptr_nonnull(lwm2m_model_object(m, (uint16_t)id, NULL));
        lwm2m_model_free(m);
        files++;
    }
    ck_assert_uint_ge(files, 320);
}
END_TEST

START_TEST(test_lwm2m_model_load_file_errors)
{
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    struct ls_error err = { 0 };
    char path[4200];
    ck_assert_int_eq(lwm2m_model_load_file(m, "/nonexistent/x.xml", &err), LS_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.xml"));
    ls_error_clear(&err);
    /* DDF.xml is the registry index, not an object definition. */
    snprintf(path, sizeof path, "%s/DDF.xml", registry_dir());
    ck_assert_int_eq(lwm2m_model_load_file(m, path, &err), LS_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "DDF.xml"));
    ls_error_clear(&err);
    ck_assert_int_eq(lwm2m_model_load_dir(m, "/nonexistent", &err), LS_ENOTFOUND);
    ls_error_clear(&err);
    ck_assert_int_eq(lwm2m_model_load_file(m, "/tmp", &err), LS_EIO);
    lwm2m_model_free(m);
}
END_TEST

START_TEST(test_lwm2m_model_load_dir_names_bad_file)
{
    char dir[] = "/tmp/test_model_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/broken.xml", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("<LWM2M>\n<Object>\n<ObjectID>x</ObjectID></Object></LWM2M>\n", f);
    fclose(f);
    struct lwm2m_model *m = lwm2m_model_new(NULL);
    struct ls_error err = { 0 };
    ck_assert_int_eq(lwm2m_model_load_dir(m, dir, &err), LS_EPROTO);
    ck_assert_msg(strstr(err.msg, "broken.xml:3") != NULL, "%s", err.msg);
    lwm2m_model_free(m);
    unlink(path);
    rmdir(dir);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("lwm2m_model");
    TCase *tc = tcase_create("lwm2m_model_object");
    tcase_add_loop_test(tc, test_lwm2m_model_object_builtin, 0,
                        sizeof builtins / sizeof builtins[0]);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_model_count");
    tcase_add_test(tc, test_lwm2m_model_count_sorted);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_model_resource");
    tcase_add_test(tc, test_lwm2m_model_resource_types);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_model_load_buffer");
    tcase_add_test(tc, test_lwm2m_model_load_buffer_object);
    tcase_add_test(tc, test_lwm2m_model_load_buffer_overrides_builtin);
    tcase_add_loop_test(tc, test_lwm2m_model_load_buffer_refuses, 0,
                        sizeof bad_docs / sizeof bad_docs[0]);
    tcase_add_test(tc, test_lwm2m_model_load_buffer_limits);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_model_load_file");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_lwm2m_model_load_file_each_registry_file);
    tcase_add_test(tc, test_lwm2m_model_load_file_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_model_load_dir");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_lwm2m_model_load_dir_registry);
    tcase_add_test(tc, test_lwm2m_model_load_dir_matches_builtin);
    tcase_add_test(tc, test_lwm2m_model_load_dir_names_bad_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(model_suite());
}
