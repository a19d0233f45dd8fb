/* cmn_live.c — heartbeats: a peer's answers, failures and restarts */
#include "cmn_live.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmn_time.h"

void
cmn_live_init(cmn_live_t *self, uint32_t period_ms)
{
    memset(self, 0, sizeof *self);
    self->period_ms = period_ms;
}

bool
cmn_live_is_due(cmn_live_t *self, uint64_t mono_ms)
{
    if (self->is_pending || mono_ms < self->next_ms) {
        return false;
    }
    self->is_pending = true;
    self->next_ms = mono_ms + self->period_ms;
    return true;
}

cmn_live_change_t
cmn_live_on_beat(cmn_live_t *self, const Obt__HealthReply *health, uint64_t wall_ms)
{
    self->is_pending = false;
    if (health == NULL) {
        if (self->is_down) {
            return CMN_LIVE_SAME;
        }
        self->is_down = true;
        self->down_since_ms = wall_ms;
        return CMN_LIVE_LOST;
    }
    /* Replies of an earlier instance never arrive late (their corr_ids have expired),
     * so a smaller uptime can only be a new instance. */
    bool is_new_boot =
            self->has_answered &&
            ((health->boot_id != 0 && self->boot_id != 0 && health->boot_id != self->boot_id) ||
             health->uptime_ms < self->uptime_ms);
    bool was_down = self->is_down;
    bool is_first = !self->has_answered;
    self->boot_id = health->boot_id;
    self->uptime_ms = health->uptime_ms;
    self->has_answered = true;
    self->is_down = false;
    if (is_new_boot) {
        return CMN_LIVE_RESTARTED;
    }
    if (was_down) {
        return CMN_LIVE_BACK;
    }
    return is_first ? CMN_LIVE_UP : CMN_LIVE_SAME;
}

bool
cmn_live_is_up(const cmn_live_t *self)
{
    return self->has_answered && !self->is_down;
}

void
cmn_live_down_since(const cmn_live_t *self, char *buf, size_t len)
{
    time_t t = (time_t) (self->down_since_ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%H:%M:%S UTC", &tm) == 0) {
        (void) snprintf(buf, len, "?");
    }
}

uint64_t
cmn_live_new_boot_id(void)
{
    uint64_t id = 0;
    if (RAND_bytes((unsigned char *) &id, sizeof id) != 1) {
        id = cmn_time_wall_ms(); /* still differs from the last start's */
    }
    return id ? id : 1;
}
