/*
 * tools/sim_device.h -- the LwM2M object tree of one simulated client and
 * its answers to the server's device management requests
 *
 * Objects: 0 Security (not readable by the server: 4.01), 1 Server, 3
 * Device, 3303 Temperature whose Sensor Value changes with time.  The tree
 * is not stored: values are computed from the few fields of struct
 * sim_dev, so a client costs tens of bytes here.  Payloads go through
 * lwm2m/ (lwm2m_format_encode/decode) in the format the request's Accept
 * or Content-Format names, else the client's default format.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_DEVICE_H
#define LODESTAR_TOOLS_SIM_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "tools/sim_coap.h"
#include "tools/sim_stats.h"

struct sim_dev {
    uint32_t idx;             /* client number: seeds the values */
    int32_t lifetime_s;       /* /1/0/1, writable */
    bool queue;               /* binding "UQ" */
    bool update_due;          /* Execute /1/0/8 asked for an Update */
    uint16_t reboots;         /* Execute /3/0/4 */
    char utc_offset[8];       /* /3/0/14, writable */
};

/* The temperature (/3303/0/5700) at time now_s (epoch seconds). */
double sim_device_temperature(const struct sim_dev *d, double now_s);

/*
 * sim_device_read -- appends the values at or below path to out.
 * LS_ENOTFOUND when nothing is there, LS_EINVAL for /0 (the Security
 * object is not the server's to read).
 */
enum ls_rc sim_device_read(const struct sim_dev *d, const struct lwm2m_path *path, double now_s,
                           struct lwm2m_data *out, struct ls_error *err) LS_MUST_CHECK;

/*
 * sim_device_encode -- the values at path in format (0 = def_format; a
 * single resource in a multi-value default format is fine).  Returns the
 * CoAP response code to send (2.05, 4.04, 4.01, 4.06) and fills out.
 */
unsigned sim_device_encode(const struct sim_dev *d, const struct lwm2m_path *path,
                           unsigned format, double now_s, const struct lwm2m_model *model,
                           struct lwm2m_buf *out);

/*
 * sim_device_handle -- answers a server request other than Observe:
 * Read, Discover (GET with Accept 40), Write (PUT / POST with payload),
 * Execute (POST without payload on an executable resource).  Builds the
 * piggy-backed response in resp and says which kind it was in *what.
 */
void sim_device_handle(struct sim_dev *d, const struct sim_coap_parsed *req,
                       const struct lwm2m_path *path, unsigned def_format, double now_s,
                       const struct lwm2m_model *model, struct sim_coap_msg *resp,
                       enum sim_served *what);

/* The Register payload: "</>;rt=\"oma.lwm2m\";ct=..,</1/0>,</3/0>,</3303/0>". */
const char *sim_device_links(unsigned def_format);

#endif /* LODESTAR_TOOLS_SIM_DEVICE_H */
