/* Evidence files a complainant attaches to their grievance (issue 8): one file per request, sent
 * as multipart/form-data in a part named "file", over the API
 * (POST /v1/grievances/{ref}/attachments with Authorization: Receipt and an Idempotency-Key) or the
 * status page's upload form. The type is read from the bytes (PNG, JPEG, GIF, WebP, PDF, UTF-8
 * text), never taken from the name or the declared type; the bytes and the file name are sealed
 * (AES-256-GCM under the contact key) before they leave the process, and stored with their SHA-256
 * by grievance_attachment_add() (sql/014) in their own transaction on the worker's own database
 * connection for files, never in the submissions' group commit or pipeline (measured: README,
 * "Evidence files"). Nothing of a file is ever logged. */
#ifndef REDRESS_INTAKE_EVIDENCE_H
#define REDRESS_INTAKE_EVIDENCE_H

#include <event2/http.h>
#include <stdbool.h>

#include "act.h"
#include "config.h"
#include "conn.h"
#include "multipart.h"
#include "worker.h"

/* Room for the parts' headers and the form's other fields around the file. */
#define EVIDENCE_OVERHEAD_BYTES 65536

/* A refusal before the database: the HTTP code, the API's code and a sentence (literals). */
typedef struct {
    int http;
    const char *code;
    const char *message;
} EvidenceRefusal;

/* The media type data's first bytes (or, for text, all of it) show, or NULL. */
const char *evidence_sniff(const unsigned char *data, size_t len);

/* Parses an upload body into parts and finds its one file: true with *file and *type (the
 * sniffed type, allowed by the config), or false with *r (400 malformed, 413 too large, 415 type,
 * 422 no file or more than one). */
bool evidence_check(const Config *cfg, const char *content_type, const unsigned char *body,
                    size_t len, MultipartPart parts[MULTIPART_MAX_PARTS], int *nparts,
                    const MultipartPart **file, const char **type, EvidenceRefusal *r);

/* One file of an upload: its size against attachment_max_bytes, then its type by content against
 * the config's list; true with *type, or false with *r (413 or 415). */
bool evidence_file_check(const Config *cfg, const MultipartPart *file, const char **type,
                         EvidenceRefusal *r);

typedef struct {
    const char *reference;       /* canonical */
    const unsigned char *rhash;  /* SHA-256 of the canonical receipt */
    const MultipartPart *file;   /* borrowed for the call (the bytes are sealed into a copy) */
    const char *type;            /* from evidence_check */
    const char *channel;         /* "api" or "form" */
    const char *idempotency_key; /* NULL: none */
    ActReplyCb reply;            /* as for act_start */
    void (*ctx_free)(void *ctx);
    void *ctx;
    bool keep_body; /* more files of this body follow: the caller drains it after the last */
} EvidenceUpload;

/* Seals and stores the file, then drains req's body unless u->keep_body (u->file points into it:
 * it must not be used after this call); the reply callback gets grievance_attachment_add's answer
 * ({"n", "type", "size", "sha256", "added_at"} on 201) or its refusal. */
void evidence_store(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                    const EvidenceUpload *u);

/* POST /v1/grievances/{ref}/attachments, the reference and receipt already canonical. */
void evidence_api(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *reference,
                  const char *receipt);

/* The body limit of a request line's route if it takes files, else 0: one file and its overhead
 * for the attachment routes, the form's own limit and attachments_max files for POST /grievances
 * (evidence_form_limit; 0 when attachments are off). */
size_t evidence_upload_limit(const Config *cfg, const char *method, size_t mlen, const char *path,
                             size_t plen);
size_t evidence_form_limit(const Config *cfg);

#endif
