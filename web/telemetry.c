/*
 * web/telemetry.c -- GET /api/devices/{ep}/telemetry (viewer)
 *
 * Notifications and Send data of one device, oldest first:
 *   ?path=/3303/0      that path and everything below it (whole segments:
 *                      /3303/0 does not match /3303/01)
 *   ?since=, ?until=   RFC 3339 ("2024-05-01T12:00:00Z", offsets and
 *                      fractions allowed) or epoch milliseconds; since is
 *                      inclusive, until exclusive; on the value's ts (the
 *                      device's SenML time when it gave one, else arrival)
 *   ?limit=1..1000     default 100
 *   ?after=<next>      the "next" of the previous page (keyset on ts, id)
 * -> {"telemetry":[{"path","ts","received_at","source","value":{"type",
 *    "value"}}],"next":"..."|null}.  404 for an unknown device.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwm2m/path.h"
#include "store/telemetry.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000

/* n digits at s as a number; false when not all digits. */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool rfc3339(const char *s, int64_t *us_out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return false;
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return false;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        int64_t scale = 100000;
        if (!isdigit((unsigned char)*++p))
            return false;
        for (; isdigit((unsigned char)*p); p++) {
            frac_us += (*p - '0') * scale;
            scale /= 10;
        }
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
            om > 59)
            return false;
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
                   sign * (oh * 3600 + om * 60);
    *us_out = secs * 1000000 + frac_us;
    return true;
}

/* RFC 3339 or epoch milliseconds -> microseconds since the epoch. */
bool web_telemetry_parse_time(const char *s, int64_t *us_out)
{
    long long ms;
    if (web_url_parse_int(s, 0, 253402300799999LL, &ms)) {
        *us_out = (int64_t)ms * 1000;
        return true;
    }
    return rfc3339(s, us_out);
}

/* "<ts_us>.<id>" as written by store_telemetry_list. */
static bool parse_cursor(const char *s, int64_t *ts_us, int64_t *id)
{
    char *end;
    const char *dot = strchr(s, '.');
    if (!dot || dot == s)
        return false;
    errno = 0;
    long long t = strtoll(s, &end, 10);
    if (end != dot || errno)
        return false;
    long long i;
    if (!web_url_parse_int(dot + 1, 1, INT64_MAX, &i))
        return false;
    *ts_us = t;
    *id = i;
    return true;
}

/* Fills q from the query string; false with a reply queued in *ret. */
static bool read_query(struct MHD_Connection *conn, struct store_telemetry_query *q,
                       char *path, enum MHD_Result *ret)
{
    char buf[64], since[64], until[64], lim[16];
    int hp = web_url_query(conn, "path", buf, sizeof buf);
    int hs = web_url_query(conn, "since", since, sizeof since);
    int hu = web_url_query(conn, "until", until, sizeof until);
    int hl = web_url_query(conn, "limit", lim, sizeof lim);
    char after[64];
    int ha = web_url_query(conn, "after", after, sizeof after);
    struct lwm2m_path p;
    long long limit = LIMIT_DEFAULT;

    const char *bad = NULL;
    if (hp < 0 || (hp > 0 && lwm2m_path_parse(buf, strlen(buf), &p, NULL) != LS_OK))
        bad = "path must be an LwM2M path such as /3303/0/5700";
    else if (hs < 0 || (hs > 0 && !web_telemetry_parse_time(since, &q->since_us)))
        bad = "since must be RFC 3339 or epoch milliseconds";
    else if (hu < 0 || (hu > 0 && !web_telemetry_parse_time(until, &q->until_us)))
        bad = "until must be RFC 3339 or epoch milliseconds";
    else if (hl < 0 || (hl > 0 && !web_url_parse_int(lim, 1, LIMIT_MAX, &limit)))
        bad = "limit must be an integer from 1 to 1000";
    else if (ha < 0 || (ha > 0 && !parse_cursor(after, &q->after_ts_us, &q->after_id)))
        bad = "after must be the next value of a previous page";
    if (bad) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", bad);
        return false;
    }
    if (hp > 0) {
        lwm2m_path_format(&p, path);
        q->path = path;
    }
    q->limit = (int)limit;
    return true;
}

enum MHD_Result web_telemetry_get(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req)
{
    char path[LWM2M_PATH_STR_MAX];
    struct store_telemetry_query q = {
        .endpoint = req->param, .since_us = INT64_MIN, .until_us = INT64_MAX,
    };
    enum MHD_Result ret;
    if (!req->param || !read_query(conn, &q, path, &ret))
        return req->param ? ret
                          : web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
                                            "no such device");
    struct ls_error err = { 0 };
    char *text = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_telemetry_list(w->store, &q, &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc == LS_ENOTFOUND)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    json_t *body = json_loads(text, 0, NULL);
    free(text);
    if (!body)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "cannot read the telemetry");
    return web_reply_json(conn, MHD_HTTP_OK, body);
}
