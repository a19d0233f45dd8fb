/* sim_coap.h — a simulated device's CoAP and DTLS endpoints (libcoap server) */
#ifndef SIM_COAP_H
#define SIM_COAP_H

#include <stdbool.h>
#include <sys/socket.h>

#include "sim_device.h"
#include "sim_store.h"

/* Process-wide setup (the throwaway certificate libcoap's PKI setup needs). */
cmn_err_t sim_coap_init(void);
void sim_coap_fini(void);

/* Opens dev's context on dev->address with dev->udp_port/dev->dtls_port (0 = pick
 * free ports and store them in dev). State changes go to sim_store_changed with
 * store_mode. */
cmn_err_t sim_coap_start(sim_device_t *dev, sim_store_mode_t store_mode);
void sim_coap_stop(sim_device_t *dev);

/* libcoap's epoll fd of this device, for the process loop. */
int sim_coap_fd(const sim_device_t *dev);

/* Runs pending I/O and timers of this device without blocking. */
void sim_coap_process(sim_device_t *dev);

/* Socket address of "ADDR" or "fe80::1%IFACE" and port. CMN_EINVAL if unparseable or
 * the zone is no interface. */
cmn_err_t sim_coap_sockaddr(const char *addr,
                            uint16_t port,
                            struct sockaddr_storage *ret,
                            socklen_t *ret_len);

/* Closes every session (rebuilds the context on the same ports): used by resets. */
cmn_err_t sim_coap_restart(sim_device_t *dev);

#endif
