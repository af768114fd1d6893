/*
 * tools/sim_client.c -- one simulated LwM2M client's protocol state machine
 *
 * A client has its own source address (127.A.x.y) on one of the run's
 * shared UDP sockets (so the server sees a distinct address and port per
 * client, and no file descriptor per client is needed) and has at most one CON request of
 * its own in flight (RFC 7252 NSTART = 1): Register, Update, De-register,
 * a notification or a Send.  Periodic work that falls due while a request
 * is in flight waits for it.  Requests from the server are answered
 * piggy-backed at once; a retransmitted request (same MID) gets the cached
 * answer again.  Retransmission follows RFC 7252 4.2: ACK_TIMEOUT 2 s,
 * random factor 1.5, MAX_RETRANSMIT 4; after an empty ACK, a separate
 * response is awaited for 30 s.  Every completion or failure goes to the
 * run's statistics with its latency (first transmission to the answer).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lwm2m/format.h"

#define ACK_TIMEOUT_US 2000000
#define MAX_RETRANSMIT 4
#define SEPARATE_WAIT_US 30000000

#define C_CREATED 0x41
#define C_DELETED 0x42
#define C_CHANGED 0x44
#define C_CONTENT 0x45

void sim_client_endpoint(const struct sim_options *opt, uint32_t idx, char *out, size_t cap)
{
    if (idx < opt->csv.count)
        snprintf(out, cap, "%s", opt->csv.rows[idx].endpoint);
    else
        snprintf(out, cap, "%s-%u", opt->prefix, (unsigned)idx);
}

/* --awake and --sleep (queue mode), the same for every client of the run */
static int64_t awake_us, sleep_us;

/* Queue mode: asleep once --awake passed since it last sent anything and
 * nothing of its own is in flight; it then ignores whatever arrives. */
static bool asleep(const struct sim_client *c, int64_t now)
{
    return c->dev.queue && c->state == SIM_C_REGISTERED && !c->has_out && now >= c->awake_until;
}

/* One datagram from the client's own address (IP_PKTINFO on the shared
 * socket) to its peer.  Errors are left to retransmission: UDP may drop. */
static void xmit(struct sim_client *c, const void *data, size_t len)
{
    if (c->dev.queue)      /* queue mode: awake for a while after anything it sends */
        c->awake_until = sim_run_now_us() + awake_us;
    if (c->lc) {
        sim_coaps_xmit(c, data, len);
        return;
    }
    struct iovec iov = { (void *)data, len };
    union {
        char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr mh = { .msg_name = (void *)c->peer, .msg_namelen = sizeof *c->peer,
                         .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = IPPROTO_IP;
    cm->cmsg_type = IP_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi = { .ipi_spec_dst.s_addr = htonl(c->src_addr) };
    memcpy(CMSG_DATA(cm), &pi, sizeof pi);
    if (sendmsg(c->fd, &mh, 0) < 0 && errno != EAGAIN && errno != ENOBUFS &&
        errno != ECONNREFUSED)
        fprintf(stderr, "lodestar-sim: sendmsg: %s\n", strerror(errno));
}

/* --ack-log: one line per acknowledged operation, written and flushed as
 * the acknowledgement arrives, so that nothing is lost if anything crashes
 * later: "register EP LOCATION", "send EP VALUES", "bootstrap EP". */
static void ack_log(struct sim_client_env *e, const struct sim_client *c, const char *what,
                    const char *arg)
{
    FILE *f = e->opt->ack_log;
    if (!f)
        return;
    char ep[80];
    sim_client_endpoint(e->opt, c->dev.idx, ep, sizeof ep);
    if (arg)
        fprintf(f, "%s %s %s\n", what, ep, arg);
    else
        fprintf(f, "%s %s\n", what, ep);
    fflush(f);
}

static uint16_t new_mid(struct sim_client *c)
{
    return c->next_mid++;
}

/* Sends (or re-sends) the request in c->out; a send error is a failure
 * only when the socket is gone: UDP drops are what retransmission is for. */
static void transmit(struct sim_client *c)
{
    xmit(c, c->out.data, c->out.len);
}

static void begin(struct sim_client_env *e, struct sim_client *c, enum sim_op op,
                  const struct sim_coap_msg *m, unsigned values)
{
    free(c->out.data);
    c->out = (struct sim_out){ .op = op, .values = values };
    c->out.mid = (uint16_t)(m->data[2] << 8 | m->data[3]);
    memcpy(c->out.token, m->data + 4, 4);
    c->out.data = malloc(m->len);
    if (!c->out.data) {
        sim_stats_fail(e->stats, op, "out of memory");
        return;
    }
    memcpy(c->out.data, m->data, m->len);
    c->out.len = (uint16_t)m->len;
    int64_t now = sim_run_now_us();
    c->out.first_us = now;
    c->out.timeout_us = ACK_TIMEOUT_US + rand() % (ACK_TIMEOUT_US / 2);
    c->out.deadline_us = now + c->out.timeout_us;
    c->has_out = true;
    transmit(c);
}

/* A fresh CON request with a 4-byte token; the caller adds options. */
static void request(struct sim_client *c, struct sim_coap_msg *m, unsigned code)
{
    uint32_t tok = (uint32_t)rand() ^ ((uint32_t)c->dev.idx << 8);
    sim_coap_init(m, SIM_COAP_CON, code, new_mid(c), (const uint8_t *)&tok, 4);
}

static void send_register(struct sim_client_env *e, struct sim_client *c)
{
    const struct sim_options *o = e->opt;
    struct sim_coap_msg m;
    char q[96];
    request(c, &m, 2);
    sim_coap_option(&m, SIM_COAP_OPT_URI_PATH, "rd", 2);
    sim_coap_option_uint(&m, SIM_COAP_OPT_CONTENT_FORMAT, 40);
    char ep[80];
    sim_client_endpoint(o, c->dev.idx, ep, sizeof ep);
    snprintf(q, sizeof q, "ep=%s", ep);
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, q, strlen(q));
    snprintf(q, sizeof q, "lt=%d", (int)c->dev.lifetime_s);
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, q, strlen(q));
    snprintf(q, sizeof q, "lwm2m=%s", o->lwm2m);
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, q, strlen(q));
    bool v10 = strcmp(o->lwm2m, "1.0") == 0;
    const char *b = o->queue && v10 ? "b=UQ" : "b=U";
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, b, strlen(b));
    if (o->queue && !v10)
        sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, "Q", 1);
    const char *links = sim_device_links(o->format);
    sim_coap_payload(&m, links, strlen(links));
    begin(e, c, SIM_OP_REGISTER, &m, 0);
}

static void send_update(struct sim_client_env *e, struct sim_client *c)
{
    struct sim_coap_msg m;
    request(c, &m, 2);
    sim_coap_option_path(&m, SIM_COAP_OPT_URI_PATH, c->location);
    char q[32];
    snprintf(q, sizeof q, "lt=%d", (int)c->dev.lifetime_s);
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, q, strlen(q));
    c->dev.update_due = false;
    begin(e, c, SIM_OP_UPDATE, &m, 0);
}

bool sim_client_deregister(struct sim_client_env *e, struct sim_client *c)
{
    if (c->state != SIM_C_REGISTERED || c->has_out)
        return false;
    struct sim_coap_msg m;
    request(c, &m, 4);
    sim_coap_option_path(&m, SIM_COAP_OPT_URI_PATH, c->location);
    begin(e, c, SIM_OP_DEREGISTER, &m, 0);
    return true;
}

static void send_notify(struct sim_client_env *e, struct sim_client *c)
{
    struct lwm2m_buf body = { 0 };
    unsigned code = sim_device_encode(&c->dev, &c->obs_path, c->obs_format, sim_run_wall_s(),
                                      e->model, &body);
    struct sim_coap_msg m;
    sim_coap_init(&m, SIM_COAP_CON, code, new_mid(c), c->obs_token, c->obs_token_len);
    c->obs_seq = (c->obs_seq + 1) & 0xffffff;
    sim_coap_option_uint(&m, SIM_COAP_OPT_OBSERVE, c->obs_seq);
    sim_coap_option_uint(&m, SIM_COAP_OPT_CONTENT_FORMAT, c->obs_format);
    sim_coap_payload(&m, body.data, body.len);
    lwm2m_buf_free(&body);
    /* begin() keys on a 4-byte token: keep the observation's own token
     * for matching RSTs by MID, the token field is unused for ACKs */
    begin(e, c, SIM_OP_NOTIFY, &m, 1);
}

static void send_send(struct sim_client_env *e, struct sim_client *c)
{
    struct lwm2m_path p = lwm2m_path_resource(3303, 0, 5700);
    struct lwm2m_buf body = { 0 };
    unsigned code = sim_device_encode(&c->dev, &p, e->opt->send_format, sim_run_wall_s(),
                                      e->model, &body);
    if (code != C_CONTENT) {
        lwm2m_buf_free(&body);
        sim_stats_fail(e->stats, SIM_OP_SEND, "encode");
        return;
    }
    struct sim_coap_msg m;
    request(c, &m, 2);
    sim_coap_option(&m, SIM_COAP_OPT_URI_PATH, "dp", 2);
    sim_coap_option_uint(&m, SIM_COAP_OPT_CONTENT_FORMAT, e->opt->send_format);
    sim_coap_payload(&m, body.data, body.len);
    lwm2m_buf_free(&body);
    begin(e, c, SIM_OP_SEND, &m, 1);
}

#define BS_WAIT_US 30000000     /* Bootstrap-Request to Finish */

static void send_bs_request(struct sim_client_env *e, struct sim_client *c)
{
    struct sim_coap_msg m;
    char q[96], ep[80];
    request(c, &m, 2);
    sim_coap_option(&m, SIM_COAP_OPT_URI_PATH, "bs", 2);
    sim_client_endpoint(e->opt, c->dev.idx, ep, sizeof ep);
    snprintf(q, sizeof q, "ep=%s", ep);
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, q, strlen(q));
    snprintf(q, sizeof q, "pct=%u", e->opt->format);
    if (strcmp(e->opt->lwm2m, "1.0") != 0)
        sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, q, strlen(q));
    c->bs_start_us = sim_run_now_us();
    c->bs_deadline_us = c->bs_start_us + BS_WAIT_US;
    begin(e, c, SIM_OP_BOOTSTRAP, &m, 0);
}

/* "coap://a.b.c.d:port" or "coaps://a.b.c.d:port" (default 5683 / 5684). */
static bool parse_coap_uri(const uint8_t *s, size_t len, struct sockaddr_in *out, bool *secure)
{
    char buf[64], host[32];
    size_t skip = 0;
    if (len >= sizeof buf || len < 8)
        return false;
    if (memcmp(s, "coaps://", 8) == 0) {
        *secure = true;
        skip = 8;
    } else if (memcmp(s, "coap://", 7) == 0) {
        *secure = false;
        skip = 7;
    } else {
        return false;
    }
    unsigned port = *secure ? 5684 : 5683;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (sscanf(buf + skip, "%31[0-9.]:%u", host, &port) < 1 || port == 0 || port > 65535)
        return false;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1;
}

/* The Security instance inst of a BS-Write payload, as far as written. */
struct bs_inst {
    const struct lwm2m_value *uri, *bootstrap, *mode, *identity, *key;
};

static void bs_inst_collect(const struct lwm2m_data *data, uint16_t inst, struct bs_inst *out)
{
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < data->count; k++) {
        const struct lwm2m_value *v = &data->values[k];
        if (v->path.depth != 3 || v->path.id[0] != 0 || v->path.id[1] != inst)
            continue;
        switch (v->path.id[2]) {
        case 0: out->uri = v->type == LWM2M_TYPE_STRING ? v : NULL; break;
        case 1: out->bootstrap = v->type == LWM2M_TYPE_BOOLEAN ? v : NULL; break;
        case 2: out->mode = v; break;
        case 3: out->identity = v->type == LWM2M_TYPE_OPAQUE || v->type == LWM2M_TYPE_STRING
                                ? v : NULL; break;
        case 5: out->key = v->type == LWM2M_TYPE_OPAQUE ? v : NULL; break;
        default: break;
        }
    }
}

/* Keeps the LwM2M Server account a Security instance describes. */
static bool bs_keep_account(struct sim_client *c, const struct bs_inst *in)
{
    struct sim_bs_account a = { 0 };
    if (!in->uri || !parse_coap_uri(in->uri->v.bytes.ptr, in->uri->v.bytes.len, &a.addr,
                                    &a.secure))
        return false;
    a.mode = 3;
    if (in->mode)
        a.mode = in->mode->type == LWM2M_TYPE_UNSIGNED ? (unsigned)in->mode->v.u
                                                       : (unsigned)in->mode->v.i;
    if (a.secure) {
        if (a.mode != 0 || !in->identity || !in->key ||
            in->identity->v.bytes.len > sizeof a.identity || in->key->v.bytes.len > sizeof a.key)
            return false;        /* only PSK accounts are simulated */
        memcpy(a.identity, in->identity->v.bytes.ptr, in->identity->v.bytes.len);
        a.identity_len = in->identity->v.bytes.len;
        memcpy(a.key, in->key->v.bytes.ptr, in->key->v.bytes.len);
        a.key_len = in->key->v.bytes.len;
    }
    if (!c->bs && !(c->bs = malloc(sizeof *c->bs)))
        return false;
    *c->bs = a;
    c->bs_server = a.addr;
    return true;
}

/* BS-Write: remembers the first non-bootstrap Security instance's account
 * (its URI, and for coaps:// the PSK identity /0/x/3 and key /0/x/5). */
static unsigned bs_write(struct sim_client_env *e, struct sim_client *c,
                         const struct sim_coap_parsed *req, const struct lwm2m_path *path)
{
    if (!sim_coap_find(req, SIM_COAP_OPT_CONTENT_FORMAT))
        return 0x80;
    unsigned format = sim_coap_uint(req, SIM_COAP_OPT_CONTENT_FORMAT, 0);
    struct lwm2m_data data;
    struct ls_error err = { 0 };
    lwm2m_data_init(&data);
    unsigned code = C_CHANGED;
    if (lwm2m_format_decode(format, req->payload, req->payload_len, path, e->model, &data,
                            &err) != LS_OK) {
        code = 0x80;
        goto out;
    }
    for (size_t i = 0; i < data.count; i++) {
        const struct lwm2m_value *v = &data.values[i];
        if (v->path.depth != 3 || v->path.id[0] != 0 || v->path.id[2] != 0)
            continue;
        struct bs_inst in;
        bs_inst_collect(&data, v->path.id[1], &in);
        if (in.bootstrap && in.bootstrap->v.b)
            continue;
        if (bs_keep_account(c, &in))
            c->bs_has_server = true;
    }
out:
    lwm2m_data_free(&data);
    return code;
}

/* Bootstrap-Finish: the bootstrap is done; register with what was written. */
static void bs_finish(struct sim_client_env *e, struct sim_client *c)
{
    if (c->state != SIM_C_BOOTSTRAPPING)
        return;
    if (!c->bs_has_server) {
        sim_stats_fail(e->stats, SIM_OP_BOOTSTRAP, "no server account (coap://, or coaps:// PSK)");
        c->state = SIM_C_DONE;
        e->finished(e->run, c);
        return;
    }
    sim_stats_ok(e->stats, SIM_OP_BOOTSTRAP, sim_run_now_us() - c->bs_start_us);
    ack_log(e, c, "bootstrap", NULL);
    c->state = SIM_C_REGISTERING;
    c->bs_finish_due = true;    /* the Register goes out after the Finish's answer */
}

/* After the Finish's answer went out: the socket now talks to the Server. */
static void bs_to_server(struct sim_client_env *e, struct sim_client *c)
{
    c->bs_finish_due = false;
    c->has_last_srv = false;
    c->peer = &c->bs_server;
    if (c->bs && c->bs->secure) {       /* coaps:// with the PSK just written */
        c->lc = true;
        c->psk = (struct sim_psk){ c->bs->identity, c->bs->identity_len, c->bs->key,
                                   c->bs->key_len };
    } else {
        c->psk = (struct sim_psk){ 0 };  /* coap://: libcoap UDP after a DTLS bootstrap */
    }
    send_register(e, c);
}

/* A request of the Bootstrap-Server: Discover, Delete, Write, Finish. */
static void bs_serve(struct sim_client_env *e, struct sim_client *c,
                     const struct sim_coap_parsed *p, const struct lwm2m_path *path,
                     bool is_bs, struct sim_coap_msg *resp)
{
    unsigned code = 0x85;
    const char *body = NULL;
    if (is_bs && p->code == 2) {
        code = C_CHANGED;
        bs_finish(e, c);
    } else if (p->code == 1 && sim_coap_uint(p, SIM_COAP_OPT_ACCEPT, 40) == 40) {
        code = C_CONTENT;
        body = path->depth == 0 ? "lwm2m=\"1.1\",</0/0>,</1/0>,</3/0>,</3303/0>"
                                : "</0/0>";
    } else if (p->code == 4) {
        code = C_DELETED;
        if (path->depth == 0 || path->id[0] == 0)
            c->bs_has_server = false;
    } else if (p->code == 3) {
        code = bs_write(e, c, p, path);
    }
    sim_coap_init(resp, SIM_COAP_ACK, code, p->mid, p->token, p->token_len);
    if (body) {
        sim_coap_option_uint(resp, SIM_COAP_OPT_CONTENT_FORMAT, 40);
        sim_coap_payload(resp, body, strlen(body));
    }
    sim_stats_served(e->stats, SIM_SERVED_OTHER);
}

void sim_client_start(struct sim_client_env *e, struct sim_client *c, uint32_t idx, int fd,
                      uint32_t src_addr)
{
    memset(c, 0, sizeof *c);
    c->dev.idx = idx;
    c->dev.lifetime_s = e->opt->lifetime_s;
    c->dev.queue = e->opt->queue;
    awake_us = (int64_t)(e->opt->awake_s * 1e6);
    sleep_us = (int64_t)(e->opt->sleep_s * 1e6);
    snprintf(c->dev.utc_offset, sizeof c->dev.utc_offset, "+00:00");
    c->next_mid = (uint16_t)rand();
    c->fd = fd;
    c->src_addr = src_addr;
    c->peer = e->opt->bootstrap_set ? &e->opt->bootstrap : &e->opt->server;
    c->lc = e->opt->bootstrap_set ? e->opt->bootstrap_secure : e->opt->server_secure;
    if (c->lc && idx < e->opt->csv.count) {
        const struct sim_csv_account *a = e->opt->bootstrap_set
                                              ? &e->opt->csv.rows[idx].bootstrap
                                              : &e->opt->csv.rows[idx].server;
        c->psk = (struct sim_psk){ (const uint8_t *)a->identity, strlen(a->identity), a->key,
                                   a->key_len };
    }
    if (e->opt->bootstrap_set) {
        c->state = SIM_C_BOOTSTRAPPING;
        send_bs_request(e, c);
    } else {
        c->state = SIM_C_REGISTERING;
        send_register(e, c);
    }
}

void sim_client_close(struct sim_client *c)
{
    if (c->lc)
        sim_coaps_close(c);
    free(c->bs);
    c->bs = NULL;
    sim_firmware_free(c->fw);
    c->fw = NULL;
    c->fd = -1;     /* the socket is the run's */
    free(c->out.data);
    c->out.data = NULL;
    free(c->last_resp);
    c->last_resp = NULL;
    c->has_out = false;
}

static void after_registered(struct sim_client_env *e, struct sim_client *c, int64_t now)
{
    int64_t lt = (int64_t)c->dev.lifetime_s * 1000000;
    c->next_update_us = now + lt * 8 / 10;       /* well before the lifetime ends */
    int64_t iv = (int64_t)(e->opt->interval_s * 1e6);
    if (c->sends)
        c->next_send_us = now + iv / 2 + rand() % (iv / 2 + 1);
}

/*
 * --cycles: a cycle of c ended (its Register acknowledged, and with
 * --deregister its De-register; ok false: one of them failed).  Its DTLS
 * session is closed now (libcoap sends close_notify when it frees a client
 * session), as a device that reboots or reconnects would, and the next
 * cycle opens a new one, so every cycle is a full handshake.  The client
 * then waits for the run (cycled), or is done for good (finished).
 */
static void cycle_end(struct sim_client_env *e, struct sim_client *c, bool ok)
{
    if (c->lc)
        sim_coaps_close(c);
    c->cycles_done++;
    bool more = ok && !e->stopping && (!e->opt->cycles || c->cycles_done < e->opt->cycles);
    c->state = more ? SIM_C_IDLE : SIM_C_DONE;
    if (more)
        e->cycled(e->run, c);
    else
        e->finished(e->run, c);
}

void sim_client_cycle(struct sim_client_env *e, struct sim_client *c)
{
    c->state = SIM_C_REGISTERING;
    c->reg_retries = 0;
    c->reg_retry_at = 0;
    c->location[0] = '\0';
    send_register(e, c);
}

/* The outstanding request ended: code is the response (0 for an ACK of a
 * notification), NULL cause means success. */
static void complete(struct sim_client_env *e, struct sim_client *c,
                     const struct sim_coap_parsed *p, const char *cause)
{
    int64_t now = sim_run_now_us();
    struct sim_out o = c->out;
    c->out.data = NULL;
    c->has_out = false;
    char code[8] = "";
    if (p)
        sim_coap_code_text(p->code, code);
    if (o.op == SIM_OP_BOOTSTRAP && !cause && p && p->code == C_CHANGED) {
        free(o.data);       /* Request accepted: the Finish ends the operation */
        sim_run_schedule(e->run, c);
        return;
    }
    unsigned want = o.op == SIM_OP_REGISTER ? C_CREATED : o.op == SIM_OP_DEREGISTER ? C_DELETED
                    : o.op == SIM_OP_NOTIFY ? 0 : C_CHANGED;
    if (!cause && p && p->code != want)
        cause = code;
    if (cause) {
        sim_stats_fail(e->stats, o.op, cause);
        if (o.op == SIM_OP_BOOTSTRAP) {
            if (c->state == SIM_C_BOOTSTRAPPING) {
                c->state = SIM_C_DONE;
                e->finished(e->run, c);
            }
        } else if (o.op == SIM_OP_REGISTER) {
            bool first = c->state == SIM_C_REGISTERING;
            c->state = SIM_C_DONE;
            if (first && e->opt->cycling)
                cycle_end(e, c, false);
            else if (first)
                e->finished(e->run, c);
        } else if (o.op == SIM_OP_UPDATE && p && p->code == 0x84) {
            send_register(e, c);     /* the server forgot us: register again */
        } else if (o.op == SIM_OP_DEREGISTER) {
            c->state = SIM_C_DONE;
            if (e->opt->cycling)
                cycle_end(e, c, false);
        }
    } else {
        sim_stats_ok(e->stats, o.op, now - o.first_us);
        if (o.values)
            sim_stats_values(e->stats, o.op, o.values);
        if (o.op == SIM_OP_SEND) {
            char n[16];
            snprintf(n, sizeof n, "%u", o.values);
            ack_log(e, c, "send", n);
        }
        if (o.op == SIM_OP_REGISTER) {
            sim_coap_join(p, SIM_COAP_OPT_LOCATION_PATH, '/', c->location, sizeof c->location);
            ack_log(e, c, "register", c->location);
            bool first = c->state == SIM_C_REGISTERING;
            c->state = SIM_C_REGISTERED;
            after_registered(e, c, now);
            if (first && e->opt->cycling) {
                free(o.data);
                o.data = NULL;
                if (!e->opt->deregister || !sim_client_deregister(e, c))
                    cycle_end(e, c, true);
            } else if (first) {
                e->registered(e->run, c);
                e->finished(e->run, c);
            }
        } else if (o.op == SIM_OP_UPDATE) {
            c->next_update_us = now + (int64_t)c->dev.lifetime_s * 800000;
        } else if (o.op == SIM_OP_DEREGISTER) {
            c->state = SIM_C_DONE;
            if (e->opt->cycling)
                cycle_end(e, c, true);
        }
    }
    free(o.data);
    sim_run_schedule(e->run, c);
}

/* Observe (GET + Observe 0 / 1), answered piggy-backed with the value. */
static void observe(struct sim_client_env *e, struct sim_client *c,
                    const struct sim_coap_parsed *req, const struct lwm2m_path *path,
                    uint32_t obs, struct sim_coap_msg *resp)
{
    unsigned format = sim_coap_uint(req, SIM_COAP_OPT_ACCEPT, e->opt->format);
    struct lwm2m_buf body = { 0 };
    unsigned code = sim_device_encode(&c->dev, path, format, sim_run_wall_s(), e->model, &body);
    sim_coap_init(resp, SIM_COAP_ACK, code, req->mid, req->token, req->token_len);
    if (code == C_CONTENT && obs == 0) {
        c->observing = true;
        memcpy(c->obs_token, req->token, req->token_len);
        c->obs_token_len = (uint8_t)req->token_len;
        c->obs_path = *path;
        c->obs_format = format;
        c->obs_seq = (uint32_t)rand() & 0xffff;
        sim_coap_option_uint(resp, SIM_COAP_OPT_OBSERVE, c->obs_seq);
        c->next_notify_us = sim_run_now_us() + (int64_t)(e->opt->interval_s * 1e6);
        sim_stats_served(e->stats, SIM_SERVED_OBSERVE);
    } else {
        if (obs == 1 && c->observing && req->token_len == c->obs_token_len &&
            memcmp(req->token, c->obs_token, req->token_len) == 0)
            c->observing = false;
        sim_stats_served(e->stats, obs == 1 ? SIM_SERVED_CANCEL : SIM_SERVED_READ);
    }
    if (code == C_CONTENT) {
        sim_coap_option_uint(resp, SIM_COAP_OPT_CONTENT_FORMAT, format);
        sim_coap_payload(resp, body.data, body.len);
    }
    lwm2m_buf_free(&body);
}

static void serve(struct sim_client_env *e, struct sim_client *c, const struct sim_coap_parsed *p)
{
    if (c->has_last_srv && p->mid == c->last_srv_mid) {
        if (c->last_resp)
            xmit(c, c->last_resp, c->last_resp_len);
        return;
    }
    struct sim_coap_msg resp;
    char seg[8];
    struct lwm2m_path path = lwm2m_path_root();
    struct ls_error err = { 0 };
    bool ok = true;
    for (size_t i = 0; i < p->noptions && ok; i++) {
        if (p->options[i].number != SIM_COAP_OPT_URI_PATH)
            continue;
        if (p->options[i].len >= sizeof seg) {
            ok = false;
            break;
        }
        memcpy(seg, p->options[i].value, p->options[i].len);
        ok = lwm2m_path_append_segment(&path, seg, p->options[i].len, &err) == LS_OK;
    }
    const struct sim_coap_option *obs = sim_coap_find(p, SIM_COAP_OPT_OBSERVE);
    const struct sim_coap_option *u = sim_coap_find(p, SIM_COAP_OPT_URI_PATH);
    bool is_bs = u && u->len == 2 && memcmp(u->value, "bs", 2) == 0;
    if (c->state == SIM_C_BOOTSTRAPPING && (ok || is_bs)) {
        bs_serve(e, c, p, &path, is_bs, &resp);
    } else if (!ok) {
        sim_coap_init(&resp, SIM_COAP_ACK, 0x84, p->mid, p->token, p->token_len);
        sim_stats_served(e->stats, SIM_SERVED_OTHER);
    } else if (p->code == 1 && obs) {
        observe(e, c, p, &path, sim_coap_uint(p, SIM_COAP_OPT_OBSERVE, 0), &resp);
    } else if (sim_firmware_path(&path)) {
        enum sim_served what;
        sim_firmware_serve(&c->fw, p, e->model, &resp, &what);
        sim_stats_served(e->stats, what);
    } else {
        enum sim_served what;
        sim_device_handle(&c->dev, p, &path, e->opt->format, sim_run_wall_s(), e->model, &resp,
                          &what);
        sim_stats_served(e->stats, what);
    }
    if (p->type == SIM_COAP_NON)
        resp.data[0] = (uint8_t)((resp.data[0] & 0xcf) | SIM_COAP_NON << 4);
    xmit(c, resp.data, resp.len);
    free(c->last_resp);
    c->last_resp = malloc(resp.len);
    c->last_resp_len = c->last_resp ? (uint16_t)resp.len : 0;
    if (c->last_resp)
        memcpy(c->last_resp, resp.data, resp.len);
    c->last_srv_mid = p->mid;
    c->has_last_srv = true;
    if (c->bs_finish_due)
        bs_to_server(e, c);
    sim_run_schedule(e->run, c);     /* an Execute may have asked for an Update */
}

void sim_client_datagram(struct sim_client_env *e, struct sim_client *c, const uint8_t *buf,
                         size_t len)
{
    struct sim_coap_parsed p;
    if (sim_coap_parse(buf, len, &p, NULL) != LS_OK)
        return;
    if (asleep(c, sim_run_now_us())) {
        sim_stats_served(e->stats, SIM_SERVED_ASLEEP);
        return;
    }
    bool mine = c->has_out && p.mid == c->out.mid;
    if (p.code == 0) {                                    /* empty ACK / RST */
        if (!mine)
            return;
        if (p.type == SIM_COAP_RST && c->out.op == SIM_OP_NOTIFY) {
            /* a passive cancel (RFC 7641 3.6): the server stored nothing,
             * and nothing failed */
            c->observing = false;
            free(c->out.data);
            c->out.data = NULL;
            c->has_out = false;
            sim_stats_served(e->stats, SIM_SERVED_CANCEL);
            sim_run_schedule(e->run, c);
        } else if (p.type == SIM_COAP_RST) {
            complete(e, c, NULL, "rst");
        } else if (p.type == SIM_COAP_ACK) {
            if (c->out.op == SIM_OP_NOTIFY) {
                complete(e, c, &p, NULL);
            } else if (!c->out.acked) {
                c->out.acked = true;
                c->out.deadline_us = sim_run_now_us() + SEPARATE_WAIT_US;
                sim_run_schedule(e->run, c);
            }
        }
        return;
    }
    if (p.code < 32) {                                    /* a request */
        if (p.type == SIM_COAP_CON || p.type == SIM_COAP_NON)
            serve(e, c, &p);
        return;
    }
    /* a response: piggy-backed (ACK with our MID) or separate (our token) */
    bool tok = c->has_out && p.token_len == 4 && memcmp(p.token, c->out.token, 4) == 0;
    if (p.type == SIM_COAP_CON) {
        uint8_t ack[4] = { 0x60, 0, buf[2], buf[3] };
        xmit(c, ack, sizeof ack);
    }
    if (tok && (p.type != SIM_COAP_ACK || mine))
        complete(e, c, &p, NULL);
}

#define REG_RETRIES 3
#define REG_RETRY_US 1000000

/*
 * A Register or Bootstrap-Request whose DTLS handshake failed is started
 * again (a new session) after REG_RETRY_US, up to REG_RETRIES times, as a
 * device would: a daemon may not have loaded a key made a moment ago yet
 * (a factory batch's, or one issued in bootstrap: they reload on the
 * database's NOTIFY).  The retries count as the operation's
 * retransmissions.
 */
void sim_client_transport_failed(struct sim_client_env *e, struct sim_client *c,
                                 const char *cause)
{
    if (!c->has_out)
        return;
    bool first = (c->out.op == SIM_OP_REGISTER && c->state == SIM_C_REGISTERING) ||
                 (c->out.op == SIM_OP_BOOTSTRAP && c->state == SIM_C_BOOTSTRAPPING);
    if (first && c->reg_retries < REG_RETRIES) {
        c->reg_retries++;
        free(c->out.data);
        c->out.data = NULL;
        c->has_out = false;
        c->reg_retry_at = sim_run_now_us() + REG_RETRY_US;
        sim_stats_retransmit(e->stats, c->out.op);
        sim_run_schedule(e->run, c);
        return;
    }
    complete(e, c, NULL, cause);
}

int64_t sim_client_next(const struct sim_client_env *e, const struct sim_client *c)
{
    if (c->fd < 0 || c->state == SIM_C_DONE || c->state == SIM_C_IDLE)
        return INT64_MAX;
    if (c->has_out)
        return c->out.deadline_us;
    if (c->reg_retry_at && (c->state == SIM_C_REGISTERING || c->state == SIM_C_BOOTSTRAPPING))
        return c->reg_retry_at;
    if (c->state == SIM_C_BOOTSTRAPPING)
        return c->bs_deadline_us;
    if (c->state != SIM_C_REGISTERED)
        return INT64_MAX;
    if (c->dev.update_due)
        return 0;
    if (e->stopping)
        return INT64_MAX;
    int64_t t = c->next_update_us;
    if (c->dev.queue && c->awake_until + sleep_us < t)
        t = c->awake_until + sleep_us;       /* wakes with an Update */
    if (c->observing && c->next_notify_us < t)
        t = c->next_notify_us;
    if (c->sends && c->next_send_us < t)
        t = c->next_send_us;
    return t;
}

void sim_client_tick(struct sim_client_env *e, struct sim_client *c, int64_t now)
{
    if (c->has_out) {
        if (now < c->out.deadline_us)
            return;
        if (c->out.acked || c->out.tries >= MAX_RETRANSMIT) {
            complete(e, c, NULL, "timeout");
            return;
        }
        c->out.tries++;
        c->out.timeout_us *= 2;
        c->out.deadline_us = now + c->out.timeout_us;
        sim_stats_retransmit(e->stats, c->out.op);
        transmit(c);
        return;
    }
    if (c->reg_retry_at && now >= c->reg_retry_at) {
        c->reg_retry_at = 0;
        if (c->state == SIM_C_REGISTERING) {
            send_register(e, c);
            return;
        }
        if (c->state == SIM_C_BOOTSTRAPPING) {
            int64_t start = c->bs_start_us;   /* the latency counts from the first try */
            send_bs_request(e, c);
            c->bs_start_us = start;
            return;
        }
    }
    if (c->state == SIM_C_BOOTSTRAPPING && now >= c->bs_deadline_us) {
        sim_stats_fail(e->stats, SIM_OP_BOOTSTRAP, "no finish");
        c->state = SIM_C_DONE;
        e->finished(e->run, c);
        return;
    }
    if (c->state != SIM_C_REGISTERED)
        return;
    int64_t iv = (int64_t)(e->opt->interval_s * 1e6);
    bool wake = c->dev.queue && now >= c->awake_until + sleep_us;
    if (c->dev.update_due || (!e->stopping && (now >= c->next_update_us || wake))) {
        send_update(e, c);
    } else if (e->stopping) {
        return;
    } else if (c->observing && now >= c->next_notify_us) {
        c->next_notify_us += iv;
        if (c->next_notify_us < now)
            c->next_notify_us = now + iv;      /* fell behind: don't burst */
        send_notify(e, c);
    } else if (c->sends && now >= c->next_send_us) {
        c->next_send_us += iv;
        if (c->next_send_us < now)
            c->next_send_us = now + iv;
        send_send(e, c);
    }
}
