/* cmn_svr_types_test.c — wrongly typed CBOR never aborts the SVR codec: every reading
 * helper against items of every type, and every field of every decoder replaced by
 * floats, simple values, tags, indefinite strings, wrong containers and out-of-range
 * integers (libcbor 0.8 asserts, in every build, when its accessors get such items) */
#include <cbor.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmn_svr.h"
#include "cmn_svr_int.h"
#include "obt_cbor.h"

#define U_DEV "11111111-2222-4333-8444-555555555555"

#define S_CRASHED ((cmn_err_t) 255) /* what s_in_child returns for a killed child */

/* Runs fn(arg) in a child process: a libcbor assertion there is a failed
 * expectation that names the case, and the test goes on. Returns what fn returned
 * (an exit status: below 255), or S_CRASHED. */
static cmn_err_t
s_in_child(cmn_err_t (*fn)(const void *), const void *arg, const char *what)
{
    (void) fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        _exit((int) fn(arg));
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status), "%s: killed by signal %d (libcbor assertion?)", what,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return WIFEXITED(status) ? (cmn_err_t) WEXITSTATUS(status) : S_CRASHED;
}

/* ---------------------------------------------------------------- items */

static cbor_item_t *
s_chk(cbor_item_t *item)
{
    cr_assert_not_null(item);
    return item;
}

/* A definite text or byte string, or an indefinite one made of chunks. */
static cbor_item_t *
s_text(const char *s)
{
    return s_chk(cbor_build_string(s));
}

static cbor_item_t *
s_indef_text(const char *s)
{
    cbor_item_t *item = s_chk(cbor_new_indefinite_string());
    size_t half = strlen(s) / 2;
    cbor_item_t *a = s_chk(cbor_build_stringn(s, half));
    cbor_item_t *b = s_chk(cbor_build_string(s + half));
    cr_assert(cbor_string_add_chunk(item, a) && cbor_string_add_chunk(item, b));
    cbor_decref(&a);
    cbor_decref(&b);
    return item;
}

static cbor_item_t *
s_indef_bytes(const char *s)
{
    cbor_item_t *item = s_chk(cbor_new_indefinite_bytestring());
    cbor_item_t *a = s_chk(cbor_build_bytestring((const uint8_t *) s, strlen(s)));
    cr_assert(cbor_bytestring_add_chunk(item, a));
    cbor_decref(&a);
    return item;
}

/* Adds key: value to map (both consumed). */
static void
s_kv(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value)
{
    cr_assert(obt_cbor_kv(map, key, value));
}

/* Appends value to array (value consumed). */
static void
s_add_item(cbor_item_t *array, cbor_item_t *value)
{
    cr_assert(obt_cbor_push(array, value));
}

/* A copy of item with every array and map definite (strings stay as they are). */
static cbor_item_t *
s_definite(cbor_item_t *item)
{
    if (cbor_isa_array(item)) {
        size_t n = cbor_array_size(item);
        cbor_item_t *copy = s_chk(cbor_new_definite_array(n));
        for (size_t i = 0; i < n; i++) {
            s_add_item(copy, s_definite(cbor_array_handle(item)[i]));
        }
        return copy;
    }
    if (cbor_isa_map(item)) {
        size_t n = cbor_map_size(item);
        cbor_item_t *copy = s_chk(cbor_new_definite_map(n));
        for (size_t i = 0; i < n; i++) {
            s_kv(copy, s_definite(cbor_map_handle(item)[i].key),
                 s_definite(cbor_map_handle(item)[i].value));
        }
        return copy;
    }
    return cbor_incref(item);
}

/* Serializes item and consumes it. */
static obt_cbor_buf_t
s_ser(cbor_item_t *item)
{
    obt_cbor_buf_t b = obt_cbor_ser(item);
    cr_assert_gt(b.len, 0);
    return b;
}

/* ---------------------------------------------------------------- the helpers */

/* What a helper accepts (bit set = CMN_OK). */
enum {
    G_INT = 1 << 0,   /* cmn_svr_int_range(-5, 5) */
    G_TEXT = 1 << 1,  /* cmn_svr_text, cap 64 */
    G_BOOL = 1 << 2,  /* cmn_svr_bool */
    G_DATA = 1 << 3,  /* cmn_svr_data */
    G_MAP = 1 << 4,   /* cmn_svr_map */
    G_ARRAY = 1 << 5, /* cmn_svr_array, max 2 */
    G_UUID = 1 << 6,  /* cmn_svr_uuid */
    G_KEY = 1 << 7,   /* cmn_svr_key_is(item, "k") */
};

typedef struct {
    const char *name;
    cbor_item_t *(*build)(void);
    unsigned ok; /* G_* */
} s_zoo_t;

static cbor_item_t *
z_uint(void)
{
    return s_chk(cbor_build_uint8(1));
}
static cbor_item_t *
z_uint_huge(void)
{
    return s_chk(cbor_build_uint64(UINT64_MAX));
}
static cbor_item_t *
z_negint(void)
{
    return s_chk(cbor_build_negint8(0)); /* -1 */
}
static cbor_item_t *
z_negint_huge(void)
{
    return s_chk(cbor_build_negint64(UINT64_MAX)); /* -2^64 */
}
static cbor_item_t *
z_text(void)
{
    return s_text("k");
}
static cbor_item_t *
z_text_empty(void)
{
    return s_text("");
}
static cbor_item_t *
z_text_indef(void)
{
    return s_indef_text("k");
}
static cbor_item_t *
z_text_indef_empty(void)
{
    return s_chk(cbor_new_indefinite_string());
}
static cbor_item_t *
z_uuid(void)
{
    return s_text(U_DEV);
}
static cbor_item_t *
z_uuid_indef(void)
{
    return s_indef_text(U_DEV);
}
static cbor_item_t *
z_text_nul(void)
{
    return s_chk(cbor_build_stringn("a\0b", 3));
}
static cbor_item_t *
z_bytes(void)
{
    return s_chk(cbor_build_bytestring((const uint8_t *) "\x01\x02", 2));
}
static cbor_item_t *
z_bytes_indef(void)
{
    return s_indef_bytes("ab");
}
static cbor_item_t *
z_array(void)
{
    cbor_item_t *a = s_chk(cbor_new_definite_array(1));
    s_add_item(a, z_uint());
    return a;
}
static cbor_item_t *
z_array_indef(void)
{
    cbor_item_t *a = s_chk(cbor_new_indefinite_array());
    s_add_item(a, z_uint());
    s_add_item(a, z_uint());
    return a;
}
static cbor_item_t *
z_array_long(void)
{
    cbor_item_t *a = s_chk(cbor_new_indefinite_array());
    for (int i = 0; i < 3; i++) {
        s_add_item(a, z_uint());
    }
    return a;
}
static cbor_item_t *
z_map(void)
{
    cbor_item_t *m = s_chk(cbor_new_definite_map(1));
    s_kv(m, z_text(), z_uint());
    return m;
}
static cbor_item_t *
z_map_indef(void)
{
    cbor_item_t *m = s_chk(cbor_new_indefinite_map());
    s_kv(m, z_text(), z_uint());
    return m;
}
static cbor_item_t *
z_tag(void)
{
    cbor_item_t *v = z_uint();
    cbor_item_t *t = s_chk(cbor_build_tag(1, v));
    cbor_decref(&v);
    return t;
}
static cbor_item_t *
z_tag_text(void)
{
    cbor_item_t *v = z_text();
    cbor_item_t *t = s_chk(cbor_build_tag(0, v));
    cbor_decref(&v);
    return t;
}
static cbor_item_t *
z_half(void)
{
    return s_chk(cbor_build_float2(1.0f));
}
static cbor_item_t *
z_single(void)
{
    return s_chk(cbor_build_float4(1.0f));
}
static cbor_item_t *
z_double(void)
{
    return s_chk(cbor_build_float8(1.0));
}
static cbor_item_t *
z_false(void)
{
    return s_chk(cbor_build_bool(false));
}
static cbor_item_t *
z_true(void)
{
    return s_chk(cbor_build_bool(true));
}
static cbor_item_t *
z_null(void)
{
    return s_chk(cbor_new_null());
}
static cbor_item_t *
z_undef(void)
{
    return s_chk(cbor_new_undef());
}
static cbor_item_t *
z_simple(void)
{
    return s_chk(cbor_build_ctrl(16));
}

static const s_zoo_t s_zoo[] = {
        {"uint 1", z_uint, G_INT},
        {"uint 2^64-1", z_uint_huge, 0},
        {"negint -1", z_negint, G_INT},
        {"negint -2^64", z_negint_huge, 0},
        {"text \"k\"", z_text, G_TEXT | G_DATA | G_KEY},
        {"text \"\"", z_text_empty, G_TEXT | G_DATA},
        {"indefinite text \"k\"", z_text_indef, 0},
        {"indefinite text, no chunks", z_text_indef_empty, 0},
        {"text uuid", z_uuid, G_TEXT | G_DATA | G_UUID},
        {"indefinite text uuid", z_uuid_indef, 0},
        {"text with NUL", z_text_nul, G_DATA},
        {"bytes", z_bytes, G_DATA},
        {"indefinite bytes", z_bytes_indef, 0},
        {"array [1]", z_array, G_ARRAY},
        {"indefinite array [1, 1]", z_array_indef, G_ARRAY},
        {"array of 3 (max 2)", z_array_long, 0},
        {"map {k: 1}", z_map, G_MAP},
        {"indefinite map {k: 1}", z_map_indef, G_MAP},
        {"tag 1(1)", z_tag, 0},
        {"tag 0(\"k\")", z_tag_text, 0},
        {"half float", z_half, 0},
        {"single float", z_single, 0},
        {"double float", z_double, 0},
        {"false", z_false, G_BOOL},
        {"true", z_true, G_BOOL},
        {"null", z_null, 0},
        {"undefined", z_undef, 0},
        {"simple value 16", z_simple, 0},
};

/* Every helper on item; the bits of those that said CMN_OK (checked for the values
 * they give back). Any other result than CMN_OK or CMN_EPROTO is bit 31. */
static unsigned
s_helpers_ok(const cbor_item_t *item)
{
    unsigned ok = 0;
    cmn_err_t err;
    int64_t i = 0;
    if ((err = cmn_svr_int_range(item, -5, 5, &i)) == CMN_OK) {
        ok |= (i == 1 || i == -1) ? G_INT : 1u << 31;
    }
    ok |= err != CMN_OK && err != CMN_EPROTO ? 1u << 31 : 0;
    char text[64];
    if ((err = cmn_svr_text(item, text, sizeof text)) == CMN_OK) {
        ok |= strlen(text) < sizeof text ? G_TEXT : 1u << 31;
    }
    ok |= err != CMN_OK && err != CMN_EPROTO ? 1u << 31 : 0;
    bool b = false;
    if ((err = cmn_svr_bool(item, &b)) == CMN_OK) {
        ok |= G_BOOL;
    }
    ok |= err != CMN_OK && err != CMN_EPROTO ? 1u << 31 : 0;
    uint8_t *data = NULL;
    size_t len = 0;
    bool is_text = false;
    if ((err = cmn_svr_data(item, &data, &len, &is_text)) == CMN_OK) {
        ok |= G_DATA;
        free(data);
    }
    ok |= err != CMN_OK && err != CMN_EPROTO ? 1u << 31 : 0;
    const struct cbor_pair *pairs = NULL;
    size_t n = 0;
    if ((err = cmn_svr_map(item, &pairs, &n)) == CMN_OK) {
        ok |= G_MAP;
        ok |= n == 1 && cmn_svr_key_is(pairs[0].key, "k") ? 0 : 1u << 31;
    }
    ok |= err != CMN_OK && err != CMN_EPROTO ? 1u << 31 : 0;
    cbor_item_t *const *items = NULL;
    if ((err = cmn_svr_array(item, 2, &items, &n)) == CMN_OK) {
        ok |= G_ARRAY;
        for (size_t j = 0; j < n; j++) {
            ok |= cmn_svr_int_range(items[j], 1, 1, &i) == CMN_OK ? 0 : 1u << 31;
        }
    }
    ok |= err != CMN_OK && err != CMN_EPROTO ? 1u << 31 : 0;
    cmn_uuid_t u;
    if ((err = cmn_svr_uuid(item, &u)) == CMN_OK) {
        ok |= G_UUID;
    }
    ok |= err != CMN_OK && err != CMN_EPROTO ? 1u << 31 : 0;
    ok |= cmn_svr_key_is(item, "k") ? G_KEY : 0;
    ok |= cmn_svr_is_baseline(item) ? 1u << 31 : 0;
    return ok;
}

static cmn_err_t
s_run_zoo_built(const void *arg)
{
    const s_zoo_t *z = arg;
    cbor_item_t *item = z->build();
    unsigned ok = s_helpers_ok(item);
    cbor_decref(&item);
    return ok == z->ok ? CMN_OK : CMN_EPROTO;
}

/* The same item serialized and decoded again (what a peer sends). */
static cmn_err_t
s_run_zoo_decoded(const void *arg)
{
    const s_zoo_t *z = arg;
    obt_cbor_buf_t b = s_ser(z->build());
    cbor_item_t *item = NULL;
    cmn_err_t err = cmn_svr_load(b.buf, b.len, &item);
    free(b.buf);
    if (err != CMN_OK) {
        return CMN_ENOTFOUND; /* refused as a whole: also clean */
    }
    unsigned ok = s_helpers_ok(item);
    cbor_decref(&item);
    return ok == z->ok ? CMN_OK : CMN_EPROTO;
}

Test(cmn_svr_types, every_helper_checks_the_type_of_every_kind_of_item)
{
    for (size_t i = 0; i < sizeof s_zoo / sizeof s_zoo[0]; i++) {
        char what[96];
        (void) snprintf(what, sizeof what, "%s (built)", s_zoo[i].name);
        cr_expect_eq(s_in_child(s_run_zoo_built, &s_zoo[i], what), CMN_OK,
                     "%s: a helper gave the wrong answer", what);
        (void) snprintf(what, sizeof what, "%s (decoded)", s_zoo[i].name);
        cmn_err_t err = s_in_child(s_run_zoo_decoded, &s_zoo[i], what);
        /* simple value 16 is not decoded by libcbor 0.8: refused before the helpers */
        cr_expect(err == CMN_OK || (err == CMN_ENOTFOUND && s_zoo[i].build == z_simple), "%s: %s",
                  what, cmn_errname(err));
    }
}

/* ---------------------------------------------------------------- the decoders */

/* A field of a sample document is replaced by what s_odd makes of its good value
 * (s_field names it by path: "dos.s", "aclist2[].subject"). */
typedef cbor_item_t *(*s_odd_fn)(cbor_item_t *good);
static const char *s_field;
static s_odd_fn s_odd;
static bool s_replaced; /* the builder met s_field */

/* good, or what s_odd makes of it when path is the field being replaced. */
static cbor_item_t *
s_v(const char *path, cbor_item_t *good)
{
    if (s_field == NULL || strcmp(path, s_field) != 0) {
        return good;
    }
    s_replaced = true;
    cbor_item_t *odd = s_chk(s_odd(good));
    cbor_decref(&good);
    return odd;
}

/* Adds key: value at path (the key is its last component) to map. */
static void
s_put(cbor_item_t *map, const char *path, cbor_item_t *value)
{
    const char *dot = strrchr(path, '.');
    s_kv(map, s_text(dot ? dot + 1 : path), s_v(path, value));
}

/* Appends an element at path ("rt[]") to array. */
static void
s_add(cbor_item_t *array, const char *path, cbor_item_t *value)
{
    s_add_item(array, s_v(path, value));
}

/* At path "<map>.?": an extra pair whose key is the odd item (value 1). */
static void
s_odd_key(cbor_item_t *map, const char *path)
{
    cbor_item_t *good = s_text("x-odd");
    if (s_field != NULL && strcmp(path, s_field) == 0) {
        s_replaced = true;
        s_kv(map, s_chk(s_odd(good)), z_uint());
    }
    cbor_decref(&good);
}

static cbor_item_t *
s_new_map(void)
{
    return s_chk(cbor_new_indefinite_map());
}

static cbor_item_t *
s_new_array(void)
{
    return s_chk(cbor_new_indefinite_array());
}

static cbor_item_t *
s_strings(const char *path, const char *a, const char *b)
{
    cbor_item_t *arr = s_new_array();
    s_add(arr, path, s_text(a));
    s_add_item(arr, s_text(b));
    return arr;
}

static cbor_item_t *
doc_doxm(void)
{
    cbor_item_t *m = s_new_map();
    cbor_item_t *oxms = s_new_array();
    s_add(oxms, "oxms[]", z_uint());
    s_add_item(oxms, s_chk(cbor_build_uint8(0)));
    s_put(m, "oxms", oxms);
    s_put(m, "oxmsel", s_chk(cbor_build_uint8(0)));
    s_put(m, "sct", s_chk(cbor_build_uint16(9)));
    s_put(m, "owned", z_false());
    s_put(m, "deviceuuid", s_text(U_DEV));
    s_put(m, "devowneruuid", s_text(U_DEV));
    s_put(m, "rowneruuid", s_text(U_DEV));
    s_odd_key(m, "?");
    return m;
}

static cbor_item_t *
doc_pstat(void)
{
    cbor_item_t *m = s_new_map();
    cbor_item_t *dos = s_new_map();
    s_put(dos, "dos.s", z_uint());
    s_put(dos, "dos.p", z_false());
    s_odd_key(dos, "dos.?");
    s_put(m, "dos", dos);
    s_put(m, "isop", z_false());
    s_put(m, "cm", s_chk(cbor_build_uint8(2)));
    s_put(m, "tm", s_chk(cbor_build_uint8(0)));
    s_put(m, "om", s_chk(cbor_build_uint8(4)));
    s_put(m, "sm", s_chk(cbor_build_uint8(4)));
    s_put(m, "rowneruuid", s_text(U_DEV));
    s_odd_key(m, "?");
    return m;
}

static cbor_item_t *
doc_sdi(void)
{
    cbor_item_t *m = s_new_map();
    s_put(m, "uuid", s_text(U_DEV));
    s_put(m, "name", s_text("domain"));
    s_put(m, "priv", z_false());
    s_odd_key(m, "?");
    return m;
}

static cbor_item_t *
s_data(const char *path, cbor_item_t *data, const char *encoding)
{
    char sub[64];
    cbor_item_t *m = s_new_map();
    (void) snprintf(sub, sizeof sub, "%s.data", path);
    s_put(m, sub, data);
    (void) snprintf(sub, sizeof sub, "%s.encoding", path);
    s_put(m, sub, s_text(encoding));
    return m;
}

static cbor_item_t *
doc_creds(void)
{
    cbor_item_t *c = s_new_map();
    s_put(c, "creds[].credid", z_uint());
    s_put(c, "creds[].credtype", z_uint());
    s_put(c, "creds[].subjectuuid", s_text(U_DEV));
    s_put(c, "creds[].credusage", s_text("oic.sec.cred.mfgcert"));
    s_put(c, "creds[].publicdata",
          s_data("creds[].publicdata", s_text("-----BEGIN"), "oic.sec.encoding.pem"));
    s_put(c, "creds[].privatedata",
          s_data("creds[].privatedata", z_bytes(), "oic.sec.encoding.raw"));
    s_odd_key(c, "creds[].?");
    cbor_item_t *creds = s_new_array();
    s_add(creds, "creds[]", c);
    cbor_item_t *m = s_new_map();
    s_put(m, "creds", creds);
    s_put(m, "rowneruuid", s_text(U_DEV));
    s_odd_key(m, "?");
    return m;
}

static cbor_item_t *
s_ace(const char *path, const char *subject_key, cbor_item_t *subject_value)
{
    char sub[64];
    cbor_item_t *ace = s_new_map();
    (void) snprintf(sub, sizeof sub, "%s.aceid", path);
    s_put(ace, sub, z_uint());
    cbor_item_t *subject = s_new_map();
    (void) snprintf(sub, sizeof sub, "%s.subject.%s", path, subject_key);
    s_put(subject, sub, subject_value);
    (void) snprintf(sub, sizeof sub, "%s.subject", path);
    s_put(ace, sub, subject);
    cbor_item_t *res = s_new_map();
    (void) snprintf(sub, sizeof sub, "%s.resources[].href", path);
    s_put(res, sub, s_text("/oic/d"));
    (void) snprintf(sub, sizeof sub, "%s.resources[].wc", path);
    s_put(res, sub, s_text("*"));
    (void) snprintf(sub, sizeof sub, "%s.resources[].if", path);
    s_put(res, sub, s_strings("-", "oic.if.baseline", "oic.if.r"));
    cbor_item_t *resources = s_new_array();
    (void) snprintf(sub, sizeof sub, "%s.resources[]", path);
    s_add(resources, sub, res);
    (void) snprintf(sub, sizeof sub, "%s.resources", path);
    s_put(ace, sub, resources);
    (void) snprintf(sub, sizeof sub, "%s.permission", path);
    s_put(ace, sub, s_chk(cbor_build_uint8(31)));
    return ace;
}

static cbor_item_t *
doc_acl(void)
{
    cbor_item_t *aces = s_new_array();
    s_add(aces, "aclist2[]", s_ace("ace", "uuid", s_text(U_DEV)));
    s_add_item(aces, s_ace("ace2", "conntype", s_text("anon-clear")));
    cbor_item_t *role = s_ace("ace3", "role", s_text("admin"));
    /* a role subject has an authority too */
    for (size_t i = 0; i < cbor_map_size(role); i++) {
        if (cmn_svr_key_is(cbor_map_handle(role)[i].key, "subject")) {
            s_put(cbor_map_handle(role)[i].value, "ace3.subject.authority", s_text("CA"));
        }
    }
    s_add_item(aces, role);
    cbor_item_t *m = s_new_map();
    s_put(m, "aclist2", aces);
    s_put(m, "rowneruuid", s_text(U_DEV));
    s_odd_key(m, "?");
    return m;
}

static cbor_item_t *
doc_res(void)
{
    cbor_item_t *l = s_new_map();
    s_put(l, "[].anchor", s_text("ocf://" U_DEV));
    s_put(l, "[].href", s_text("/oic/sec/doxm"));
    s_put(l, "[].rt", s_strings("[].rt[]", "oic.r.doxm", "x.y"));
    s_put(l, "[].if", s_strings("[].if[]", "oic.if.baseline", "oic.if.rw"));
    cbor_item_t *p = s_new_map();
    s_put(p, "[].p.bm", z_uint());
    s_put(l, "[].p", p);
    cbor_item_t *ep = s_new_map();
    s_put(ep, "[].eps[].ep", s_text("coaps://127.0.0.1:40001"));
    cbor_item_t *eps = s_new_array();
    s_add(eps, "[].eps[]", ep);
    s_put(l, "[].eps", eps);
    s_odd_key(l, "[].?");
    cbor_item_t *links = s_new_array();
    s_add(links, "[]", l);
    return links;
}

static cbor_item_t *
doc_d(void)
{
    cbor_item_t *m = s_new_map();
    s_put(m, "rt", s_strings("rt[]", "oic.wk.d", "oic.d.ams"));
    s_put(m, "di", s_text(U_DEV));
    s_put(m, "piid", s_text(U_DEV));
    s_put(m, "n", s_text("name"));
    s_put(m, "icv", s_text("ocf.2.0.5"));
    s_put(m, "dmv", s_text("ocf.res.1.3.0"));
    s_odd_key(m, "?");
    return m;
}

static cbor_item_t *
doc_vodlist(void)
{
    cbor_item_t *vod = s_new_map();
    s_put(vod, "vods[].n", s_text("vod"));
    s_put(vod, "vods[].di", s_text(U_DEV));
    s_put(vod, "vods[].econame", s_text("BLE"));
    s_odd_key(vod, "vods[].?");
    cbor_item_t *vods = s_new_array();
    s_add(vods, "vods[]", vod);
    cbor_item_t *m = s_new_map();
    s_put(m, "rt", s_strings("rt[]", "oic.r.vodlist", "x"));
    s_put(m, "vods", vods);
    s_odd_key(m, "?");
    return m;
}

/* The odd values a field is replaced by. */
enum {
    O_HALF,
    O_SINGLE,
    O_DOUBLE,
    O_UNDEF,
    O_NULL,
    O_SIMPLE,
    O_INDEF_TEXT,
    O_INDEF_BYTES,
    O_TAG,
    O_NEGINT,
    O_HUGE_UINT,
    O_HUGE_NEGINT,
    O_IN_ARRAY, /* [good] */
    O_IN_MAP,   /* {"x-odd": good} */
    O_COUNT
};

static cbor_item_t *
o_half(cbor_item_t *good)
{
    (void) good;
    return z_half();
}
static cbor_item_t *
o_single(cbor_item_t *good)
{
    (void) good;
    return z_single();
}
static cbor_item_t *
o_double(cbor_item_t *good)
{
    (void) good;
    return z_double();
}
static cbor_item_t *
o_undef(cbor_item_t *good)
{
    (void) good;
    return z_undef();
}
static cbor_item_t *
o_null(cbor_item_t *good)
{
    (void) good;
    return z_null();
}
static cbor_item_t *
o_simple(cbor_item_t *good)
{
    (void) good;
    return z_simple();
}
/* The good text in two chunks, or "1" when the good value is no text. */
static cbor_item_t *
o_indef_text(cbor_item_t *good)
{
    char text[128] = "1";
    if (cbor_isa_string(good)) {
        cr_assert_eq(cmn_svr_text(good, text, sizeof text), CMN_OK);
    }
    return s_indef_text(text);
}
static cbor_item_t *
o_indef_bytes(cbor_item_t *good)
{
    (void) good;
    return s_indef_bytes("\x01\x02");
}
static cbor_item_t *
o_tag(cbor_item_t *good)
{
    return s_chk(cbor_build_tag(0, good));
}
static cbor_item_t *
o_negint(cbor_item_t *good)
{
    (void) good;
    return z_negint();
}
static cbor_item_t *
o_huge_uint(cbor_item_t *good)
{
    (void) good;
    return z_uint_huge();
}
static cbor_item_t *
o_huge_negint(cbor_item_t *good)
{
    (void) good;
    return z_negint_huge();
}
static cbor_item_t *
o_in_array(cbor_item_t *good)
{
    cbor_item_t *a = s_new_array();
    s_add_item(a, cbor_incref(good));
    return a;
}
static cbor_item_t *
o_in_map(cbor_item_t *good)
{
    cbor_item_t *m = s_new_map();
    s_kv(m, s_text("x-odd"), cbor_incref(good));
    return m;
}

static const struct {
    const char *name;
    s_odd_fn fn;
} s_odds[O_COUNT] = {
        [O_HALF] = {"half float", o_half},
        [O_SINGLE] = {"single float", o_single},
        [O_DOUBLE] = {"double float", o_double},
        [O_UNDEF] = {"undefined", o_undef},
        [O_NULL] = {"null", o_null},
        [O_SIMPLE] = {"simple value 16", o_simple},
        [O_INDEF_TEXT] = {"indefinite text", o_indef_text},
        [O_INDEF_BYTES] = {"indefinite bytes", o_indef_bytes},
        [O_TAG] = {"tag 0(good)", o_tag},
        [O_NEGINT] = {"negint -1", o_negint},
        [O_HUGE_UINT] = {"uint 2^64-1", o_huge_uint},
        [O_HUGE_NEGINT] = {"negint -2^64", o_huge_negint},
        [O_IN_ARRAY] = {"[good]", o_in_array},
        [O_IN_MAP] = {"{x-odd: good}", o_in_map},
};

#define ALL_ODDS ((1u << O_COUNT) - 1)

/* A field, and the odd values it legitimately accepts (the decode may then also
 * succeed); every other replacement must give CMN_EPROTO. */
typedef struct {
    const char *path;
    unsigned accepts; /* bits 1 << O_* */
} s_field_t;

typedef struct {
    const char *name;
    cbor_item_t *(*build)(void);
    obt_svr_decode_fn decode;
    const s_field_t *fields;
} s_doc_t;

/* Top-level maps refuse a key that is not a text string; a chunked text key is a
 * text key (an unknown property). Nested maps skip keys they do not know. */
#define TOP_KEY                                                                                    \
    {                                                                                              \
        "?", 1u << O_INDEF_TEXT                                                                    \
    }
#define SKIP_KEY ALL_ODDS

static const s_field_t s_doxm_fields[] = {
        {"oxms", 0},       {"oxms[]", 0},       {"oxmsel", 0},     {"sct", 0}, {"owned", 0},
        {"deviceuuid", 0}, {"devowneruuid", 0}, {"rowneruuid", 0}, TOP_KEY,    {NULL, 0},
};
static const s_field_t s_pstat_fields[] = {
        {"dos", 1u << O_IN_MAP}, /* {x-odd: ...} in dos: an unknown property */
        {"dos.s", 0},
        {"dos.p", 0},
        {"dos.?", SKIP_KEY},
        {"isop", 0},
        {"cm", 0},
        {"tm", 0},
        {"om", 0},
        {"sm", 0},
        {"rowneruuid", 0},
        TOP_KEY,
        {NULL, 0},
};
static const s_field_t s_sdi_fields[] = {
        {"uuid", 0}, {"name", 0}, {"priv", 0}, TOP_KEY, {NULL, 0},
};
static const s_field_t s_creds_fields[] = {
        {"creds", 0},
        {"creds[]", 1u << O_IN_MAP}, /* an empty credential: the callers check */
        {"creds[].credid", 0},
        {"creds[].credtype", 0},
        {"creds[].subjectuuid", 0},
        {"creds[].credusage", 0},
        {"creds[].publicdata", 0},
        {"creds[].publicdata.data", 0},
        {"creds[].publicdata.encoding", 0},
        {"creds[].privatedata", 0},
        {"creds[].privatedata.data", 0},
        {"creds[].privatedata.encoding", 0},
        {"creds[].?", 1u << O_INDEF_TEXT}, /* refused unless text: an unused property */
        {"rowneruuid", 0},
        TOP_KEY,
        {NULL, 0},
};
static const s_field_t s_acl_fields[] = {
        {"aclist2", 0},
        {"aclist2[]", 0},
        {"ace.aceid", 0},
        {"ace.subject", 0},
        {"ace.subject.uuid", 0},
        {"ace2.subject.conntype", 0},
        {"ace3.subject.role", 0},
        {"ace3.subject.authority", 0},
        {"ace.resources", 0},
        {"ace.resources[]", 0},
        {"ace.resources[].href", 0},
        {"ace.resources[].wc", 0},
        {"ace.resources[].if", 1u << O_IN_ARRAY}, /* an array, of anything: not read */
        {"ace.permission", 0},
        {"rowneruuid", 0},
        TOP_KEY,
        {NULL, 0},
};
static const s_field_t s_res_fields[] = {
        {"[]", 1u << O_IN_MAP}, /* a link without properties */
        {"[].anchor", 0},
        {"[].href", 0},
        {"[].rt", 0},
        {"[].rt[]", 0},
        {"[].if", 0},
        {"[].if[]", 0},
        {"[].p", 1u << O_IN_MAP}, /* p's other properties are skipped */
        {"[].p.bm", 0},
        {"[].eps", 0},
        {"[].eps[]", 1u << O_IN_MAP}, /* an eps entry's other properties too */
        {"[].eps[].ep", 0},
        {"[].?", SKIP_KEY},
        {NULL, 0},
};
static const s_field_t s_d_fields[] = {
        {"rt", 0},  {"rt[]", 0}, {"di", 0},       {"piid", 0}, {"n", 0},
        {"icv", 0}, {"dmv", 0},  {"?", SKIP_KEY}, {NULL, 0},
};
static const s_field_t s_vodlist_fields[] = {
        {"rt", ALL_ODDS}, /* not read */
        {"vods", 0},           {"vods[]", 0},
        {"vods[].n", 0},       {"vods[].di", 0},
        {"vods[].econame", 0}, {"vods[].?", 1u << O_INDEF_TEXT},
        {"?", SKIP_KEY},       {NULL, 0},
};

static const s_doc_t s_docs[] = {
        {"doxm", doc_doxm, obt_svr_dec_doxm, s_doxm_fields},
        {"pstat", doc_pstat, obt_svr_dec_pstat, s_pstat_fields},
        {"sdi", doc_sdi, obt_svr_dec_sdi, s_sdi_fields},
        {"cred", doc_creds, obt_svr_dec_creds, s_creds_fields},
        {"acl2", doc_acl, obt_svr_dec_acl, s_acl_fields},
        {"/oic/res", doc_res, obt_svr_dec_res, s_res_fields},
        {"/oic/d", doc_d, obt_svr_dec_d, s_d_fields},
        {"vodlist", doc_vodlist, obt_svr_dec_vodlist, s_vodlist_fields},
};

/* One case: build the document (with one field replaced, or none), encode it with
 * definite or indefinite containers, decode it. */
typedef struct {
    const s_doc_t *doc;
    const char *field; /* NULL: the sample as it is */
    s_odd_fn odd;
    bool definite;
} s_case_t;

static cmn_err_t
s_run_case(const void *arg)
{
    const s_case_t *c = arg;
    s_field = c->field;
    s_odd = c->odd;
    s_replaced = false;
    cbor_item_t *doc = c->doc->build();
    if (c->field != NULL && !s_replaced) {
        cbor_decref(&doc);
        return CMN_ENOTFOUND; /* the table names a field the sample does not have */
    }
    if (c->definite) {
        cbor_item_t *copy = s_definite(doc);
        cbor_decref(&doc);
        doc = copy;
    }
    obt_cbor_buf_t b = s_ser(doc);
    cmn_err_t err = c->doc->decode(b.buf, b.len);
    free(b.buf);
    return err;
}

Test(cmn_svr_types, samples_decode_with_definite_and_indefinite_containers)
{
    for (size_t d = 0; d < sizeof s_docs / sizeof s_docs[0]; d++) {
        for (int definite = 0; definite <= 1; definite++) {
            s_case_t c = {&s_docs[d], NULL, NULL, definite};
            char what[64];
            (void) snprintf(what, sizeof what, "%s, %s", s_docs[d].name,
                            definite ? "definite" : "indefinite");
            cmn_err_t err = s_in_child(s_run_case, &c, what);
            cr_expect_eq(err, CMN_OK, "%s: %s", what, cmn_errname(err));
        }
    }
}

/* The expected result of replacing field by odd value o. */
static bool
s_as_expected(const s_field_t *f, int o, cmn_err_t err)
{
    return err == CMN_EPROTO || (err == CMN_OK && (f->accepts & (1u << o)));
}

typedef struct {
    const s_doc_t *doc;
    const s_field_t *field;
} s_field_case_t;

/* Every odd value in one field, with definite and indefinite containers, in one
 * child (a fork per case is slow under ASan): CMN_OK if all went as expected. */
static cmn_err_t
s_run_field(const void *arg)
{
    const s_field_case_t *fc = arg;
    for (int o = 0; o < O_COUNT; o++) {
        for (int definite = 0; definite <= 1; definite++) {
            s_case_t c = {fc->doc, fc->field->path, s_odds[o].fn, definite};
            if (!s_as_expected(fc->field, o, s_run_case(&c))) {
                return CMN_EPROTO;
            }
        }
    }
    return CMN_OK;
}

Test(cmn_svr_types, every_field_of_every_decoder_refuses_wrong_types_cleanly)
{
    size_t fields = 0;
    for (size_t d = 0; d < sizeof s_docs / sizeof s_docs[0]; d++) {
        for (const s_field_t *f = s_docs[d].fields; f->path; f++, fields++) {
            char what[160];
            (void) snprintf(what, sizeof what, "%s: %s", s_docs[d].name, f->path);
            s_field_case_t fc = {&s_docs[d], f};
            if (s_in_child(s_run_field, &fc, what) == CMN_OK) {
                continue;
            }
            /* One child per case, to say which went wrong and how. */
            for (int o = 0; o < O_COUNT; o++) {
                for (int definite = 0; definite <= 1; definite++) {
                    s_case_t c = {&s_docs[d], f->path, s_odds[o].fn, definite};
                    (void) snprintf(what, sizeof what, "%s: %s <- %s (%s)", s_docs[d].name, f->path,
                                    s_odds[o].name, definite ? "definite" : "indefinite");
                    cmn_err_t err = s_in_child(s_run_case, &c, what);
                    cr_expect(err == S_CRASHED || s_as_expected(f, o, err),
                              "%s: %s (ENOTFOUND: no such field in the sample)", what,
                              cmn_errname(err));
                }
            }
        }
    }
    cr_log_info("%zu fields x %d odd values x 2", fields, O_COUNT);
}

/* ---------------------------------------------------------------- the reported bytes */

typedef struct {
    obt_svr_decode_fn decode;
    const uint8_t *buf;
    size_t len;
} s_bytes_case_t;

static cmn_err_t
s_run_bytes(const void *arg)
{
    const s_bytes_case_t *c = arg;
    return c->decode(c->buf, c->len);
}

Test(cmn_svr_types, half_float_booleans_of_issue_9_are_refused)
{
    /* {"owned": half 1.0}: the doxm reply that stopped the gateway */
    static const uint8_t owned[] = {0xa1, 0x65, 0x6f, 0x77, 0x6e, 0x65, 0x64, 0xf9, 0x3c, 0x00};
    /* {"isop": half 1.0}, {"dos": {"p": half 0.0}}, {"priv": single 1.0} */
    static const uint8_t isop[] = {0xa1, 0x64, 'i', 's', 'o', 'p', 0xf9, 0x3c, 0x00};
    static const uint8_t dos_p[] = {0xa1, 0x63, 'd', 'o', 's', 0xa1, 0x61, 'p', 0xf9, 0x00, 0x00};
    static const uint8_t priv[] = {0xa1, 0x64, 'p', 'r', 'i', 'v', 0xfa, 0x3f, 0x80, 0x00, 0x00};
    /* {"owned": undefined}, {"owned": double 1.0} */
    static const uint8_t owned_undef[] = {0xa1, 0x65, 'o', 'w', 'n', 'e', 'd', 0xf7};
    static const uint8_t owned_double[] = {0xa1, 0x65, 'o',  'w',  'n',  'e',  'd',  0xfb,
                                           0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    const struct {
        const char *what;
        s_bytes_case_t c;
    } cases[] = {
            {"doxm owned half", {obt_svr_dec_doxm, owned, sizeof owned}},
            {"doxm owned undefined", {obt_svr_dec_doxm, owned_undef, sizeof owned_undef}},
            {"doxm owned double", {obt_svr_dec_doxm, owned_double, sizeof owned_double}},
            {"pstat isop half", {obt_svr_dec_pstat, isop, sizeof isop}},
            {"pstat dos.p half", {obt_svr_dec_pstat, dos_p, sizeof dos_p}},
            {"sdi priv single", {obt_svr_dec_sdi, priv, sizeof priv}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cmn_err_t err = s_in_child(s_run_bytes, &cases[i].c, cases[i].what);
        cr_expect_eq(err, CMN_EPROTO, "%s: %s", cases[i].what, cmn_errname(err));
    }
    /* and in this process too, as the gateway calls it */
    cmn_doxm_t d;
    cr_assert_eq(cmn_doxm_decode(owned, sizeof owned, &d), CMN_EPROTO);
}
