/* sim_rdp.c — the device side of the Random PIN OTM */
#include "sim_rdp.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmn_log.h"

static void
s_pin_path(const sim_device_t *dev, char *out, size_t len, const char *suffix)
{
    (void) snprintf(out, len, "%s/pin.txt%s", dev->dir, suffix);
}

void
sim_rdp_forget_pin(sim_device_t *dev)
{
    if (!dev->has_pin) {
        return;
    }
    OPENSSL_cleanse(dev->pin, sizeof dev->pin);
    dev->has_pin = false;
    if (dev->dir[0]) {
        char path[600];
        s_pin_path(dev, path, sizeof path, "");
        (void) unlink(path);
    }
}

cmn_err_t
sim_rdp_show_pin(sim_device_t *dev)
{
    sim_rdp_forget_pin(dev);
    cmn_err_t err = cmn_psk_rdp_pin(dev->pin);
    if (err != CMN_OK) {
        return err;
    }
    dev->has_pin = true;
    /* The PIN is on the "display" (pin.txt) only: no log may hold a secret. */
    cmn_log_notice("SIM-RDP-PIN", "dev=%d shows a PIN (pin.txt)", dev->idx);
    if (dev->dir[0] == '\0') {
        return CMN_OK;
    }
    char tmp[600], path[600], line[CMN_RDP_PIN_LEN + 2];
    s_pin_path(dev, tmp, sizeof tmp, ".tmp");
    s_pin_path(dev, path, sizeof path, "");
    int n = snprintf(line, sizeof line, "%s\n", dev->pin);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    err = CMN_OK;
    if (fd < 0 || write(fd, line, (size_t) n) != n || fsync(fd) != 0) {
        err = CMN_ESYS | (cmn_err_t) errno;
    }
    if (fd >= 0 && close(fd) != 0 && err == CMN_OK) {
        err = CMN_ESYS | (cmn_err_t) errno;
    }
    if (err == CMN_OK && rename(tmp, path) != 0) {
        err = CMN_ESYS | (cmn_err_t) errno;
    }
    OPENSSL_cleanse(line, sizeof line);
    if (err != CMN_OK) {
        (void) unlink(tmp);
        cmn_log_err("SIM-RDP-PIN", "dev=%d cannot write %s: %s", dev->idx, path, cmn_strerror(err));
    }
    return err;
}

cmn_err_t
sim_rdp_psk(const sim_device_t *dev, const char *identity, uint8_t out[CMN_PSK_LEN])
{
    if (!dev->has_pin || identity == NULL || strcmp(identity, CMN_RDP_IDENTITY) != 0) {
        return CMN_ENOTFOUND;
    }
    return cmn_psk_rdp_ppsk(dev->pin, dev->doxm.deviceuuid.b, out);
}

void
sim_rdp_hint(const sim_device_t *dev, char out[CMN_RDP_HINT_MAX + 1])
{
    cmn_uuid_t uuid = dev->doxm.deviceuuid;
    if (dev->fault == SIM_FAULT_BAD_HINT) {
        for (size_t i = 0; i < sizeof uuid.b; i++) {
            uuid.b[i] = (uint8_t) (uuid.b[i] ^ 0x5a);
        }
    }
    size_t n = cmn_psk_rdp_hint(uuid.b, dev->is_legacy_hint, (uint8_t *) out);
    out[n] = '\0';
}
