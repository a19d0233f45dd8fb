/* ctl_main.c — obtctl: global options, the command table, the call helper */
#include "ctl_main.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_zep.h"
#include "ctl_args.h"
#include "ctl_fanout.h"
#include "obt/dots.pb-c.h"

static const char *const s_names[4] = {"gateway", "dots", "cms", "ams"};

static const struct {
    const char *name;
    int (*fn)(const ctl_opts_t *o, int argc, char **argv);
    const char *help;
} s_cmds[] = {
        {"keys", ctl_cmd_keys, "keys --dir DIR [--force]      create CURVE keys for every party"},
        {"discover", ctl_cmd_discover,
         "discover [--window-ms N] [--rounds N] [--scope LIST] [--iface LIST]\n"
         "           [--endpoint coap://H:P]...  find unowned devices"},
        {"devices", ctl_cmd_devices,
         "devices [--state S] [--all]   list the devices DOTS knows (S in any case; --all: "
         "superseded too)"},
        {"approve", ctl_cmd_approve,
         "approve UUID...|--all         approve taking ownership\n"
         "  approve UUID --endpoint EP    ... of a uuid several endpoints claimed: keep EP's "
         "claim"},
        {"onboard", ctl_cmd_onboard,
         "onboard UUID...|--all [--otm mfg|rdp|jw|LIST] [--pin-file F|--pin -] [--no-wait] "
         "[--wait-s N]  take them to RFNOP"},
        {"pin", ctl_cmd_pin, "pin UUID [--pin-file F|--pin -]  give the Random PIN a device shows"},
        {"show", ctl_cmd_show, "show UUID                     one device in DOTS, CMS and AMS"},
        {"reset", ctl_cmd_reset,
         "reset UUID [--forget]         reset a device, forget it in DOTS, CMS and AMS"},
        {"forget", ctl_cmd_forget,
         "forget UUID                   drop the records of a device no longer ours (not RFNOP)"},
        {"repair", ctl_cmd_repair,
         "repair UUID                   soft reset: services correct the device, back to RFNOP"},
        {"watch", ctl_cmd_watch,
         "watch [UUID...] [--until-done]  follow job transitions as DOTS publishes them"},
        {"health", ctl_cmd_health, "health                        is every daemon up?"},
        {"mfg-trust", ctl_cmd_mfg_trust,
         "mfg-trust add FILE.pem|list|rm ID  manufacturer trust anchors (certificate OTM)"},
        {"kek", ctl_cmd_kek,
         "kek new FILE... | rotate --store-dir DIR --old FILE --new FILE  key-encryption keys "
         "of the stores' secrets"},
        {"acl", ctl_cmd_acl,
         "acl UUID | acl add|set|rm UUID ...  a device's ACEs through AMS (obtctl acl --help)"},
        {"allow", ctl_cmd_allow,
         "allow A B --res R --perm P    an ACE on device B for device A (subject uuid:A)"},
        {"deny", ctl_cmd_deny, "deny A B                      remove what allow A B placed"},
        {"ca", ctl_cmd_ca, "ca show | export [--out FILE]  the domain CA of obt-cms"},
        {"certs", ctl_cmd_certs, "certs [UUID]                  the certificates CMS issued"},
        {"cert", ctl_cmd_cert,
         "cert revoke UUID|SERIAL [--reason R] | renew UUID | role UUID --role NAME [--authority A]"
         "\n                                revoke (CRL pushed), renew, a role certificate"},
        {"crl", ctl_cmd_crl, "crl show [--pem]              the CRL of the domain CA"},
        {"pair", ctl_cmd_pair,
         "pair A B [--oscore]           a pairwise PSK (or OSCORE) on A and B (CMS)"},
        {"unpair", ctl_cmd_unpair,
         "unpair A B                    remove the pairwise PSK of A and B"},
        {"links", ctl_cmd_links,
         "links [UUID]                  CMS's pairwise links (of one device)"},
        {"group", ctl_cmd_group,
         "group create NAME --client U --servers U1,U2 [--subject U] [--desc T] | add|rm NAME "
         "UUID | rekey|delete NAME  SSM groups (CMS)"},
        {"groups", ctl_cmd_groups, "groups [NAME]                 CMS's SSM groups"},
        {"creds", ctl_cmd_creds, "creds UUID                    the device's credentials (CMS)"},
        {"cred", ctl_cmd_cred, "cred rm UUID CREDID           remove one of them (a CMS job)"},
};

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: obtctl [global options] COMMAND [options]\n\n"
                 "Operator command line of the OCF Onboarding Tool.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++) {
        fprintf(out, "  %s\n", s_cmds[i].help);
    }
    fprintf(out,
            "\nGlobal options (environment in brackets):\n"
            "  --keys-dir DIR    CURVE keys made by `obtctl keys` [OBT_KEYS_DIR] (default ./keys)\n"
            "  --key NAME        our key: DIR/secret/NAME.cert_secret [OBT_KEY] (default obtctl;\n"
            "                    a daemon's own key is enough for `health`, docs/security.md)\n"
            "  --dots EP         obt-dots endpoint [OBT_DOTS] (tcp://127.0.0.1:7401); a list\n"
            "                    or range names instances with parts of the devices\n"
            "                    (obt-dots --parts): each is asked, the replies merged\n"
            "  --cms EP          obt-cms endpoint [OBT_CMS] (tcp://127.0.0.1:7402)\n"
            "  --ams EP          obt-ams endpoint [OBT_AMS] (tcp://127.0.0.1:7403)\n"
            "  --gateway EP      obt-gateway endpoint [OBT_GATEWAY] (tcp://127.0.0.1:7400)\n"
            "  --events EP       obt-dots job events [OBT_EVENTS] (from --dots: port + 10,\n"
            "                    or the ipc:// path + \".events\")\n"
            "  --timeout-ms N    how long to wait for a daemon (10000)\n"
            "  --json            machine-readable output\n"
            "  --help            this text; `obtctl COMMAND --help` for a command\n"
            "Global options go before or after the command (`obtctl devices --json`).\n\n"
            "Exit codes:\n");
    size_t n = 0;
    const ctl_exit_row_t *rows = ctl_exit_rows(&n);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  %-3d %s\n", rows[i].code, rows[i].text);
    }
}

const ctl_exit_row_t *
ctl_exit_rows(size_t *ret_n)
{
#define S_ROW(name, code, text) {(code), (text)},
    static const ctl_exit_row_t rows[] = {CTL_EXIT_TABLE(S_ROW)};
#undef S_ROW
    *ret_n = sizeof rows / sizeof rows[0];
    return rows;
}

static const char *
s_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

int
ctl_call(const ctl_opts_t *o,
         int which,
         const ProtobufCMessage *msg,
         uint64_t corr_id,
         int timeout_ms,
         uint8_t **ret_data,
         size_t *ret_len)
{
    cmn_err_t err = CMN_OK;
    /* a gateway's own health check runs with its own key (--key gateway-gw-b): the
     * gateway it asks serves with that key too (docs/deploy.md) */
    const char *server = s_names[which];
    if (strcmp(server, "gateway") == 0 && cmn_party_of_name(o->key) == CMN_PARTY_GATEWAY) {
        server = o->key;
    }
    cmn_bus_client_t *c = cmn_bus_client_new(o->ep[which], o->keys_dir, o->key, server, &err);
    if (c == NULL) {
        fprintf(stderr, "obtctl: cannot set up the link to %s (%s) with keys in \"%s\": %s\n",
                s_names[which], o->ep[which], o->keys_dir, cmn_strerror(err));
        return err == CMN_ENOTFOUND ? CTL_EXIT_CONFIG : CTL_EXIT_TIMEOUT;
    }
    err = cmn_bus_client_call(c, msg, corr_id, timeout_ms > 0 ? timeout_ms : o->timeout_ms,
                              ret_data, ret_len);
    cmn_bus_client_destroy(&c);
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: no answer from %s at %s: %s\n", s_names[which], o->ep[which],
                cmn_strerror(err));
        if (err == CMN_ETIMEDOUT) {
            fprintf(stderr,
                    "obtctl: %s is not authorised or not running: is it started, and does its\n"
                    "        --keys-dir hold public/%s.cert from the same `obtctl keys` as\n"
                    "        \"%s\"? (its log names a refused key: SEC-ZAP-DENIED)\n",
                    s_names[which], o->key, o->keys_dir);
        }
        return CTL_EXIT_TIMEOUT;
    }
    return CTL_EXIT_OK;
}

void
ctl_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            fprintf(out, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(out, "\\u%04x", c);
        } else {
            fputc(c, out);
        }
    }
    fputc('"', out);
}

int
ctl_main(int argc, char **argv)
{
    ctl_opts_t o = {
            .keys_dir = s_env("OBT_KEYS_DIR", "keys"),
            .key = s_env("OBT_KEY", "obtctl"),
            .ep = {s_env("OBT_GATEWAY", "tcp://127.0.0.1:7400"),
                   s_env("OBT_DOTS", "tcp://127.0.0.1:7401"),
                   s_env("OBT_CMS", "tcp://127.0.0.1:7402"),
                   s_env("OBT_AMS", "tcp://127.0.0.1:7403")},
            .events = s_env("OBT_EVENTS", NULL),
            .timeout_ms = 10000,
    };
    static const struct option longs[] = {{"keys-dir", required_argument, NULL, 'k'},
                                          {"key", required_argument, NULL, 'K'},
                                          {"dots", required_argument, NULL, 'd'},
                                          {"cms", required_argument, NULL, 'c'},
                                          {"ams", required_argument, NULL, 'a'},
                                          {"gateway", required_argument, NULL, 'g'},
                                          {"events", required_argument, NULL, 'e'},
                                          {"timeout-ms", required_argument, NULL, 't'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    ctl_args_hoist(argc, argv, longs);
    int c;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        switch (c) {
        case 'k':
            o.keys_dir = optarg;
            break;
        case 'K':
            o.key = optarg;
            break;
        case 'd':
            o.ep[CTL_DOTS] = optarg;
            break;
        case 'c':
            o.ep[CTL_CMS] = optarg;
            break;
        case 'a':
            o.ep[CTL_AMS] = optarg;
            break;
        case 'g':
            o.ep[CTL_GW] = optarg;
            break;
        case 'e':
            o.events = optarg;
            break;
        case 't':
            if (ctl_args_int("--timeout-ms", optarg, 1, 3600000, &o.timeout_ms) != 0) {
                return CTL_EXIT_USAGE;
            }
            break;
        case 'j':
            o.json = true;
            break;
        case 'h':
            s_usage(stdout);
            return CTL_EXIT_OK;
        default:
            s_usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        s_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    cmn_log_init("obtctl", CMN_LOG_ERR);
    const char *cmd = argv[optind];
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++) {
        if (strcmp(cmd, s_cmds[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* the command parses its own options (0: getopt starts afresh) */
            return s_cmds[i].fn(&o, sub_argc, sub_argv);
        }
    }
    fprintf(stderr, "obtctl: unknown command \"%s\" (see obtctl --help)\n", cmd);
    return CTL_EXIT_USAGE;
}

int
ctl_dots(const ctl_opts_t *o, Obt__Dots__Request *req, int timeout_ms, Obt__Dots__Reply **ret)
{
    uint8_t *data = NULL;
    size_t len = 0;
    req->corr_id = cmn_bus_next_corr_id();
    if (cmn_zep_count(o->ep[CTL_DOTS]) > 1) {
        /* several instances that split the devices (obt-dots --parts): ask each, merge */
        int rc = ctl_fanout_dots(o, req, timeout_ms, ret);
        if (rc != CTL_EXIT_OK) {
            return rc;
        }
    } else {
        int rc = ctl_call(o, CTL_DOTS, &req->base, req->corr_id, timeout_ms, &data, &len);
        if (rc != CTL_EXIT_OK) {
            return rc;
        }
        *ret = obt__dots__reply__unpack(NULL, len, data);
        free(data);
    }
    if (*ret == NULL) {
        fprintf(stderr, "obtctl: unreadable reply from dots\n");
        return CTL_EXIT_FAILED;
    }
    if ((*ret)->status != OBT__STATUS__STATUS_OK) {
        fprintf(stderr, "obtctl: dots: %s\n", (*ret)->error);
        int rc2 = (*ret)->status == OBT__STATUS__STATUS_ENOTFOUND   ? CTL_EXIT_NOTFOUND
                  : (*ret)->status == OBT__STATUS__STATUS_EINVAL    ? CTL_EXIT_USAGE
                  : (*ret)->status == OBT__STATUS__STATUS_ETIMEDOUT ? CTL_EXIT_TIMEOUT
                                                                    : CTL_EXIT_FAILED;
        obt__dots__reply__free_unpacked(*ret, NULL);
        *ret = NULL;
        return rc2;
    }
    return CTL_EXIT_OK;
}
