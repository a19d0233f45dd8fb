/* ctl_json_test.c — obtctl's JSON string escaping */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_main.h"

static void
s_check(const char *in, const char *want)
{
    char buf[256];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cr_assert_not_null(f);
    ctl_json_str(f, in);
    (void) fclose(f);
    cr_assert_str_eq(buf, want);
}

Test(ctl_json, plain_text_is_quoted_as_is)
{
    s_check("RFNOP", "\"RFNOP\"");
    s_check("", "\"\"");
    s_check(NULL, "\"\"");
}

Test(ctl_json, quotes_and_backslashes_are_escaped)
{
    s_check("say \"hi\"", "\"say \\\"hi\\\"\"");
    s_check("C:\\dir", "\"C:\\\\dir\"");
}

Test(ctl_json, control_characters_become_unicode_escapes)
{
    s_check("a\nb\tc\x01", "\"a\\u000ab\\u0009c\\u0001\"");
    s_check("\x1f", "\"\\u001f\"");
}

Test(ctl_json, utf8_passes_through)
{
    s_check("caf\xc3\xa9 \xe2\x9c\x93", "\"caf\xc3\xa9 \xe2\x9c\x93\"");
}
