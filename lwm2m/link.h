/*
 * lwm2m/link.h -- CoRE Link Format (RFC 6690, content format 40)
 *
 * Parses the payloads LwM2M carries as application/link-format: Register
 * and Update object lists, Discover and Bootstrap-Discover answers.  Pure:
 * no I/O.  Input is hostile: malformed text gives LS_EPROTO naming the
 * byte offset and the entry number; limits give LS_ENOMEM.
 *
 * Accepted beyond a textbook RFC 6690 link list, because real clients send
 * it:
 *   - a first entry with attributes but no <URI> (Anjay 1.0's
 *     Bootstrap-Discover answer starts with `lwm2m="1.0",</0>,...`);
 *   - whitespace (SP, HTAB, CR, LF) after a comma, as some clients wrap
 *     long payloads.
 *
 * Memory: a list owns one copy of the input text, in which names and values
 * are NUL-terminated and unescaped in place, plus one array of links and
 * one array of attributes: three allocations whatever the payload, none per
 * attribute.
 *
 * INTERFACE
 *   lwm2m_link_parse / lwm2m_link_list_free       text -> list
 *   lwm2m_link_attr_find, lwm2m_link_attr_uint     attribute lookup
 *   lwm2m_link_format                              links -> text (Discover)
 *   lwm2m_link_register_parse / _free              Register payload view
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_LINK_H
#define LODESTAR_LWM2M_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

#define LWM2M_LINK_MAX_LEN (256u << 10)  /* bytes of input */
#define LWM2M_LINK_MAX_LINKS 16384       /* entries per payload */
#define LWM2M_LINK_MAX_ATTRS 32          /* attributes per entry */
#define LWM2M_LINK_MAX_CT 8              /* content formats in a ct= list */

struct lwm2m_link_attr {
    const char *name;    /* NUL-terminated, never empty */
    const char *value;   /* unquoted and unescaped; NULL when no "=value" */
    bool quoted;         /* the value was a quoted-string */
};

struct lwm2m_link {
    const char *uri;     /* text between < and >; NULL for a bare entry */
    bool is_path;        /* uri is an LwM2M path ("/", "/3", ... "/3/0/1/2") */
    struct lwm2m_path path;  /* valid when is_path */
    size_t n_attrs;
    const struct lwm2m_link_attr *attrs;
    size_t offset;       /* byte offset of the entry in the input */
};

struct lwm2m_link_list {
    struct lwm2m_link *links;      /* count entries, in input order */
    size_t count;
    struct lwm2m_link_attr *attrs; /* storage behind every link's attrs */
    char *text;                    /* storage behind every string */
};

/*
 * lwm2m_link_parse -- parse a link-format payload.
 *
 * buf, len   Borrowed for the call; the list keeps its own copy.
 * out        Caller owns; free with lwm2m_link_list_free().  Zeroed on
 *            entry, so cleanup after failure is unconditional.
 *
 * An empty payload is an empty list.  Returns LS_OK, LS_EPROTO (syntax:
 * unterminated <, bad quoting, empty entry, bad attribute name, NUL byte)
 * with "offset N (entry M)" in the message, LS_ENOMEM (allocation, or more
 * than LWM2M_LINK_MAX_LEN bytes / _MAX_LINKS entries / _MAX_ATTRS
 * attributes).
 */
enum ls_rc lwm2m_link_parse(const char *buf, size_t len,
                            struct lwm2m_link_list *out,
                            struct ls_error *err) LS_MUST_CHECK;

/* Frees the list's storage and zeroes it; NULL ok. */
void lwm2m_link_list_free(struct lwm2m_link_list *list);

/* The first attribute called name (case-sensitive), or NULL.  Borrowed. */
const struct lwm2m_link_attr *lwm2m_link_attr_find(const struct lwm2m_link *link,
                                                   const char *name);

/*
 * lwm2m_link_attr_uint -- the decimal value of attribute name, 0..max.
 * Returns LS_OK, LS_ENOTFOUND (absent) or LS_EPROTO (no value, not decimal,
 * above max), naming the attribute.  *out is untouched unless LS_OK.
 */
enum ls_rc lwm2m_link_attr_uint(const struct lwm2m_link *link, const char *name,
                                uint64_t max, uint64_t *out,
                                struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_link_format -- append links as link-format text to out:
 * `</3/0>,</3/0/1>;dim=2;pmin=10`.  A link with a NULL uri prints its
 * attributes only.  Values print quoted when attr->quoted or when they hold
 * a character a bare token may not (',', ';', '"', '\\', space...), with
 * '"' and '\\' escaped.  Returns LS_OK, LS_EINVAL (an attribute name that is
 * not an RFC 6690 token, or a uri holding '>'), LS_ENOMEM.  On failure out
 * may hold a partial payload.
 */
enum ls_rc lwm2m_link_format(const struct lwm2m_link *links, size_t n,
                             struct lwm2m_buf *out,
                             struct ls_error *err) LS_MUST_CHECK;

/* One object named in a Register payload. */
struct lwm2m_link_object {
    uint16_t id;
    const char *version;  /* from ver=, e.g. "1.1"; NULL when not given (1.0) */
};

/*
 * What a Register (or Update) payload says, with the alternate path
 * stripped from every path.  Strings are borrowed from the list.
 */
struct lwm2m_link_register {
    const char *alt_path;     /* "/" unless an entry with rt="oma.lwm2m" says */
    uint16_t ct[LWM2M_LINK_MAX_CT]; /* ct= of that entry: content formats */
    size_t n_ct;
    const char *lwm2m_version;  /* lwm2m= attribute of the root/bare entry, or NULL */
    struct lwm2m_path *paths; /* objects and instances as listed: /3/0, /5 */
    size_t n_paths;
    struct lwm2m_link_object *objects; /* each object once, sorted by id */
    size_t n_objects;
};

/*
 * lwm2m_link_register_parse -- interpret a parsed Register payload.
 *
 * list   Borrowed; must outlive *out.
 * out    Caller owns; free with lwm2m_link_register_free().  Zeroed on entry.
 *
 * Rules (Core TS 1.2 "Register"): an entry with rt="oma.lwm2m" gives the
 * alternate path and content formats and must come before any object link;
 * every other link must be <alt>/o or <alt>/o/i.  Entries without a URI,
 * and the bare root "</>", are not objects.  /0 and /21, which a client
 * must not list, are kept: refusing them is the caller's policy.  Returns
 * LS_OK, LS_EPROTO (a URI that is not an object or instance below the
 * alternate path, a second alternate path, a bad ct or ver) naming the entry,
 * LS_ENOMEM.
 */
enum ls_rc lwm2m_link_register_parse(const struct lwm2m_link_list *list,
                                     struct lwm2m_link_register *out,
                                     struct ls_error *err) LS_MUST_CHECK;

/* Frees what lwm2m_link_register_parse() allocated; NULL ok. */
void lwm2m_link_register_free(struct lwm2m_link_register *r);

/* The version listed for object id (NULL when absent or not given). */
const char *lwm2m_link_register_version(const struct lwm2m_link_register *r,
                                        uint16_t id);

#endif /* LODESTAR_LWM2M_LINK_H */
