/*
 * tests/harness/lwm2m_device.h -- a libcoap LwM2M test device (client and
 * bootstrap-client roles), and raw datagram replay, for integration tests
 *
 * harness_device: one libcoap client context with one session to the
 * server, plain UDP, DTLS-PSK, DTLS-RPK or DTLS with an X.509 certificate,
 * optionally from a fixed local port (to play a device that reboots and
 * comes back from the same address).  Blocking calls (Register, Send,
 * Bootstrap ...) wait until the answer arrives or the deadline passes,
 * driving coap_io_process with a bounded timeout: no sleeps.  Separate
 * responses are handled by libcoap.
 *
 * THE OBJECT TREE (lwm2m_device_objects.c).  The device holds objects
 *   0 Security   /0/<bs_instance> = its bootstrap account (bootstrap role)
 *   1 Server     /1/0 ssid 101 lifetime 86400 binding "U" (unless
 *                options.no_server_instance)
 *   3 Device     /3/0: 0 manufacturer "Lodestar", 1 model "harness",
 *                2 serial "0001", 3 firmware "1.0", 4 reboot (E), 9 battery
 *                level 100, 11/0 error code 0, 13 current time, 14 utc
 *                offset "+00:00", 16 binding "U"
 *   5 Firmware   /5/0: 0 package (opaque, W, Block1 up to 2 MB), 1 uri,
 *                2 update (E), 3 state 0, 5 update result 0
 *   32769 Lodestar Test (tests/data/models/32769.xml), /32769/0:
 *                0 string "hello", 1 integer -5, 2 unsigned 7, 3 float 1.5,
 *                4 boolean true, 5 opaque 01 02 03, 6 time 1700000000,
 *                7 objlnk 3:0, 8 corelnk "</3/0>", 9 multi integer
 *                {0:10, 1:20}, 10 executable (records args),
 *                11 writable string "w", 12 read-only string "ro".
 *                0..9 and 11 are RW (so a test can write every type), 10 E,
 *                12 R (Write gives 4.05).  Multiple instances.
 * Values live as lwm2m/data.h values typed by the lwm2m/model.h model
 * (built-ins + tests/data/models).
 *
 * WHAT THE DEVICE ANSWERS (server -> device, Device Management)
 *   GET  path [Accept]            Read.  Formats by version:
 *        1.0: text(0) opaque(42) tlv(11542, old 1542) oma-json(11543)
 *        1.1: + senml-json(110) senml-cbor(112) cbor(60)
 *        1.2: + lwm2m-cbor(11544)
 *        Default without Accept: a single resource (or resource instance)
 *        in text, opaque resources in opaque(42); objects, instances and
 *        multi-instance resources in TLV (1.0/1.1) or SenML-CBOR (1.2).
 *        Unsupported Accept -> 4.06; missing path -> 4.04; executable
 *        resource -> 4.05.
 *   GET  path Accept 40           Discover (?depth=0..3), attributes shown
 *   GET  path Observe 0           Observe: libcoap subscription, notified on
 *        every harness_device_set_value under the path and every pmax s
 *   GET  path Observe 1 / RST     cancel (libcoap's handling)
 *   PUT  path payload             Write-Replace (instance: the resources
 *        given replace the instance; resource: replaces it) -> 2.04;
 *        unsupported Content-Format 4.15, undecodable 4.00, R-only 4.05
 *   PUT  path ?pmin=&pmax=&gt=&lt=&st=&epmin=&epmax=&edge=&con= (no payload)
 *        Write-Attributes -> 2.04 (kept; "pmin" alone removes pmin)
 *   POST /o/i payload, iPATCH /o/i Write-Update -> 2.04
 *   POST /o/i/r [args]            Execute -> 2.04 (args recorded), 4.05
 *        when not executable
 *   POST /o payload               Create -> 2.01 + Location-Path /o/i
 *        (instance id from the payload, else the lowest free one)
 *   DELETE /o/i                   Delete -> 2.02
 *   FETCH / (SenML paths)         Read-Composite (Accept: senml-json,
 *        senml-cbor, lwm2m-cbor; default: the request's format); + Observe
 *        0 = Observe-Composite
 *   iPATCH / (SenML values)       Write-Composite -> 2.04
 *   1.0 devices answer FETCH/iPATCH with 4.05.
 *
 * BOOTSTRAP CLIENT ROLE (lwm2m_device_bootstrap.c): see
 * harness_device_bootstrap().
 *
 * THREADS.  Without harness_device_start_thread() everything runs on the
 * caller's thread: the blocking calls and harness_device_run() pump
 * libcoap.  With it, a device thread owns the loop and every function
 * here may be called from any thread (they take the device's mutex; the
 * blocking calls wait on a condition variable).  harness_device_context()
 * must not be used while the thread runs.
 *
 * CoAP codes are returned as class*100 + detail: 201, 204, 404; -1 when no
 * answer came before the deadline (harness_device_dtls_failed() then says
 * whether the handshake was refused).
 *
 * harness_raw_*: send bytes exactly as captured (the raw_hex of
 * /work/shared/captures/<client>/NN-*.json) over a plain UDP socket and
 * decode the answer, acknowledging a separate CON response.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_H
#define LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct harness_device;

struct harness_device_options {
    const char *server;            /* "127.0.0.1:5683" or "[::1]:5684" */
    const char *psk_identity;      /* NULL: plain CoAP; else DTLS-PSK */
    const uint8_t *psk_key;
    size_t psk_key_len;
    uint16_t local_port;           /* 0: ephemeral */
    const char *cert_file;         /* X.509 instead of PSK: the device's */
    const char *key_file;          /*   certificate and key (PEM), and the */
    const char *ca_file;           /*   CA that signed the server's */
    const char *rpk_key_file;      /* RPK instead: the device's EC key (PEM) */
    const uint8_t *cert_der;       /* X.509 from buffers instead (issue 7): the */
    size_t cert_der_len;           /*   device certificate (DER, <= 2048 bytes) */
    const uint8_t *key_der;        /*   and its EC private key (PKCS#8 DER, */
    size_t key_der_len;            /*   <= 512); the server is not verified */
    /* ---- LwM2M behaviour (all optional; zero = default) ---- */
    const char *version;           /* "1.0", "1.1" (default), "1.2": formats,
                                    * defaults, lwm2m= in Register and
                                    * BS-Discover, composite support */
    const char *models_dir;        /* extra DDF directory; default: the
                                    * source tree's tests/data/models */
    bool no_server_instance;       /* start without /1/0 */
    uint16_t server_ssid;          /* ssid of /1/0; default 101 */
    /* Its bootstrap account /0/<bs_instance> (Bootstrap-Server true);
     * present whatever the values.  bs_uri defaults to "coap://" or
     * "coaps://" + server.  The PSK of the account defaults to
     * psk_identity / psk_key above. */
    uint16_t bs_instance;          /* default 0 */
    const char *bs_uri;
    const char *bs_psk_identity;
    const uint8_t *bs_psk_key;
    size_t bs_psk_key_len;
};

/* NULL (message on stderr) when the address is bad or the session cannot
 * be created.  DTLS handshakes start with the first request. */
struct harness_device *harness_device_new(const struct harness_device_options *o);

/* Frees the session and context; over DTLS libcoap sends a close_notify
 * (an orderly shutdown).  harness_device_crash is the power-cut variant. */
void harness_device_free(struct harness_device *d);

/* Drops the device without any goodbye: the socket is closed and the
 * DTLS state forgotten, as a power cut would. */
void harness_device_crash(struct harness_device *d);

/*
 * harness_device_register -- POST /rd with query (NULL-terminated list of
 * "ep=dev-1", "lt=60", ...; sent as separate Uri-Query options, in order)
 * and links (link-format payload; NULL for none).  location receives
 * "rd/<id>" from the 2.01's Location-Path.  Returns the code or -1.
 */
int harness_device_register(struct harness_device *d, const char *const query[],
                            const char *links, int64_t timeout_ms, char *location,
                            size_t cap);

/* POST /<location>?query with optional links.  Returns the code or -1. */
int harness_device_update(struct harness_device *d, const char *location,
                          const char *const query[], const char *links, int64_t timeout_ms);

/* DELETE /<location>.  Returns the code or -1. */
int harness_device_deregister(struct harness_device *d, const char *location,
                              int64_t timeout_ms);

/* Any request: method COAP_REQUEST_CODE_*, path "a/b/c" (may be ""),
 * query as above (may be NULL), payload (may be NULL) with content format
 * cf (-1 = none). */
int harness_device_request(struct harness_device *d, coap_pdu_code_t method, const char *path,
                           const char *const query[], const char *payload, int cf,
                           int64_t timeout_ms, char *location, size_t cap);

/* Keeps waiting for the answer to the last request (after one of the
 * calls above returned -1 on its deadline).  Returns the code or -1. */
int harness_device_wait(struct harness_device *d, int64_t timeout_ms, char *location,
                        size_t cap);

/* Drives I/O for ms (answers server requests meanwhile). */
void harness_device_run(struct harness_device *d, int64_t ms);

/* True once a DTLS handshake of this device failed or was refused. */
bool harness_device_dtls_failed(const struct harness_device *d);

/* The local port the session uses (after the first request). */
uint16_t harness_device_local_port(const struct harness_device *d);

coap_context_t *harness_device_context(struct harness_device *d);

/* "1.0", "1.1" or "1.2" (options.version).  Borrowed. */
const char *harness_device_version(const struct harness_device *d);

/* ---- registration helpers built from the tree ---- */

/*
 * harness_device_links -- the Register payload for the current tree:
 * </>;rt="oma.lwm2m";ct=<formats> (1.1+), then </1/0>,</3/0>,</5/0>,
 * </32769/0>,... (1.0: ct= only for TLV; objects 0 and 21 never listed).
 * Returns the length written (truncated to cap-1), or 0.
 */
size_t harness_device_links(struct harness_device *d, char *buf, size_t cap);

/*
 * harness_device_register_lwm2m -- POST /rd?ep=<endpoint>&lt=<lifetime_s>
 * &lwm2m=<version>&b=<binding> with harness_device_links() as payload.
 * binding NULL = "U"; queue true adds "Q" (1.1+: the Q query parameter;
 * 1.0: b=UQ).  extra_query (NULL-terminated, may be NULL) is appended.
 * location receives "rd/<id>".  Returns the code or -1.
 */
int harness_device_register_lwm2m(struct harness_device *d, const char *endpoint,
                                  int64_t lifetime_s, const char *binding, bool queue,
                                  const char *const extra_query[], int64_t timeout_ms,
                                  char *location, size_t cap);

/* ---- the device thread ---- */

/* Runs libcoap's loop on a thread of the device's own until
 * harness_device_stop_thread() (harness_device_free() stops it too).
 * Returns false when the thread could not start. */
bool harness_device_start_thread(struct harness_device *d);
void harness_device_stop_thread(struct harness_device *d);

/* ---- values (thread-safe) ----
 * path: "/32769/0/1" or "/32769/0/9/1" (leading slash optional).
 * Text form of a value, by resource type (same as LwM2M plain text, except
 * opaque, which is HEX here for readability): string/corelnk as is,
 * integer/unsigned/time decimal, float "%.17g" (shortest), boolean "1"/"0"
 * ("true"/"false" accepted), objlnk "3:0", opaque lower-case hex "0a0b". */

/*
 * harness_device_set_value -- set one resource (or resource instance) from
 * its text form, typed by the model; creates the instance (and resource)
 * when missing.  Notifies observers of the path and of its parents (a
 * notification goes out on the next loop turn).  Returns false (message on
 * stderr) when the path is not a resource path of a known object, or the
 * text does not fit the type.
 */
bool harness_device_set_value(struct harness_device *d, const char *path, const char *text);

/* As above with raw bytes for opaque resources (1 MB is fine). */
bool harness_device_set_opaque(struct harness_device *d, const char *path,
                               const uint8_t *bytes, size_t len);

/*
 * harness_device_set_values -- apply an API JSON document
 * {"values":[{"path":..,"type":..,"value":..}]} (lwm2m/api_json.h; type may
 * be omitted) as one change; observers notified once.  false on bad JSON.
 */
bool harness_device_set_values(struct harness_device *d, const char *values_json);

/*
 * harness_device_get_value -- the text form of a resource or resource
 * instance, written into buf (NUL-terminated, truncated to cap-1).
 * Returns false when the path holds no value.  For a multi-instance
 * resource path it gives "0=10,1=20" (ri=text pairs).
 */
bool harness_device_get_value(struct harness_device *d, const char *path, char *buf,
                              size_t cap);

/* The bytes of an opaque (or string) resource: *out is malloc'ed (caller
 * frees), *len its size.  false when there is no such value. */
bool harness_device_get_opaque(struct harness_device *d, const char *path, uint8_t **out,
                               size_t *len);

/* Every value under path ("/" = all) as API JSON {"values":[...]}, sorted.
 * Caller frees; NULL when nothing is there. */
char *harness_device_get_json(struct harness_device *d, const char *path);

/* True when the object instance exists ("/32769/1"). */
bool harness_device_has_instance(struct harness_device *d, const char *path);

/* Creates an empty-ish instance with the object's defaults ("/32769/3"):
 * 32769 instances get the same default values as /32769/0.  false when it
 * exists or the object is unknown. */
bool harness_device_add_instance(struct harness_device *d, const char *path);

/*
 * harness_device_last_execute -- args of the last Execute received on path
 * ("/32769/0/10") into buf ("" for no args).  Returns the number of
 * Executes that path received so far (0: never, buf then "").
 */
unsigned harness_device_last_execute(struct harness_device *d, const char *path, char *buf,
                                     size_t cap);

/* The Write-Attributes kept for path, as "pmin=10&pmax=60" (query order
 * normalised: pmin pmax gt lt st epmin epmax edge con); "" when none.
 * Returns false when none are set. */
bool harness_device_attributes(struct harness_device *d, const char *path, char *buf,
                               size_t cap);

/*
 * harness_device_request_count -- how many requests the device handled
 * with method (COAP_REQUEST_CODE_GET, ...; 0 = any) on exactly path ("/"
 * for FETCH/iPATCH on the root; NULL = any path), including ones answered
 * by failure injection, not counting notifications.
 */
unsigned harness_device_request_count(struct harness_device *d, coap_pdu_code_t method,
                                      const char *path);

/* Notifications the device generated (the Read handler re-run for an
 * observer), all paths together. */
unsigned harness_device_notify_count(struct harness_device *d);

/* Content-Format of the last answer with a payload the device sent (Read,
 * Discover, notification), or -1. */
int harness_device_last_format(struct harness_device *d);

/* ---- Send (1.1+) ---- */

/*
 * harness_device_send -- POST /dp with the current values of paths
 * (NULL-terminated, e.g. {"/3/0/9", "/32769/0/1", NULL}) encoded in format
 * (LWM2M_FORMAT_SENML_CBOR, _SENML_JSON, _LWM2M_CBOR; 0 = SenML-CBOR).
 * Returns the code or -1.
 */
int harness_device_send(struct harness_device *d, unsigned format, const char *const paths[],
                        int64_t timeout_ms);

/* As above with explicit values: an API JSON {"values":[...]} document
 * (need not exist in the tree; "time" is kept as SenML time). */
int harness_device_send_values(struct harness_device *d, unsigned format,
                               const char *values_json, int64_t timeout_ms);

/* ---- queue mode ---- */

/* Asleep: datagrams reaching the device are read and dropped (no ACK, no
 * answer), as a sleeping radio would; libcoap's timers stop.  Wake
 * resumes normal service (it does not send anything by itself: register
 * an Update or a Send to tell the server). */
void harness_device_sleep(struct harness_device *d);
void harness_device_wake(struct harness_device *d);
bool harness_device_asleep(struct harness_device *d);

/* ---- failure injection ---- */

/*
 * harness_device_fail_next -- the next request with method (0 = any) on
 * path (exactly; NULL = any) is answered with code (class*100+detail, e.g.
 * 400, 500) instead of being handled.  (To play a device that does not
 * answer, use harness_device_sleep().)
 * Several can be queued (up to 16); each fires once.  Applies to DM and
 * bootstrap requests alike (BS-Write of /1/0: method PUT, path "/1/0").
 */
void harness_device_fail_next(struct harness_device *d, coap_pdu_code_t method,
                              const char *path, int code);

/* ---- bootstrap client role ---- */

struct harness_bs_result {
    int pack_code;        /* answer to GET /bspack; 0 = not tried, -1 none */
    int request_code;     /* answer to POST /bs; 0 = not sent, -1 none */
    bool finished;        /* Bootstrap-Finish received (or a pack applied) */
    int finish_code;      /* what the device answered to it: 204 or 406 */
    unsigned discovers, reads, writes, deletes; /* BS operations handled */
    unsigned failed_writes; /* writes answered 4.xx (decode, injected) */
};

/*
 * harness_device_bootstrap -- run the client side of a bootstrap with the
 * server the device is connected to (options.server = the bootstrap
 * server).  try_pack: first GET /bspack?ep=<endpoint> (Accept SenML-CBOR,
 * 1.2); a 2.05 pack is applied as BS-Writes of every value and ends the
 * bootstrap (no POST /bs); any other answer falls back to POST
 * /bs?ep=<endpoint>[&pct=<pct>] (pct < 0: no pct; endpoint NULL: no ep=,
 * as a DTLS client whose identity names it may do).  Then the device serves
 * bootstrap requests until Bootstrap-Finish or the deadline:
 *   GET Accept 40 on / or /o   BS-Discover: </>;lwm2m=1.x (not for 1.0),
 *        </0/i>;ssid=..;uri="..", </1/i>;ssid=.., other instances
 *   GET /1, /2 (and /1/i ...)  BS-Read (default format as for Read;
 *        Accept honoured); other objects 4.05
 *   PUT /o, /o/i, /o/i/r       BS-Write: TLV (11542, 1542), SenML JSON,
 *        SenML CBOR, LwM2M CBOR, OMA JSON -> 2.04; creates instances;
 *        bad payload 4.00, unknown format 4.15
 *   DELETE / /o /o/i           BS-Delete -> 2.02; never deletes its own
 *        bootstrap account (/0 instance with 1=true) nor /3/0
 *   POST /bs                   Bootstrap-Finish: 2.04 when at least one /0
 *        non-bootstrap instance has a /1 instance with its ssid, else 4.06
 *        (and the device keeps waiting)
 * Returns false when the deadline passed before Bootstrap-Finish got 2.04
 * (result still filled).  result may be NULL.
 */
bool harness_device_bootstrap(struct harness_device *d, const char *endpoint, double pct,
                              bool try_pack, int64_t timeout_ms,
                              struct harness_bs_result *result);

/* A server account the bootstrap wrote (or the tree holds). */
struct harness_device_account {
    uint16_t security_instance;   /* /0/i */
    uint16_t server_instance;     /* /1/j with the same ssid; 65535 = none */
    char uri[256];                /* /0/i/0 */
    uint16_t ssid;                /* /0/i/10 */
    int security_mode;            /* /0/i/2: 0 PSK 1 RPK 2 cert 3 NoSec */
    char identity[256];           /* /0/i/3 as text (PSK identity) */
    uint8_t key[256];             /* /0/i/5 */
    size_t key_len;
    uint8_t public_key[1024];     /* /0/i/3 raw bytes (RPK/cert) */
    size_t public_key_len;
    int64_t lifetime_s;           /* /1/j/1; 0 = not set */
    char binding[16];             /* /1/j/7 */
};

/*
 * harness_device_server_account -- the index-th (0-based, by /0 instance
 * id) non-bootstrap account.  Returns false when there are fewer.
 */
bool harness_device_server_account(struct harness_device *d, unsigned index,
                                   struct harness_device_account *out);

/* How many non-bootstrap /0 instances the tree holds. */
unsigned harness_device_server_account_count(struct harness_device *d);

/*
 * harness_device_new_for_account -- a fresh device that talks to the
 * account's URI ("coaps://127.0.0.1:5684" -> "127.0.0.1:5684") with its
 * PSK (security mode 0), its certificate (mode 2: /0/x/3 certificate DER,
 * /0/x/5 PKCS#8 private key DER) or plain CoAP (mode 3); same version as
 * d, and a copy of d's tree (so the new device carries the bootstrapped
 * objects).  NULL (message on stderr) for other modes or a bad URI.
 */
struct harness_device *harness_device_new_for_account(struct harness_device *d,
                                                      const struct harness_device_account *a);

/* ---- Bootstrap-Request Trigger (Execute /1/x/9; issue 7) ----
 * The device answers the Execute 2.04 and counts it; the test then plays
 * what a real client does next: a client-initiated bootstrap with its
 * bootstrap account's server (a new session, as a real client opens one),
 * then Register with the account the bootstrap wrote.  The old device
 * keeps its session until the test frees it. */

/* The bootstrap account (/0/i with Bootstrap-Server true).  false: none. */
bool harness_device_bootstrap_account(struct harness_device *d,
                                      struct harness_device_account *out);

/* Executes of /1/x/9 received so far (any x). */
unsigned harness_device_bootstrap_triggers(struct harness_device *d);

/* Serves requests until more than seen triggers arrived or the deadline;
 * returns the count (> seen when one came). */
unsigned harness_device_wait_bootstrap_trigger(struct harness_device *d, unsigned seen,
                                               int64_t timeout_ms);

/* A fresh device on the bootstrap account's server with its PSK and a copy
 * of d's tree: run harness_device_bootstrap on it (or inject failures
 * first, to play an interrupted bootstrap).  NULL on error. */
struct harness_device *harness_device_new_for_bootstrap(struct harness_device *d);

/*
 * harness_device_rebootstrap -- the whole reaction: bootstrap with the
 * bootstrap account's server as endpoint (POST /bs), then Register
 * (lifetime_s) with the first server account the bootstrap wrote,
 * retrying a refused handshake until the deadline (lodestar-server loads
 * freshly issued keys on a notification).  Returns the new registered
 * device (caller frees), or NULL: result (may be NULL) says how the
 * bootstrap went, *register_code (may be NULL) the last Register answer
 * (0 = not tried, -1 = none).  location gets "rd/<id>".
 */
struct harness_device *harness_device_rebootstrap(struct harness_device *d,
                                                  const char *endpoint, int64_t lifetime_s,
                                                  int64_t timeout_ms,
                                                  struct harness_bs_result *result,
                                                  int *register_code, char *location,
                                                  size_t cap);

/* ---- raw datagrams ---- */

/* Reads the "raw_hex" field of a capture JSON file into buf.  Returns the
 * byte count, or -1. */
long harness_capture_raw(const char *json_path, uint8_t *buf, size_t cap);

struct harness_raw_answer {
    int code;              /* class*100+detail; -1: none before the deadline */
    bool separate;         /* came as a separate CON response (we ACKed it) */
    int64_t ack_ms;        /* ms from sending to an empty ACK; -1: none came */
    char location[128];    /* Location-Path joined with '/' ("rd/abc") */
};

/* Sends dgram from a fresh UDP socket (or fd >= 0: the caller's socket) to
 * server ("127.0.0.1:5683") and waits for the response matching its token.
 * Returns answer->code. */
int harness_raw_exchange(int fd, const char *server, const uint8_t *dgram, size_t len,
                         int64_t timeout_ms, struct harness_raw_answer *answer);

#endif /* LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_H */
