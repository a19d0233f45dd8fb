/* rdp_test.c — the Random PIN OTM (oxm 1) end to end, and the choice of the OTM by
 * DOTS's policy: PIN from the device's pin.txt, both PSK identity hint formats, a wrong
 * PIN and the retry, a policy that forbids Just Works, a device whose hint names
 * another UUID. Every device is checked on its own SVRs (ocf-devsim --dump). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "obt_checks.h"
#include "obt_json.h"

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim, s_sim2;

static void
s_start_n(const char *const *dots_flags,
          int count,
          const char *oxms,
          const char *faults,
          const char *const *sim_flags)
{
    s_dir = obt_tmpdir("rdp");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, dots_flags), 0, "the suite did not start");
    const char *extra[8] = {"--oxms", oxms};
    size_t k = 2;
    for (size_t i = 0; sim_flags && sim_flags[i] && k < 7; i++) {
        extra[k++] = sim_flags[i];
    }
    extra[k] = NULL;
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, count, faults, extra), 0,
                 "devsim did not start");
}

static void
s_start(const char *const *dots_flags,
        const char *oxms,
        const char *faults,
        const char *const *sim_flags)
{
    s_start_n(dots_flags, 1, oxms, faults, sim_flags);
}

static void
s_setup(void)
{
    s_start(NULL, "0,1", NULL, NULL);
}

static void
s_setup_legacy(void)
{
    static const char *const legacy[] = {"--rdp-legacy-hint", NULL};
    s_start(NULL, "1", NULL, legacy);
}

static void
s_setup_bad_hint(void)
{
    s_start(NULL, "1", "0:bad-hint", NULL);
}

static void
s_teardown(void)
{
    if (s_sim2.pid) {
        (void) obt_proc_stop(&s_sim2);
    }
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl(&s_suite, args, out);
}

static void
s_dump_all(void)
{
    obt_suite_dump(&s_suite);
    obt_proc_dump(&s_sim);
    if (s_sim2.pid) {
        obt_proc_dump(&s_sim2);
    }
}

/* Runs obtctl args and asserts its exit code (dumping every log when it differs). */
static void
s_expect(const char *const *args, int want_rc)
{
    char *out = NULL;
    int rc = s_ctl(args, &out);
    if (rc != want_rc) {
        s_dump_all();
    }
    cr_assert_eq(rc, want_rc, "obtctl %s %s: exit %d: %s", args[0], args[1], rc, out);
    free(out);
}

/* Waits for DOTS to ask for the PIN (dumping every log if it does not). */
static void
s_wait_pin_asked(void)
{
    if (obt_proc_wait_log(&s_suite.dots, "DOTS-WAIT-PIN", 20000) != 0) {
        s_dump_all();
        cr_assert_fail("DOTS did not reach WAIT_PIN in 20 s");
    }
}

/* Discovers and approves every device. */
static void
s_discover_approve(int expected)
{
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, expected, &out), 0, "discovery: %s", out);
}

/* The uuid (first one DOTS knows) of the device whose oxms JSON is oxms ("[1]"). */
static void
s_uuid_with_oxms(const char *oxms, char uuid[40])
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL, *objs[8];
    cr_assert_eq(s_ctl(list, &out), 0);
    size_t n = obt_json_objects(out, objs, 8);
    free(out);
    char want[32];
    (void) snprintf(want, sizeof want, "\"oxms\":%s", oxms);
    uuid[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (strstr(objs[i], want) && uuid[0] == '\0') {
            cr_assert(obt_json_str(objs[i], "uuid", uuid, 40));
        }
        free(objs[i]);
    }
    cr_assert(uuid[0], "no device with oxms %s", oxms);
}

/* DOTS's record of one device (obtctl --json show), malloc'd. */
static char *
s_show(const char *uuid)
{
    char *out = obt_show(&s_suite, uuid);
    cr_assert_not_null(out, "show %s failed", uuid);
    return out;
}

static void
s_pin_path(const char *dir, int idx, char *out, size_t len)
{
    (void) snprintf(out, len, "%s/devices/dev-%04d/pin.txt", dir, idx);
}

static void
s_read_file(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_not_null(fgets(out, (int) len, f));
    (void) fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* Checks the one dumped device of dir: onboarded with every check of the JW test,
 * doxm oxmsel = 1, and DOTS's DOC cipher 0xC037. */
static void
s_check_rdp_onboarded(const char *dir)
{
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL, *objs[8], why[300], uuid[40];
    cr_assert_eq(s_ctl(list, &out), 0);
    cr_assert(strstr(out, "\"state\":\"RFNOP\"") != NULL, "not RFNOP: %s", out);
    free(out);
    size_t n = obt_devsim_dump(dir, objs, 8);
    cr_assert_eq(n, 1);
    cr_assert(obt_json_str(objs[0], "uuid", uuid, sizeof uuid));
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "\"state\":\"RFNOP\"") != NULL, "%s", shown);
    cr_assert(strstr(shown, "\"oxmsel\":1") != NULL, "DOTS did not select RDP: %s", shown);
    cr_assert(strstr(shown, "\"cipher\":\"ECDHE-PSK-AES128-CBC-SHA256\"") != NULL, "%s", shown);
    cr_assert(obt_json_str(shown, "sd_uuid", ids.sd, sizeof ids.sd));
    free(shown);
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    cr_assert(obt_check_onboarded(objs[0], &ids, store, why, sizeof why), "%s", why);
    cr_assert(strstr(objs[0], "\"oxmsel\":1") != NULL, "device doxm.oxmsel is not 1: %s", objs[0]);
    free(objs[0]);
}

Test(rdp, pin_from_pin_txt_to_rfnop, .init = s_setup, .fini = s_teardown, .timeout = 120)
{
    s_discover_approve(1);
    char uuid[40], pin_file[700];
    s_uuid_with_oxms("[0,1]", uuid);
    s_pin_path(s_dir, 0, pin_file, sizeof pin_file);
    /* obtctl waits for WAIT_PIN, then reads the PIN the device shows. */
    const char *onboard[] = {"onboard", uuid, "--otm", "rdp", "--pin-file", pin_file, NULL};
    s_expect(onboard, 0);
    s_check_rdp_onboarded(s_dir);
    cr_assert_eq(obt_proc_log_count(&s_suite.dots, "DOTS-WAIT-PIN"), 1);
    /* The device "shows" a PIN without logging it; that no log of any process holds it,
     * even at debug level, is secrets_test.c's. */
    cr_assert_gt(obt_proc_log_count(&s_sim, "SIM-RDP-PIN"), 0);
    cr_assert_gt(obt_proc_log_count(&s_sim, "shows a PIN (pin.txt)"), 0);
}

Test(rdp,
     legacy_hint_and_pin_given_later,
     .init = s_setup_legacy,
     .fini = s_teardown,
     .timeout = 120)
{
    s_discover_approve(1);
    char uuid[40], pin_file[700];
    s_uuid_with_oxms("[1]", uuid);
    /* The default policy (mfg,rdp,jw) picks RDP; obtctl returns at once. */
    const char *onboard[] = {"onboard", uuid, "--no-wait", NULL};
    cr_assert_eq(s_ctl(onboard, NULL), 0);
    s_wait_pin_asked();
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "\"state\":\"WAIT_PIN\"") != NULL, "%s", shown);
    free(shown);
    s_pin_path(s_dir, 0, pin_file, sizeof pin_file);
    struct stat st;
    cr_assert_eq(stat(pin_file, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "pin.txt must be 0600");
    const char *pin[] = {"pin", uuid, "--pin-file", pin_file, NULL};
    s_expect(pin, 0);
    s_check_rdp_onboarded(s_dir);
}

/* One device (oxms JW and RDP) discovered, approved, onboarded with rdp and given a
 * wrong PIN: its job fails. uuid and the path of its pin.txt are returned. */
static void
s_wrong_pin_fails(char uuid[40], char *pin_file, size_t pin_file_len)
{
    s_discover_approve(1);
    char wrong_file[700], pin[32];
    s_uuid_with_oxms("[0,1]", uuid);
    const char *onboard[] = {"onboard", uuid, "--otm", "rdp", "--no-wait", NULL};
    cr_assert_eq(s_ctl(onboard, NULL), 0);
    s_wait_pin_asked();
    s_pin_path(s_dir, 0, pin_file, pin_file_len);
    s_read_file(pin_file, pin, sizeof pin);
    cr_assert_eq(strlen(pin), 8, "pin.txt: \"%s\"", pin);
    pin[0] = (char) ('0' + (pin[0] - '0' + 1) % 10);
    (void) snprintf(wrong_file, sizeof wrong_file, "%s/wrong-pin.txt", s_dir);
    FILE *f = fopen(wrong_file, "w");
    cr_assert_not_null(f);
    (void) fprintf(f, "%s\n", pin);
    (void) fclose(f);
    const char *give[] = {"pin", uuid, "--pin-file", wrong_file, NULL};
    s_expect(give, 1); /* a wrong PIN fails the job */
}

Test(rdp,
     wrong_pin_fails_cleanly_and_retry_succeeds,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    char uuid[40], pin_file[700];
    s_wrong_pin_fails(uuid, pin_file, sizeof pin_file);
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "\"state\":\"FAILED\"") != NULL, "%s", shown);
    cr_assert(strstr(shown, "wrong PIN") != NULL, "%s", shown);
    cr_assert(strstr(shown, uuid) != NULL, "the error names the device: %s", shown);
    cr_assert(strstr(shown, "\"owned\":false") != NULL, "%s", shown);
    free(shown);
    char store[700], hex[33];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    obt_dots_owner_psk_hex(store, uuid, hex);
    cr_assert_str_empty(hex, "DOTS stored an owner credential after a wrong PIN");

    /* The device: still RFOTM, same UUID, not owned, PIN forgotten. */
    char *objs[4], v[64];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 4), 1);
    cr_assert(obt_json_str(objs[0], "uuid", v, sizeof v));
    cr_assert_str_eq(v, uuid);
    cr_assert(strstr(objs[0], "\"owned\":false") != NULL, "%s", objs[0]);
    cr_assert(obt_json_str(strstr(objs[0], "\"pstat\":"), "state", v, sizeof v));
    cr_assert_str_eq(v, "RFOTM");
    free(objs[0]);
    cr_assert_neq(access(pin_file, F_OK), 0, "the device still shows the old PIN");

    /* Retry: a new PIN is shown and works. */
    const char *again[] = {"onboard", uuid, "--otm", "rdp", "--pin-file", pin_file, NULL};
    s_expect(again, 0);
    s_check_rdp_onboarded(s_dir);
}

/* A failure before the DOC with the device keeping its uuid (here a wrong PIN) is queued
 * again by `onboard --all` too, not only by naming it (issue 9). */
Test(rdp,
     a_wrong_pin_is_retried_by_onboard_all,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    char uuid[40], pin_file[700];
    s_wrong_pin_fails(uuid, pin_file, sizeof pin_file);

    static const char *const all[] = {"onboard", "--all", "--no-wait", NULL};
    s_expect(all, 0);
    cr_assert_eq(obt_proc_wait_log_count(&s_suite.dots, "DOTS-WAIT-PIN", 2, 20000), 0,
                 "onboard --all did not queue the job again");
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "\"state\":\"WAIT_PIN\"") != NULL, "not queued again: %s", shown);
    free(shown);
    const char *right[] = {"pin", uuid, "--pin-file", pin_file, NULL};
    s_expect(right, 0);
    s_check_rdp_onboarded(s_dir);
}

static void
s_setup_policy(void)
{
    static const char *const strict[] = {"--otm-policy", "rdp", NULL};
    s_start(strict, "0", NULL, NULL);
    char dir2[600];
    (void) snprintf(dir2, sizeof dir2, "%s/rdp-devices", s_dir);
    cr_assert_eq(mkdir(dir2, 0700), 0);
    static const char *const rdp_only[] = {"--oxms", "1", NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim2, dir2, 1, NULL, rdp_only), 0);
}

Test(rdp,
     policy_without_jw_refuses_a_jw_device_untouched,
     .init = s_setup_policy,
     .fini = s_teardown,
     .timeout = 120)
{
    s_discover_approve(2);
    char jw[40], rdp[40];
    s_uuid_with_oxms("[0]", jw);
    s_uuid_with_oxms("[1]", rdp);
    char *before[4], *after[4];
    cr_assert_eq(obt_devsim_dump(s_dir, before, 4), 1);

    /* A request may not widen DOTS's policy. */
    const char *widen[] = {"onboard", jw, "--otm", "jw", NULL};
    char *out = NULL;
    cr_assert_neq(s_ctl(widen, &out), 0, "--otm jw accepted against --otm-policy rdp");
    free(out);
    const char *onboard[] = {"onboard", jw, NULL};
    s_expect(onboard, 1);
    char *shown = s_show(jw);
    cr_assert(strstr(shown, "\"state\":\"FAILED\"") != NULL, "%s", shown);
    cr_assert(strstr(shown, "device offers oxms [0]; policy allows [rdp]") != NULL, "%s", shown);
    free(shown);
    cr_assert_eq(obt_devsim_dump(s_dir, after, 4), 1);
    cr_assert_str_eq(after[0], before[0], "the refused device was changed");
    cr_assert(strstr(after[0], "\"owned\":false") != NULL);
    free(before[0]);
    free(after[0]);

    char dir2[600], pin_file[700];
    (void) snprintf(dir2, sizeof dir2, "%s/rdp-devices", s_dir);
    s_pin_path(dir2, 0, pin_file, sizeof pin_file);
    const char *ok[] = {"onboard", rdp, "--pin-file", pin_file, NULL};
    s_expect(ok, 0);
    s_check_rdp_onboarded(dir2);
}

Test(rdp,
     device_that_changes_its_uuid_in_the_hint_is_refused,
     .init = s_setup_bad_hint,
     .fini = s_teardown,
     .timeout = 120)
{
    s_discover_approve(1);
    char uuid[40], pin_file[700];
    s_uuid_with_oxms("[1]", uuid);
    s_pin_path(s_dir, 0, pin_file, sizeof pin_file);
    const char *onboard[] = {"onboard", uuid, "--pin-file", pin_file, NULL};
    s_expect(onboard, 1);
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "device changed its UUID in the PIN hint") != NULL, "%s", shown);
    cr_assert(strstr(shown, "\"owned\":false") != NULL, "%s", shown);
    free(shown);
    char *objs[4];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 4), 1);
    cr_assert(strstr(objs[0], "\"owned\":false") != NULL, "%s", objs[0]);
    free(objs[0]);
}

Test(rdp, wait_pin_survives_a_dots_restart, .init = s_setup, .fini = s_teardown, .timeout = 120)
{
    s_discover_approve(1);
    char uuid[40], pin_file[700];
    s_uuid_with_oxms("[0,1]", uuid);
    const char *onboard[] = {"onboard", uuid, "--otm", "rdp", "--no-wait", NULL};
    s_expect(onboard, 0);
    s_wait_pin_asked();
    cr_assert_eq(obt_proc_stop(&s_suite.dots), 0, "DOTS did not stop cleanly");
    cr_assert_eq(obt_suite_restart(&s_suite, "dots", NULL), 0, "DOTS did not restart");
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "\"state\":\"WAIT_PIN\"") != NULL, "%s", shown);
    cr_assert(strstr(shown, "\"otm\":\"rdp\"") != NULL, "%s", shown);
    free(shown);
    s_pin_path(s_dir, 0, pin_file, sizeof pin_file);
    const char *pin[] = {"pin", uuid, "--pin-file", pin_file, NULL};
    s_expect(pin, 0);
    s_check_rdp_onboarded(s_dir);
}

static void
s_setup_bound(void)
{
    static const char *const one[] = {"--max-in-flight", "1", "--log-level", "info", NULL};
    s_start_n(one, 3, "1", NULL, NULL);
}

/* Waits until DOTS's log holds token n times. */
static void
s_wait_count(const char *token, int n, int timeout_ms)
{
    for (int waited = 0; obt_proc_log_count(&s_suite.dots, token) < n; waited += 50) {
        if (waited >= timeout_ms) {
            s_dump_all();
            cr_assert_fail("DOTS logged \"%s\" %d times, want %d", token,
                           obt_proc_log_count(&s_suite.dots, token), n);
        }
        (void) usleep(50 * 1000);
    }
}

Test(rdp,
     pins_given_together_resume_their_jobs_within_the_in_flight_bound,
     .init = s_setup_bound,
     .fini = s_teardown,
     .timeout = 120)
{
    enum { N = 3 };
    s_discover_approve(N);
    const char *onboard[] = {"onboard", "--all", "--otm", "rdp", "--no-wait", NULL};
    s_expect(onboard, 0);
    /* A job in WAIT_PIN gives its slot back: with one slot, all three get there. */
    s_wait_count("DOTS-WAIT-PIN", N, 30000);
    char *objs[N];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, N), N);
    for (int i = 0; i < N; i++) {
        char uuid[40], pin_file[700];
        cr_assert(obt_json_str(objs[i], "uuid", uuid, sizeof uuid));
        free(objs[i]);
        s_pin_path(s_dir, i, pin_file, sizeof pin_file);
        const char *pin[] = {"pin", uuid, "--pin-file", pin_file, "--no-wait", NULL};
        s_expect(pin, 0);
    }
    /* the job lines read below: each comes a moment after its DOTS-RFNOP notice */
    s_wait_count("--OK--> RFNOP", N, 60000);

    /* From the first PIN on, the jobs in flight are those resumed by a PIN and not
     * ended yet (RFNOP or FAILED): never more than the one slot. */
    FILE *f = fopen(s_suite.dots.log, "r");
    cr_assert_not_null(f);
    char line[1024];
    int resumed = 0, ended = 0, most = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "DOTS-JOB dev=") == NULL) {
            continue;
        }
        if (strstr(line, " WAIT_PIN --PIN--> ") != NULL) {
            resumed++;
        } else if (resumed > 0 &&
                   (strstr(line, "--> RFNOP") != NULL || strstr(line, "--> FAILED") != NULL)) {
            ended++;
        }
        most = resumed - ended > most ? resumed - ended : most;
    }
    (void) fclose(f);
    cr_assert_eq(resumed, N, "jobs resumed by a PIN: %d", resumed);
    cr_assert_eq(ended, N);
    cr_assert_eq(most, 1, "%d jobs ran at once after their PINs with --max-in-flight 1", most);
}
