/* Grievance validation: one table of accepted fields, each with its own check. Messages name the
 * field and the rule, never the submitted value. */
#include "grievance.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define LIST_MAX_ITEMS 20
#define NAME_MAX_CHARS 200

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
}

bool utf8_valid(const char *s, size_t len, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t chars = 0;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            n = 1;
            cp = c;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) < n)
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n;
        if (++chars > max_chars)
            return false;
    }
    return true;
}

static bool blank(const char *s)
{
    for (; *s; s++) {
        if (!isspace((unsigned char)*s))
            return false;
    }
    return true;
}

/* A string field of 1..max_chars characters; returns it (borrowed) or NULL with err set. */
static const char *text_get(const json_t *v, const char *field, size_t max_chars,
                            GrievanceError *err)
{
    if (!json_is_string(v)) {
        error_set(err, field, "invalid", "%s must be a string", field);
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (!utf8_valid(s, len, (size_t)-1)) {
        error_set(err, field, "invalid", "%s is not valid UTF-8 text", field);
        return NULL;
    }
    if (!utf8_valid(s, len, max_chars)) {
        error_set(err, field, "too_long", "%s must be at most %zu characters", field, max_chars);
        return NULL;
    }
    if (len == 0 || blank(s)) {
        error_set(err, field, "required", "%s must not be empty", field);
        return NULL;
    }
    return s;
}

static void strlist_free(StrList *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* An array of strings, each 1..max_chars, optionally checked against a taxonomy list; duplicates
 * are dropped. */
static int strlist_get(const json_t *v, const char *field, size_t max_chars, const Taxonomy *tax,
                       int list, StrList *out, GrievanceError *err)
{
    if (!json_is_array(v)) {
        error_set(err, field, "invalid", "%s must be an array of strings", field);
        return -1;
    }
    if (json_array_size(v) > LIST_MAX_ITEMS) {
        error_set(err, field, "too_long", "%s may hold at most %d entries", field, LIST_MAX_ITEMS);
        return -1;
    }
    out->items = xcalloc(json_array_size(v), sizeof(char *));
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *s = text_get(item, field, max_chars, err);
        if (!s)
            return -1;
        if (list >= 0 && !taxonomy_has(tax, (TaxonomyList)list, s)) {
            error_set(err, field, "invalid",
                      "%s entry %zu is not a known id (see GET /v1/taxonomy)", field, i + 1);
            return -1;
        }
        bool dup = false;
        for (size_t j = 0; j < out->n; j++)
            dup = dup || strcmp(out->items[j], s) == 0;
        if (!dup)
            out->items[out->n++] = xstrdup(s);
    }
    return 0;
}

static int bool_get(const json_t *v, const char *field, bool *out, GrievanceError *err)
{
    if (!json_is_boolean(v)) {
        error_set(err, field, "invalid", "%s must be true or false", field);
        return -1;
    }
    *out = json_is_true(v);
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

static int consent_get(const json_t *v, Grievance *g, GrievanceError *err)
{
    if (!json_is_object(v)) {
        error_set(err, "consent", "invalid", "consent must be an object");
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (strcmp(key, "share_with_members") == 0) {
            if (bool_get(val, "consent.share_with_members", &g->share_with_members, err) < 0)
                return -1;
        } else if (strcmp(key, "share_with_regulator") == 0) {
            if (bool_get(val, "consent.share_with_regulator", &g->share_with_regulator, err) < 0)
                return -1;
        } else {
            error_set(err, "consent", "unknown_field",
                      "consent takes only share_with_members and share_with_regulator");
            return -1;
        }
    }
    return 0;
}

static int contact_get(const json_t *v, Grievance *g, GrievanceError *err)
{
    if (!json_is_object(v)) {
        error_set(err, "contact", "invalid", "contact must be an object");
        return -1;
    }
    json_t *clean = json_object();
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        char field[32];
        const char *s;
        if (strcmp(key, "name") == 0) {
            s = text_get(val, "contact.name", NAME_MAX_CHARS, err);
        } else if (strcmp(key, "email") == 0) {
            s = text_get(val, "contact.email", 254, err);
            if (s && !email_valid(s)) {
                error_set(err, "contact.email", "invalid",
                          "contact.email is not an e-mail address");
                s = NULL;
            }
        } else if (strcmp(key, "phone") == 0) {
            s = text_get(val, "contact.phone", 32, err);
            if (s && !phone_valid(s)) {
                error_set(
                    err, "contact.phone", "invalid",
                    "contact.phone must be 5 to 20 digits, optionally with + - ( ) . or spaces");
                s = NULL;
            }
        } else {
            error_set(err, "contact", "unknown_field", "contact takes only name, email and phone");
            s = NULL;
        }
        if (!s) {
            json_decref(clean);
            return -1;
        }
        snprintf(field, sizeof field, "%s", key);
        json_object_set_new(clean, field, json_string(s));
    }
    if (json_object_size(clean) > 0)
        g->contact_json = json_dumps(clean, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(clean);
    return 0;
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

static int field_apply(const char *key, const json_t *v, const Taxonomy *tax, Grievance *g,
                       GrievanceError *err)
{
    const char *s;
    if (strcmp(key, "description") == 0) {
        if (!(s = text_get(v, key, GRIEVANCE_DESCRIPTION_MAX, err)))
            return -1;
        g->description = xstrdup(s);
    } else if (strcmp(key, "category") == 0) {
        if (!(s = text_get(v, key, 64, err)))
            return -1;
        if (!taxonomy_has(tax, TAXONOMY_CATEGORIES, s)) {
            error_set(err, key, "invalid", "category is not a known id (see GET /v1/taxonomy)");
            return -1;
        }
        g->category = xstrdup(s);
    } else if (strcmp(key, "country") == 0) {
        if (!(s = text_get(v, key, 2, err)))
            return -1;
        char cc[3] = {(char)toupper((unsigned char)s[0]), (char)toupper((unsigned char)s[1]), 0};
        if (strlen(s) != 2 || !taxonomy_has(tax, TAXONOMY_COUNTRIES, cc)) {
            error_set(err, key, "invalid", "country must be an ISO 3166-1 alpha-2 code");
            return -1;
        }
        memcpy(g->country, cc, 3);
    } else if (strcmp(key, "rights") == 0) {
        return strlist_get(v, key, 64, tax, TAXONOMY_RIGHTS, &g->rights, err);
    } else if (strcmp(key, "vulnerability") == 0) {
        return strlist_get(v, key, 64, tax, TAXONOMY_VULNERABILITY, &g->vulnerability, err);
    } else if (strcmp(key, "companies") == 0) {
        return strlist_get(v, key, NAME_MAX_CHARS, tax, -1, &g->companies, err);
    } else if (strcmp(key, "services") == 0) {
        return strlist_get(v, key, 100, tax, -1, &g->services, err);
    } else if (strcmp(key, "people_affected") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 2147483647) {
            error_set(err, key, "invalid",
                      "people_affected must be a whole number from 1 to 2147483647");
            return -1;
        }
        g->people_affected = (long)json_integer_value(v);
    } else if (strcmp(key, "ongoing") == 0) {
        bool b;
        if (bool_get(v, key, &b, err) < 0)
            return -1;
        g->ongoing = b;
    } else if (strcmp(key, "started_on") == 0) {
        if (!(s = text_get(v, key, 10, err)))
            return -1;
        if (!date_valid(s)) {
            error_set(err, key, "invalid",
                      "started_on must be a date YYYY-MM-DD, not in the future");
            return -1;
        }
        memcpy(g->started_on, s, 11);
    } else if (strcmp(key, "complainant_type") == 0) {
        if (!(s = text_get(v, key, 15, err)))
            return -1;
        if (strcmp(s, "self") && strcmp(s, "on_behalf") && strcmp(s, "organisation") &&
            strcmp(s, "anonymous")) {
            error_set(err, key, "invalid",
                      "complainant_type must be self, on_behalf, organisation or anonymous");
            return -1;
        }
        snprintf(g->complainant_type, sizeof g->complainant_type, "%s", s);
    } else if (strcmp(key, "language") == 0) {
        if (!(s = text_get(v, key, 35, err)))
            return -1;
        if (!language_valid(s)) {
            error_set(err, key, "invalid", "language must be a BCP 47 tag such as en or pt-BR");
            return -1;
        }
        g->language = xstrdup(s);
    } else if (strcmp(key, "consent") == 0) {
        return consent_get(v, g, err);
    } else if (strcmp(key, "contact") == 0) {
        return contact_get(v, g, err);
    } else {
        char name[48];
        field_name_safe(key, name, sizeof name);
        error_set(err, name, "unknown_field", "unknown field %s", name);
        return -1;
    }
    return 0;
}

Grievance *grievance_from_json(const json_t *obj, const Taxonomy *tax, GrievanceError *err)
{
    if (!json_is_object(obj)) {
        error_set(err, "", "not_an_object", "the body must be a JSON object");
        return NULL;
    }
    Grievance *g = xcalloc(1, sizeof *g);
    g->ongoing = -1;
    snprintf(g->complainant_type, sizeof g->complainant_type, "self");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (field_apply(key, v, tax, g, err) < 0)
            goto fail;
    }
    static const char *const required[] = {"description", "category", "country"};
    const void *present[] = {g->description, g->category, g->country[0] ? g->country : NULL};
    for (size_t i = 0; i < 3; i++) {
        if (!present[i]) {
            error_set(err, required[i], "required", "%s is required", required[i]);
            goto fail;
        }
    }
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
    free(g->description);
    free(g->category);
    strlist_free(&g->rights);
    strlist_free(&g->companies);
    strlist_free(&g->services);
    strlist_free(&g->vulnerability);
    free(g->language);
    if (g->contact_json) {
        memset(g->contact_json, 0, strlen(g->contact_json));
        free(g->contact_json);
    }
    free(g);
}

static json_t *strlist_json(const StrList *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(arr, json_string(l->items[i]));
    return arr;
}

json_t *grievance_row_json(const Grievance *g, const GrievanceRowMeta *meta)
{
    json_t *row = json_object();
    json_object_set_new(row, "n", json_integer(meta->n));
    json_object_set_new(row, "reference", json_string(meta->reference));
    json_object_set_new(row, "channel", json_string(meta->channel));
    json_object_set_new(row, "country", json_string(g->country));
    json_object_set_new(row, "category", json_string(g->category));
    json_object_set_new(row, "description", json_string(g->description));
    json_object_set_new(row, "rights", strlist_json(&g->rights));
    json_object_set_new(row, "companies", strlist_json(&g->companies));
    json_object_set_new(row, "services", strlist_json(&g->services));
    json_object_set_new(row, "vulnerability", strlist_json(&g->vulnerability));
    if (g->people_affected > 0)
        json_object_set_new(row, "people_affected", json_integer(g->people_affected));
    if (g->ongoing >= 0)
        json_object_set_new(row, "ongoing", json_boolean(g->ongoing));
    if (g->started_on[0])
        json_object_set_new(row, "started_on", json_string(g->started_on));
    if (g->language)
        json_object_set_new(row, "language", json_string(g->language));
    json_object_set_new(row, "complainant_type", json_string(g->complainant_type));
    json_object_set_new(row, "share_with_members", json_boolean(g->share_with_members));
    json_object_set_new(row, "share_with_regulator", json_boolean(g->share_with_regulator));
    json_object_set_new(row, "receipt_hash", json_string(meta->receipt_hash_hex));
    if (meta->contact_enc_b64)
        json_object_set_new(row, "contact_enc", json_string(meta->contact_enc_b64));
    if (meta->idempotency_key) {
        json_object_set_new(row, "idempotency_key", json_string(meta->idempotency_key));
        json_object_set_new(row, "request_hash", json_string(meta->request_hash_hex));
    }
    return row;
}
