/* Grievance validation: one table of accepted fields, each with its own rule, applied to a stream
 * of JSON events (grievance_reader.h) so the API validates while it parses and the form and the
 * import validate their jansson objects with exactly the same code. Messages name the field and
 * the rule, never the submitted value. Strings are copied into one arena per grievance. */
#include "grievance.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grievance_reader.h"
#include "util.h"

#define NAME_MAX_CHARS 200
#define ARENA_MIN_CHUNK 1024

struct GrievanceArena {
    GrievanceArena *next;
    size_t size, used;
    char data[];
};

static char *arena_alloc(Grievance *g, size_t n, size_t hint)
{
    GrievanceArena *a = g->arena;
    if (!a || a->size - a->used < n) {
        size_t size = n > hint ? n : hint;
        if (size < ARENA_MIN_CHUNK)
            size = ARENA_MIN_CHUNK;
        a = xmalloc(sizeof *a + size);
        a->next = g->arena;
        a->size = size;
        a->used = 0;
        g->arena = a;
    }
    char *p = a->data + a->used;
    a->used += n;
    return p;
}

static const char *arena_strndup(Grievance *g, const char *s, size_t n)
{
    char *p = arena_alloc(g, n + 1, 0);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void error_set(GrievanceError *err, const char *field, const char *code, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

static void error_set(GrievanceError *err, const char *field, const char *code, const char *fmt,
                      ...)
{
    va_list ap;
    snprintf(err->field, sizeof err->field, "%s", field);
    snprintf(err->code, sizeof err->code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->malformed = false;
}

size_t utf8_sequence(const char *s, size_t avail)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0], cp;
    size_t n;
    if (c < 0x80)
        return c == 0 ? 0 : 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

#define BYTES_ONES 0x0101010101010101ULL
#define BYTES_HIGH 0x8080808080808080ULL

static uint64_t word_at(const char *s)
{
    uint64_t w;
    memcpy(&w, s, sizeof w);
    return w;
}

/* Nonzero when a byte of w (all below 0x80) is below n (n <= 0x80). */
static uint64_t any_below(uint64_t w, unsigned n)
{
    return (w - BYTES_ONES * n) & ~w & BYTES_HIGH;
}

size_t ascii_run(const char *s, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = word_at(s + i);
        if ((w & BYTES_HIGH) || any_below(w, 1))
            break;
    }
    while (i < len && (unsigned char)s[i] - 1u < 0x7F)
        i++;
    return i;
}

size_t json_plain_run(const char *s, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = word_at(s + i);
        if ((w & BYTES_HIGH) || any_below(w, 0x20) || any_below(w ^ (BYTES_ONES * '"'), 1) ||
            any_below(w ^ (BYTES_ONES * '\\'), 1))
            break;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
            break;
    }
    return i;
}

/* Code points in s[0..len), or -1 when it is not UTF-8. */
static long utf8_count(const char *s, size_t len)
{
    long chars = 0;
    size_t i = 0;
    for (;;) {
        size_t run = ascii_run(s + i, len - i); /* ASCII other than NUL: the common case */
        i += run;
        chars += (long)run;
        if (i >= len)
            return chars;
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0)
            return -1;
        i += n;
        chars++;
    }
}

bool utf8_valid(const char *s, size_t len, size_t max_chars)
{
    long n = utf8_count(s, len);
    return n >= 0 && (size_t)n <= max_chars;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!isspace((unsigned char)s[i]))
            return false;
    }
    return true;
}

typedef enum {
    F_NONE = -1,
    F_DESCRIPTION,
    F_CATEGORY,
    F_COUNTRY,
    F_RIGHTS,
    F_VULNERABILITY,
    F_COMPANIES,
    F_SERVICES,
    F_PEOPLE_AFFECTED,
    F_ONGOING,
    F_STARTED_ON,
    F_COMPLAINANT_TYPE,
    F_LANGUAGE,
    F_CONSENT,
    F_CONTACT,
    F_IMMEDIATE_DANGER,
    F_COUNT
} FieldId;

/* The list fields: their limit per entry and the taxonomy list their entries come from. */
typedef struct {
    size_t max_chars;
    int taxonomy; /* a TaxonomyList, or -1 for free text */
} ListRule;

static const char *const field_names[F_COUNT] = {
    "description",      "category", "country",         "rights",  "vulnerability",
    "companies",        "services", "people_affected", "ongoing", "started_on",
    "complainant_type", "language", "consent",         "contact", "immediate_danger"};

static const char *const consent_names[] = {"share_with_members", "share_with_regulator", NULL};
static const char *const contact_names[] = {"name", "email", "phone", NULL};

struct GrievanceReader {
    Grievance *g;
    const Taxonomy *tax;
    GrievanceError *err;
    bool failed;       /* err holds the first error; the rest of the input is only skipped */
    int depth;         /* containers open: 1 in the body object, 2 in a field's list or object */
    FieldId field;     /* the body member being read */
    int member;        /* in consent/contact: the index of the member being read */
    size_t entries;    /* in a list: entries seen */
    bool entry_failed; /* in a list: err holds an entry's error, reported if the size is fine */
};

static bool is_list(FieldId f)
{
    return f == F_RIGHTS || f == F_VULNERABILITY || f == F_COMPANIES || f == F_SERVICES;
}

static ListRule list_rule(FieldId f)
{
    switch (f) {
    case F_RIGHTS:
        return (ListRule){64, TAXONOMY_RIGHTS};
    case F_VULNERABILITY:
        return (ListRule){64, TAXONOMY_VULNERABILITY};
    case F_COMPANIES:
        return (ListRule){NAME_MAX_CHARS, -1};
    default:
        return (ListRule){100, -1};
    }
}

static StrList *list_of(Grievance *g, FieldId f)
{
    return f == F_RIGHTS          ? &g->rights
           : f == F_VULNERABILITY ? &g->vulnerability
           : f == F_COMPANIES     ? &g->companies
                                  : &g->services;
}

static void fail(GrievanceReader *r)
{
    r->failed = true;
}

/* A string of 1..max_chars characters; returns a NUL-terminated copy in the grievance's arena, or
 * NULL with err set. */
static const char *text_get(GrievanceReader *r, const GValue *v, const char *field,
                            size_t max_chars)
{
    if (v->type != GV_STRING) {
        error_set(r->err, field, "invalid", "%s must be a string", field);
        return NULL;
    }
    long chars = utf8_count(v->s, v->len);
    if (chars < 0) {
        error_set(r->err, field, "invalid", "%s is not valid UTF-8 text", field);
        return NULL;
    }
    if ((size_t)chars > max_chars) {
        error_set(r->err, field, "too_long", "%s must be at most %zu characters", field, max_chars);
        return NULL;
    }
    if (v->len == 0 || blank(v->s, v->len)) {
        error_set(r->err, field, "required", "%s must not be empty", field);
        return NULL;
    }
    return arena_strndup(r->g, v->s, v->len);
}

static int bool_get(GrievanceReader *r, const GValue *v, const char *field, bool *out)
{
    if (v->type != GV_BOOL) {
        error_set(r->err, field, "invalid", "%s must be true or false", field);
        return -1;
    }
    *out = v->b;
    return 0;
}
static bool date_valid(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
        s[7] != '-')
        return false;
    /* sscanf's %d also takes a sign or a space ("2024-+1-01", "2024- 1-01"): digits only. */
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    }
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > days[m - 1] + (m == 2 && leap))
        return false;
    /* Not after tomorrow (UTC): a harm cannot start in the future, whatever the time zone. */
    time_t now = time(NULL) + 86400;
    struct tm t;
    gmtime_r(&now, &t);
    return y * 10000 + m * 100 + d <= (t.tm_year + 1900) * 10000 + (t.tm_mon + 1) * 100 + t.tm_mday;
}

/* BCP 47, as far as form goes: a 2-3 letter primary subtag and 1-8 alphanumeric subtags. */
static bool language_valid(const char *s)
{
    size_t len = strlen(s), i = 0;
    if (len > 35)
        return false;
    while (i < len && isalpha((unsigned char)s[i]))
        i++;
    if (i < 2 || i > 3)
        return false;
    while (i < len) {
        if (s[i++] != '-')
            return false;
        size_t start = i;
        while (i < len && isalnum((unsigned char)s[i]))
            i++;
        if (i - start < 1 || i - start > 8)
            return false;
    }
    return true;
}

static bool email_valid(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && strchr(at + 1, '.') && !strchr(at + 1, '@') && strlen(s) <= 254 &&
           !strpbrk(s, " \t\r\n<>");
}

static bool phone_valid(const char *s)
{
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (!strchr("+-() .", *p))
            return false;
    }
    return digits >= 5 && digits <= 20;
}

/* Copies a field name into out only if it is short and plain, so an error never echoes input. */
static void field_name_safe(const char *key, char *out, size_t outlen)
{
    size_t n = strlen(key);
    bool plain = n > 0 && n < 48;
    for (size_t i = 0; plain && i < n; i++)
        plain = isalnum((unsigned char)key[i]) || key[i] == '_' || key[i] == '-';
    snprintf(out, outlen, "%s", plain ? key : "(unnamed)");
}

/* The value of body member r->field. */
static int field_value(GrievanceReader *r, const GValue *v)
{
    Grievance *g = r->g;
    const char *key = r->field >= 0 ? field_names[r->field] : "";
    const char *s;
    bool b = false;
    switch (r->field) {
    case F_DESCRIPTION:
        if (!(g->description = text_get(r, v, key, GRIEVANCE_DESCRIPTION_MAX)))
            return -1;
        return 0;
    case F_CATEGORY:
        if (!(s = text_get(r, v, key, 64)))
            return -1;
        if (!taxonomy_has(r->tax, TAXONOMY_CATEGORIES, s)) {
            error_set(r->err, key, "invalid", "category is not a known id (see GET /v1/taxonomy)");
            return -1;
        }
        g->category = s;
        return 0;
    case F_COUNTRY: {
        if (!(s = text_get(r, v, key, 2)))
            return -1;
        char cc[3] = {(char)toupper((unsigned char)s[0]), (char)toupper((unsigned char)s[1]), 0};
        if (strlen(s) != 2 || !taxonomy_has(r->tax, TAXONOMY_COUNTRIES, cc)) {
            error_set(r->err, key, "invalid", "country must be an ISO 3166-1 alpha-2 code");
            return -1;
        }
        memcpy(g->country, cc, 3);
        return 0;
    }
    case F_RIGHTS:
    case F_VULNERABILITY:
    case F_COMPANIES:
    case F_SERVICES:
        if (v->type != GV_ARRAY) {
            error_set(r->err, key, "invalid", "%s must be an array of strings", key);
            return -1;
        }
        r->entries = 0;
        r->entry_failed = false;
        return 0;
    case F_PEOPLE_AFFECTED:
        if (v->type != GV_INT || v->i < 1 || v->i > 2147483647) {
            error_set(r->err, key, "invalid",
                      "people_affected must be a whole number from 1 to 2147483647");
            return -1;
        }
        g->people_affected = (long)v->i;
        return 0;
    case F_ONGOING:
        if (bool_get(r, v, key, &b) < 0)
            return -1;
        g->ongoing = b;
        return 0;
    case F_IMMEDIATE_DANGER:
        if (bool_get(r, v, key, &b) < 0)
            return -1;
        g->immediate_danger = b;
        return 0;
    case F_STARTED_ON:
        if (!(s = text_get(r, v, key, 10)))
            return -1;
        if (!date_valid(s)) {
            error_set(r->err, key, "invalid",
                      "started_on must be a date YYYY-MM-DD, not in the future");
            return -1;
        }
        memcpy(g->started_on, s, 11);
        return 0;
    case F_COMPLAINANT_TYPE:
        if (!(s = text_get(r, v, key, 15)))
            return -1;
        if (strcmp(s, "self") && strcmp(s, "on_behalf") && strcmp(s, "organisation") &&
            strcmp(s, "anonymous")) {
            error_set(r->err, key, "invalid",
                      "complainant_type must be self, on_behalf, organisation or anonymous");
            return -1;
        }
        snprintf(g->complainant_type, sizeof g->complainant_type, "%s", s);
        return 0;
    case F_LANGUAGE:
        if (!(s = text_get(r, v, key, 35)))
            return -1;
        if (!language_valid(s)) {
            error_set(r->err, key, "invalid", "language must be a BCP 47 tag such as en or pt-BR");
            return -1;
        }
        g->language = s;
        return 0;
    case F_CONSENT:
    case F_CONTACT:
        if (v->type != GV_OBJECT) {
            error_set(r->err, key, "invalid", "%s must be an object", key);
            return -1;
        }
        r->member = -1;
        return 0;
    default:
        return -1; /* an unknown key already failed */
    }
}

/* One entry of the list r->field. An entry's error waits for the end of the list: a list that is
 * too long is reported as such whatever its entries. */
static void list_entry(GrievanceReader *r, const GValue *v)
{
    size_t index = r->entries++;
    if (r->entry_failed || r->entries > GRIEVANCE_LIST_MAX)
        return;
    const char *field = field_names[r->field];
    ListRule rule = list_rule(r->field);
    const char *s = text_get(r, v, field, rule.max_chars);
    if (s && rule.taxonomy >= 0 && !taxonomy_has(r->tax, (TaxonomyList)rule.taxonomy, s)) {
        error_set(r->err, field, "invalid", "%s entry %zu is not a known id (see GET /v1/taxonomy)",
                  field, index + 1);
        s = NULL;
    }
    if (!s) {
        r->entry_failed = true;
        return;
    }
    StrList *l = list_of(r->g, r->field);
    for (size_t j = 0; j < l->n; j++) {
        if (strcmp(l->items[j], s) == 0)
            return; /* duplicates are dropped */
    }
    l->items[l->n++] = s;
}

static void list_end(GrievanceReader *r)
{
    const char *field = field_names[r->field];
    if (r->entries > GRIEVANCE_LIST_MAX) {
        error_set(r->err, field, "too_long", "%s may hold at most %d entries", field,
                  GRIEVANCE_LIST_MAX);
        fail(r);
    } else if (r->entry_failed) {
        fail(r);
    }
}

static int consent_value(GrievanceReader *r, const GValue *v)
{
    Grievance *g = r->g;
    if (r->member == 0)
        return bool_get(r, v, "consent.share_with_members", &g->share_with_members);
    return bool_get(r, v, "consent.share_with_regulator", &g->share_with_regulator);
}

static int contact_value(GrievanceReader *r, const GValue *v)
{
    Grievance *g = r->g;
    const char *s;
    if (r->member == 0) {
        if (!(g->contact_name = text_get(r, v, "contact.name", NAME_MAX_CHARS)))
            return -1;
    } else if (r->member == 1) {
        if (!(s = text_get(r, v, "contact.email", 254)))
            return -1;
        if (!email_valid(s)) {
            error_set(r->err, "contact.email", "invalid", "contact.email is not an e-mail address");
            return -1;
        }
        g->contact_email = s;
    } else {
        if (!(s = text_get(r, v, "contact.phone", 32)))
            return -1;
        if (!phone_valid(s)) {
            error_set(r->err, "contact.phone", "invalid",
                      "contact.phone must be 5 to 20 digits, optionally with + - ( ) . or spaces");
            return -1;
        }
        g->contact_phone = s;
    }
    return 0;
}

static int name_index(const char *const *names, const char *key, size_t len)
{
    for (int i = 0; names[i]; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], key, len) == 0)
            return i;
    }
    return -1;
}

GrievanceReader *grievance_reader_new(const Taxonomy *tax, GrievanceError *err, size_t arena_hint)
{
    GrievanceReader *r = xcalloc(1, sizeof *r);
    r->g = xcalloc(1, sizeof *r->g);
    r->g->ongoing = -1;
    r->g->immediate_danger = -1;
    snprintf(r->g->complainant_type, sizeof r->g->complainant_type, "self");
    r->tax = tax;
    r->err = err;
    r->field = F_NONE;
    if (arena_hint > 0)
        arena_alloc(r->g, 0, arena_hint); /* one block for the whole body's strings */
    return r;
}

void grievance_reader_value(GrievanceReader *r, const GValue *v)
{
    bool container = v->type == GV_ARRAY || v->type == GV_OBJECT;
    if (!r->failed) {
        int rc = 0;
        if (r->depth == 0) {
            if (v->type != GV_OBJECT) {
                error_set(r->err, "", "not_an_object", "the body must be a JSON object");
                r->err->malformed = true;
                rc = -1;
            }
        } else if (r->depth == 1) {
            rc = field_value(r, v);
        } else if (r->depth == 2 && is_list(r->field)) {
            list_entry(r, v);
        } else if (r->depth == 2) {
            rc = r->field == F_CONSENT ? consent_value(r, v) : contact_value(r, v);
        }
        if (rc < 0)
            fail(r);
    }
    if (container)
        r->depth++;
}

void grievance_reader_key(GrievanceReader *r, const char *key, size_t len)
{
    if (r->failed)
        return;
    if (r->depth == 1) {
        r->field = F_NONE;
        for (int f = 0; f < F_COUNT; f++) {
            if (strncmp(field_names[f], key, len) == 0 && field_names[f][len] == '\0') {
                r->field = (FieldId)f;
                break;
            }
        }
        if (r->field == F_NONE) {
            char raw[48], name[48];
            snprintf(raw, sizeof raw, "%.*s", len < sizeof raw ? (int)len : 0, key);
            field_name_safe(len < sizeof raw && !memchr(key, 0, len) ? raw : "", name, sizeof name);
            error_set(r->err, name, "unknown_field", "unknown field %s", name);
            fail(r);
        }
    } else if (r->depth == 2 && r->field == F_CONSENT) {
        if ((r->member = name_index(consent_names, key, len)) < 0) {
            error_set(r->err, "consent", "unknown_field",
                      "consent takes only share_with_members and share_with_regulator");
            fail(r);
        }
    } else if (r->depth == 2 && r->field == F_CONTACT) {
        if ((r->member = name_index(contact_names, key, len)) < 0) {
            error_set(r->err, "contact", "unknown_field",
                      "contact takes only name, email and phone");
            fail(r);
        }
    }
}

void grievance_reader_end(GrievanceReader *r)
{
    if (!r->failed && r->depth == 2 && is_list(r->field))
        list_end(r);
    r->depth--;
}

void grievance_reader_malformed(GrievanceReader *r, const char *code, const char *message)
{
    error_set(r->err, "", code, "%s", message);
    r->err->malformed = true;
    fail(r);
}

bool grievance_reader_failed(const GrievanceReader *r)
{
    return r->failed;
}

/* Appends s as a JSON string (quotes included) at p; returns the end. */
static char *json_quote(char *p, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            p += 6;
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    return p;
}

/* {"email":..,"name":..,"phone":..} with the members given, or NULL when none is. */
static const char *contact_json_build(Grievance *g)
{
    const char *names[] = {"email", "name", "phone"};
    const char *values[] = {g->contact_email, g->contact_name, g->contact_phone};
    size_t size = 2;
    for (int i = 0; i < 3; i++)
        size += values[i] ? 6 * strlen(values[i]) + 16 : 0;
    if (size == 2)
        return NULL;
    char *out = arena_alloc(g, size + 1, 0), *p = out;
    *p++ = '{';
    for (int i = 0; i < 3; i++) {
        if (!values[i])
            continue;
        if (p > out + 1)
            *p++ = ',';
        p = json_quote(p, names[i]);
        *p++ = ':';
        p = json_quote(p, values[i]);
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

Grievance *grievance_reader_finish(GrievanceReader *r)
{
    Grievance *g = r->g;
    GrievanceError *err = r->err;
    bool failed = r->failed;
    free(r);
    if (failed)
        goto fail;
    static const char *const required[] = {"description", "category", "country"};
    const void *present[] = {g->description, g->category, g->country[0] ? g->country : NULL};
    for (size_t i = 0; i < 3; i++) {
        if (!present[i]) {
            error_set(err, required[i], "required", "%s is required", required[i]);
            goto fail;
        }
    }
    g->contact_json = contact_json_build(g);
    if (strcmp(g->complainant_type, "anonymous") == 0 && g->contact_json) {
        error_set(err, "contact", "invalid", "an anonymous grievance carries no contact details");
        goto fail;
    }
    return g;
fail:
    grievance_free(g);
    return NULL;
}

void grievance_free(Grievance *g)
{
    if (!g)
        return;
    GrievanceArena *a = g->arena;
    while (a) {
        GrievanceArena *next = a->next;
        explicit_bzero(a->data, a->used); /* descriptions and contact details do not linger */
        free(a);
        a = next;
    }
    free(g);
}
