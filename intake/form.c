/* HTML form: render in the person's language (with their entries kept and the problem next to
 * its field), map the urlencoded fields to the API's JSON object so one validator serves both,
 * submit, show the receipt. */
#include "form.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "crypto.h"
#include "errtext.h"
#include "formdata.h"
#include "formfiles.h"
#include "grievance.h"
#include "html.h"
#include "reference.h"
#include "reply.h"
#include "storypage.h"
#include "submit.h"
#include "util.h"

#define FORM_ID "grievance"
#define FORM_TOKEN_BYTES 16
#define FORM_TOKEN_HEX (2 * FORM_TOKEN_BYTES)
#define FORM_KEY_PREFIX "form:"

/* What a form reply needs once the database has answered. */
typedef struct {
    FormData data;
    const Lang *lang;
    Worker *worker;
    FormFiles *files; /* chosen with the form (multipart), stored once the grievance is */
    FormFileProblem problem;
    char token[FORM_TOKEN_HEX + 1];
} FormPost;

static void form_post_free(void *ctx)
{
    FormPost *p = ctx;
    if (!p)
        return;
    formdata_clear(&p->data);
    formfiles_free(p->files);
    free(p);
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

/* A form shown again (after an error, or in another language) keeps the token it was sent with;
 * a new form gets one. */
static void form_token_field(struct evbuffer *out, const FormData *v)
{
    const char *token = formdata_get(v, "token");
    char fresh[FORM_TOKEN_HEX + 1];
    if (!token || !form_token_valid(token)) {
        unsigned char raw[FORM_TOKEN_BYTES];
        random_bytes(raw, sizeof raw);
        hex_encode(raw, sizeof raw, fresh);
        token = fresh;
    }
    evbuffer_add_printf(out, "<input type=\"hidden\" name=\"token\" value=\"%s\">\n", token);
}

/* A taxonomy entry's label in l: the English label is the msgid, the list's name its context. */
static const char *taxonomy_label_tr(const Lang *l, const Taxonomy *tax, TaxonomyList list,
                                     size_t i)
{
    return trc(l, taxonomy_list_name(list), taxonomy_label(tax, list, i));
}

static void field_error(struct evbuffer *out, const Lang *l, const GrievanceError *err,
                        const char *field)
{
    if (err && strcmp(err->field, field) == 0) {
        evbuffer_add_printf(out, "<p class=\"error\" id=\"%s-error\">", field);
        html_escape(out, errtext_sentence(l, err));
        evbuffer_add_printf(out, "</p>\n");
    }
}

/* aria-describedby for a control with an optional hint and error. */
static void described_by(struct evbuffer *out, const char *name, bool hint, const char *errfield,
                         const GrievanceError *err)
{
    bool has_err = err && errfield && strcmp(err->field, errfield) == 0;
    if (!hint && !has_err)
        return;
    evbuffer_add_printf(out, " aria-describedby=\"");
    if (has_err)
        evbuffer_add_printf(out, "%s-error%s", errfield, hint ? " " : "");
    if (hint)
        evbuffer_add_printf(out, "%s-hint", name);
    evbuffer_add_printf(out, "\"%s", has_err ? " aria-invalid=\"true\"" : "");
}

static void text_input(struct evbuffer *out, const Lang *l, const FormData *v,
                       const GrievanceError *err, const char *name, const char *type,
                       const char *label, const char *hint, const char *errfield,
                       const char *autocomplete)
{
    evbuffer_add_printf(out, "<label for=\"%s\">", name);
    html_tr(out, l, label);
    evbuffer_add_printf(out, "</label>\n");
    if (hint) {
        evbuffer_add_printf(out, "<p class=\"hint\" id=\"%s-hint\">", name);
        html_tr(out, l, hint);
        evbuffer_add_printf(out, "</p>\n");
    }
    field_error(out, l, err, errfield);
    evbuffer_add_printf(out, "<input type=\"%s\" id=\"%s\" name=\"%s\" value=\"", type, name, name);
    html_escape(out, formdata_get(v, name));
    /* What people type runs in its own direction (an English name on an Arabic page); addresses
     * and numbers are always left to right. */
    evbuffer_add_printf(out, "\" dir=\"%s\"", strcmp(type, "text") == 0 ? "auto" : "ltr");
    if (autocomplete)
        evbuffer_add_printf(out, " autocomplete=\"%s\"", autocomplete);
    described_by(out, name, hint != NULL, errfield, err);
    evbuffer_add_printf(out, ">\n");
}

static void taxonomy_select(struct evbuffer *out, const Lang *l, const Taxonomy *tax,
                            TaxonomyList list, const FormData *v, const GrievanceError *err,
                            const char *name, const char *label)
{
    const char *chosen = formdata_get(v, name);
    evbuffer_add_printf(out, "<label for=\"%s\">", name);
    html_tr(out, l, label);
    evbuffer_add_printf(out, "</label>\n");
    field_error(out, l, err, name);
    evbuffer_add_printf(out, "<select id=\"%s\" name=\"%s\" required", name, name);
    described_by(out, name, false, name, err);
    evbuffer_add_printf(out, ">\n<option value=\"\">");
    html_tr(out, l, N_("Choose…"));
    evbuffer_add_printf(out, "</option>\n");
    for (size_t i = 0; i < taxonomy_count(tax, list); i++) {
        const char *id = taxonomy_id(tax, list, i);
        evbuffer_add_printf(out, "<option value=\"");
        html_escape(out, id);
        evbuffer_add_printf(out, "\"%s>", chosen && strcasecmp(chosen, id) == 0 ? " selected" : "");
        html_escape(out, taxonomy_label_tr(l, tax, list, i));
        evbuffer_add_printf(out, "</option>\n");
    }
    evbuffer_add_printf(out, "</select>\n");
}

static void taxonomy_checkboxes(struct evbuffer *out, const Lang *l, const Taxonomy *tax,
                                TaxonomyList list, const FormData *v, const GrievanceError *err,
                                const char *name, const char *legend)
{
    evbuffer_add_printf(out, "<fieldset>\n<legend>");
    html_tr(out, l, legend);
    evbuffer_add_printf(out, "</legend>\n");
    field_error(out, l, err, name);
    for (size_t i = 0; i < taxonomy_count(tax, list); i++) {
        const char *id = taxonomy_id(tax, list, i);
        evbuffer_add_printf(out, "<label><input type=\"checkbox\" name=\"%s\" value=\"", name);
        html_escape(out, id);
        evbuffer_add_printf(out, "\"%s> ", formdata_has(v, name, id) ? " checked" : "");
        html_escape(out, taxonomy_label_tr(l, tax, list, i));
        evbuffer_add_printf(out, "</label>\n");
    }
    evbuffer_add_printf(out, "</fieldset>\n");
}

static void checkbox(struct evbuffer *out, const Lang *l, const FormData *v, const char *name,
                     const char *label)
{
    evbuffer_add_printf(out, "<label><input type=\"checkbox\" name=\"%s\" value=\"yes\"%s> ", name,
                        formdata_has(v, name, "yes") ? " checked" : "");
    html_tr(out, l, label);
    evbuffer_add_printf(out, "</label>\n");
}

static void complainant_types(struct evbuffer *out, const Lang *l, const FormData *v,
                              const GrievanceError *err)
{
    static const char *const types[][2] = {
        {"self", N_("I was harmed myself")},
        {"on_behalf", N_("On behalf of someone else")},
        {"organisation", N_("For an organisation")},
        {"anonymous", N_("Anonymously (no contact details)")},
    };
    const char *type = formdata_get(v, "complainant_type");
    evbuffer_add_printf(out, "<fieldset>\n<legend>");
    html_tr(out, l, N_("Who is filing?"));
    evbuffer_add_printf(out, "</legend>\n");
    field_error(out, l, err, "complainant_type");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        bool checked = type ? strcmp(type, types[i][0]) == 0 : i == 0;
        evbuffer_add_printf(
            out, "<label><input type=\"radio\" name=\"complainant_type\" value=\"%s\"%s> ",
            types[i][0], checked ? " checked" : "");
        html_tr(out, l, types[i][1]);
        evbuffer_add_printf(out, "</label>\n");
    }
    evbuffer_add_printf(out, "</fieldset>\n");
}

/* "Is anyone in immediate danger?": optional (neither radio checked is "not answered"); says what
 * a yes does, and that this is no emergency service. */
static void danger_question(struct evbuffer *out, const Lang *l, const FormData *v,
                            const GrievanceError *err)
{
    static const char *const answers[][2] = {{"yes", N_("Yes, someone is in immediate danger")},
                                             {"no", N_("No")}};
    evbuffer_add_printf(out, "<fieldset aria-describedby=\"immediate_danger-hint\">\n<legend>");
    html_tr(out, l, N_("Is anyone in immediate danger because of this? (optional)"));
    evbuffer_add_printf(out, "</legend>\n<p id=\"immediate_danger-hint\">");
    html_tr(out, l,
            N_("If you answer yes, your grievance goes to the top of the queue of the teams who "
               "handle it, with the highest priority, and must be acknowledged within hours. This "
               "service cannot send help: if someone's life or safety is at risk now, call your "
               "local emergency number (112 or 911 in many countries) or someone you trust "
               "nearby."));
    evbuffer_add_printf(out, "</p>\n");
    field_error(out, l, err, "immediate_danger");
    for (size_t i = 0; i < 2; i++) {
        evbuffer_add_printf(out,
                            "<label><input type=\"radio\" name=\"immediate_danger\" "
                            "value=\"%s\"%s> ",
                            answers[i][0],
                            formdata_has(v, "immediate_danger", answers[i][0]) ? " checked" : "");
        html_tr(out, l, answers[i][1]);
        evbuffer_add_printf(out, "</label>\n");
    }
    evbuffer_add_printf(out, "</fieldset>\n");
}

/* The evidence files input: several files in one control, the limits in its hint, a refused
 * file's problem next to it. */
static void files_input(struct evbuffer *out, const Lang *l, const Config *cfg,
                        const FormFileProblem *files)
{
    char max_mb[24], max_n[24];
    bool bad = files && files->code;
    snprintf(max_mb, sizeof max_mb, "%.1f", cfg->attachment_max_bytes / (1024.0 * 1024.0));
    snprintf(max_n, sizeof max_n, "%d", cfg->attachments_max);
    evbuffer_add_printf(out, "<label for=\"" FORMFILES_FIELD "\">");
    html_tr(out, l, N_("Evidence files (optional)"));
    evbuffer_add_printf(out, "</label>\n<p class=\"hint\" id=\"" FORMFILES_FIELD "-hint\">");
    html_trf(out, l,
             N_("Photos (PNG or JPEG), PDF documents or plain text: up to {count} files, each at "
                "most {size} MB. You may choose several at once."),
             "count", max_n, "size", max_mb, NULL);
    evbuffer_add_printf(out, "</p>\n");
    if (bad) {
        evbuffer_add_printf(out, "<p class=\"error\" id=\"" FORMFILES_FIELD "-error\">");
        formfiles_problem_html(out, l, cfg, files);
        evbuffer_add_printf(out, "</p>\n");
    }
    evbuffer_add_printf(out, "<input type=\"file\" id=\"" FORMFILES_FIELD
                             "\" name=\"" FORMFILES_FIELD "\" multiple accept=\"");
    for (const char *p = cfg->attachment_types; *p;) { /* a hint to the file chooser only */
        p += strspn(p, " ,");
        size_t m = strcspn(p, " ,");
        if (m)
            evbuffer_add_printf(out, "%s%.*s", p == cfg->attachment_types ? "" : ",", (int)m, p);
        p += m;
    }
    evbuffer_add_printf(out, "\" aria-describedby=\"%s" FORMFILES_FIELD "-hint\"%s>\n",
                        bad ? FORMFILES_FIELD "-error " : "", bad ? " aria-invalid=\"true\"" : "");
}

/* The grievance form in l; v and err are NULL for an empty form; files is NULL unless files were
 * sent with the form being shown again (they are never kept: a browser cannot refill a file
 * input), with files->code set when one of them is why. */
static void form_render(Worker *w, struct evhttp_request *req, int code, const Lang *l,
                        const FormData *v, const GrievanceError *err, const FormFileProblem *files)
{
    const Config *cfg = w->shared->cfg;
    const Taxonomy *tax = w->shared->tax;
    struct evbuffer *out = evbuffer_new();
    LangSwitch sw = {SWITCH_BUTTONS, FORM_ID, NULL};
    html_page_open(out, l, tr(l, N_("File a grievance")), &sw);
    evbuffer_add_printf(out, "<h1>");
    html_tr(out, l, N_("File a grievance"));
    evbuffer_add_printf(out, "</h1>\n<p>");
    html_tr(out, l,
            N_("Tell us about harm you or others suffered through a mobile network, an internet "
               "provider or an online platform. Only the description, the kind of harm and the "
               "country are required. You may stay anonymous. Contact details are stored "
               "encrypted and never shared without your consent."));
    evbuffer_add_printf(out, "</p>\n");
    if (err || (files && files->code)) {
        evbuffer_add_printf(out, "<div class=\"error\" role=\"alert\"><p>");
        html_tr(out, l, N_("Your grievance has not been sent yet."));
        evbuffer_add_printf(out, " ");
        if (err)
            html_escape(out, errtext_sentence(l, err));
        else
            formfiles_problem_html(out, l, cfg, files);
        evbuffer_add_printf(out, "</p></div>\n");
    }
    if (files) {
        evbuffer_add_printf(out, "<p class=\"error\">");
        html_tr(out, l,
                N_("Browsers cannot keep the files you chose when a form is shown again: please "
                   "choose your files again before sending."));
        evbuffer_add_printf(out, "</p>\n");
    }
    /* With files allowed the form is multipart (files and text in one post, no JavaScript). */
    evbuffer_add_printf(out,
                        "<form id=\"" FORM_ID "\" method=\"post\" action=\"/grievances\" "
                        "accept-charset=\"utf-8\"%s>\n"
                        "<input type=\"hidden\" name=\"language\" value=\"%s\">\n",
                        cfg->attachments_max > 0 ? " enctype=\"multipart/form-data\"" : "",
                        lang_tag(l));
    form_token_field(out, v);
    evbuffer_add_printf(out, "<label for=\"description\">");
    html_tr(out, l, N_("What happened? (required)"));
    evbuffer_add_printf(out, "</label>\n<p class=\"hint\" id=\"description-hint\">");
    html_tr(out, l, N_("In your own words, up to 20,000 characters."));
    evbuffer_add_printf(out, "</p>\n");
    field_error(out, l, err, "description");
    evbuffer_add_printf(out, "<textarea id=\"description\" name=\"description\" required "
                             "maxlength=\"20000\" dir=\"auto\"");
    described_by(out, "description", true, "description", err);
    evbuffer_add_printf(out, ">");
    html_escape(out, formdata_get(v, "description"));
    evbuffer_add_printf(out, "</textarea>\n");
    taxonomy_select(out, l, tax, TAXONOMY_CATEGORIES, v, err, "category",
                    N_("Kind of harm (required)"));
    taxonomy_select(out, l, tax, TAXONOMY_COUNTRIES, v, err, "country",
                    N_("Country where it happened (required)"));
    taxonomy_checkboxes(out, l, tax, TAXONOMY_RIGHTS, v, err, "rights",
                        N_("Rights affected (optional)"));
    text_input(out, l, v, err, "companies", "text", N_("Companies involved (optional)"),
               N_("Names of the companies, separated by commas."), "companies", NULL);
    text_input(out, l, v, err, "services", "text", N_("Services involved (optional)"),
               N_("For example: mobile data, messaging app, search. Separate them with commas."),
               "services", NULL);
    text_input(out, l, v, err, "people_affected", "number",
               N_("How many people are affected? (optional)"), N_("Your best estimate."),
               "people_affected", NULL);
    text_input(out, l, v, err, "started_on", "date", N_("When did it start? (optional)"),
               N_("An approximate date is fine."), "started_on", NULL);
    evbuffer_add_printf(out, "<fieldset>\n<legend>");
    html_tr(out, l, N_("Is it still going on?"));
    evbuffer_add_printf(out, "</legend>\n");
    field_error(out, l, err, "ongoing");
    checkbox(out, l, v, "ongoing", N_("Yes, the harm is ongoing"));
    evbuffer_add_printf(out, "</fieldset>\n");
    danger_question(out, l, v, err);
    taxonomy_checkboxes(out, l, tax, TAXONOMY_VULNERABILITY, v, err, "vulnerability",
                        N_("Does any of this describe the person harmed? (optional)"));
    if (cfg->attachments_max > 0)
        files_input(out, l, cfg, files);
    complainant_types(out, l, v, err);
    evbuffer_add_printf(out, "<fieldset>\n<legend>");
    html_tr(out, l, N_("Consent"));
    evbuffer_add_printf(out, "</legend>\n");
    field_error(out, l, err, "consent");
    checkbox(out, l, v, "share_with_members", N_("The companies concerned may see my grievance"));
    checkbox(out, l, v, "share_with_regulator",
             N_("Regulators may receive my description, without my contact details"));
    evbuffer_add_printf(out, "</fieldset>\n<fieldset>\n<legend>");
    html_tr(out, l, N_("How can we reach you? (optional)"));
    evbuffer_add_printf(out, "</legend>\n");
    field_error(out, l, err, "contact");
    text_input(out, l, v, err, "contact_name", "text", N_("Name"), NULL, "contact.name", "name");
    text_input(out, l, v, err, "contact_email", "email", N_("E-mail"), NULL, "contact.email",
               "email");
    text_input(out, l, v, err, "contact_phone", "tel", N_("Phone"), NULL, "contact.phone", "tel");
    evbuffer_add_printf(out, "</fieldset>\n<button type=\"submit\">");
    html_tr(out, l, N_("Send grievance"));
    evbuffer_add_printf(out, "</button>\n</form>\n");
    html_page_close(out, l);
    reply_content_language(req, l);
    reply_send(req, code, "text/html; charset=utf-8", out);
}

void form_page(Worker *w, struct evhttp_request *req)
{
    form_render(w, req, 200, reply_lang(req), NULL, NULL, NULL);
}

void form_error_page(struct evhttp_request *req, int code, const char *message)
{
    reply_page_error(req, code, reply_lang(req), message);
}

/* The separators people type between list items: comma, Arabic comma, ideographic and fullwidth
 * commas, newline. Returns the separator's length at s, or 0. */
static size_t list_separator(const char *s)
{
    static const char *const seps[] = {",", "\n", "\xd8\x8c", "\xe3\x80\x81", "\xef\xbc\x8c"};
    for (size_t i = 0; i < sizeof seps / sizeof seps[0]; i++) {
        if (strncmp(s, seps[i], strlen(seps[i])) == 0)
            return strlen(seps[i]);
    }
    return 0;
}

void form_list_split(json_t *arr, const char *s)
{
    while (s && *s) {
        const char *end = s;
        size_t sep = 0;
        while (*end && (sep = list_separator(end)) == 0)
            end++;
        const char *start = s, *stop = end;
        while (start < stop && isspace((unsigned char)*start))
            start++;
        while (stop > start && isspace((unsigned char)stop[-1]))
            stop--;
        if (stop > start)
            json_array_append_new(arr, json_stringn_nocheck(start, (size_t)(stop - start)));
        s = end + sep;
    }
}

static void set_nonempty(json_t *obj, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(obj, key, json_stringn_nocheck(value, strlen(value)));
}

/* A count typed in any digits a keyboard offers (ASCII, Arabic-Indic, Persian, fullwidth), as a
 * number; -1 when it is not a plain whole number. */
static long long count_parse(const char *s)
{
    long long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    if (!*p)
        return -1;
    while (*p) {
        int digit = -1;
        if (isdigit(*p)) {
            digit = *p - '0';
            p++;
        } else if (p[0] == 0xd9 && p[1] >= 0xa0 && p[1] <= 0xa9) { /* U+0660..0669 */
            digit = p[1] - 0xa0;
            p += 2;
        } else if (p[0] == 0xdb && p[1] >= 0xb0 && p[1] <= 0xb9) { /* U+06F0..06F9 */
            digit = p[1] - 0xb0;
            p += 2;
        } else if (p[0] == 0xef && p[1] == 0xbc && p[2] >= 0x90 && p[2] <= 0x99) { /* U+FF10.. */
            digit = p[2] - 0x90;
            p += 3;
        }
        if (digit < 0 || n > 1000000000000LL)
            return -1;
        n = n * 10 + digit;
    }
    return n;
}

/* The API's JSON object from the form's fields; NULL with err for what only the form can get
 * wrong (a number field that is not a number). */
static json_t *form_to_json(const FormData *v, GrievanceError *err)
{
    json_t *obj = json_object();
    set_nonempty(obj, "description", formdata_get(v, "description"));
    set_nonempty(obj, "category", formdata_get(v, "category"));
    set_nonempty(obj, "country", formdata_get(v, "country"));
    set_nonempty(obj, "started_on", formdata_get(v, "started_on"));
    set_nonempty(obj, "language", formdata_get(v, "language"));
    set_nonempty(obj, "complainant_type", formdata_get(v, "complainant_type"));
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
    form_list_split(companies, formdata_get(v, "companies"));
    form_list_split(services, formdata_get(v, "services"));
    json_object_set_new(obj, "rights", rights);
    json_object_set_new(obj, "vulnerability", vuln);
    json_object_set_new(obj, "companies", companies);
    json_object_set_new(obj, "services", services);
    const char *people = formdata_get(v, "people_affected");
    if (people && *people) {
        long long n = count_parse(people);
        if (n < 0) {
            snprintf(err->field, sizeof err->field, "people_affected");
            snprintf(err->code, sizeof err->code, "invalid");
            snprintf(err->message, sizeof err->message,
                     "people_affected must be a whole number of 1 or more");
            json_decref(obj);
            return NULL;
        }
        json_object_set_new(obj, "people_affected", json_integer(n));
    }
    json_object_set_new(obj, "ongoing", json_boolean(formdata_has(v, "ongoing", "yes")));
    /* yes/no; nothing chosen is not answered; anything else the validator refuses, by name */
    const char *danger = formdata_get(v, "immediate_danger");
    if (danger && *danger)
        json_object_set_new(obj, "immediate_danger",
                            strcmp(danger, "yes") == 0  ? json_true()
                            : strcmp(danger, "no") == 0 ? json_false()
                                                        : json_string("invalid"));
    json_object_set_new(
        obj, "consent",
        json_pack("{s:b, s:b}", "share_with_members", formdata_has(v, "share_with_members", "yes"),
                  "share_with_regulator", formdata_has(v, "share_with_regulator", "yes")));
    json_t *contact = json_object();
    set_nonempty(contact, "name", formdata_get(v, "contact_name"));
    set_nonempty(contact, "email", formdata_get(v, "contact_email"));
    set_nonempty(contact, "phone", formdata_get(v, "contact_phone"));
    if (json_object_size(contact) > 0)
        json_object_set_new(obj, "contact", contact);
    else
        json_decref(contact);
    return obj;
}

/* The files sent with the form: each one's SHA-256, or that it was not stored and can be sent
 * again with the upload form below. */
static void receipt_files(struct evbuffer *out, const Lang *l, const FormFileResult *files,
                          int nfiles)
{
    evbuffer_add_printf(out, "<h2>");
    html_tr(out, l, N_("Your files"));
    evbuffer_add_printf(out, "</h2>\n<p>");
    html_tr(out, l,
            N_("The SHA-256 fingerprint of each file lets you prove later exactly what you "
               "sent:"));
    evbuffer_add_printf(out, "</p>\n<ul class=\"evidence\">\n");
    for (int i = 0; i < nfiles; i++) {
        evbuffer_add_printf(out, "<li><bdi>");
        html_escape(out, files[i].name);
        evbuffer_add_printf(out, "</bdi>: ");
        if (files[i].stored) {
            evbuffer_add_printf(out, "<code class=\"sha256\" dir=\"ltr\">%s</code>",
                                files[i].sha256);
        } else {
            evbuffer_add_printf(out, "<strong class=\"error\">");
            html_tr(out, l,
                    N_("this file was not stored. Your grievance itself is received: you can send "
                       "the file again with the form below."));
            evbuffer_add_printf(out, "</strong>");
        }
        evbuffer_add_printf(out, "</li>\n");
    }
    evbuffer_add_printf(out, "</ul>\n");
}

/* The receipt page: reference and receipt, shown in r->lang; the switch re-posts both to
 * /receipt. */
void form_receipt_page(struct evhttp_request *req, int code, const FormReceipt *rc)
{
    const Lang *l = rc->lang;
    const char *reference = rc->reference, *receipt = rc->receipt;
    const char *received_at = rc->received_at;
    bool replayed = rc->replayed;
    struct evbuffer *out = evbuffer_new();
    const char *hidden[] = {"reference", reference, "receipt", receipt, NULL};
    LangSwitch sw = {SWITCH_POST, "/receipt", hidden};
    html_page_open(out, l, tr(l, N_("Grievance received")), &sw);
    evbuffer_add_printf(out, "<h1>");
    html_tr(out, l, N_("Your grievance has been received"));
    evbuffer_add_printf(out, "</h1>\n<p>");
    if (replayed) {
        html_tr(out, l,
                N_("This form had already been received: it is stored once, as it was first "
                   "sent. To add something, send a new form."));
        evbuffer_add_printf(out, "</p>\n<p>");
    }
    html_tr(out, l, N_("It is stored safely. Your reference is:"));
    evbuffer_add_printf(out, "</p>\n<p class=\"secret\">");
    html_escape(out, reference);
    evbuffer_add_printf(out, "</p>\n<p>");
    html_tr(out, l, N_("Your receipt, a secret that only you should know:"));
    evbuffer_add_printf(out, "</p>\n<p class=\"secret\">");
    html_escape(out, receipt);
    evbuffer_add_printf(out, "</p>\n");
    if (received_at) {
        evbuffer_add_printf(out, "<p>");
        html_tr(out, l, N_("Received:"));
        evbuffer_add_printf(out, " ");
        html_datetime(out, l, received_at);
        evbuffer_add_printf(out, "</p>\n");
    }
    evbuffer_add_printf(out, "<p><strong>");
    html_tr(out, l, N_("Write down or save both now."));
    evbuffer_add_printf(out, "</strong> ");
    html_tr(out, l,
            N_("Once you leave this page we cannot show the receipt again, and nobody can recover "
               "it for you. Keep it where others cannot see it: anyone who has it can see the "
               "status of your grievance."));
    evbuffer_add_printf(out, "</p>\n<p><a href=\"/status?lang=%s\">", lang_tag(l));
    html_tr(out, l, N_("Follow your grievance on the status page"));
    evbuffer_add_printf(out, "</a></p>\n");
    if (rc->nfiles > 0)
        receipt_files(out, l, rc->files, rc->nfiles);
    /* Evidence goes on its own path (README "Evidence files"): one file a post, from here. */
    IntakeConn *conn = conn_of_request(req);
    const Config *cfg = conn ? conn_worker(conn)->shared->cfg : NULL;
    if (cfg && cfg->attachments_max > 0) {
        evbuffer_add_printf(out, "<h2>");
        html_tr(out, l, N_("Evidence"));
        evbuffer_add_printf(out, "</h2>\n");
        storypage_upload_form(out, l, cfg, reference, receipt);
    }
    html_page_close(out, l);
    reply_content_language(req, l);
    reply_send(req, code, "text/html; charset=utf-8", out);
}

static void form_submit_reply(struct evhttp_request *req, const SubmitResult *r, void *ctx)
{
    FormPost *p = ctx;
    const FormFileProblem *files = p->files ? &p->problem : NULL;
    if (r->outcome == SUBMIT_STORED || r->outcome == SUBMIT_REPLAYED) {
        FormReceipt rc = {
            p->lang, r->reference, r->receipt, r->received_at, r->outcome == SUBMIT_REPLAYED, NULL,
            0};
        if (p->files) { /* acknowledged: now the files, then the receipt page */
            FormFiles *f = p->files;
            p->files = NULL;
            formfiles_store(p->worker, req, f, &rc, p->token[0] ? p->token : NULL);
        } else {
            form_receipt_page(req, 201, &rc);
        }
    } else if (r->outcome == SUBMIT_UNAVAILABLE) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
        GrievanceError e = {"", "unavailable", "the database is unavailable"};
        form_render(p->worker, req, 503, p->lang, &p->data, &e, files);
    } else {
        GrievanceError e = {"", "internal", "the grievance could not be stored"};
        form_render(p->worker, req, 500, p->lang, &p->data, &e, files);
    }
    form_post_free(p);
}

void form_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req)
{
    GrievanceError err = {"", "", ""};
    FormPost *p = xcalloc(1, sizeof *p);
    json_t *obj = NULL;
    Grievance *g = NULL;
    p->worker = w;
    TAILQ_INIT(&p->data.fields);
    p->lang = reply_lang(req);
    /* Multipart when files may come with it; both kinds end up in the same FormData. */
    if (api_content_type_is(req, "multipart/form-data") && w->shared->cfg->attachments_max > 0) {
        if (!formfiles_read_post(w, req, &p->data, &p->files, &p->problem))
            goto done;
    } else if (!formdata_read_post(req, &p->data)) {
        goto done;
    }
    const FormFileProblem *files = p->files ? &p->problem : NULL;
    p->lang = formdata_lang(&p->data, p->lang);
    const char *token = formdata_get(&p->data, "token"); /* absent in a page rendered before */
    if (token && !form_token_valid(token)) {
        form_error_page(req, 400,
                        N_("The form data could not be read. Please go back and try again."));
        goto done;
    }
    if (formdata_get(&p->data, "lang")) { /* the language switch: the same entries, nothing sent */
        FormFileProblem dropped = {NULL, "", 0}; /* the switch is no refusal of the files */
        form_render(w, req, 200, p->lang, &p->data, NULL, files ? &dropped : NULL);
        goto done;
    }
    if (files && files->code) { /* a refused file: nothing is stored, the text is kept */
        form_render(w, req, strcmp(files->code, "file_too_large") == 0 ? 413 : 422, p->lang,
                    &p->data, NULL, files);
        goto done;
    }
    obj = form_to_json(&p->data, &err);
    if (obj)
        g = grievance_from_json(obj, w->shared->tax, &err);
    if (!g) {
        form_render(w, req, 422, p->lang, &p->data, &err, files);
        goto done;
    }
    if (!db_ready(w->db) || batcher_overloaded(w->batch)) {
        SubmitResult r = {SUBMIT_UNAVAILABLE, NULL, NULL, NULL};
        form_submit_reply(req, &r, p);
        p = NULL;
        goto done;
    }
    /* The token, not the body, is what makes two posts the same grievance: a person who edits
     * the kept entries after a 503 gets the stored version back, never a conflict. */
    char key[sizeof FORM_KEY_PREFIX + FORM_TOKEN_HEX];
    unsigned char token_hash[32];
    if (token) {
        snprintf(p->token, sizeof p->token, "%s", token);
        snprintf(key, sizeof key, FORM_KEY_PREFIX "%s", token);
        sha256_bytes(key, strlen(key), token_hash);
    }
    SubmitRequest sr = {
        "form", token ? key : NULL, token ? token_hash : NULL, form_submit_reply, form_post_free,
        p};
    submit_start(w, conn, req, g, &sr);
    p = NULL; /* the reply callback frees it */
done:
    grievance_free(g);
    json_decref(obj);
    form_post_free(p);
}

void form_submit_too_large(Worker *w, struct evhttp_request *req)
{
    FormData d;
    GrievanceError err = {"", "body_too_large", "the request body is larger than allowed"};
    const Lang *l = reply_lang(req);
    reply_close_after(req);
    if (formdata_same_origin(req) && api_content_type_is(req, "multipart/form-data") &&
        w->shared->cfg->attachments_max > 0) {
        /* The form with files past its limit: the text again, and the file at fault if one is
         * too large by itself, else the files together. */
        FormFiles *files;
        FormFileProblem problem;
        if (!formfiles_read_post(w, req, &d, &files, &problem))
            return;
        formfiles_free(files);
        if (!problem.code || strcmp(problem.code, "file_too_large") != 0)
            problem.code = "files_too_large";
        form_render(w, req, 413, formdata_lang(&d, l), &d, NULL, &problem);
        formdata_clear(&d);
        return;
    }
    if (!formdata_same_origin(req) ||
        !api_content_type_is(req, "application/x-www-form-urlencoded")) {
        form_error_page(req, 413, N_("What you sent is larger than this site accepts."));
        return;
    }
    /* Everything arrived (below libevent's hard cap): show it again, the text kept. */
    if (formdata_parse(req, &d) < 0) {
        formdata_clear(&d);
        form_render(w, req, 413, l, NULL, &err, NULL);
        return;
    }
    form_render(w, req, 413, formdata_lang(&d, l), &d, &err, NULL);
    formdata_clear(&d);
}

void form_receipt_submit(Worker *w, struct evhttp_request *req)
{
    FormData d;
    char ref[REFERENCE_LEN + 1], receipt[RECEIPT_LEN + 1];
    if (!formdata_same_origin(req)) {
        form_error_page(req, 403, N_("This form can only be sent from this site's own page."));
        return;
    }
    if (formdata_parse(req, &d) < 0) {
        formdata_clear(&d);
        form_error_page(req, 400,
                        N_("The form data could not be read. Please go back and try again."));
        return;
    }
    const Lang *l = formdata_lang(&d, reply_lang(req));
    /* The receipt is derived from the reference under our key: a pair we did not issue is
     * refused without asking the database. */
    const char *r = formdata_get(&d, "reference"), *c = formdata_get(&d, "receipt");
    bool ok = r && c && reference_normalize(r, ref) && receipt_normalize(c, receipt);
    if (ok) {
        char expected[RECEIPT_LEN + 1];
        receipt_derive(w->shared->receipt_key, ref, expected);
        ok = bytes_equal_ct((const unsigned char *)expected, (const unsigned char *)receipt,
                            RECEIPT_LEN);
        OPENSSL_cleanse(expected, sizeof expected);
    }
    if (ok) {
        FormReceipt rc = {l, ref, receipt, NULL, false, NULL, 0};
        form_receipt_page(req, 200, &rc);
    } else
        reply_page_error(req, 404, l, N_("This reference and receipt do not belong together."));
    OPENSSL_cleanse(receipt, sizeof receipt);
    formdata_clear(&d);
}
