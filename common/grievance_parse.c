/* The two ways into the validator (grievance_reader.h): JSON text parsed by yajl's callbacks
 * straight into a Grievance, with no tree in between (the API's hot path), and a walk over a
 * jansson object (the form and the CSV import build one). The text path keeps jansson's verdicts
 * on what is not acceptable JSON: invalid UTF-8 anywhere, a \u0000 or lone surrogate escape, a
 * repeated key in any object, nesting past 2048 levels and a top-level value that is not an object
 * or array are all refused as the whole body's error. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "crypto.h"
#include "grievance.h"
#include "grievance_reader.h"
#include "util.h"

#define JSON_MAX_DEPTH 2048
#define KEYSET_INLINE 64

typedef enum { TEXT_OK, TEXT_BAD_UTF8, TEXT_MALFORMED } TextCheck;

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* One pass over the text for what yajl lets through: UTF-8 (yajl's own check is laxer and is
 * turned off), control characters, and \u escapes of NUL or of half a surrogate pair. Escapes yajl
 * refuses anyway (bad hex digits, a truncated text) are left to it. */
static TextCheck text_precheck(const char *s, size_t len)
{
    bool in_string = false;
    bool bad_escape = false; /* in this string; reported at its end, as jansson decodes escapes
                                only after it scanned the whole string (bad bytes win) */
    size_t i = 0;
    for (;;) {
        i += json_plain_run(s + i, len - i); /* nothing to check in these */
        if (i >= len)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t n = utf8_sequence(s + i, len - i);
            if (n == 0)
                return TEXT_BAD_UTF8;
            i += n;
            continue;
        }
        /* Controls: JSON allows only tab, LF and CR, between tokens (yajl also takes \f, \v). */
        if (c < 0x20 && (in_string || (c != '\t' && c != '\n' && c != '\r')))
            return TEXT_MALFORMED;
        if (!in_string) {
            in_string = c == '"';
            i++;
            continue;
        }
        if (c == '"') {
            if (bad_escape)
                return TEXT_MALFORMED;
            in_string = false;
        } else if (c == '\\' && i + 1 < len && s[i + 1] == 'u') {
            unsigned cp, low;
            if (i + 6 > len || hex4(s + i + 2, &cp) < 0) {
                i += 2;
                continue;
            }
            if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) {
                bad_escape = true;
            } else if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 12 > len || s[i + 6] != '\\' || s[i + 7] != 'u' ||
                    hex4(s + i + 8, &low) < 0 || low < 0xDC00 || low > 0xDFFF) {
                    bad_escape = true;
                } else {
                    i += 12;
                    continue;
                }
            }
            i += 6;
            continue;
        } else if (c == '\\') {
            /* Skip the escaped character, unless it is a multibyte one (checked as such). */
            i += i + 1 < len && (unsigned char)s[i + 1] < 0x80 ? 2 : 1;
            continue;
        }
        i++;
    }
    /* An unterminated string after the value: yajl's end-of-input check does not see it. */
    return bad_escape || in_string ? TEXT_MALFORMED : TEXT_OK;
}

/* Keys seen so far, as hashes of (object number, key), to refuse a repeated key in any object.
 * Seeded per process so nobody can choose keys that pile into one slot. */
typedef struct {
    uint64_t *slots; /* 0: empty */
    size_t cap, n;
    uint64_t inline_slots[KEYSET_INLINE];
} KeySet;

static uint64_t keyset_seed; /* set once, by keyset_seed_init */
static pthread_once_t keyset_seed_once = PTHREAD_ONCE_INIT;

static void keyset_seed_init(void)
{
    do
        random_bytes(&keyset_seed, sizeof keyset_seed);
    while (keyset_seed == 0);
}

static uint64_t key_hash(uint32_t object, const unsigned char *key, size_t len)
{
    uint64_t h =
        keyset_seed ^ 0xcbf29ce484222325ULL; /* FNV-1a over the object number, then the key */
    for (int i = 0; i < 4; i++)
        h = (h ^ ((object >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 0x100000001b3ULL;
    h ^= h >> 33; /* murmur3's finaliser: every input bit reaches the slot bits */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h | 1;
}

static bool keyset_insert(KeySet *ks, uint64_t h);

static void keyset_grow(KeySet *ks)
{
    uint64_t *old = ks->slots;
    size_t oldcap = ks->cap;
    ks->cap *= 2;
    ks->slots = xcalloc(ks->cap, sizeof *ks->slots);
    ks->n = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i])
            keyset_insert(ks, old[i]);
    }
    if (old != ks->inline_slots)
        free(old);
}

/* False when h was there already. */
static bool keyset_insert(KeySet *ks, uint64_t h)
{
    if ((ks->n + 1) * 2 > ks->cap)
        keyset_grow(ks);
    size_t i = (size_t)((h >> 1) & (ks->cap - 1)); /* bit 0 is always set */
    while (ks->slots[i]) {
        if (ks->slots[i] == h)
            return false;
        i = (i + 1) & (ks->cap - 1);
    }
    ks->slots[i] = h;
    ks->n++;
    return true;
}

typedef struct {
    GrievanceReader *reader;
    KeySet keys;
    uint32_t objects;              /* objects opened so far: each one's number */
    uint32_t open[JSON_MAX_DEPTH]; /* per open container: its object number (0: an array) */
    int depth;
} ParseCtx;

static int scalar(ParseCtx *p, const GValue *v)
{
    if (p->depth == 0) { /* jansson takes only an object or an array at the top */
        grievance_reader_malformed(p->reader, "malformed_json", "the body is not valid JSON");
        return 0;
    }
    grievance_reader_value(p->reader, v);
    return 1;
}

static int on_null(void *ctx)
{
    GValue v = {.type = GV_NULL};
    return scalar(ctx, &v);
}

static int on_boolean(void *ctx, int b)
{
    GValue v = {.type = GV_BOOL, .b = b != 0};
    return scalar(ctx, &v);
}

static int on_integer(void *ctx, long long i)
{
    GValue v = {.type = GV_INT, .i = i};
    return scalar(ctx, &v);
}

static int on_double(void *ctx, double d)
{
    (void)d;
    GValue v = {.type = GV_REAL};
    return scalar(ctx, &v);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    GValue v = {.type = GV_STRING, .s = (const char *)s, .len = len};
    return scalar(ctx, &v);
}

static int open_container(ParseCtx *p, GValueType type)
{
    if (p->depth >= JSON_MAX_DEPTH) {
        grievance_reader_malformed(p->reader, "malformed_json", "the body is not valid JSON");
        return 0;
    }
    p->open[p->depth++] = type == GV_OBJECT ? ++p->objects : 0;
    GValue v = {.type = type};
    grievance_reader_value(p->reader, &v);
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, GV_OBJECT);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, GV_ARRAY);
}

static int on_end(void *ctx)
{
    ParseCtx *p = ctx;
    p->depth--;
    grievance_reader_end(p->reader);
    return 1;
}

static int on_map_key(void *ctx, const unsigned char *key, size_t len)
{
    ParseCtx *p = ctx;
    if (!keyset_insert(&p->keys, key_hash(p->open[p->depth - 1], key, len))) {
        grievance_reader_malformed(p->reader, "malformed_json", "the body repeats a field");
        return 0;
    }
    grievance_reader_key(p->reader, (const char *)key, len);
    return 1;
}

static const yajl_callbacks parse_callbacks = {
    on_null,      on_boolean, on_integer, on_double,      NULL,   on_string,
    on_start_map, on_map_key, on_end,     on_start_array, on_end,
};

Grievance *grievance_parse(const char *body, size_t len, const Taxonomy *tax, GrievanceError *err)
{
    ParseCtx *p = xmalloc(sizeof *p);
    p->reader = grievance_reader_new(tax, err, len + 64);
    p->keys.slots = p->keys.inline_slots;
    p->keys.cap = KEYSET_INLINE;
    p->keys.n = 0;
    memset(p->keys.inline_slots, 0, sizeof p->keys.inline_slots);
    p->objects = 0;
    p->depth = 0;
    /* Once per process, and seen by every worker thread: the seed must not change while another
     * thread's parse is hashing with it (ThreadSanitizer found the two first requests racing). */
    pthread_once(&keyset_seed_once, keyset_seed_init);

    TextCheck check = text_precheck(body, len);
    if (check == TEXT_BAD_UTF8) {
        grievance_reader_malformed(p->reader, "invalid_utf8", "the body is not valid UTF-8");
    } else if (check == TEXT_MALFORMED) {
        grievance_reader_malformed(p->reader, "malformed_json", "the body is not valid JSON");
    } else {
        yajl_handle h = yajl_alloc(&parse_callbacks, NULL, p);
        yajl_config(h, yajl_dont_validate_strings, 1); /* text_precheck did, more strictly */
        yajl_status st = yajl_parse(h, (const unsigned char *)body, len);
        if (st == yajl_status_ok)
            st = yajl_complete_parse(h);
        if (st == yajl_status_error)
            grievance_reader_malformed(p->reader, "malformed_json", "the body is not valid JSON");
        yajl_free(h);
    }
    Grievance *g = grievance_reader_finish(p->reader);
    if (p->keys.slots != p->keys.inline_slots)
        free(p->keys.slots);
    free(p);
    return g;
}

static void walk(GrievanceReader *r, const json_t *v)
{
    GValue gv = {.type = GV_NULL};
    const char *key;
    json_t *item;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        gv.type = GV_OBJECT;
        grievance_reader_value(r, &gv);
        json_object_foreach((json_t *)v, key, item)
        {
            grievance_reader_key(r, key, strlen(key));
            walk(r, item);
            if (grievance_reader_failed(r))
                return;
        }
        grievance_reader_end(r);
        return;
    case JSON_ARRAY:
        gv.type = GV_ARRAY;
        grievance_reader_value(r, &gv);
        json_array_foreach(v, i, item)
        {
            walk(r, item);
        }
        grievance_reader_end(r);
        return;
    case JSON_STRING:
        gv.type = GV_STRING;
        gv.s = json_string_value(v);
        gv.len = json_string_length(v);
        break;
    case JSON_INTEGER:
        gv.type = GV_INT;
        gv.i = json_integer_value(v);
        break;
    case JSON_REAL:
        gv.type = GV_REAL;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        gv.type = GV_BOOL;
        gv.b = json_is_true(v);
        break;
    case JSON_NULL:
        break;
    }
    grievance_reader_value(r, &gv);
}

Grievance *grievance_from_json(const json_t *obj, const Taxonomy *tax, GrievanceError *err)
{
    GrievanceReader *r = grievance_reader_new(tax, err, 0);
    if (obj)
        walk(r, obj);
    else
        grievance_reader_malformed(r, "not_an_object", "the body must be a JSON object");
    return grievance_reader_finish(r);
}
