/*
 * lwm2m/model_ddf.c -- load OMA DDF XML object definitions (libxml2)
 *
 * Reads the object-definition files of the OMA LwM2M registry
 * (<LWM2M><Object ObjectType="MODefinition">...</Object></LWM2M>, schema
 * LWM2M-v1_1.xsd) into the model.  Input is hostile (uploaded models, files
 * from anywhere), so:
 *   - no network (XML_PARSE_NONET), no DTD loading, no entity substitution
 *     (XML_PARSE_NOENT is never set); a document type declaration is refused
 *     from the SAX callback before its internal subset is read, so neither
 *     external entities (XXE) nor entity expansion bombs get a chance;
 *   - a size cap per document (LWM2M_MODEL_MAX_FILE) and per element count;
 *   - every error names the document and the line.
 * Each object becomes one heap block (struct, resources, strings) so that
 * model_def_free() is a single free().
 *
 * Lenient where the registry is: surrounding whitespace is trimmed, empty
 * <ObjectVersion> means "1.0", empty <Type> means none (Execute resources),
 * unknown elements are ignored.  Strict where a codec would be misled:
 * unknown type, operation or multiplicity words, bad or duplicate ids.
 *
 * INTERFACE
 *   lwm2m_model_load_buffer, lwm2m_model_load_file, lwm2m_model_load_dir
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/model_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define MAX_OBJECTS 256      /* per document; the registry has one per file */
#define MAX_RESOURCES 4096   /* per object; the largest registry object has 67 */
#define MAX_TEXT (64u << 10) /* per element text, descriptions included */
#define MAX_DIR_FILES 100000

/* One resource while parsing; strings are malloc'd and trimmed. */
struct tmp_res {
    struct lwm2m_resource_def def;
    char *name, *units, *range, *description;
};

struct tmp_obj {
    struct lwm2m_object_def def;
    char *name, *version, *urn, *description;
    struct tmp_res *res;
    size_t n_res;
};

struct parse {
    const char *name;          /* document name for messages */
    struct tmp_obj *objs;
    size_t n_objs;
};

static void tmp_obj_clear(struct tmp_obj *o)
{
    for (size_t i = 0; i < o->n_res; i++) {
        free(o->res[i].name);
        free(o->res[i].units);
        free(o->res[i].range);
        free(o->res[i].description);
    }
    free(o->res);
    free(o->name);
    free(o->version);
    free(o->urn);
    free(o->description);
    memset(o, 0, sizeof *o);
}

static enum ls_rc fail(struct ls_error *err, enum ls_rc rc, const struct parse *p,
                       const xmlNode *n, const char *what)
{
    return ls_error_set(err, rc, "%s:%ld: %s", p->name, n ? xmlGetLineNo(n) : 0L, what);
}

static bool named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The trimmed text of an element: its text and CDATA children only.  Entity
 * reference nodes cannot occur (no DTD is accepted, and predefined entities
 * arrive as text), and nested elements are not part of any DDF text field.
 */
static enum ls_rc text_of(const struct parse *p, const xmlNode *n, char **out,
                          struct ls_error *err)
{
    size_t len = 0;
    *out = NULL;
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            len += strlen((const char *)c->content);
    if (len > MAX_TEXT)
        return fail(err, LS_ENOMEM, p, n, "element text longer than 64 KiB");
    char *s = malloc(len + 1);
    if (!s)
        return fail(err, LS_ENOMEM, p, n, "out of memory");
    size_t at = 0;
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            size_t l = strlen((const char *)c->content);
            memcpy(s + at, c->content, l);
            at += l;
        }
    }
    s[at] = '\0';
    size_t start = 0;
    while (start < at && is_space(s[start]))
        start++;
    while (at > start && is_space(s[at - 1]))
        at--;
    memmove(s, s + start, at - start);
    s[at - start] = '\0';
    *out = s;
    return LS_OK;
}

/* First child element called name, or NULL. */
static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (named(c, name))
            return c;
    return NULL;
}

/* Text of child `name`; "" when the element is absent. */
static enum ls_rc child_text(const struct parse *p, const xmlNode *n, const char *name,
                             char **out, struct ls_error *err)
{
    return text_of(p, child(n, name), out, err);
}

/* A decimal id 0..65534, nothing else. */
static bool parse_id(const char *s, uint16_t *out)
{
    unsigned long v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65534)
            return false;
    }
    *out = (uint16_t)v;
    return true;
}

/* "1.0", "2.1": digits, one dot, digits, at most 15 characters. */
static bool valid_version(const char *s)
{
    size_t len = strlen(s), dots = 0, digits = 0;
    if (len == 0 || len > 15)
        return false;
    for (const char *c = s; *c; c++) {
        if (*c == '.') {
            if (digits == 0)
                return false;
            dots++;
            digits = 0;
        } else if (*c >= '0' && *c <= '9') {
            digits++;
        } else {
            return false;
        }
    }
    return dots == 1 && digits > 0;
}

static bool parse_type(const char *s, enum lwm2m_type *out)
{
    static const struct { const char *word; enum lwm2m_type type; } types[] = {
        { "", LWM2M_TYPE_NONE },           { "String", LWM2M_TYPE_STRING },
        { "Integer", LWM2M_TYPE_INTEGER }, { "Unsigned Integer", LWM2M_TYPE_UNSIGNED },
        { "Float", LWM2M_TYPE_FLOAT },     { "Boolean", LWM2M_TYPE_BOOLEAN },
        { "Opaque", LWM2M_TYPE_OPAQUE },   { "Time", LWM2M_TYPE_TIME },
        { "Objlnk", LWM2M_TYPE_OBJLNK },   { "Corelnk", LWM2M_TYPE_CORELNK },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(s, types[i].word) == 0) {
            *out = types[i].type;
            return true;
        }
    }
    return false;
}

static bool parse_ops(const char *s, unsigned *out)
{
    static const struct { const char *word; unsigned ops; } ops[] = {
        { "", 0 }, { "R", LWM2M_OP_READ }, { "W", LWM2M_OP_WRITE },
        { "RW", LWM2M_OP_READ | LWM2M_OP_WRITE }, { "E", LWM2M_OP_EXECUTE },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strcmp(s, ops[i].word) == 0) {
            *out = ops[i].ops;
            return true;
        }
    }
    return false;
}

/* <MultipleInstances>Multiple|Single or <Mandatory>Mandatory|Optional. */
static enum ls_rc parse_flag(const struct parse *p, const xmlNode *n, const char *elem,
                             const char *yes, const char *no, bool *out,
                             struct ls_error *err)
{
    char *s = NULL, msg[96];
    enum ls_rc rc = child_text(p, n, elem, &s, err);
    if (rc != LS_OK)
        goto out;
    if (strcmp(s, yes) == 0 || strcmp(s, no) == 0) {
        *out = strcmp(s, yes) == 0;
        goto out;
    }
    snprintf(msg, sizeof msg, "<%s> must be %s or %s", elem, yes, no);
    rc = fail(err, LS_EPROTO, p, child(n, elem) ? child(n, elem) : n, msg);
out:
    free(s);
    return rc;
}

static enum ls_rc parse_item(const struct parse *p, const xmlNode *item,
                             struct tmp_res *r, struct ls_error *err)
{
    char *word = NULL;
    xmlChar *id = xmlGetProp(item, (const xmlChar *)"ID");
    enum ls_rc rc = LS_OK;
    if (!id || !parse_id((const char *)id, &r->def.id)) {
        rc = fail(err, LS_EPROTO, p, item, "<Item> needs an ID attribute 0..65534");
        goto out;
    }
    if ((rc = child_text(p, item, "Name", &r->name, err)) != LS_OK ||
        (rc = child_text(p, item, "Units", &r->units, err)) != LS_OK ||
        (rc = child_text(p, item, "RangeEnumeration", &r->range, err)) != LS_OK ||
        (rc = child_text(p, item, "Description", &r->description, err)) != LS_OK ||
        (rc = parse_flag(p, item, "MultipleInstances", "Multiple", "Single",
                         &r->def.multiple, err)) != LS_OK ||
        (rc = parse_flag(p, item, "Mandatory", "Mandatory", "Optional",
                         &r->def.mandatory, err)) != LS_OK)
        goto out;
    if ((rc = child_text(p, item, "Operations", &word, err)) != LS_OK)
        goto out;
    if (!parse_ops(word, &r->def.operations)) {
        rc = fail(err, LS_EPROTO, p, child(item, "Operations"), "<Operations> must be R, W, RW, E or empty");
        goto out;
    }
    free(word);
    if ((rc = child_text(p, item, "Type", &word, err)) != LS_OK)
        goto out;
    if (!parse_type(word, &r->def.type))
        rc = fail(err, LS_EPROTO, p, child(item, "Type"), "unknown resource <Type>");
out:
    free(word);
    xmlFree(id);
    return rc;
}

static int res_compare(const void *a, const void *b)
{
    const struct tmp_res *x = a, *y = b;
    return (x->def.id > y->def.id) - (x->def.id < y->def.id);
}

static enum ls_rc parse_resources(const struct parse *p, const xmlNode *obj,
                                  struct tmp_obj *o, struct ls_error *err)
{
    const xmlNode *list = child(obj, "Resources");
    size_t n = 0;
    for (const xmlNode *c = list ? list->children : NULL; c; c = c->next)
        n += named(c, "Item");
    if (n > MAX_RESOURCES)
        return fail(err, LS_ENOMEM, p, list, "more than 4096 resources in one object");
    if (n == 0)
        return LS_OK;
    o->res = calloc(n, sizeof *o->res);
    if (!o->res)
        return fail(err, LS_ENOMEM, p, list, "out of memory");
    for (const xmlNode *c = list->children; c; c = c->next) {
        if (!named(c, "Item"))
            continue;
        enum ls_rc rc = parse_item(p, c, &o->res[o->n_res++], err);
        if (rc != LS_OK)
            return rc;
    }
    qsort(o->res, o->n_res, sizeof *o->res, res_compare);
    for (size_t i = 1; i < o->n_res; i++) {
        if (o->res[i].def.id == o->res[i - 1].def.id) {
            char msg[64];
            snprintf(msg, sizeof msg, "duplicate resource ID %u", o->res[i].def.id);
            return fail(err, LS_EPROTO, p, list, msg);
        }
    }
    return LS_OK;
}

static enum ls_rc parse_object(const struct parse *p, const xmlNode *obj,
                               struct tmp_obj *o, struct ls_error *err)
{
    char *id = NULL;
    enum ls_rc rc;
    const xmlNode *idn = child(obj, "ObjectID");
    if (!idn) {
        rc = fail(err, LS_EPROTO, p, obj, "<Object> without <ObjectID>");
        goto out;
    }
    if ((rc = text_of(p, idn, &id, err)) != LS_OK)
        goto out;
    if (!parse_id(id, &o->def.id)) {
        rc = fail(err, LS_EPROTO, p, idn, "<ObjectID> must be 0..65534");
        goto out;
    }
    if ((rc = child_text(p, obj, "Name", &o->name, err)) != LS_OK ||
        (rc = child_text(p, obj, "ObjectURN", &o->urn, err)) != LS_OK ||
        (rc = child_text(p, obj, "Description1", &o->description, err)) != LS_OK ||
        (rc = child_text(p, obj, "ObjectVersion", &o->version, err)) != LS_OK ||
        (rc = parse_flag(p, obj, "MultipleInstances", "Multiple", "Single",
                         &o->def.multiple, err)) != LS_OK ||
        (rc = parse_flag(p, obj, "Mandatory", "Mandatory", "Optional",
                         &o->def.mandatory, err)) != LS_OK)
        goto out;
    if (o->version[0] == '\0') {
        free(o->version);
        if (!(o->version = strdup("1.0"))) {
            rc = fail(err, LS_ENOMEM, p, obj, "out of memory");
            goto out;
        }
    }
    if (!valid_version(o->version)) {
        rc = fail(err, LS_EPROTO, p, child(obj, "ObjectVersion"),
                  "<ObjectVersion> must look like 1.0");
        goto out;
    }
    rc = parse_resources(p, obj, o, err);
out:
    free(id);
    return rc;
}

/* Copies s into the block at *at and returns where it went. */
static const char *pack_str(char **at, const char *s)
{
    size_t l = strlen(s) + 1;
    char *d = memcpy(*at, s, l);
    *at += l;
    return d;
}

/*
 * Lays the object out as one block: the def, then the resource array, then
 * every string.  The resource array follows the struct; both have pointer
 * alignment, so no padding arithmetic is needed beyond sizeof.
 */
static struct lwm2m_object_def *pack(const struct tmp_obj *o)
{
    size_t strings = strlen(o->name) + strlen(o->version) + strlen(o->urn) +
                     strlen(o->description) + 4;
    for (size_t i = 0; i < o->n_res; i++)
        strings += strlen(o->res[i].name) + strlen(o->res[i].units) +
                   strlen(o->res[i].range) + strlen(o->res[i].description) + 4;
    size_t head = sizeof(struct lwm2m_object_def) +
                  o->n_res * sizeof(struct lwm2m_resource_def);
    struct lwm2m_object_def *def = malloc(head + strings);
    if (!def)
        return NULL;
    struct lwm2m_resource_def *res = (struct lwm2m_resource_def *)(def + 1);
    char *at = (char *)def + head;
    *def = o->def;
    def->name = pack_str(&at, o->name);
    def->version = pack_str(&at, o->version);
    def->urn = pack_str(&at, o->urn);
    def->description = pack_str(&at, o->description);
    def->n_resources = o->n_res;
    def->resources = o->n_res ? res : NULL;
    for (size_t i = 0; i < o->n_res; i++) {
        res[i] = o->res[i].def;
        res[i].name = pack_str(&at, o->res[i].name);
        res[i].units = pack_str(&at, o->res[i].units);
        res[i].range = pack_str(&at, o->res[i].range);
        res[i].description = pack_str(&at, o->res[i].description);
    }
    return def;
}

/* Parses every MODefinition object under root into p->objs. */
static enum ls_rc parse_root(struct parse *p, const xmlNode *root, struct ls_error *err)
{
    size_t n = 0;
    for (const xmlNode *c = root->children; c; c = c->next)
        n += named(c, "Object");
    if (n > MAX_OBJECTS)
        return fail(err, LS_ENOMEM, p, root, "more than 256 objects in one document");
    if (n == 0)
        return LS_OK;
    p->objs = calloc(n, sizeof *p->objs);
    if (!p->objs)
        return fail(err, LS_ENOMEM, p, root, "out of memory");
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (!named(c, "Object"))
            continue;
        /* Reusable-resource lists (Common.xml: "CommonResources") define no object. */
        xmlChar *kind = xmlGetProp(c, (const xmlChar *)"ObjectType");
        bool skip = kind && strcmp((const char *)kind, "MODefinition") != 0;
        xmlFree(kind);
        if (skip)
            continue;
        enum ls_rc rc = parse_object(p, c, &p->objs[p->n_objs++], err);
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}

/* SAX hook: any <!DOCTYPE> ends the parse before its subset is read. */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    ctxt->_private = (void *)refuse_doctype;
    xmlStopParser(ctxt);
}

static enum ls_rc parse_xml(const struct parse *p, const char *buf, size_t len,
                            xmlDocPtr *doc, struct ls_error *err)
{
    *doc = NULL;
    if (len > LWM2M_MODEL_MAX_FILE)
        return ls_error_set(err, LS_ENOMEM, "%s: larger than %u bytes", p->name,
                            LWM2M_MODEL_MAX_FILE);
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return ls_error_set(err, LS_ENOMEM, "%s: out of memory", p->name);
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->sax->externalSubset = NULL;
    /* Deliberately absent: XML_PARSE_NOENT, XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR,
     * XML_PARSE_HUGE, XML_PARSE_XINCLUDE. */
    int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
    *doc = xmlCtxtReadMemory(ctxt, buf, (int)len, p->name, NULL, opts);
    enum ls_rc rc = LS_OK;
    if (ctxt->_private == (void *)refuse_doctype) {
        rc = ls_error_set(err, LS_EPROTO, "%s: document type declarations are not allowed",
                          p->name);
    } else if (!*doc) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        char what[120] = "not well-formed XML";
        if (e && e->message) {
            snprintf(what, sizeof what, "%s", e->message);
            what[strcspn(what, "\n")] = '\0';
        }
        rc = ls_error_set(err, LS_EPROTO, "%s:%d: %s", p->name, e ? e->line : 0, what);
    }
    if (rc != LS_OK) {
        xmlFreeDoc(*doc);
        *doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return rc;
}

/* Parses and inserts; *foreign is set when the root is not <LWM2M>. */
static enum ls_rc load(struct lwm2m_model *m, const char *buf, size_t len,
                       const char *name, bool *foreign, struct ls_error *err)
{
    struct parse p = { .name = name ? name : "(buffer)" };
    xmlDocPtr doc = NULL;
    *foreign = false;
    enum ls_rc rc = parse_xml(&p, buf, len, &doc, err);
    if (rc != LS_OK)
        goto out;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !named(root, "LWM2M")) {
        *foreign = true;
        rc = fail(err, LS_EPROTO, &p, root, "not a DDF document: the root element is not <LWM2M>");
        goto out;
    }
    if ((rc = parse_root(&p, root, err)) != LS_OK)
        goto out;
    for (size_t i = 0; i < p.n_objs; i++) {
        struct lwm2m_object_def *def = pack(&p.objs[i]);
        if (!def) {
            rc = fail(err, LS_ENOMEM, &p, root, "out of memory");
            goto out;
        }
        if ((rc = model_insert(m, def, err)) != LS_OK)
            goto out;
    }
out:
    for (size_t i = 0; i < p.n_objs; i++)
        tmp_obj_clear(&p.objs[i]);
    free(p.objs);
    xmlFreeDoc(doc);
    return rc;
}

enum ls_rc lwm2m_model_load_buffer(struct lwm2m_model *m, const char *buf,
                                   size_t len, const char *name,
                                   struct ls_error *err)
{
    bool foreign;
    if (!m || (!buf && len))
        return ls_error_set(err, LS_EINVAL, "no model or no buffer");
    return load(m, buf ? buf : "", len, name, &foreign, err);
}

/* Reads a whole regular file of at most LWM2M_MODEL_MAX_FILE bytes. */
static enum ls_rc read_file(const char *path, char **out, size_t *len, struct ls_error *err)
{
    enum ls_rc rc = LS_OK;
    struct stat st;
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ls_error_set(err, errno == ENOENT ? LS_ENOTFOUND : LS_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = ls_error_set(err, LS_EIO, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > LWM2M_MODEL_MAX_FILE) {
        rc = ls_error_set(err, LS_ENOMEM, "%s: larger than %u bytes", path,
                          LWM2M_MODEL_MAX_FILE);
        goto out;
    }
    if (!(*out = malloc((size_t)st.st_size + 1))) {
        rc = ls_error_set(err, LS_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    while (*len < (size_t)st.st_size) {
        ssize_t r = read(fd, *out + *len, (size_t)st.st_size - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = ls_error_set(err, LS_EIO, "%s: read failed", path);
            goto out;
        }
        *len += (size_t)r;
    }
out:
    close(fd);
    if (rc != LS_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static enum ls_rc load_path(struct lwm2m_model *m, const char *path, bool skip_foreign,
                            struct ls_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    bool foreign = false;
    struct ls_error mine = { 0 };
    enum ls_rc rc = read_file(path, &buf, &len, err);
    if (rc != LS_OK)
        goto out;
    rc = load(m, buf, len, path, &foreign, &mine);
    if (rc != LS_OK && foreign && skip_foreign)
        rc = LS_OK;
    else if (rc != LS_OK)
        ls_error_set(err, mine.code, "%s", mine.msg);
out:
    free(buf);
    return rc;
}

enum ls_rc lwm2m_model_load_file(struct lwm2m_model *m, const char *path,
                                 struct ls_error *err)
{
    if (!m || !path)
        return ls_error_set(err, LS_EINVAL, "no model or no path");
    return load_path(m, path, false, err);
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_xml_name(const char *n)
{
    size_t l = strlen(n);
    return l > 4 && n[0] != '.' && strcmp(n + l - 4, ".xml") == 0;
}

/* The *.xml names in dir, sorted so that loading order (and which duplicate
 * wins) does not depend on the file system. */
static enum ls_rc list_dir(const char *dir, char ***names, size_t *n, struct ls_error *err)
{
    enum ls_rc rc = LS_OK;
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ls_error_set(err, errno == ENOENT ? LS_ENOTFOUND : LS_EIO,
                            "%s: cannot open directory: %s", dir, strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_xml_name(e->d_name))
            continue;
        if (*n == cap) {
            char **g = cap < MAX_DIR_FILES ? realloc(*names, (cap ? cap * 2 : 64) * sizeof *g) : NULL;
            if (!g) {
                rc = ls_error_set(err, LS_ENOMEM, "%s: too many files or out of memory", dir);
                goto out;
            }
            *names = g;
            cap = cap ? cap * 2 : 64;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            rc = ls_error_set(err, LS_ENOMEM, "%s: out of memory", dir);
            goto out;
        }
        (*n)++;
    }
    qsort(*names, *n, sizeof **names, name_compare);
out:
    closedir(d);
    return rc;
}

/*
 * Files whose root is not <LWM2M> (the registry's DDF.xml index, unit lists)
 * are skipped here rather than refused: a registry checkout is a valid
 * directory to point at.  Files loaded before a failure stay loaded.
 */
enum ls_rc lwm2m_model_load_dir(struct lwm2m_model *m, const char *dir,
                                struct ls_error *err)
{
    char **names = NULL, *path = NULL;
    size_t n = 0;
    if (!m || !dir)
        return ls_error_set(err, LS_EINVAL, "no model or no directory");
    enum ls_rc rc = list_dir(dir, &names, &n, err);
    for (size_t i = 0; rc == LS_OK && i < n; i++) {
        free(path);
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
            path = NULL;
            rc = ls_error_set(err, LS_ENOMEM, "%s: out of memory", dir);
            break;
        }
        rc = load_path(m, path, true, err);
    }
    free(path);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}
