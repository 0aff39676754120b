/* The story of a case on the HTML status page and the person's actions from it, without
 * JavaScript: who handles the case and how each company is involved, the priority and why, the
 * stages reached, missed deadlines, the reason for the outcome, the remedies offered (accept and
 * decline buttons), the messages (and a form to write), the appeal and feedback forms. Each action
 * posts to POST /status/action and runs through act.c like the API's. */
#ifndef REDRESS_INTAKE_STORYPAGE_H
#define REDRESS_INTAKE_STORYPAGE_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "act.h"
#include "conn.h"
#include "dialogue.h"
#include "i18n.h"
#include "worker.h"

/* Appends the sections of story (grievance_story's object; NULL appends nothing) in language l.
 * reference and receipt go into each form's hidden fields. */
void storypage_sections(struct evbuffer *out, const Lang *l, const Config *cfg, const json_t *story,
                        const char *reference, const char *receipt);

/* POST /status/action: fields action (message|remedy|appeal|feedback), reference, receipt,
 * token (the Idempotency-Key), language, and the action's own (text; remedy_id, decision,
 * comment; reason; rating, comment). */
void storypage_action_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req);

/* The upload form of one evidence file (multipart, to POST /status/attachments), shown on the
 * status page and on the receipt page right after filing. */
void storypage_upload_form(struct evbuffer *out, const Lang *l, const Config *cfg,
                           const char *reference, const char *receipt);

/* POST /status/attachments (multipart/form-data): fields reference, receipt, token, language and
 * one file in the part named file; the answer page shows its SHA-256. */
void storypage_upload_submit(Worker *w, IntakeConn *conn, struct evhttp_request *req);

#endif
