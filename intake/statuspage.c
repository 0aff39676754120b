/* The status pages for people: the request form (reference and receipt, POSTed so the receipt
 * never travels in a URL) and the answer, in the language the grievance was filed in unless the
 * person picks another with the switch. */
#include "form.h"

#include <event2/buffer.h>
#include <string.h>

#include "api.h"
#include "formdata.h"
#include "html.h"
#include "reply.h"
#include "status.h"
#include "storypage.h"

static void status_form(struct evbuffer *out, const Lang *l, const char *message)
{
    evbuffer_add_printf(out, "<h1>");
    html_tr(out, l, N_("Follow a grievance"));
    evbuffer_add_printf(out, "</h1>\n");
    if (message) {
        evbuffer_add_printf(out, "<div class=\"error\" role=\"alert\"><p>");
        html_tr(out, l, message);
        evbuffer_add_printf(out, "</p></div>\n");
    }
    evbuffer_add_printf(out, "<p>");
    html_tr(out, l,
            N_("Enter the reference and the receipt you were given when you sent your "
               "grievance."));
    evbuffer_add_printf(out,
                        "</p>\n<form method=\"post\" action=\"/status\" "
                        "accept-charset=\"utf-8\">\n"
                        "<input type=\"hidden\" name=\"language\" value=\"%s\">\n"
                        "<label for=\"reference\">",
                        lang_tag(l));
    html_tr(out, l, N_("Reference"));
    evbuffer_add_printf(out, "</label>\n<input type=\"text\" id=\"reference\" name=\"reference\" "
                             "autocomplete=\"off\" required dir=\"ltr\">\n<label for=\"receipt\">");
    html_tr(out, l, N_("Receipt"));
    evbuffer_add_printf(out,
                        "</label>\n<input type=\"password\" id=\"receipt\" name=\"receipt\" "
                        "autocomplete=\"off\" required dir=\"ltr\">\n<button type=\"submit\">");
    html_tr(out, l, N_("Show status"));
    evbuffer_add_printf(out, "</button>\n</form>\n");
}

static void status_request_page(struct evhttp_request *req, int code, const Lang *l,
                                const char *message)
{
    struct evbuffer *out = evbuffer_new();
    LangSwitch sw = {SWITCH_LINKS, "/status", NULL};
    html_page_open(out, l, tr(l, N_("Follow a grievance")), &sw);
    status_form(out, l, message);
    html_page_close(out, l);
    reply_content_language(req, l);
    reply_send(req, code, "text/html; charset=utf-8", out);
}

void form_status_page(Worker *w, struct evhttp_request *req)
{
    (void)w;
    status_request_page(req, 200, reply_lang(req), NULL);
}

/* The words of id in a table of {id, words} pairs; id itself when it is not there. */
static const char *words_of(const char *const words[][2], size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(words[i][0], id) == 0)
            return words[i][1];
    }
    return id;
}

const char *form_status_words(const char *status)
{
    static const char *const words[][2] = {
        {"received", N_("Received: waiting to be assessed")},
        {"triaged", N_("Assessed: waiting for the company to take it up")},
        {"assigned", N_("Assigned to the company responsible")},
        {"investigating", N_("Being investigated")},
        {"remedy_proposed", N_("A remedy has been proposed")},
        {"remedy_accepted", N_("The remedy was accepted")},
        {"remedy_declined", N_("The remedy was declined")},
        {"remedy_implemented", N_("The remedy has been carried out")},
        {"closed", N_("Closed")},
        {"rejected", N_("Not taken up (outside what this mechanism covers)")},
        {"referred", N_("Referred to a State body")},
        {"appealed", N_("Appealed: being looked at again")},
    };
    return words_of(words, sizeof words / sizeof words[0], status);
}

const char *form_stage_words(const char *stage)
{
    static const char *const words[][2] = {
        {"acknowledge", N_("Acknowledgement of your grievance")},
        {"first_response", N_("A first answer on the substance")},
        {"remedy_proposal", N_("A proposal for remedy")},
    };
    return words_of(words, sizeof words / sizeof words[0], stage);
}

/* One <dt>label</dt><dd>...</dd> row of the status list: words (a msgid) or a time. */
static void status_row(struct evbuffer *out, const Lang *l, const char *label, const char *words,
                       const char *time)
{
    evbuffer_add_printf(out, "<dt>");
    html_tr(out, l, label);
    evbuffer_add_printf(out, "</dt><dd>");
    if (words)
        html_tr(out, l, words);
    else
        html_datetime(out, l, time);
    evbuffer_add_printf(out, "</dd>\n");
}

/* The answer's language: the switch if pressed, else the grievance's own, else the language of
 * the request page. The request body is still there: read it again. */
static const Lang *status_lang(struct evhttp_request *req, const StatusInfo *info, FormData *d)
{
    const Lang *l = i18n_find(formdata_get(d, "lang"));
    if (!l && info)
        l = i18n_find(info->language);
    return l ? l : formdata_lang(d, reply_lang(req));
}

static void form_status_reply(struct evhttp_request *req, StatusOutcome outcome,
                              const StatusInfo *info)
{
    FormData d;
    formdata_parse(req, &d); /* parsed once already: it succeeds */
    const Lang *l = status_lang(req, outcome == STATUS_FOUND ? info : NULL, &d);
    if (outcome != STATUS_FOUND) {
        formdata_clear(&d);
        if (outcome == STATUS_UNAVAILABLE)
            evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "2");
        status_request_page(
            req, outcome == STATUS_NOT_FOUND ? 404 : 503, l,
            outcome == STATUS_NOT_FOUND
                ? N_("No grievance matches this reference and receipt. Check both and try again.")
                : N_("The status cannot be shown just now. Please try again in a moment."));
        return;
    }
    struct evbuffer *out = evbuffer_new();
    const char *hidden[] = {"reference", formdata_get(&d, "reference"), "receipt",
                            formdata_get(&d, "receipt"), NULL};
    LangSwitch sw = {SWITCH_POST, "/status", hidden};
    html_page_open(out, l, tr(l, N_("Follow a grievance")), &sw);
    evbuffer_add_printf(out, "<h1>");
    html_trf(out, l, N_("Grievance {reference}"), "reference", info->reference, NULL);
    evbuffer_add_printf(out, "</h1>\n<dl>\n");
    status_row(out, l, N_("Status"), form_status_words(info->status), NULL);
    status_row(out, l, N_("Received"), NULL, info->received_at);
    if (info->next_stage[0]) {
        status_row(out, l, N_("Next step"), form_stage_words(info->next_stage), NULL);
        status_row(out, l, N_("Due by"), NULL, info->next_due);
    }
    evbuffer_add_printf(out, "</dl>\n");
    storypage_sections(out, l, conn_worker(conn_of_request(req))->shared->cfg, info->story,
                       info->reference, formdata_get(&d, "receipt"));
    html_page_close(out, l);
    formdata_clear(&d);
    reply_content_language(req, l);
    reply_send(req, 200, "text/html; charset=utf-8", out);
}

void form_status_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req)
{
    FormData d;
    if (!formdata_read_post(req, &d))
        return;
    status_lookup(w, conn, req, formdata_get(&d, "reference"), formdata_get(&d, "receipt"),
                  form_status_reply);
    formdata_clear(&d);
}
