/* cmn_gws_test.c — the --gateway value: one bare endpoint or NAME=ENDPOINT lists, and
 * the reasons a bad one is refused with */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_gws.h"

static cmn_err_t
s_check(const char *spec, char *why, size_t len)
{
    why[0] = '\0';
    return cmn_gws_check(spec, why, len);
}

Test(cmn_gws, a_bare_endpoint_and_named_lists_are_accepted)
{
    char why[300];
    cr_assert_eq(s_check("tcp://127.0.0.1:7400", why, sizeof why), CMN_OK, "%s", why);
    cr_assert_eq(s_check("ipc:///tmp/x=y/gw.sock", why, sizeof why), CMN_OK, "%s", why);
    cr_assert_eq(s_check("gw-a=tcp://10.0.0.1:7400,gw_b.2=ipc:///run/gw-b.sock", why, sizeof why),
                 CMN_OK, "%s", why);
}

Test(cmn_gws, bad_values_are_refused_with_the_reason)
{
    char why[300];
    cr_assert_eq(s_check("", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "no gateway") != NULL, "%s", why);
    cr_assert_eq(s_check("a=tcp://h:1,a=tcp://h:2", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "\"a\" is listed twice") != NULL, "%s", why);
    cr_assert_eq(s_check("gw a=tcp://h:1", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "only letters, digits") != NULL, "%s", why);
    cr_assert_eq(s_check("=tcp://h:1", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "1 to 31 characters") != NULL, "%s", why);
    cr_assert_eq(s_check("gw-a=nowhere", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "is not an endpoint") != NULL, "%s", why);
    cr_assert_eq(s_check("gw-a=tcp://h:1,", why, sizeof why), CMN_OK, "a trailing comma: %s", why);
}

Test(cmn_gws, names)
{
    cr_assert(cmn_gw_name_is_valid("gw"));
    cr_assert(cmn_gw_name_is_valid("site-1.gw_b"));
    cr_assert_not(cmn_gw_name_is_valid(""));
    cr_assert_not(cmn_gw_name_is_valid("a/b"));
    cr_assert_not(cmn_gw_name_is_valid("0123456789012345678901234567890123"));
}

/* One heartbeat of gw: sent, then its outcome (health NULL = no answer). */
static void
s_beat(cmn_gw_t *gw, const Obt__HealthReply *health)
{
    cr_assert(cmn_live_is_due(&gw->live, UINT64_MAX / 2));
    cmn_gw_beat_sent(gw);
    (void) cmn_live_on_beat(&gw->live, health, 1000);
    cmn_gw_beat_done(gw);
}

Test(cmn_gws, a_silent_call_is_judged_by_the_next_heartbeat)
{
    cmn_gw_t gw;
    memset(&gw, 0, sizeof gw);
    cmn_live_init(&gw.live, 2000);
    Obt__HealthReply h = OBT__HEALTH_REPLY__INIT;
    h.boot_id = 7;
    h.uptime_ms = 100;
    s_beat(&gw, &h);
    uint64_t boot = gw.live.boot_id;

    /* alive: pending until a heartbeat sent after the suspicion is answered */
    uint32_t ticket = cmn_gw_suspect(&gw);
    cr_assert_eq(gw.live.next_ms, 0, "the next heartbeat is due at once");
    cr_assert_eq(cmn_gw_verdict(&gw, ticket, boot), CMN_GW_PENDING);
    h.uptime_ms = 2100;
    s_beat(&gw, &h);
    cr_assert_eq(cmn_gw_verdict(&gw, ticket, boot), CMN_GW_ALIVE);

    /* no answer: away at once, whatever the ticket */
    ticket = cmn_gw_suspect(&gw);
    s_beat(&gw, NULL);
    cr_assert_eq(cmn_gw_verdict(&gw, ticket, boot), CMN_GW_AWAY);
    cr_assert_eq(cmn_gw_verdict(&gw, ticket + 5, boot), CMN_GW_AWAY);

    /* answers again as another instance: the call went to the one that died */
    ticket = cmn_gw_suspect(&gw);
    h.boot_id = 8;
    h.uptime_ms = 50;
    s_beat(&gw, &h);
    cr_assert_eq(cmn_gw_verdict(&gw, ticket, boot), CMN_GW_AWAY);
    cr_assert_eq(cmn_gw_verdict(&gw, ticket, gw.live.boot_id), CMN_GW_ALIVE);
    cr_assert_eq(cmn_gw_verdict(&gw, ticket, 0), CMN_GW_ALIVE, "boot id unknown: same instance");
}
