/* HTML form: render (with a person's entries kept and the problem next to its field), map the
 * urlencoded fields to the API's JSON object so one validator serves both, submit, status. */
#include "form.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "crypto.h"
#include "grievance.h"
#include "html.h"
#include "reply.h"
#include "status.h"
#include "submit.h"
#include "util.h"

#define FORM_TOKEN_BYTES 16
#define FORM_TOKEN_HEX (2 * FORM_TOKEN_BYTES)
#define FORM_KEY_PREFIX "form:"

/* The form's values, kept to re-show them. */
typedef struct {
    struct evkeyvalq fields;
    Worker *worker;
} FormValues;

static const char *form_get(const FormValues *v, const char *name)
{
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &v->fields, next)
    {
        if (strcmp(kv->key, name) == 0)
            return kv->value;
    }
    return NULL;
}

static bool form_has(const FormValues *v, const char *name, const char *value)
{
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &v->fields, next)
    {
        if (strcmp(kv->key, name) == 0 && strcmp(kv->value, value) == 0)
            return true;
    }
    return false;
}

/* The one-time token of a rendered form: random, 128 bits, in a hidden field. The submission uses
 * it as its idempotency key, so the same page sent twice (after a 503 whose outcome is unknown, a
 * double click, a reload) stores one grievance. */
static bool form_token_valid(const char *t)
{
    if (strlen(t) != FORM_TOKEN_HEX)
        return false;
    for (size_t i = 0; i < FORM_TOKEN_HEX; i++) {
        if (!strchr("0123456789abcdef", t[i]))
            return false;
    }
    return true;
}

/* A form shown again (after an error) keeps the token it was sent with; a new form gets one. */
static void form_token_field(struct evbuffer *out, const FormValues *v)
{
    const char *token = v ? form_get(v, "token") : NULL;
    char fresh[FORM_TOKEN_HEX + 1];
    if (!token || !form_token_valid(token)) {
        unsigned char raw[FORM_TOKEN_BYTES];
        random_bytes(raw, sizeof raw);
        hex_encode(raw, sizeof raw, fresh);
        token = fresh;
    }
    evbuffer_add_printf(out, "<input type=\"hidden\" name=\"token\" value=\"%s\">\n", token);
}

static void form_values_free(void *ctx)
{
    FormValues *v = ctx;
    if (!v)
        return;
    evhttp_clear_headers(&v->fields);
    free(v);
}

static void field_error(struct evbuffer *out, const GrievanceError *err, const char *field)
{
    if (err && strcmp(err->field, field) == 0) {
        evbuffer_add_printf(out, "<p class=\"error\" id=\"%s-error\" role=\"alert\">", field);
        html_escape(out, err->message);
        evbuffer_add_printf(out, "</p>\n");
    }
}

static void text_input(struct evbuffer *out, const FormValues *v, const GrievanceError *err,
                       const char *name, const char *type, const char *label, const char *hint,
                       const char *errfield)
{
    evbuffer_add_printf(out, "<label for=\"%s\">", name);
    html_escape(out, label);
    evbuffer_add_printf(out, "</label>\n");
    if (hint) {
        evbuffer_add_printf(out, "<p class=\"hint\" id=\"%s-hint\">", name);
        html_escape(out, hint);
        evbuffer_add_printf(out, "</p>\n");
    }
    field_error(out, err, errfield);
    evbuffer_add_printf(out, "<input type=\"%s\" id=\"%s\" name=\"%s\" value=\"", type, name, name);
    html_escape(out, v ? form_get(v, name) : NULL);
    evbuffer_add_printf(out, "\"%s%s%s>\n", hint ? " aria-describedby=\"" : "", hint ? name : "",
                        hint ? "-hint\"" : "");
}

static void taxonomy_select(struct evbuffer *out, const Taxonomy *tax, TaxonomyList list,
                            const FormValues *v, const GrievanceError *err, const char *name,
                            const char *label)
{
    const char *chosen = v ? form_get(v, name) : NULL;
    evbuffer_add_printf(out, "<label for=\"%s\">", name);
    html_escape(out, label);
    evbuffer_add_printf(out, " (required)</label>\n");
    field_error(out, err, name);
    evbuffer_add_printf(
        out, "<select id=\"%s\" name=\"%s\" required>\n<option value=\"\">Choose…</option>\n", name,
        name);
    for (size_t i = 0; i < taxonomy_count(tax, list); i++) {
        const char *id = taxonomy_id(tax, list, i);
        evbuffer_add_printf(out, "<option value=\"");
        html_escape(out, id);
        evbuffer_add_printf(out, "\"%s>", chosen && strcasecmp(chosen, id) == 0 ? " selected" : "");
        html_escape(out, taxonomy_label(tax, list, i));
        evbuffer_add_printf(out, "</option>\n");
    }
    evbuffer_add_printf(out, "</select>\n");
}

static void taxonomy_checkboxes(struct evbuffer *out, const Taxonomy *tax, TaxonomyList list,
                                const FormValues *v, const GrievanceError *err, const char *name,
                                const char *legend)
{
    evbuffer_add_printf(out, "<fieldset>\n<legend>");
    html_escape(out, legend);
    evbuffer_add_printf(out, "</legend>\n");
    field_error(out, err, name);
    for (size_t i = 0; i < taxonomy_count(tax, list); i++) {
        const char *id = taxonomy_id(tax, list, i);
        evbuffer_add_printf(out, "<label><input type=\"checkbox\" name=\"%s\" value=\"", name);
        html_escape(out, id);
        evbuffer_add_printf(out, "\"%s> ", v && form_has(v, name, id) ? " checked" : "");
        html_escape(out, taxonomy_label(tax, list, i));
        evbuffer_add_printf(out, "</label>\n");
    }
    evbuffer_add_printf(out, "</fieldset>\n");
}

static void checkbox(struct evbuffer *out, const FormValues *v, const char *name, const char *label)
{
    evbuffer_add_printf(out, "<label><input type=\"checkbox\" name=\"%s\" value=\"yes\"%s> ", name,
                        v && form_has(v, name, "yes") ? " checked" : "");
    html_escape(out, label);
    evbuffer_add_printf(out, "</label>\n");
}

/* "Is anyone in immediate danger?": optional (neither radio checked is "not answered"); says what
 * a yes does, and that this is no emergency service. */
static void danger_question(struct evbuffer *out, const FormValues *v, const GrievanceError *err)
{
    evbuffer_add_printf(
        out, "<fieldset aria-describedby=\"immediate_danger-hint\">\n<legend>Is anyone in "
             "immediate danger because of this? (optional)</legend>\n"
             "<p id=\"immediate_danger-hint\">If you answer yes, your grievance goes to the top of "
             "the queue of the teams who handle it, with the highest priority, and must be "
             "acknowledged within hours. This service cannot send help: if someone's life or "
             "safety is at risk now, call your local emergency number (112 or 911 in many "
             "countries) or someone you trust nearby.</p>\n");
    field_error(out, err, "immediate_danger");
    static const char *const answers[][2] = {{"yes", "Yes, someone is in immediate danger"},
                                             {"no", "No"}};
    for (size_t i = 0; i < 2; i++)
        evbuffer_add_printf(out,
                            "<label><input type=\"radio\" name=\"immediate_danger\" "
                            "value=\"%s\"%s> %s</label>\n",
                            answers[i][0],
                            v && form_has(v, "immediate_danger", answers[i][0]) ? " checked" : "",
                            answers[i][1]);
    evbuffer_add_printf(out, "</fieldset>\n");
}

/* The grievance form; v and err are NULL for an empty form. */
static void form_render(Worker *w, struct evhttp_request *req, int code, const FormValues *v,
                        const GrievanceError *err)
{
    const Taxonomy *tax = w->shared->tax;
    struct evbuffer *out = evbuffer_new();
    html_page_open(out, "File a grievance");
    evbuffer_add_printf(
        out,
        "<h1>File a grievance</h1>\n"
        "<p>Tell us about harm you or others suffered through a mobile network, an internet "
        "provider or an online platform. Only the description, the kind of harm and the country "
        "are required. You may stay anonymous. Contact details are stored encrypted and never "
        "shared without your consent.</p>\n");
    if (err) {
        evbuffer_add_printf(out, "<p class=\"error\" role=\"alert\">Please check the form: ");
        html_escape(out, err->message);
        evbuffer_add_printf(out, "</p>\n");
    }
    evbuffer_add_printf(out,
                        "<form method=\"post\" action=\"/grievances\" accept-charset=\"utf-8\">\n"
                        "<input type=\"hidden\" name=\"language\" value=\"en\">\n");
    form_token_field(out, v);
    evbuffer_add_printf(out, "<label for=\"description\">What happened? (required)</label>\n"
                             "<p class=\"hint\" id=\"description-hint\">In your own words, up to "
                             "20,000 characters.</p>\n");
    field_error(out, err, "description");
    evbuffer_add_printf(out, "<textarea id=\"description\" name=\"description\" required "
                             "maxlength=\"20000\" aria-describedby=\"description-hint\">");
    html_escape(out, v ? form_get(v, "description") : NULL);
    evbuffer_add_printf(out, "</textarea>\n");
    taxonomy_select(out, tax, TAXONOMY_CATEGORIES, v, err, "category", "Kind of harm");
    taxonomy_select(out, tax, TAXONOMY_COUNTRIES, v, err, "country", "Country where it happened");
    taxonomy_checkboxes(out, tax, TAXONOMY_RIGHTS, v, err, "rights", "Rights affected (optional)");
    text_input(out, v, err, "companies", "text", "Companies involved (optional)",
               "Names of the companies, separated by commas.", "companies");
    text_input(out, v, err, "services", "text", "Services involved (optional)",
               "For example: mobile data, messaging app, search. Separate with commas.",
               "services");
    text_input(out, v, err, "people_affected", "number", "How many people are affected? (optional)",
               "Your best estimate.", "people_affected");
    text_input(out, v, err, "started_on", "date", "When did it start? (optional)",
               "An approximate date is fine.", "started_on");
    evbuffer_add_printf(out, "<fieldset>\n<legend>Is it still going on?</legend>\n");
    field_error(out, err, "ongoing");
    checkbox(out, v, "ongoing", "Yes, the harm is ongoing");
    evbuffer_add_printf(out, "</fieldset>\n");
    danger_question(out, v, err);
    taxonomy_checkboxes(out, tax, TAXONOMY_VULNERABILITY, v, err, "vulnerability",
                        "Does any of this describe the person harmed? (optional)");
    static const char *const types[][2] = {{"self", "I was harmed myself"},
                                           {"on_behalf", "On behalf of someone else"},
                                           {"organisation", "For an organisation"},
                                           {"anonymous", "Anonymously (no contact details)"}};
    const char *type = v ? form_get(v, "complainant_type") : NULL;
    evbuffer_add_printf(out, "<fieldset>\n<legend>Who is filing?</legend>\n");
    field_error(out, err, "complainant_type");
    for (size_t i = 0; i < 4; i++)
        evbuffer_add_printf(
            out,
            "<label><input type=\"radio\" name=\"complainant_type\" value=\"%s\"%s> "
            "%s</label>\n",
            types[i][0], (type ? strcmp(type, types[i][0]) == 0 : i == 0) ? " checked" : "",
            types[i][1]);
    evbuffer_add_printf(out, "</fieldset>\n<fieldset>\n<legend>Consent</legend>\n");
    field_error(out, err, "consent");
    checkbox(out, v, "share_with_members", "The companies concerned may see my grievance");
    checkbox(out, v, "share_with_regulator",
             "Regulators may receive my description, without my contact details");
    evbuffer_add_printf(
        out, "</fieldset>\n<fieldset>\n<legend>How can we reach you? (optional)</legend>\n");
    field_error(out, err, "contact");
    text_input(out, v, err, "contact_name", "text", "Name", NULL, "contact.name");
    text_input(out, v, err, "contact_email", "email", "E-mail", NULL, "contact.email");
    text_input(out, v, err, "contact_phone", "tel", "Phone", NULL, "contact.phone");
    evbuffer_add_printf(out,
                        "</fieldset>\n<button type=\"submit\">Send grievance</button>\n</form>\n");
    html_page_close(out);
    reply_send(req, code, "text/html; charset=utf-8", out);
}

void form_page(Worker *w, struct evhttp_request *req)
{
    form_render(w, req, 200, NULL, NULL);
}

void form_error_page(struct evhttp_request *req, int code, const char *message)
{
    struct evbuffer *out = evbuffer_new();
    html_page_open(out, "Problem");
    evbuffer_add_printf(out, "<h1>Sorry, that did not work</h1>\n<p class=\"error\">");
    html_escape(out, message);
    evbuffer_add_printf(out, "</p>\n");
    html_page_close(out);
    reply_send(req, code, "text/html; charset=utf-8", out);
}

/* Refuses a post made by another site's page (CSRF): Origin must be ours when present. */
static bool form_post_same_origin(struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
    if (site && strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0)
        return false; /* cross-site, or a sibling subdomain (same-site) */
    const char *origin = evhttp_find_header(in, "Origin");
    if (!origin)
        return true;
    /* Our pages carry Referrer-Policy: no-referrer, under which browsers send "Origin: null" for
     * the page's own form post (Fetch, "append a request Origin header"). Fetch Metadata still
     * says same-origin then; without it (or from a sandboxed frame) null is refused. */
    if (strcmp(origin, "null") == 0)
        return site != NULL;
    const char *host = evhttp_find_header(in, "Host");
    if (!host || strncmp(origin, "https://", 8) != 0)
        return false;
    return strcasecmp(origin + 8, host) == 0;
}

/* Parses an urlencoded body into v->fields. 0, or -1 for a body that is not urlencoded text. */
static int form_parse(struct evhttp_request *req, FormValues *v)
{
    size_t len;
    char *body = api_body_copy(req, &len);
    TAILQ_INIT(&v->fields);
    /* A NUL, raw or encoded, would cut a value short without a word: refuse the form. */
    int rc = (strlen(body) == len && !strcasestr(body, "%00"))
                 ? evhttp_parse_query_str(body, &v->fields)
                 : -1;
    free(body);
    return rc;
}

static void list_split(json_t *arr, const char *s)
{
    while (s && *s) {
        size_t n = strcspn(s, ",\n");
        const char *start = s, *end = s + n;
        while (start < end && isspace((unsigned char)*start))
            start++;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        if (end > start)
            json_array_append_new(arr, json_stringn_nocheck(start, (size_t)(end - start)));
        s += n + (s[n] ? 1 : 0);
    }
}

static void set_nonempty(json_t *obj, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(obj, key, json_stringn_nocheck(value, strlen(value)));
}

/* The API's JSON object from the form's fields; NULL with err for what only the form can get
 * wrong (a number field that is not a number). */
static json_t *form_to_json(const FormValues *v, GrievanceError *err)
{
    json_t *obj = json_object();
    set_nonempty(obj, "description", form_get(v, "description"));
    set_nonempty(obj, "category", form_get(v, "category"));
    set_nonempty(obj, "country", form_get(v, "country"));
    set_nonempty(obj, "started_on", form_get(v, "started_on"));
    set_nonempty(obj, "language", form_get(v, "language"));
    set_nonempty(obj, "complainant_type", form_get(v, "complainant_type"));
    json_t *rights = json_array(), *vuln = json_array(), *companies = json_array(),
           *services = json_array();
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &v->fields, next)
    {
        if (strcmp(kv->key, "rights") == 0)
            json_array_append_new(rights, json_stringn_nocheck(kv->value, strlen(kv->value)));
        else if (strcmp(kv->key, "vulnerability") == 0)
            json_array_append_new(vuln, json_stringn_nocheck(kv->value, strlen(kv->value)));
    }
    list_split(companies, form_get(v, "companies"));
    list_split(services, form_get(v, "services"));
    json_object_set_new(obj, "rights", rights);
    json_object_set_new(obj, "vulnerability", vuln);
    json_object_set_new(obj, "companies", companies);
    json_object_set_new(obj, "services", services);
    const char *people = form_get(v, "people_affected");
    if (people && *people) {
        char *end;
        long long n = strtoll(people, &end, 10);
        if (*end || !isdigit((unsigned char)people[0])) {
            snprintf(err->field, sizeof err->field, "people_affected");
            snprintf(err->code, sizeof err->code, "invalid");
            snprintf(err->message, sizeof err->message,
                     "people_affected must be a whole number of 1 or more");
            json_decref(obj);
            return NULL;
        }
        json_object_set_new(obj, "people_affected", json_integer(n));
    }
    json_object_set_new(obj, "ongoing", json_boolean(form_has(v, "ongoing", "yes")));
    /* yes/no; nothing chosen is not answered; anything else the validator refuses, by name */
    const char *danger = form_get(v, "immediate_danger");
    if (danger && *danger)
        json_object_set_new(obj, "immediate_danger",
                            strcmp(danger, "yes") == 0  ? json_true()
                            : strcmp(danger, "no") == 0 ? json_false()
                                                        : json_string("invalid"));
    json_object_set_new(obj, "consent",
                        json_pack("{s:b, s:b}", "share_with_members",
                                  form_has(v, "share_with_members", "yes"), "share_with_regulator",
                                  form_has(v, "share_with_regulator", "yes")));
    json_t *contact = json_object();
    set_nonempty(contact, "name", form_get(v, "contact_name"));
    set_nonempty(contact, "email", form_get(v, "contact_email"));
    set_nonempty(contact, "phone", form_get(v, "contact_phone"));
    if (json_object_size(contact) > 0)
        json_object_set_new(obj, "contact", contact);
    else
        json_decref(contact);
    return obj;
}

static void form_submit_reply(struct evhttp_request *req, const SubmitResult *r, void *ctx)
{
    FormValues *v = ctx;
    if (r->outcome == SUBMIT_STORED || r->outcome == SUBMIT_REPLAYED) {
        struct evbuffer *out = evbuffer_new();
        html_page_open(out, "Grievance received");
        evbuffer_add_printf(out, "<h1>Your grievance has been received</h1>\n");
        if (r->outcome == SUBMIT_REPLAYED)
            evbuffer_add_printf(out,
                                "<p>This form had already been received: it is stored once, as "
                                "it was first sent. To add something, send a new form.</p>\n");
        evbuffer_add_printf(out, "<p>It is stored safely. Your reference is:</p>\n"
                                 "<p class=\"secret\">");
        html_escape(out, r->reference);
        evbuffer_add_printf(out, "</p>\n<p>Your receipt (a secret, shown only this once):</p>\n"
                                 "<p class=\"secret\">");
        html_escape(out, r->receipt);
        evbuffer_add_printf(
            out,
            "</p>\n<p><strong>Write down or save both now.</strong> With them you can follow your "
            "grievance on the <a href=\"/status\">status page</a>. We cannot show the receipt "
            "again "
            "and nobody can recover it for you. Keep it where others cannot see it: anyone who has "
            "it can see the status of your grievance.</p>\n");
        html_page_close(out);
        reply_send(req, 201, "text/html; charset=utf-8", out);
    } else if (r->outcome == SUBMIT_UNAVAILABLE) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
        GrievanceError e = {"", "unavailable",
                            "we could not confirm that your grievance was stored: it may or may "
                            "not have been. Your entries are kept below. Sending the form again "
                            "in a moment is safe: it will not create a second grievance."};
        form_render(v->worker, req, 503, v, &e);
    } else {
        GrievanceError e = {"", "internal",
                            "we could not store your grievance. Your entries are kept below: "
                            "please try again."};
        form_render(v->worker, req, 500, v, &e);
    }
    form_values_free(v);
}

void form_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req)
{
    GrievanceError err = {"", "", ""};
    FormValues *v = xcalloc(1, sizeof *v);
    json_t *obj = NULL;
    Grievance *g = NULL;
    v->worker = w;
    TAILQ_INIT(&v->fields);
    if (!form_post_same_origin(req)) {
        form_error_page(req, 403, "This form can only be sent from this site's own page.");
        goto done;
    }
    if (!api_content_type_is(req, "application/x-www-form-urlencoded")) {
        form_error_page(req, 415, "The form must be sent as application/x-www-form-urlencoded.");
        goto done;
    }
    if (form_parse(req, v) < 0) {
        form_error_page(req, 400, "The form data could not be read. Please go back and try again.");
        goto done;
    }
    const char *token = form_get(v, "token"); /* absent in a page rendered before tokens */
    if (token && !form_token_valid(token)) {
        form_error_page(req, 400, "The form data could not be read. Please go back and try again.");
        goto done;
    }
    obj = form_to_json(v, &err);
    if (obj)
        g = grievance_from_json(obj, w->shared->tax, &err);
    if (!g) {
        form_render(w, req, 422, v, &err);
        goto done;
    }
    if (!db_ready(w->db) || batcher_overloaded(w->batcher)) {
        SubmitResult r = {SUBMIT_UNAVAILABLE, NULL, NULL, NULL};
        form_submit_reply(req, &r, v);
        v = NULL;
        goto done;
    }
    /* The token, not the body, is what makes two posts the same grievance: a person who edits
     * the kept entries after a 503 gets the stored version back, never a conflict. */
    char key[sizeof FORM_KEY_PREFIX + FORM_TOKEN_HEX];
    unsigned char token_hash[32];
    if (token) {
        snprintf(key, sizeof key, FORM_KEY_PREFIX "%s", token);
        sha256_bytes(key, strlen(key), token_hash);
    }
    SubmitRequest sr = {
        "form", token ? key : NULL, token ? token_hash : NULL, form_submit_reply, form_values_free,
        v};
    submit_start(w, conn, req, g, &sr);
    v = NULL; /* the reply callback frees it */
done:
    grievance_free(g);
    json_decref(obj);
    form_values_free(v);
}

static void status_form(struct evbuffer *out, const char *message)
{
    evbuffer_add_printf(out, "<h1>Follow a grievance</h1>\n");
    if (message) {
        evbuffer_add_printf(out, "<p class=\"error\" role=\"alert\">");
        html_escape(out, message);
        evbuffer_add_printf(out, "</p>\n");
    }
    evbuffer_add_printf(
        out,
        "<form method=\"post\" action=\"/status\" accept-charset=\"utf-8\">\n"
        "<label for=\"reference\">Reference</label>\n"
        "<input type=\"text\" id=\"reference\" name=\"reference\" autocomplete=\"off\" required>\n"
        "<label for=\"receipt\">Receipt</label>\n"
        "<input type=\"password\" id=\"receipt\" name=\"receipt\" autocomplete=\"off\" required>\n"
        "<button type=\"submit\">Show status</button>\n</form>\n");
}

void form_status_page(Worker *w, struct evhttp_request *req)
{
    (void)w;
    struct evbuffer *out = evbuffer_new();
    html_page_open(out, "Follow a grievance");
    status_form(out, NULL);
    html_page_close(out);
    reply_send(req, 200, "text/html; charset=utf-8", out);
}

static const char *status_words(const char *status)
{
    static const char *const words[][2] = {
        {"received", "Received: waiting to be assessed"},
        {"triaged", "Assessed: waiting for the company to take it up"},
        {"assigned", "Assigned to the company responsible"},
        {"investigating", "Being investigated"},
        {"remedy_proposed", "A remedy has been proposed"},
        {"remedy_accepted", "The remedy was accepted"},
        {"remedy_declined", "The remedy was declined"},
        {"remedy_implemented", "The remedy has been carried out"},
        {"closed", "Closed"},
        {"rejected", "Not taken up (outside what this mechanism covers)"},
        {"referred", "Referred to a State body"},
        {"appealed", "Appealed: being looked at again"},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(words[i][0], status) == 0)
            return words[i][1];
    }
    return status;
}

static void form_status_reply(struct evhttp_request *req, StatusOutcome outcome,
                              const StatusInfo *info)
{
    struct evbuffer *out = evbuffer_new();
    html_page_open(out, "Follow a grievance");
    if (outcome == STATUS_FOUND) {
        evbuffer_add_printf(out, "<h1>Grievance ");
        html_escape(out, info->reference);
        evbuffer_add_printf(out, "</h1>\n<dl>\n<dt>Status</dt><dd>");
        html_escape(out, status_words(info->status));
        evbuffer_add_printf(out, "</dd>\n<dt>Received</dt><dd>");
        html_escape(out, info->received_at);
        evbuffer_add_printf(out, "</dd>\n");
        if (info->next_stage[0]) {
            evbuffer_add_printf(out, "<dt>Next step</dt><dd>");
            html_escape(out, info->next_stage);
            evbuffer_add_printf(out, ", due by ");
            html_escape(out, info->next_due);
            evbuffer_add_printf(out, "</dd>\n");
        }
        evbuffer_add_printf(out, "</dl>\n");
        html_page_close(out);
        reply_send(req, 200, "text/html; charset=utf-8", out);
        return;
    }
    int code = outcome == STATUS_NOT_FOUND ? 404 : 503;
    if (code == 503)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
    status_form(out,
                outcome == STATUS_NOT_FOUND
                    ? "No grievance matches this reference and receipt. Check both and try again."
                    : "The status cannot be shown just now. Please try again in a moment.");
    html_page_close(out);
    reply_send(req, code, "text/html; charset=utf-8", out);
}

void form_status_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req)
{
    FormValues v;
    if (!form_post_same_origin(req)) {
        form_error_page(req, 403, "This form can only be sent from this site's own page.");
        return;
    }
    if (!api_content_type_is(req, "application/x-www-form-urlencoded")) {
        form_error_page(req, 415, "The form must be sent as application/x-www-form-urlencoded.");
        return;
    }
    if (form_parse(req, &v) < 0) {
        evhttp_clear_headers(&v.fields);
        form_error_page(req, 400, "The form data could not be read. Please go back and try again.");
        return;
    }
    status_lookup(w, conn, req, form_get(&v, "reference"), form_get(&v, "receipt"),
                  form_status_reply);
    evhttp_clear_headers(&v.fields);
}
