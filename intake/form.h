/* The HTML intake for people, not programs, in each language of po/: a plain accessible form
 * (every field labelled, works without JavaScript), its urlencoded submission and receipt page
 * (form.c), and the status pages whose form POSTs the receipt so it never travels in a URL
 * (statuspage.c). Cross-site posts are refused. */
#ifndef REDRESS_INTAKE_FORM_H
#define REDRESS_INTAKE_FORM_H

#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

#include "i18n.h"

#include "conn.h"
#include "worker.h"

/* One evidence file sent with the form, as the receipt page reports it. */
typedef struct {
    char name[256];  /* the file's name as sent, for the page (escaped there) */
    char sha256[65]; /* when stored */
    bool stored;
} FormFileResult;

/* What the receipt page shows: the grievance's reference and receipt, and the files sent with
 * the form (none: nfiles 0). */
typedef struct {
    const Lang *lang;
    const char *reference;
    const char *receipt;
    const char *received_at; /* NULL: not shown */
    bool replayed;
    const FormFileResult *files;
    int nfiles;
} FormReceipt;

void form_receipt_page(struct evhttp_request *req, int code, const FormReceipt *r);

void form_page(Worker *w, struct evhttp_request *req);
void form_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req);
void form_status_page(Worker *w, struct evhttp_request *req);
void form_status_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req);
/* POST /receipt: the receipt page again, in the language its switch chose (reference and
 * receipt are re-posted by the page itself; a pair we did not issue is a 404). */
void form_receipt_submit(Worker *w, struct evhttp_request *req);
/* A form post over [server] max_form_bytes: the form again with what was typed and a message
 * (413), not libevent's page. */
void form_submit_too_large(Worker *w, struct evhttp_request *req);
/* The words for a case status and a deadline's stage, as English msgids (statuspage.c). */
const char *form_status_words(const char *status);
const char *form_stage_words(const char *stage);
/* Appends to arr the items of a list typed as text (commas in any script, newlines), trimmed;
 * empty items are left out (the Open311 profile's list attributes too). */
void form_list_split(json_t *arr, const char *s);
/* A readable error page in the request's language; message is an English msgid. */
void form_error_page(struct evhttp_request *req, int code, const char *message);

#endif
