/* POST /open311/v2/requests.json: an Open311 service request, form-encoded, becomes the JSON
 * object the API takes (service_code -> category, attribute[...] -> the other fields, email /
 * phone / first_name + last_name -> contact), and that object goes through the one validator
 * (grievance_from_json) and the one submission path (submit_start: row builder, group commit, the
 * answer only after COMMIT). Location beyond the country (lat/long, address_string, address_id),
 * media_url, device_id and account_id are checked where they have a form and never stored; the
 * answer's service_notice says so. Nothing of the request is logged. */
#include "open311.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "crypto.h"
#include "errtext.h"
#include "form.h"
#include "formdata.h"
#include "grievance.h"
#include "reply.h"
#include "submit.h"
#include "util.h"

#define OPEN311_KEY_PREFIX "open311:" /* its own key space beside the API's and the form's */
#define OPEN311_CODE_MAX 32           /* an attribute code we name back in an error */

typedef enum {
    ATTR_SINGLE, /* singlevaluelist: one key of its values, a JSON string */
    ATTR_MULTI,  /* multivaluelist: attribute[code][]=key, repeated; a JSON array */
    ATTR_BOOL,   /* singlevaluelist true/false: a JSON boolean */
    ATTR_NUMBER, /* number: a JSON integer */
    ATTR_STRING, /* string: a JSON string */
    ATTR_LIST,   /* string, comma separated: a JSON array of strings */
} AttrKind;

typedef struct {
    const char *code; /* attribute[code], the grievance's field of the same name */
    AttrKind kind;
    int list;      /* ATTR_SINGLE/ATTR_MULTI: a TaxonomyList, or -1 for complainant_values */
    bool required; /* country: or jurisdiction_id */
    bool consent;  /* a member of the grievance's consent object */
    const char *description;          /* English msgid, the form's own label (so translated) */
    const char *datatype_description; /* English */
} Attribute;

static const char *const complainant_values[][2] = {
    {"self", N_("I was harmed myself")},
    {"on_behalf", N_("On behalf of someone else")},
    {"organisation", N_("For an organisation")},
    {"anonymous", N_("Anonymously (no contact details)")},
};

enum { ATTR_COUNTRY = 0 }; /* attributes[0]: country may also come as jurisdiction_id */

static const Attribute attributes[] = {
    {"country", ATTR_SINGLE, TAXONOMY_COUNTRIES, true, false,
     N_("Country where it happened (required)"),
     "ISO 3166-1 alpha-2 code; a jurisdiction_id that is one may give it instead"},
    {"rights", ATTR_MULTI, TAXONOMY_RIGHTS, false, false, N_("Rights affected (optional)"), NULL},
    {"vulnerability", ATTR_MULTI, TAXONOMY_VULNERABILITY, false, false,
     N_("Does any of this describe the person harmed? (optional)"), NULL},
    {"complainant_type", ATTR_SINGLE, -1, false, false, N_("Who is filing?"),
     "self when not given; anonymous allows no email, phone or name"},
    {"people_affected", ATTR_NUMBER, 0, false, false,
     N_("How many people are affected? (optional)"), "a whole number from 1 to 2147483647"},
    {"started_on", ATTR_STRING, 0, false, false, N_("When did it start? (optional)"),
     "a date, YYYY-MM-DD, not in the future"},
    {"ongoing", ATTR_BOOL, 0, false, false, N_("Is it still going on?"), NULL},
    {"immediate_danger", ATTR_BOOL, 0, false, false,
     N_("Is anyone in immediate danger because of this? (optional)"),
     "true puts the grievance at the top of the queue; this service cannot send help"},
    {"companies", ATTR_LIST, 0, false, false, N_("Companies involved (optional)"),
     "names separated by commas, at most 20 of 200 characters"},
    {"services", ATTR_LIST, 0, false, false, N_("Services involved (optional)"),
     "names separated by commas, at most 20 of 100 characters"},
    {"share_with_members", ATTR_BOOL, 0, false, true,
     N_("The companies concerned may see my grievance"), "false when not given"},
    {"share_with_regulator", ATTR_BOOL, 0, false, true,
     N_("Regulators may receive my description, without my contact details"),
     "false when not given"},
    {"language", ATTR_STRING, 0, false, false, "The language the description is written in",
     "a BCP 47 tag such as en or pt-BR"},
};
#define NATTRS (sizeof attributes / sizeof attributes[0])

/* The request's own parameters (GeoReport v2, POST Service Request). */
typedef enum {
    P_SERVICE_CODE,
    P_DESCRIPTION,
    P_EMAIL,
    P_FIRST_NAME,
    P_LAST_NAME,
    P_PHONE,
    P_JURISDICTION_ID,
    P_LAT,
    P_LONG,
    P_ADDRESS_STRING,
    P_ADDRESS_ID,
    P_DEVICE_ID,
    P_ACCOUNT_ID,
    P_MEDIA_URL,
    P_API_KEY,
    NPARAMS
} Param;

static const char *const param_names[NPARAMS] = {
    "service_code", "description",     "email",      "first_name", "last_name",
    "phone",        "jurisdiction_id", "lat",        "long",       "address_string",
    "address_id",   "device_id",       "account_id", "media_url",  "api_key"};

/* What the request said, borrowed from its FormData. */
typedef struct {
    const char *param[NPARAMS];
    const char *single[NATTRS]; /* the attributes taking one value */
    json_t *multi[NATTRS];      /* ATTR_MULTI: owned */
} Fields;

/* Why a request was refused before the validator saw it; description is English. */
typedef struct {
    int code;
    char description[256];
} Refusal;

__attribute__((format(printf, 2, 3))) static void refuse(Refusal *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->code = 400;
    vsnprintf(r->description, sizeof r->description, fmt, ap);
    va_end(ap);
}

static const char *attr_kind_datatype(AttrKind k)
{
    switch (k) {
    case ATTR_SINGLE:
    case ATTR_BOOL:
        return "singlevaluelist";
    case ATTR_MULTI:
        return "multivaluelist";
    case ATTR_NUMBER:
        return "number";
    default:
        return "string";
    }
}

static json_t *attr_values_json(const Attribute *a, const Taxonomy *tax, const Lang *l)
{
    json_t *values = json_array();
    if (a->kind == ATTR_BOOL) {
        json_array_append_new(values, json_pack("{s:s, s:s}", "key", "true", "name", "true"));
        json_array_append_new(values, json_pack("{s:s, s:s}", "key", "false", "name", "false"));
    } else if (a->list < 0) {
        for (size_t i = 0; i < sizeof complainant_values / sizeof complainant_values[0]; i++)
            json_array_append_new(values, json_pack("{s:s, s:s}", "key", complainant_values[i][0],
                                                    "name", tr(l, complainant_values[i][1])));
    } else {
        TaxonomyList list = (TaxonomyList)a->list;
        for (size_t i = 0; i < taxonomy_count(tax, list); i++)
            json_array_append_new(
                values, json_pack("{s:s, s:s}", "key", taxonomy_id(tax, list, i), "name",
                                  trc(l, taxonomy_list_name(list), taxonomy_label(tax, list, i))));
    }
    return values;
}

json_t *open311_attributes_json(const Taxonomy *tax, const Lang *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < NATTRS; i++) {
        const Attribute *a = &attributes[i];
        json_t *o = json_pack("{s:b, s:s, s:s, s:b, s:i, s:s}", "variable", 1, "code", a->code,
                              "datatype", attr_kind_datatype(a->kind), "required", a->required,
                              "order", (int)i + 1, "description", tr(l, a->description));
        json_object_set_new(o, "datatype_description",
                            a->datatype_description ? json_string(a->datatype_description)
                                                    : json_null());
        if (a->kind == ATTR_SINGLE || a->kind == ATTR_MULTI || a->kind == ATTR_BOOL)
            json_object_set_new(o, "values", attr_values_json(a, tax, l));
        json_array_append_new(arr, o);
    }
    return arr;
}

static int attr_index(const char *code, size_t len)
{
    for (size_t i = 0; i < NATTRS; i++) {
        if (strlen(attributes[i].code) == len && memcmp(attributes[i].code, code, len) == 0)
            return (int)i;
    }
    return -1;
}

/* "attribute[code]" or "attribute[code][]" (name decoded): files the value. */
static int fields_add_attribute(Fields *f, const char *name, const char *value, Refusal *r)
{
    const char *code = name + strlen("attribute[");
    const char *end = strchr(code, ']');
    bool many = end && strcmp(end, "][]") == 0;
    if (!end || (end[1] != '\0' && !many)) {
        refuse(r, "%s is not of the form attribute[code] or attribute[code][]", "a field name");
        return -1;
    }
    int i = attr_index(code, (size_t)(end - code));
    if (i < 0) {
        char shown[OPEN311_CODE_MAX + 1] = "";
        size_t n = (size_t)(end - code);
        bool plain = n > 0 && n <= OPEN311_CODE_MAX &&
                     strspn(code, "abcdefghijklmnopqrstuvwxyz0123456789_") >= n;
        if (plain)
            memcpy(shown, code, n);
        refuse(r,
               "attribute[%s] is not an attribute of this service (see GET "
               "/open311/v2/services/{service_code}.json)",
               plain ? shown : "...");
        return -1;
    }
    const Attribute *a = &attributes[i];
    if (a->kind == ATTR_MULTI) {
        if (!f->multi[i])
            f->multi[i] = json_array();
        if (*value)
            json_array_append_new(f->multi[i], json_stringn_nocheck(value, strlen(value)));
        return 0;
    }
    if (f->single[i] || many) {
        refuse(r, "attribute[%s] takes one value", a->code);
        return -1;
    }
    f->single[i] = value;
    return 0;
}

/* Files every field of d; unknown top-level names are ignored (clients add their own), an
 * unknown attribute or a repeated parameter is refused. */
static int fields_read(Fields *f, const FormData *d, Refusal *r)
{
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &d->fields, next)
    {
        /* evhttp decodes values, not names: attribute%5Bcountry%5D is attribute[country]. */
        size_t len = 0;
        char *name = evhttp_uridecode(kv->key, 1, &len);
        if (!name || strlen(name) != len) {
            free(name);
            refuse(r, "%s could not be read", "a field name");
            return -1;
        }
        int rc = 0;
        if (strncmp(name, "attribute[", strlen("attribute[")) == 0) {
            rc = fields_add_attribute(f, name, kv->value, r);
        } else {
            for (int p = 0; p < NPARAMS; p++) {
                if (strcmp(name, param_names[p]) != 0)
                    continue;
                if (f->param[p]) {
                    refuse(r, "%s is given more than once", param_names[p]);
                    rc = -1;
                }
                f->param[p] = kv->value;
            }
        }
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void fields_clear(Fields *f)
{
    for (size_t i = 0; i < NATTRS; i++)
        json_decref(f->multi[i]);
}

static bool given(const char *s)
{
    return s && *s;
}

/* A decimal degree within [-limit, limit]. */
static bool degrees_valid(const char *s, double limit)
{
    char *end = NULL;
    double v = strtod(s, &end);
    return end != s && *end == '\0' && !isspace((unsigned char)*s) && isfinite(v) &&
           fabs(v) <= limit;
}

static int location_check(const Fields *f, Refusal *r)
{
    const char *lat = f->param[P_LAT], *lon = f->param[P_LONG];
    if (given(lat) != given(lon)) {
        refuse(r, "%s must be given together", "lat and long");
        return -1;
    }
    if (given(lat) && (!degrees_valid(lat, 90) || !degrees_valid(lon, 180))) {
        refuse(r, "%s must be decimal degrees (WGS84): lat from -90 to 90, long from -180 to 180",
               "lat and long");
        return -1;
    }
    return 0;
}

static void set_given(json_t *obj, const char *key, const char *value)
{
    if (given(value))
        json_object_set_new(obj, key, json_stringn_nocheck(value, strlen(value)));
}

/* An attribute's value as the validator takes it; what does not convert goes as the string it
 * is, so the validator refuses it with its own message. */
static json_t *attr_value_json(const Attribute *a, const char *s)
{
    if (a->kind == ATTR_BOOL && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0))
        return json_boolean(s[0] == 't');
    if (a->kind == ATTR_NUMBER && strlen(s) <= 12 && strspn(s, "0123456789") == strlen(s))
        return json_integer(strtoll(s, NULL, 10));
    if (a->kind == ATTR_LIST) {
        json_t *arr = json_array();
        form_list_split(arr, s);
        return arr;
    }
    return json_stringn_nocheck(s, strlen(s));
}

/* The API's JSON object for f; NULL with r for what only this profile can get wrong.
 * default_country: the country when the request names none ("" for none). */
static json_t *fields_to_json(Fields *f, const char *default_country, Refusal *r)
{
    const char *country = f->single[ATTR_COUNTRY];
    const char *jurisdiction = f->param[P_JURISDICTION_ID];
    if (given(country) && given(jurisdiction) && strcasecmp(country, jurisdiction) != 0) {
        refuse(r, "%s name different countries", "attribute[country] and jurisdiction_id");
        return NULL;
    }
    if (location_check(f, r) < 0)
        return NULL;
    json_t *obj = json_object(), *consent = json_object(), *contact = json_object();
    set_given(obj, "category", f->param[P_SERVICE_CODE]);
    set_given(obj, "description", f->param[P_DESCRIPTION]);
    set_given(obj, "country",
              given(country)        ? country
              : given(jurisdiction) ? jurisdiction
                                    : default_country);
    for (size_t i = ATTR_COUNTRY + 1; i < NATTRS; i++) {
        const Attribute *a = &attributes[i];
        json_t *v = a->kind == ATTR_MULTI
                        ? json_incref(f->multi[i])
                        : (given(f->single[i]) ? attr_value_json(a, f->single[i]) : NULL);
        if (v)
            json_object_set_new(a->consent ? consent : obj, a->code, v);
    }
    json_object_set_new(obj, "consent", consent);
    const char *first = f->param[P_FIRST_NAME], *last = f->param[P_LAST_NAME];
    if (given(first) || given(last)) {
        size_t n = (first ? strlen(first) : 0) + (last ? strlen(last) : 0) + 2;
        char *name = xmalloc(n);
        snprintf(name, n, "%s%s%s", given(first) ? first : "",
                 given(first) && given(last) ? " " : "", given(last) ? last : "");
        json_object_set_new(contact, "name", json_stringn_nocheck(name, strlen(name)));
        free(name);
    }
    set_given(contact, "email", f->param[P_EMAIL]);
    set_given(contact, "phone", f->param[P_PHONE]);
    if (json_object_size(contact) > 0)
        json_object_set_new(obj, "contact", contact);
    else
        json_decref(contact);
    return obj;
}

/* The Open311 name of a validator field. */
static void open311_field_name(const char *field, char *out, size_t outlen)
{
    if (strcmp(field, "category") == 0)
        snprintf(out, outlen, "service_code");
    else if (strcmp(field, "description") == 0)
        snprintf(out, outlen, "description");
    else if (strcmp(field, "contact.email") == 0)
        snprintf(out, outlen, "email");
    else if (strcmp(field, "contact.phone") == 0)
        snprintf(out, outlen, "phone");
    else if (strcmp(field, "contact.name") == 0)
        snprintf(out, outlen, "first_name and last_name");
    else if (strcmp(field, "contact") == 0)
        snprintf(out, outlen, "attribute[complainant_type]");
    else if (strncmp(field, "consent.", 8) == 0)
        snprintf(out, outlen, "attribute[%.56s]", field + 8);
    else if (*field)
        snprintf(out, outlen, "attribute[%.64s]", field);
    else
        out[0] = '\0';
}

/* A validator error in Open311's words: the field as the client named it, the message in the
 * request's language as the API would send it. */
static void open311_grievance_error(struct evhttp_request *req, const GrievanceError *err)
{
    const Lang *l = reply_lang(req);
    char field[sizeof err->field + 16], description[sizeof field + sizeof err->message + 64];
    bool english = l == i18n_default();
    open311_field_name(err->field, field, sizeof field);
    if (english && strcmp(err->field, "category") == 0)
        snprintf(description, sizeof description, "%s",
                 strcmp(err->code, "required") == 0
                     ? "service_code is required"
                     : "service_code is not a known service (see GET /open311/v2/services.json)");
    else if (english && strcmp(err->field, "country") == 0 && strcmp(err->code, "required") == 0)
        snprintf(description, sizeof description,
                 "attribute[country] (or a jurisdiction_id naming a country) is required");
    else if (*field)
        snprintf(description, sizeof description, "%s: %s", field, errtext_api(l, err));
    else
        snprintf(description, sizeof description, "%s", errtext_api(l, err));
    reply_content_language(req, l);
    open311_error(req, 400, description);
}

/* What a stored request's answer needs: which given fields were not stored. */
typedef struct {
    bool dropped[NPARAMS];
} Open311Post;

static const Param dropped_params[] = {P_LAT,       P_LONG,      P_ADDRESS_STRING, P_ADDRESS_ID,
                                       P_MEDIA_URL, P_DEVICE_ID, P_ACCOUNT_ID};

static void open311_notice(const Open311Post *p, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen,
                                "Received. Keep the receipt: it is shown only now, and it is the "
                                "api_key of GET /open311/v2/requests/{service_request_id}.json.");
    const char *sep = " Not stored (this mechanism keeps the country only, and no media): ";
    for (size_t i = 0; i < sizeof dropped_params / sizeof dropped_params[0] && n < outlen; i++) {
        if (!p->dropped[dropped_params[i]])
            continue;
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", sep, param_names[dropped_params[i]]);
        sep = ", ";
    }
    if (n < outlen && strcmp(sep, ", ") == 0)
        snprintf(out + n, outlen - n, ".");
}

static void open311_submit_reply(struct evhttp_request *req, const SubmitResult *r, void *ctx)
{
    Open311Post *p = ctx;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char url[80], notice[512];
    switch (r->outcome) {
    case SUBMIT_STORED:
    case SUBMIT_REPLAYED:
        snprintf(url, sizeof url, "/open311/v2/requests/%s.json", r->reference);
        evhttp_add_header(h, "Location", url);
        if (r->outcome == SUBMIT_REPLAYED)
            evhttp_add_header(h, "Idempotent-Replayed", "true");
        open311_notice(p, notice, sizeof notice);
        reply_json(req, 201,
                   json_pack("[{s:s, s:s, s:n, s:n, s:s, s:s}]", "service_request_id", r->reference,
                             "service_notice", notice, "account_id", "token", "receipt", r->receipt,
                             "requested_datetime", r->received_at));
        break;
    case SUBMIT_CONFLICT:
        open311_error(req, 409, "this Idempotency-Key was already used with a different body");
        break;
    case SUBMIT_UNAVAILABLE:
        evhttp_add_header(h, "Retry-After", "2");
        open311_error(req, 503,
                      "the request may not have been stored (database unavailable or busy); "
                      "sending it again with the same Idempotency-Key is safe");
        break;
    case SUBMIT_FAILED:
        open311_error(req, 500, "the request could not be stored; please retry");
        break;
    }
    free(p);
}

void open311_request_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                            const char *rest)
{
    (void)rest;
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req), "Idempotency-Key");
    FormData d;
    Fields f;
    Refusal refusal = {0, ""};
    GrievanceError gerr;
    json_t *obj = NULL;
    Grievance *g = NULL;
    memset(&f, 0, sizeof f);
    TAILQ_INIT(&d.fields);
    if (!api_content_type_is(req, "application/x-www-form-urlencoded")) {
        open311_error(req, 415, "send the request as application/x-www-form-urlencoded");
        return;
    }
    if (key && !api_idempotency_key_valid(key)) {
        open311_error(req, 400, "Idempotency-Key must be 1 to 200 visible ASCII characters");
        return;
    }
    if (formdata_parse(req, &d) < 0) {
        open311_error(req, 400, "the body is not application/x-www-form-urlencoded text");
        goto done;
    }
    if (fields_read(&f, &d, &refusal) < 0 ||
        !(obj = fields_to_json(&f, w->shared->cfg->open311_country, &refusal))) {
        open311_error(req, refusal.code, refusal.description);
        goto done;
    }
    if (!(g = grievance_from_json(obj, w->shared->tax, &gerr))) {
        open311_grievance_error(req, &gerr);
        goto done;
    }
    Open311Post *p = xcalloc(1, sizeof *p);
    for (size_t i = 0; i < sizeof dropped_params / sizeof dropped_params[0]; i++)
        p->dropped[dropped_params[i]] = given(f.param[dropped_params[i]]);
    if (!db_ready(w->db) || batcher_overloaded(w->batch)) {
        SubmitResult r = {SUBMIT_UNAVAILABLE, NULL, NULL, NULL};
        open311_submit_reply(req, &r, p);
        goto done;
    }
    char prefixed[sizeof OPEN311_KEY_PREFIX + 200];
    unsigned char request_hash[32];
    if (key) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        sha256_bytes(len ? (const char *)evbuffer_pullup(in, -1) : "", len, request_hash);
        snprintf(prefixed, sizeof prefixed, OPEN311_KEY_PREFIX "%s", key);
    }
    SubmitRequest sr = {
        "open311", key ? prefixed : NULL, key ? request_hash : NULL, open311_submit_reply, free, p};
    submit_start(w, conn, req, g, &sr);
done:
    grievance_free(g);
    json_decref(obj);
    fields_clear(&f);
    formdata_clear(&d);
}
