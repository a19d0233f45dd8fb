/* cmn_ep_test.c — coap:// and coaps:// endpoint parsing and formatting */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_ep.h"

Test(cmn_ep, ipv4_with_port)
{
    cmn_ep_t ep;
    char out[80];
    cr_assert_eq(cmn_ep_parse("coap://1.2.3.4:5683", &ep), CMN_OK);
    cr_assert_not(ep.is_secure);
    cr_assert_str_eq(ep.host, "1.2.3.4");
    cr_assert_eq(ep.port, 5683);
    cmn_ep_format(&ep, out, sizeof out);
    cr_assert_str_eq(out, "coap://1.2.3.4:5683");
}

Test(cmn_ep, ipv6_zone)
{
    cmn_ep_t ep;
    char out[80];
    cr_assert_eq(cmn_ep_parse("coaps://[fe80::1%lo]:5684", &ep), CMN_OK);
    cr_assert(ep.is_secure);
    cr_assert_str_eq(ep.host, "fe80::1%lo");
    cr_assert_eq(ep.port, 5684);
    cmn_ep_format(&ep, out, sizeof out);
    cr_assert_str_eq(out, "coaps://[fe80::1%lo]:5684");
}

Test(cmn_ep, default_ports)
{
    cmn_ep_t ep;
    cr_assert_eq(cmn_ep_parse("coap://127.0.0.1", &ep), CMN_OK);
    cr_assert_eq(ep.port, 5683);
    cr_assert_eq(cmn_ep_parse("coaps://[::1]", &ep), CMN_OK);
    cr_assert_eq(ep.port, 5684);
    cr_assert_str_eq(ep.host, "::1");
    cr_assert_eq(cmn_ep_parse("coaps://10.0.0.1:40001", &ep), CMN_OK);
    cr_assert_eq(ep.port, 40001);
}

Test(cmn_ep, rejects_names_and_garbage)
{
    cmn_ep_t ep;
    const char *bad[] = {"",
                         "coap://localhost:5683",
                         "http://1.2.3.4:80",
                         "coap://1.2.3.4:",
                         "coap://1.2.3.4:99999",
                         "coap://1.2.3.4:0x10",
                         "coap://1.2.3:5683",
                         "coap://[::1:5683",
                         "coap://::1:5683",
                         "coap://1.2.3.4:5683/path",
                         "coaps://[zz::1]:5684",
                         "coap://"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cmn_ep_parse(bad[i], &ep), CMN_EINVAL, "%s", bad[i]);
    }
}
