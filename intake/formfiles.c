/* The grievance form's files: read and checked before anything is stored, stored one after the
 * other once the grievance is committed (see formfiles.h). */
#include "formfiles.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "evidence.h"
#include "grievance.h"
#include "html.h"
#include "reference.h"
#include "util.h"

struct FormFiles {
    MultipartPart parts[MULTIPART_MAX_PARTS]; /* point into the request's body */
    const MultipartPart *file[MULTIPART_MAX_PARTS];
    const char *type[MULTIPART_MAX_PARTS];
    FormFileResult result[MULTIPART_MAX_PARTS];
    int n;
    /* While storing: */
    Worker *worker;
    int next; /* the file being stored */
    int refs; /* formfiles_store's own, and one per evidence_store under way */
    char reference[REFERENCE_LEN + 1];
    char receipt[RECEIPT_LEN + 1];
    char received_at[64];
    bool has_received_at;
    bool replayed;
    const Lang *lang;
    char token[80];
};

int formfiles_count(const FormFiles *f)
{
    return f ? f->n : 0;
}

void formfiles_free(FormFiles *f)
{
    if (f)
        explicit_bzero(f->receipt, sizeof f->receipt);
    free(f);
}

/* An empty file input is sent as a part with an empty file name and no bytes: nothing chosen. */
static bool file_chosen(const MultipartPart *p)
{
    return p->has_filename && strcmp(p->name, FORMFILES_FIELD) == 0 &&
           (p->filename[0] || p->len > 0);
}

/* The file's name for the pages: valid UTF-8 without control characters, else its number. */
static void display_name(const MultipartPart *p, int i, char *out, size_t outlen)
{
    size_t n = strlen(p->filename);
    bool ok = n > 0 && utf8_valid(p->filename, n, n);
    for (size_t k = 0; ok && k < n; k++)
        ok = (unsigned char)p->filename[k] >= 0x20 && p->filename[k] != 0x7f;
    if (ok)
        snprintf(out, outlen, "%s", p->filename);
    else
        snprintf(out, outlen, "#%d", i + 1);
}

/* Count first, then each file's size and type (evidence.c's checks): the first problem wins. */
static void files_check(const Config *cfg, FormFiles *f, FormFileProblem *problem)
{
    if (f->n > cfg->attachments_max) {
        problem->code = "too_many_files";
        problem->chosen = f->n;
        return;
    }
    for (int i = 0; i < f->n; i++) {
        EvidenceRefusal r;
        display_name(f->file[i], i, f->result[i].name, sizeof f->result[i].name);
        if (f->file[i]->len == 0)
            problem->code = "file_empty";
        else if (!evidence_file_check(cfg, f->file[i], &f->type[i], &r))
            problem->code = r.http == 413 ? "file_too_large" : "type_not_allowed";
        if (problem->code) {
            snprintf(problem->name, sizeof problem->name, "%s", f->result[i].name);
            return;
        }
    }
}

bool formfiles_read_post(Worker *w, struct evhttp_request *req, FormData *d, FormFiles **files,
                         FormFileProblem *problem)
{
    TAILQ_INIT(&d->fields);
    *files = NULL;
    memset(problem, 0, sizeof *problem);
    if (!formdata_same_origin(req)) {
        form_error_page(req, 403, N_("This form can only be sent from this site's own page."));
        return false;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body);
    const unsigned char *bytes = len ? evbuffer_pullup(body, -1) : (const unsigned char *)"";
    FormFiles *f = xcalloc(1, sizeof *f);
    int nparts = 0;
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (multipart_parse(ct, bytes, len, f->parts, &nparts) != MULTIPART_OK ||
        formdata_from_parts(d, f->parts, nparts) < 0) {
        formdata_clear(d);
        formfiles_free(f);
        form_error_page(req, 400,
                        N_("The form data could not be read. Please go back and try again."));
        return false;
    }
    for (int i = 0; i < nparts; i++)
        if (file_chosen(&f->parts[i]))
            f->file[f->n++] = &f->parts[i];
    if (f->n == 0) {
        formfiles_free(f);
        return true;
    }
    files_check(w->shared->cfg, f, problem);
    *files = f;
    return true;
}

static void formfiles_unref(void *ctx)
{
    FormFiles *f = ctx;
    if (--f->refs == 0)
        formfiles_free(f);
}

static void formfiles_next(FormFiles *f, struct evhttp_request *req);

static void file_stored_cb(struct evhttp_request *req, const ActResult *r, void *ctx)
{
    FormFiles *f = ctx;
    FormFileResult *res = &f->result[f->next];
    const char *sha = json_string_value(json_object_get(r->body, "sha256"));
    if (r->http >= 200 && r->http <= 299 && sha) {
        res->stored = true;
        snprintf(res->sha256, sizeof res->sha256, "%s", sha);
    }
    f->next++;
    formfiles_next(f, req);
}

/* Stores the next file, or shows the receipt page once every file has had its turn. A file
 * refused or not stored does not stop the others: the grievance is acknowledged either way. */
static void formfiles_next(FormFiles *f, struct evhttp_request *req)
{
    if (f->next == f->n) {
        struct evbuffer *body = evhttp_request_get_input_buffer(req);
        evbuffer_drain(body, evbuffer_get_length(body));
        FormReceipt r = {
            f->lang,     f->reference, f->receipt, f->has_received_at ? f->received_at : NULL,
            f->replayed, f->result,    f->n};
        form_receipt_page(req, 201, &r);
        return;
    }
    char key[sizeof f->token + 32];
    if (f->token[0])
        snprintf(key, sizeof key, "form-file-%d-%s", f->next + 1, f->token);
    unsigned char rhash[32];
    receipt_hash(f->receipt, rhash);
    f->refs++;
    EvidenceUpload u = {f->reference,
                        rhash,
                        f->file[f->next],
                        f->type[f->next],
                        "form",
                        f->token[0] ? key : NULL,
                        file_stored_cb,
                        formfiles_unref,
                        f,
                        true};
    evidence_store(f->worker, conn_of_request(req), req, &u);
}

void formfiles_store(Worker *w, struct evhttp_request *req, FormFiles *f, const FormReceipt *r,
                     const char *token)
{
    f->worker = w;
    f->refs = 1;
    f->next = 0;
    f->lang = r->lang;
    f->replayed = r->replayed;
    snprintf(f->reference, sizeof f->reference, "%s", r->reference);
    snprintf(f->receipt, sizeof f->receipt, "%s", r->receipt);
    f->has_received_at = r->received_at != NULL;
    if (r->received_at)
        snprintf(f->received_at, sizeof f->received_at, "%s", r->received_at);
    snprintf(f->token, sizeof f->token, "%s", token ? token : "");
    formfiles_next(f, req);
    formfiles_unref(f);
}

void formfiles_problem_html(struct evbuffer *out, const Lang *l, const Config *cfg,
                            const FormFileProblem *p)
{
    char max_mb[24], max_n[24], chosen[24];
    snprintf(max_mb, sizeof max_mb, "%.1f", cfg->attachment_max_bytes / (1024.0 * 1024.0));
    snprintf(max_n, sizeof max_n, "%d", cfg->attachments_max);
    snprintf(chosen, sizeof chosen, "%d", p->chosen);
    if (strcmp(p->code, "too_many_files") == 0)
        html_trf(out, l,
                 N_("You chose {chosen} files; at most {count} can be attached to one grievance."),
                 "chosen", chosen, "count", max_n, NULL);
    else if (strcmp(p->code, "file_too_large") == 0)
        html_trf(out, l, N_("“{name}” is larger than {size} MB, the most one file may be."), "name",
                 p->name, "size", max_mb, NULL);
    else if (strcmp(p->code, "files_too_large") == 0)
        html_tr(out, l,
                N_("The files together are larger than one form can carry. Send fewer or smaller "
                   "files with the form, and add the others afterwards from the receipt page."));
    else if (strcmp(p->code, "file_empty") == 0)
        html_trf(out, l, N_("“{name}” is empty."), "name", p->name, NULL);
    else
        html_trf(out, l,
                 N_("“{name}” cannot be attached: its content is not a photo (PNG or JPEG), a PDF "
                    "or plain text."),
                 "name", p->name, NULL);
}
