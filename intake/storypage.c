/* The story of a case on the HTML status page, and the person's actions from it (see
 * storypage.h). Every form carries the reference and the receipt as hidden fields (the receipt
 * never goes into a URL) and a one-time token used as the Idempotency-Key, so sending the same
 * page again after a failure stores nothing twice. */
#include "storypage.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "crypto.h"
#include "evidence.h"
#include "form.h"
#include "formdata.h"
#include "html.h"
#include "priority_words.h"
#include "reference.h"
#include "reply.h"
#include "util.h"

#define TOKEN_BYTES 16

static const char *json_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static const char *word_of(const char *const (*table)[2], size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i][0], id) == 0)
            return table[i][1];
    return id;
}

static const char *involvement_words(const char *id)
{
    static const char *const words[][2] = {
        {"caused", N_("caused the harm")},
        {"contributed", N_("contributed to the harm")},
        {"linked", N_("is directly linked to the harm through its products or services")},
    };
    return word_of(words, sizeof words / sizeof words[0], id);
}

static const char *role_words(const char *id)
{
    static const char *const words[][2] = {
        {"lead", N_("leads the case")},
        {"co-owner", N_("works on the case with the lead")},
        {"informed", N_("is kept informed")},
    };
    return word_of(words, sizeof words / sizeof words[0], id);
}

static const char *remedy_words(const char *id)
{
    static const char *const words[][2] = {
        {"restoration", N_("Restoring what was lost")},
        {"correction", N_("Correcting the record")},
        {"apology", N_("An apology")},
        {"compensation", N_("Compensation")},
        {"policy_change", N_("A change of policy")},
        {"non_repetition", N_("A guarantee it will not happen again")},
        {"referral", N_("Referral to a State body")},
    };
    return word_of(words, sizeof words / sizeof words[0], id);
}

/* The hidden fields every form of the page carries. */
static void form_open(struct evbuffer *out, const Lang *l, const char *action,
                      const char *reference, const char *receipt)
{
    unsigned char token[TOKEN_BYTES];
    char hex[2 * TOKEN_BYTES + 1];
    random_bytes(token, sizeof token);
    hex_encode(token, sizeof token, hex);
    bool upload = strcmp(action, "attachment") == 0; /* its own route: a larger body limit */
    evbuffer_add_printf(out,
                        "<form method=\"post\" action=\"%s\" accept-charset=\"utf-8\"%s>\n"
                        "<input type=\"hidden\" name=\"action\" value=\"%s\">\n"
                        "<input type=\"hidden\" name=\"token\" value=\"%s\">\n"
                        "<input type=\"hidden\" name=\"language\" value=\"%s\">\n"
                        "<input type=\"hidden\" name=\"reference\" value=\"",
                        upload ? "/status/attachments" : "/status/action",
                        upload ? " enctype=\"multipart/form-data\"" : "", action, hex, lang_tag(l));
    html_escape(out, reference);
    evbuffer_add_printf(out, "\">\n<input type=\"hidden\" name=\"receipt\" value=\"");
    html_escape(out, receipt);
    evbuffer_add_printf(out, "\">\n");
}

static void textarea(struct evbuffer *out, const Lang *l, const char *id, const char *name,
                     const char *label, bool required)
{
    evbuffer_add_printf(out, "<label for=\"%s\">", id);
    html_tr(out, l, label);
    evbuffer_add_printf(out, "</label>\n<textarea id=\"%s\" name=\"%s\"%s></textarea>\n", id, name,
                        required ? " required" : "");
}

static void button(struct evbuffer *out, const Lang *l, const char *name, const char *value,
                   const char *label)
{
    if (name)
        evbuffer_add_printf(out, "<button type=\"submit\" name=\"%s\" value=\"%s\">", name, value);
    else
        evbuffer_add_printf(out, "<button type=\"submit\">");
    html_tr(out, l, label);
    evbuffer_add_printf(out, "</button>\n");
}

static void section_owners(struct evbuffer *out, const Lang *l, const json_t *story)
{
    const json_t *owners = json_object_get(story, "owners");
    if (json_array_size(owners) == 0)
        return;
    evbuffer_add_printf(out, "<h2>");
    html_tr(out, l, N_("Who handles your case"));
    evbuffer_add_printf(out, "</h2>\n<ul>\n");
    size_t i;
    json_t *o;
    json_array_foreach(owners, i, o)
    {
        evbuffer_add_printf(out, "<li><strong>");
        html_escape(out, json_str(o, "name"));
        evbuffer_add_printf(out, "</strong>: ");
        html_tr(out, l, role_words(json_str(o, "role")));
        evbuffer_add_printf(out, "; ");
        html_tr(out, l, involvement_words(json_str(o, "involvement")));
        evbuffer_add_printf(out, "</li>\n");
    }
    evbuffer_add_printf(out, "</ul>\n");
}

static void section_progress(struct evbuffer *out, const Lang *l, const json_t *story)
{
    const json_t *prio = json_object_get(story, "priority");
    if (json_is_object(prio)) {
        evbuffer_add_printf(out, "<h2>");
        html_tr(out, l, N_("Priority"));
        evbuffer_add_printf(out, "</h2>\n<p>");
        html_trf(out, l, N_("Band {band} (P1 is the most urgent)."), "band", json_str(prio, "band"),
                 NULL);
        json_t *reasons = priority_reasons(story, l);
        if (json_array_size(reasons) > 0) {
            evbuffer_add_printf(out, " ");
            html_tr(out, l, N_("What weighed most:"));
            evbuffer_add_printf(out, "</p>\n<ul>\n");
            size_t i;
            json_t *r;
            json_array_foreach(reasons, i, r)
            {
                evbuffer_add_printf(out, "<li>");
                html_escape(out, json_string_value(r));
                evbuffer_add_printf(out, "</li>\n");
            }
            evbuffer_add_printf(out, "</ul>\n");
        } else {
            evbuffer_add_printf(out, "</p>\n");
        }
        json_decref(reasons);
    }
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(story, "missed_deadlines"), i, m)
    {
        evbuffer_add_printf(out, "<p class=\"error\">");
        html_trf(out, l, N_("A deadline was missed: {stage}, due by {due}."), "stage",
                 tr(l, form_stage_words(json_str(m, "stage"))), "due", json_str(m, "due"), NULL);
        evbuffer_add_printf(out, "</p>\n");
    }
    const json_t *outcome = json_object_get(story, "outcome");
    if (json_is_object(outcome) && *json_str(outcome, "reason")) {
        evbuffer_add_printf(out, "<p>");
        html_trf(out, l, N_("The reason given: {reason}"), "reason", json_str(outcome, "reason"),
                 NULL);
        evbuffer_add_printf(out, "</p>\n");
    }
    evbuffer_add_printf(out, "<h2>");
    html_tr(out, l, N_("What has happened so far"));
    evbuffer_add_printf(out, "</h2>\n<ol>\n");
    json_t *h;
    json_array_foreach(json_object_get(story, "history"), i, h)
    {
        evbuffer_add_printf(out, "<li>");
        html_datetime(out, l, json_str(h, "at"));
        evbuffer_add_printf(out, ": ");
        html_tr(out, l, form_status_words(json_str(h, "status")));
        evbuffer_add_printf(out, "</li>\n");
    }
    evbuffer_add_printf(out, "</ol>\n");
}

static void section_remedies(struct evbuffer *out, const Lang *l, const json_t *story,
                             const char *reference, const char *receipt)
{
    const json_t *remedies = json_object_get(story, "remedies");
    if (json_array_size(remedies) == 0)
        return;
    evbuffer_add_printf(out, "<h2>");
    html_tr(out, l, N_("Remedies offered to you"));
    evbuffer_add_printf(out, "</h2>\n");
    size_t i;
    json_t *r;
    json_array_foreach(remedies, i, r)
    {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(r, "id")));
        evbuffer_add_printf(out, "<h3>");
        html_tr(out, l, remedy_words(json_str(r, "type")));
        evbuffer_add_printf(out, "</h3>\n<p>");
        html_escape(out, json_str(r, "details"));
        evbuffer_add_printf(out, "</p>\n");
        const json_t *resp = json_object_get(r, "your_response");
        if (json_is_object(resp)) {
            evbuffer_add_printf(out, "<p>");
            html_tr(out, l,
                    strcmp(json_str(resp, "decision"), "accept") == 0
                        ? N_("You accepted this remedy.")
                        : N_("You declined this remedy."));
            evbuffer_add_printf(out, "</p>\n");
        } else if (json_is_true(json_object_get(r, "can_respond"))) {
            char field[40];
            snprintf(field, sizeof field, "comment-%s", id);
            form_open(out, l, "remedy", reference, receipt);
            evbuffer_add_printf(out, "<input type=\"hidden\" name=\"remedy_id\" value=\"%s\">\n",
                                id);
            textarea(out, l, field, "comment", N_("A comment (optional)"), false);
            button(out, l, "decision", "accept", N_("Accept this remedy"));
            button(out, l, "decision", "decline", N_("Decline this remedy"));
            evbuffer_add_printf(out, "</form>\n");
        }
    }
}

static void section_messages(struct evbuffer *out, const Lang *l, const json_t *story,
                             const char *reference, const char *receipt)
{
    evbuffer_add_printf(out, "<h2>");
    html_tr(out, l, N_("Messages"));
    evbuffer_add_printf(out, "</h2>\n");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(story, "messages"), i, m)
    {
        bool mine = strcmp(json_str(m, "from"), "you") == 0;
        evbuffer_add_printf(out, "<p class=\"hint\">");
        html_tr(out, l,
                mine ? N_("From you")
                : json_is_true(json_object_get(m, "to_everyone"))
                    ? N_("From the case team, to everyone in this case")
                    : N_("From the case team"));
        evbuffer_add_printf(out, ", ");
        html_datetime(out, l, json_str(m, "at"));
        evbuffer_add_printf(out, "</p>\n<p>");
        html_escape(out, json_str(m, "text"));
        evbuffer_add_printf(out, "</p>\n");
    }
    if (!strcmp(json_str(story, "status"), "received"))
        return; /* nobody to write to before triage */
    form_open(out, l, "message", reference, receipt);
    textarea(out, l, "message-text", "text", N_("Write to the case team"), true);
    button(out, l, NULL, NULL, N_("Send message"));
    evbuffer_add_printf(out, "</form>\n");
}

static void section_appeal_feedback(struct evbuffer *out, const Lang *l, const json_t *story,
                                    const char *reference, const char *receipt)
{
    const json_t *appeal = json_object_get(story, "can_appeal");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(story, "appeals"), i, a)
    {
        evbuffer_add_printf(out, "<p>");
        html_tr(out, l, N_("You appealed. The mechanism's staff are looking at your case again."));
        evbuffer_add_printf(out, "</p>\n");
        break;
    }
    if (json_is_true(json_object_get(appeal, "allowed"))) {
        evbuffer_add_printf(out, "<h2>");
        html_tr(out, l, N_("Appeal"));
        evbuffer_add_printf(out, "</h2>\n<p>");
        html_tr(out, l,
                N_("If you disagree with this outcome you may ask the mechanism's staff to look at "
                   "your case again."));
        evbuffer_add_printf(out, " ");
        html_tr(out, l, N_("You can appeal until:"));
        evbuffer_add_printf(out, " ");
        html_datetime(out, l, json_str(appeal, "until"));
        evbuffer_add_printf(out, "</p>\n");
        form_open(out, l, "appeal", reference, receipt);
        textarea(out, l, "appeal-reason", "reason", N_("Why do you appeal?"), true);
        button(out, l, NULL, NULL, N_("Send appeal"));
        evbuffer_add_printf(out, "</form>\n");
    } else if (strcmp(json_str(appeal, "code"), "appeal_window_closed") == 0) {
        evbuffer_add_printf(out, "<p>");
        html_tr(out, l, N_("The time to appeal this decision has ended."));
        evbuffer_add_printf(out, "</p>\n");
    }
    const json_t *fb = json_object_get(story, "feedback");
    const json_t *given = json_object_get(fb, "given");
    if (json_is_object(given)) {
        char rating[8];
        snprintf(rating, sizeof rating, "%lld",
                 (long long)json_integer_value(json_object_get(given, "rating")));
        evbuffer_add_printf(out, "<p>");
        html_trf(out, l, N_("Thank you for your feedback: you gave {rating} out of 5."), "rating",
                 rating, NULL);
        evbuffer_add_printf(out, "</p>\n");
    } else if (json_is_true(json_object_get(fb, "allowed"))) {
        evbuffer_add_printf(out, "<h2>");
        html_tr(out, l, N_("How did we do?"));
        evbuffer_add_printf(out, "</h2>\n");
        form_open(out, l, "feedback", reference, receipt);
        evbuffer_add_printf(out, "<fieldset>\n<legend>");
        html_tr(out, l, N_("How satisfied are you with how your grievance was handled?"));
        evbuffer_add_printf(out, "</legend>\n");
        for (int r = 1; r <= 5; r++) {
            evbuffer_add_printf(out,
                                "<label><input type=\"radio\" name=\"rating\" value=\"%d\"%s> %d",
                                r, r == 1 ? " required" : "", r);
            if (r == 1 || r == 5) {
                evbuffer_add_printf(out, " (");
                html_tr(out, l, r == 1 ? N_("not at all") : N_("very satisfied"));
                evbuffer_add_printf(out, ")");
            }
            evbuffer_add_printf(out, "</label>\n");
        }
        evbuffer_add_printf(out, "</fieldset>\n");
        textarea(out, l, "feedback-comment", "comment", N_("A comment (optional)"), false);
        button(out, l, NULL, NULL, N_("Send feedback"));
        evbuffer_add_printf(out, "</form>\n");
    }
}

/* The files attached, each with its SHA-256 (what the person can later prove was sent), and the
 * upload form while there is room. */
static void section_evidence(struct evbuffer *out, const Lang *l, const Config *cfg,
                             const json_t *story, const char *reference, const char *receipt)
{
    const json_t *files = json_object_get(story, "attachments");
    if (cfg->attachments_max == 0 && json_array_size(files) == 0)
        return;
    evbuffer_add_printf(out, "<h2>");
    html_tr(out, l, N_("Evidence"));
    evbuffer_add_printf(out, "</h2>\n");
    size_t i;
    json_t *f;
    if (json_array_size(files) > 0) {
        evbuffer_add_printf(out, "<p class=\"hint\">");
        html_tr(out, l,
                N_("Each file's SHA-256 fingerprint lets you prove later exactly what you sent. "
                   "Keep a copy of the files and of these fingerprints."));
        evbuffer_add_printf(out, "</p>\n<ol class=\"evidence\">\n");
    }
    json_array_foreach(files, i, f)
    {
        char n[24], size[24];
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(f, "n")));
        snprintf(size, sizeof size, "%lld",
                 (long long)json_integer_value(json_object_get(f, "size")));
        evbuffer_add_printf(out, "<li>");
        html_trf(out, l, N_("File {n}: {type}, {size} bytes, received"), "n", n, "type",
                 json_str(f, "type"), "size", size, NULL);
        evbuffer_add_printf(out, " ");
        html_datetime(out, l, json_str(f, "added_at"));
        evbuffer_add_printf(out, "<br>SHA-256: <code dir=\"ltr\">");
        html_escape(out, json_str(f, "sha256"));
        evbuffer_add_printf(out, "</code></li>\n");
    }
    if (json_array_size(files) > 0)
        evbuffer_add_printf(out, "</ol>\n");
    if ((int)json_array_size(files) >= cfg->attachments_max)
        return;
    storypage_upload_form(out, l, cfg, reference, receipt);
}

void storypage_upload_form(struct evbuffer *out, const Lang *l, const Config *cfg,
                           const char *reference, const char *receipt)
{
    char max_mb[24], max_n[24];
    snprintf(max_mb, sizeof max_mb, "%.1f", cfg->attachment_max_bytes / (1024.0 * 1024.0));
    snprintf(max_n, sizeof max_n, "%d", cfg->attachments_max);
    form_open(out, l, "attachment", reference, receipt);
    evbuffer_add_printf(out, "<label for=\"evidence-file\">");
    html_trf(out, l,
             N_("Attach a file: a photo (PNG or JPEG), a PDF or plain text, at most {size} MB; "
                "up to {count} files in all"),
             "size", max_mb, "count", max_n, NULL);
    evbuffer_add_printf(out, "</label>\n<input type=\"file\" id=\"evidence-file\" "
                             "name=\"file\" required>\n");
    button(out, l, NULL, NULL, N_("Send the file"));
    evbuffer_add_printf(out, "</form>\n");
}

void storypage_sections(struct evbuffer *out, const Lang *l, const Config *cfg, const json_t *story,
                        const char *reference, const char *receipt)
{
    if (!json_is_object(story))
        return;
    section_owners(out, l, story);
    section_progress(out, l, story);
    section_remedies(out, l, story, reference, receipt);
    section_messages(out, l, story, reference, receipt);
    section_evidence(out, l, cfg, story, reference, receipt);
    section_appeal_feedback(out, l, story, reference, receipt);
}

/* ---------------------------------------------------------------------------------------------
 * The actions' answers. */

typedef struct {
    const Lang *lang;
    ActKind kind;
    char reference[REFERENCE_LEN + 1];
    char receipt[RECEIPT_LEN + 1];
} PageCtx;

static const char *refusal_words(const char *code)
{
    static const char *const words[][2] = {
        {"too_many_messages",
         N_("You have sent as many messages today as one grievance allows. Please write again "
            "tomorrow.")},
        {"not_yet_assessed",
         N_("Your grievance is still being assessed. Please try again in a few minutes.")},
        {"appeal_window_closed", N_("The time to appeal this decision has ended.")},
        {"not_appealable",
         N_("An appeal is possible after a rejection, a referral, a declined remedy or the "
            "closure of the case.")},
        {"already_appealed", N_("You have already appealed; the appeal is being looked at.")},
        {"already_answered", N_("You have already answered this remedy.")},
        {"remedy_not_open", N_("This remedy can no longer be answered.")},
        {"remedy_not_found", N_("This remedy was not found in your case.")},
        {"not_closed", N_("Feedback can be given once the case is closed.")},
        {"feedback_given", N_("Feedback has already been given for this grievance.")},
        {"required", N_("Please write something before sending.")},
        {"too_long", N_("What you wrote is longer than this site accepts.")},
        {"invalid", N_("Please check what you entered and send it again.")},
        {"unavailable",
         N_("We could not store this just now. Please send it again in a moment: sending it "
            "twice is safe.")},
        {"idempotency_conflict",
         N_("This form was already sent. Go back to your grievance to write something new.")},
        {"not_found",
         N_("No grievance matches this reference and receipt. Check both and try again.")},
        {"file_too_large", N_("The file is larger than this site accepts.")},
        {"body_too_large", N_("The file is larger than this site accepts.")},
        {"type_not_allowed",
         N_("This kind of file cannot be attached. Send a photo (PNG or JPEG), a PDF or plain "
            "text.")},
        {"too_many_attachments",
         N_("As many files as one grievance can hold are attached already.")},
        {"file_required", N_("Please choose a file before sending.")},
        {"one_file_per_request", N_("Please send one file at a time.")},
        {"malformed_multipart",
         N_("The file could not be read. Please go back and send it again.")},
    };
    return word_of(words, sizeof words / sizeof words[0], code);
}

static void back_form(struct evbuffer *out, const PageCtx *p)
{
    evbuffer_add_printf(out,
                        "<form method=\"post\" action=\"/status\" accept-charset=\"utf-8\">\n"
                        "<input type=\"hidden\" name=\"language\" value=\"%s\">\n"
                        "<input type=\"hidden\" name=\"reference\" value=\"%s\">\n"
                        "<input type=\"hidden\" name=\"receipt\" value=\"%s\">\n",
                        lang_tag(p->lang), p->reference, p->receipt);
    button(out, p->lang, NULL, NULL, N_("Back to your grievance"));
    evbuffer_add_printf(out, "</form>\n");
}

static void storypage_answer(struct evhttp_request *req, int code, const PageCtx *p,
                             const char *message, bool ok)
{
    struct evbuffer *out = evbuffer_new();
    LangSwitch sw = {SWITCH_LINKS, "/status", NULL};
    html_page_open(out, p->lang, tr(p->lang, N_("Follow a grievance")), &sw);
    evbuffer_add_printf(out, "<h1>");
    html_tr(out, p->lang, ok ? N_("Done") : N_("Sorry, that did not work"));
    evbuffer_add_printf(out, "</h1>\n<p%s>", ok ? "" : " class=\"error\" role=\"alert\"");
    html_tr(out, p->lang, message);
    evbuffer_add_printf(out, "</p>\n");
    back_form(out, p);
    html_page_close(out, p->lang);
    reply_content_language(req, p->lang);
    reply_send(req, code, "text/html; charset=utf-8", out);
}

static void storypage_act_reply(struct evhttp_request *req, const ActResult *r, void *ctx)
{
    const PageCtx *p = ctx;
    static const char *const done[] = {
        [ACT_MESSAGE] = N_("Your message has been sent to the case team."),
        [ACT_REMEDY] = N_("Your answer to the remedy has been recorded."),
        [ACT_APPEAL] = N_("Your appeal has been received. The mechanism's staff will look at "
                          "your case again."),
        [ACT_FEEDBACK] = N_("Thank you for your feedback."),
    };
    if (r->http >= 200 && r->http < 300) {
        storypage_answer(req, 200, p, done[p->kind], true);
        return;
    }
    if (r->retry_after > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", r->retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", secs);
    }
    const char *words = refusal_words(r->code);
    if (words == r->code) /* a code without words of its own */
        words = N_("Please check what you entered and send it again.");
    storypage_answer(req, r->http, p, words, false);
}

static bool digits_only(const char *s)
{
    return s && *s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 18;
}

/* The form's fields as the action's JSON arguments (the same checks as the API then apply). */
static json_t *storypage_args(const FormData *d, ActKind kind, bool *bad_remedy)
{
    json_t *args = json_object();
    static const char *const texts[] = {"text", "comment", "reason", "decision"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = formdata_get(d, texts[i]);
        if (v)
            json_object_set_new(args, texts[i], json_string(v));
    }
    const char *rating = formdata_get(d, "rating");
    if (kind == ACT_FEEDBACK)
        json_object_set_new(args, "rating",
                            digits_only(rating) ? json_integer(atoll(rating)) : json_null());
    if (kind == ACT_REMEDY)
        *bad_remedy = !digits_only(formdata_get(d, "remedy_id"));
    return args;
}

void storypage_action_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req)
{
    FormData d;
    static const char *const kinds[] = {[ACT_MESSAGE] = "message",
                                        [ACT_REMEDY] = "remedy",
                                        [ACT_APPEAL] = "appeal",
                                        [ACT_FEEDBACK] = "feedback"};
    if (!formdata_read_post(req, &d))
        return;
    PageCtx *p = xcalloc(1, sizeof *p);
    p->lang = formdata_lang(&d, reply_lang(req));
    const char *action = formdata_get(&d, "action");
    int kind = -1;
    for (int k = 0; action && k < (int)(sizeof kinds / sizeof kinds[0]); k++)
        if (strcmp(kinds[k], action) == 0)
            kind = k;
    const char *ref = formdata_get(&d, "reference"), *receipt = formdata_get(&d, "receipt");
    if (kind < 0 || !ref || !receipt || !reference_normalize(ref, p->reference) ||
        !receipt_normalize(receipt, p->receipt)) {
        storypage_answer(req, 404, p, refusal_words("not_found"), false);
        free(p);
        formdata_clear(&d);
        return;
    }
    p->kind = (ActKind)kind;
    bool bad_remedy = false;
    json_t *args = storypage_args(&d, p->kind, &bad_remedy);
    const char *token = formdata_get(&d, "token");
    char key[64];
    unsigned char request_hash[32];
    bool keyed = token && strlen(token) == 2 * TOKEN_BYTES &&
                 strspn(token, "0123456789abcdef") == 2 * TOKEN_BYTES;
    if (keyed) {
        /* The whole page as sent: a resent page replays, an edited one with the same token is a
         * conflict (the person then gets the status page again with a fresh token). */
        snprintf(key, sizeof key, "form-%s", token);
        char *body = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
        char *keyed_body = xmalloc(strlen(body) + 16);
        snprintf(keyed_body, strlen(body) + 16, "%s\n%s", action, body);
        sha256_bytes(keyed_body, strlen(keyed_body), request_hash);
        free(keyed_body);
        free(body);
    }
    const char *field, *why;
    if (bad_remedy || !dialogue_args_check(p->kind, args, &field, &why)) {
        storypage_answer(req, bad_remedy ? 404 : 422, p,
                         refusal_words(bad_remedy ? "remedy_not_found" : "invalid"), false);
        free(p);
    } else {
        if (p->kind == ACT_REMEDY) /* after the check: the API takes it from the path */
            json_object_set_new(args, "remedy_id",
                                json_integer(atoll(formdata_get(&d, "remedy_id"))));
        unsigned char rhash[32];
        receipt_hash(p->receipt, rhash);
        ActRequest ar = {p->kind,      p->reference,        rhash, args, keyed ? key : NULL,
                         request_hash, storypage_act_reply, free,  p};
        act_start(w, conn, req, &ar);
    }
    json_decref(args);
    formdata_clear(&d);
}

/* ---------------------------------------------------------------------------------------------
 * The upload form (POST /status/attachments, multipart/form-data): the same checks and store as
 * the API's (evidence.c); the answer page shows the file's SHA-256. */

typedef struct {
    PageCtx page;
} UploadCtx;

static void storypage_upload_reply(struct evhttp_request *req, const ActResult *r, void *ctx)
{
    UploadCtx *u = ctx;
    if (r->http < 200 || r->http > 299) {
        storypage_act_reply(req, r, &u->page);
        return;
    }
    const PageCtx *p = &u->page;
    char n[24], size[24];
    snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(r->body, "n")));
    snprintf(size, sizeof size, "%lld",
             (long long)json_integer_value(json_object_get(r->body, "size")));
    struct evbuffer *out = evbuffer_new();
    LangSwitch sw = {SWITCH_LINKS, "/status", NULL};
    html_page_open(out, p->lang, tr(p->lang, N_("Follow a grievance")), &sw);
    evbuffer_add_printf(out, "<h1>");
    html_tr(out, p->lang, N_("Done"));
    evbuffer_add_printf(out, "</h1>\n<p>");
    html_trf(out, p->lang, N_("Your file was received as file {n} ({type}, {size} bytes)."), "n", n,
             "type", json_str(r->body, "type"), "size", size, NULL);
    evbuffer_add_printf(out, "</p>\n<p>");
    html_tr(out, p->lang,
            N_("Its SHA-256 fingerprint, which lets you prove later exactly what you sent:"));
    evbuffer_add_printf(out, "</p>\n<p><code class=\"sha256\" dir=\"ltr\">");
    html_escape(out, json_str(r->body, "sha256"));
    evbuffer_add_printf(out, "</code></p>\n");
    back_form(out, p);
    html_page_close(out, p->lang);
    reply_content_language(req, p->lang);
    reply_send(req, 201, "text/html; charset=utf-8", out);
}

/* A text field of the upload form, NUL-terminated into out; false when absent or too long. */
static bool upload_field(const MultipartPart *parts, int nparts, const char *name, char *out,
                         size_t outlen)
{
    const MultipartPart *f = multipart_find(parts, nparts, name);
    if (!f || f->has_filename || f->len >= outlen || memchr(f->data, '\0', f->len))
        return false;
    memcpy(out, f->data, f->len);
    out[f->len] = '\0';
    return true;
}

void storypage_upload_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req)
{
    if (!formdata_same_origin(req)) {
        form_error_page(req, 403, N_("This form can only be sent from this site's own page."));
        return;
    }
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body);
    const unsigned char *bytes = len ? evbuffer_pullup(body, -1) : (const unsigned char *)"";
    MultipartPart parts[MULTIPART_MAX_PARTS];
    int nparts = 0;
    const MultipartPart *file;
    const char *type;
    EvidenceRefusal refusal;
    UploadCtx *u = xcalloc(1, sizeof *u);
    PageCtx *p = &u->page;
    char ref[64], receipt[64], token[2 * TOKEN_BYTES + 2], lang[32];
    bool ok = evidence_check(w->shared->cfg, evhttp_find_header(in, "Content-Type"), bytes, len,
                             parts, &nparts, &file, &type, &refusal);
    p->lang = upload_field(parts, nparts, "language", lang, sizeof lang) && i18n_find(lang)
                  ? i18n_find(lang)
                  : reply_lang(req);
    p->kind = ACT_MESSAGE;
    if (!upload_field(parts, nparts, "reference", ref, sizeof ref) ||
        !upload_field(parts, nparts, "receipt", receipt, sizeof receipt) ||
        !reference_normalize(ref, p->reference) || !receipt_normalize(receipt, p->receipt)) {
        /* Without a usable reference and receipt nothing else matters (a bad body has none). */
        if (!ok)
            storypage_answer(req, refusal.http, p, refusal_words(refusal.code), false);
        else
            storypage_answer(req, 404, p, refusal_words("not_found"), false);
        free(u);
        return;
    }
    if (!ok) {
        storypage_answer(req, refusal.http, p, refusal_words(refusal.code), false);
        free(u);
        return;
    }
    char key[64];
    bool keyed = upload_field(parts, nparts, "token", token, sizeof token) &&
                 strlen(token) == 2 * TOKEN_BYTES &&
                 strspn(token, "0123456789abcdef") == 2 * TOKEN_BYTES;
    if (keyed)
        snprintf(key, sizeof key, "form-%s", token);
    unsigned char rhash[32];
    receipt_hash(p->receipt, rhash);
    EvidenceUpload up = {p->reference,           rhash, file, type, "form", keyed ? key : NULL,
                         storypage_upload_reply, free,  u};
    evidence_store(w, conn, req, &up);
}
