/* fuzz_disc.c — libFuzzer harness of the discovery reply path of the gateway: one UDP
 * datagram from anyone on the link -> gw_disc_parse_reply (CoAP 2.05 with our token)
 * -> the payload as a doxm reply and as an /oic/res reply -> the endpoints of its
 * links merged into a device (gw_disc_merge_eps), as gw_disc.c does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cmn_svr.h"
#include "fuzz_check.h"
#include "gw_disc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The token of the seeds (tests/fuzz/corpus/disc/). */
static const uint8_t S_TOKEN[8] = {0x6f, 0x62, 0x74, 0x2d, 0x66, 0x75, 0x7a, 0x7a};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *payload = NULL;
    size_t len = 0;
    if (gw_disc_parse_reply(data, size, S_TOKEN, &payload, &len) != CMN_OK) {
        return 0;
    }
    FUZZ_CHECK(payload >= data && len > 0 && len <= size && payload + len == data + size,
               "disc: payload is not the tail of the datagram");
    cmn_doxm_t doxm;
    (void) cmn_doxm_decode(payload, len, &doxm);
    cmn_res_t res;
    if (cmn_res_decode(payload, len, &res) != CMN_OK) {
        return 0;
    }
    static const gw_scope_t order[] = {GW_SCOPE_LINK, GW_SCOPE_IPV4, GW_SCOPE_SITE};
    gw_disc_device_t dev;
    memset(&dev, 0, sizeof dev);
    for (size_t i = 0; i < res.n_links; i++) {
        const cmn_link_t *l = &res.links[i];
        const char *eps[CMN_LINK_MAX_EPS];
        for (size_t e = 0; e < l->n_eps; e++) {
            eps[e] = l->eps[e];
        }
        gw_disc_merge_eps(&dev, eps, l->n_eps, i % 2 ? "lo" : "", order,
                          sizeof order / sizeof order[0]);
        FUZZ_CHECK(dev.n_eps <= GW_DISC_MAX_EPS, "disc: more endpoints than a device keeps");
        for (size_t e = 0; e < dev.n_eps; e++) {
            FUZZ_CHECK(memchr(dev.eps[e], 0, sizeof dev.eps[e]) != NULL,
                       "disc: endpoint not terminated");
        }
    }
    cmn_res_free(&res);
    return 0;
}
