/* fuzz_ff00_handshake.c — libFuzzer harness of the 0xFF00 handshake and record parsing
 * (common/cmn_ff00.h). The first byte picks the side under test:
 *   0: a fresh server takes the datagrams (ClientHello parsing, cookies);
 *   1: a started client takes them (HelloVerifyRequest, ServerHello,
 *      ServerKeyExchange, ServerHelloDone, alerts, fragments);
 *   2: a server that a real client engine brought past the cookie exchange
 *      (ClientKeyExchange, ChangeCipherSpec, Finished, epoch-1 records).
 * The rest is datagrams, each [len:2][bytes]; the clock advances 300 ms between them
 * and the timers run. Properties: no crash or leak, every state is one of the
 * enum's, a failed session has a reason, and nothing is sent beyond the MTU. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cmn_ff00.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_drain(cmn_ff00_t *e)
{
    uint8_t d[CMN_FF00_MTU];
    size_t n;
    while ((n = cmn_ff00_output(e, d, sizeof d)) > 0) {
        FUZZ_CHECK(n <= CMN_FF00_MTU, "datagram beyond the MTU");
    }
}

/* Moves datagrams from a to b; returns how many. */
static size_t
s_move(cmn_ff00_t *a, cmn_ff00_t *b)
{
    uint8_t d[CMN_FF00_MTU];
    size_t n, k = 0;
    while ((n = cmn_ff00_output(a, d, sizeof d)) > 0) {
        (void) cmn_ff00_input(b, d, n, 0);
        k++;
    }
    return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t peer[] = {10, 0, 0, 1, 0x16, 0x34};
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0] % 3;
    data++;
    size--;
    cmn_ff00_cfg_t sc = {.is_server = true,
                         .cookie_key = (const uint8_t *) "fuzz",
                         .cookie_key_len = 4,
                         .peer = peer,
                         .peer_len = sizeof peer};
    cmn_ff00_cfg_t cc = {.is_server = false};
    cmn_ff00_t *e = cmn_ff00_new(mode == 1 ? &cc : &sc);
    FUZZ_CHECK(e != NULL, "new failed");
    if (mode == 1) {
        FUZZ_CHECK(cmn_ff00_start(e, 0) == CMN_OK, "start failed");
        s_drain(e);
    } else if (mode == 2) {
        cmn_ff00_t *c = cmn_ff00_new(&cc);
        FUZZ_CHECK(c != NULL && cmn_ff00_start(c, 0) == CMN_OK, "client start failed");
        (void) s_move(c, e); /* ClientHello */
        (void) s_move(e, c); /* HelloVerifyRequest */
        (void) s_move(c, e); /* ClientHello with the cookie */
        FUZZ_CHECK(cmn_ff00_deadline(e) != 0, "server did not answer the cookie");
        cmn_ff00_destroy(&c);
        s_drain(e);
    }
    uint64_t now = 0;
    while (size >= 2) {
        size_t n = ((size_t) data[0] << 8) | data[1];
        data += 2;
        size -= 2;
        n = n < size ? n : size;
        (void) cmn_ff00_input(e, data, n, now);
        data += n;
        size -= n;
        now += 300;
        (void) cmn_ff00_tick(e, now);
        s_drain(e);
        cmn_ff00_state_t st = cmn_ff00_state(e);
        FUZZ_CHECK(st < CMN_FF00_STATE_COUNT, "state out of range");
        FUZZ_CHECK(st != CMN_FF00_FAILED || cmn_ff00_error(e)[0] != '\0',
                   "failed without a reason");
        uint8_t app[CMN_FF00_MAX_PLAIN];
        size_t k = 0;
        while (cmn_ff00_read(e, app, sizeof app, &k) == CMN_OK) {
            FUZZ_CHECK(st == CMN_FF00_ESTABLISHED || st == CMN_FF00_CLOSED,
                       "application data before the handshake");
        }
    }
    cmn_ff00_destroy(&e);
    return 0;
}
