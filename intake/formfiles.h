/* The grievance form's evidence files: POST /grievances as multipart/form-data (still no
 * JavaScript) carries the form's text fields and up to [engagement] attachments_max files in the
 * part named "files". The text goes through the same FormData and validator as an urlencoded
 * post; every file is checked (count, size, type by content) before anything is stored; after the
 * grievance's group commit each file is stored in turn through evidence_store (the worker's own
 * connection for files, sealed, audited, keyed by the form's one-time token so a resent page
 * stores nothing twice), then the receipt page shows each file's SHA-256 or that it was not
 * stored. */
#ifndef REDRESS_INTAKE_FORMFILES_H
#define REDRESS_INTAKE_FORMFILES_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdbool.h>

#include "config.h"
#include "form.h"
#include "formdata.h"
#include "worker.h"

#define FORMFILES_FIELD "files"

typedef struct FormFiles FormFiles;

/* Why the form's files were refused before anything was stored. */
typedef struct {
    const char *code; /* NULL: no problem; "too_many_files", "file_too_large", "type_not_allowed",
                         "file_empty", "files_too_large" (together, past the form's limit) */
    char name[256];   /* the file at fault (as sent); "" for too_many_files */
    int chosen;       /* too_many_files: how many were sent */
} FormFileProblem;

/* Reads a multipart form post into d (always initialised) and *files (NULL when no file was
 * chosen): same origin, parsed, each file checked. true, with problem->code set when a file is
 * refused (d then holds the text to show again); false after answering req with an error page
 * (403 or 400). */
bool formfiles_read_post(Worker *w, struct evhttp_request *req, FormData *d, FormFiles **files,
                         FormFileProblem *problem);

/* How many files were chosen (0 for NULL). */
int formfiles_count(const FormFiles *f);
void formfiles_free(FormFiles *f);

/* After the grievance is committed: stores each file (f is taken), then answers req with the
 * receipt page r plus each file's outcome. token: the form's one-time token, or NULL. */
void formfiles_store(Worker *w, struct evhttp_request *req, FormFiles *f, const FormReceipt *r,
                     const char *token);

/* The sentence of a file problem, in l, HTML-escaped into out. */
void formfiles_problem_html(struct evbuffer *out, const Lang *l, const Config *cfg,
                            const FormFileProblem *p);

#endif
