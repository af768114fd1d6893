/*
 * tools/sim_firmware.h -- /5/0/0 (Firmware Update: Package) of a
 * simulated client: block-wise writes (Block1, RFC 7959) and, so that a
 * test can compare what arrived, block-wise reads (Block2) of the package
 *
 * A client keeps nothing until the server writes a package: the state is
 * one heap object per client that received one.  The package may be up to
 * SIM_FIRMWARE_MAX bytes; blocks must come in order (4.08 otherwise).
 * Reads of /5/0/0 answer the package as opaque (or in the Accept format),
 * in blocks of at most 1024 bytes or the size the request's Block2 asks.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_FIRMWARE_H
#define LODESTAR_TOOLS_SIM_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "tools/sim_coap.h"
#include "tools/sim_stats.h"

#define SIM_FIRMWARE_MAX (4u << 20)

struct sim_firmware {
    uint8_t *package;        /* the last complete package */
    size_t package_len;
    uint8_t *upload;         /* the one being received */
    size_t upload_len, upload_cap;
};

/* True for /5/0/0, which sim_firmware_serve answers. */
bool sim_firmware_path(const struct lwm2m_path *path);

/*
 * sim_firmware_serve -- answers a request on /5/0/0: GET (Read, Block2),
 * PUT / POST with payload (Write, Block1; 2.31 Continue until the last
 * block).  *fw is created on the first write.  *what says what was served
 * (a Read on its first block, a Write on its last, else OTHER).
 */
void sim_firmware_serve(struct sim_firmware **fw, const struct sim_coap_parsed *req,
                        const struct lwm2m_model *model, struct sim_coap_msg *resp,
                        enum sim_served *what);

void sim_firmware_free(struct sim_firmware *fw);

#endif /* LODESTAR_TOOLS_SIM_FIRMWARE_H */
