/* Evidence uploads: the type by content, the checks of the upload, sealing, and the one call of
 * grievance_attachment_add (see evidence.h). */
#include "evidence.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "crypto.h"
#include "dialogue.h"
#include "grievance.h"
#include "reference.h"
#include "reply.h"
#include "util.h"

static const char *const ADD_SQL =
    "SELECT grievance_attachment_add($1, decode($2, 'hex'), $3, $4::integer, decode($5, 'hex'), "
    "$6::bytea, $7::bytea, $8, $9, decode($10, 'hex'), $11::jsonb)::text";

/* Plain text: UTF-8 (an optional BOM) without NUL or control characters other than tab, line
 * feed, form feed and carriage return. */
static bool text_plain(const unsigned char *d, size_t len)
{
    if (len >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF) {
        d += 3;
        len -= 3;
    }
    for (size_t i = 0; i < len; i++)
        if ((d[i] < 0x20 && d[i] != '\t' && d[i] != '\n' && d[i] != '\f' && d[i] != '\r') ||
            d[i] == 0x7f)
            return false;
    return utf8_valid((const char *)d, len, len);
}

const char *evidence_sniff(const unsigned char *d, size_t len)
{
    if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (len >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return "image/jpeg";
    if (len >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return "image/gif";
    if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return "image/webp";
    if (len >= 5 && memcmp(d, "%PDF-", 5) == 0)
        return "application/pdf";
    if (len > 0 && text_plain(d, len))
        return "text/plain";
    return NULL;
}

/* type in the config's comma-separated list. */
static bool type_allowed(const Config *cfg, const char *type)
{
    size_t n = strlen(type);
    for (const char *p = cfg->attachment_types; *p;) {
        p += strspn(p, " ,");
        size_t m = strcspn(p, " ,");
        if (m == n && strncmp(p, type, n) == 0)
            return true;
        p += m;
    }
    return false;
}

bool evidence_check(const Config *cfg, const char *content_type, const unsigned char *body,
                    size_t len, MultipartPart parts[MULTIPART_MAX_PARTS], int *nparts,
                    const MultipartPart **file, const char **type, EvidenceRefusal *r)
{
    *file = NULL;
    switch (multipart_parse(content_type, body, len, parts, nparts)) {
    case MULTIPART_OK:
        break;
    case MULTIPART_BAD_BOUNDARY:
        *r = (EvidenceRefusal){415, "unsupported_media_type",
                               "send the file as multipart/form-data with a boundary"};
        return false;
    case MULTIPART_MALFORMED:
        *r = (EvidenceRefusal){400, "malformed_multipart",
                               "the multipart body is malformed or cut short"};
        return false;
    case MULTIPART_TOO_MANY:
        *r = (EvidenceRefusal){400, "malformed_multipart", "the multipart body has too many parts"};
        return false;
    }
    for (int i = 0; i < *nparts; i++) {
        if (!parts[i].has_filename || strcmp(parts[i].name, "file") != 0)
            continue;
        if (*file) {
            *r = (EvidenceRefusal){422, "one_file_per_request", "send one file per request"};
            return false;
        }
        *file = &parts[i];
    }
    if (!*file || (*file)->len == 0) {
        *r = (EvidenceRefusal){422, "file_required", "attach a file in the part named file"};
        return false;
    }
    return evidence_file_check(cfg, *file, type, r);
}

bool evidence_file_check(const Config *cfg, const MultipartPart *file, const char **type,
                         EvidenceRefusal *r)
{
    if (file->len > (size_t)cfg->attachment_max_bytes) {
        *r = (EvidenceRefusal){413, "file_too_large", "the file is larger than allowed"};
        return false;
    }
    *type = evidence_sniff(file->data, file->len);
    if (!*type || !type_allowed(cfg, *type)) {
        *r = (EvidenceRefusal){415, "type_not_allowed",
                               "this kind of file cannot be attached (its content is not of an "
                               "allowed type)"};
        return false;
    }
    return true;
}

/* The name worth keeping: its last path segment, if valid UTF-8 without control characters. */
static const char *name_kept(const MultipartPart *file)
{
    const char *name = file->filename;
    const char *slash = strrchr(name, '/'), *back = strrchr(name, '\\');
    if (slash && (!back || slash > back))
        name = slash + 1;
    else if (back)
        name = back + 1;
    size_t n = strlen(name);
    if (n == 0 || !utf8_valid(name, n, n))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return NULL;
    return name;
}

typedef struct {
    char reference[16];
    char rhash_hex[65];
    char type[32];
    char size[24];
    char sha256_hex[65];
    char request_hash_hex[65];
    char channel[8];
    char *idempotency_key;
    unsigned char *name_enc;
    unsigned char *content_enc;
    char *limits;
    const char *params[11];
    int lengths[11];
    int formats[11];
    ActReplyCb reply;
    void (*ctx_free)(void *ctx);
    void *ctx;
} EvidenceJob;

static void evidence_job_reply(struct evhttp_request *req, const ActResult *r, void *arg)
{
    EvidenceJob *j = arg;
    j->reply(req, r, j->ctx);
}

static void evidence_job_free(void *arg)
{
    EvidenceJob *j = arg;
    if (j->ctx_free)
        j->ctx_free(j->ctx);
    free(j->idempotency_key);
    free(j->name_enc);
    free(j->content_enc);
    free(j->limits);
    free(j);
}

static char *evidence_limits_json(const Config *cfg)
{
    json_t *types = json_array();
    for (const char *p = cfg->attachment_types; *p;) {
        p += strspn(p, " ,");
        size_t m = strcspn(p, " ,");
        if (m)
            json_array_append_new(types, json_stringn(p, m));
        p += m;
    }
    json_t *o =
        json_pack("{s:i, s:i, s:o}", "attachments_max", cfg->attachments_max,
                  "attachment_max_bytes", cfg->attachment_max_bytes, "attachment_types", types);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

void evidence_store(Worker *w, IntakeConn *conn, struct evhttp_request *req,
                    const EvidenceUpload *u)
{
    EvidenceJob *j = xcalloc(1, sizeof *j);
    j->reply = u->reply;
    j->ctx_free = u->ctx_free;
    j->ctx = u->ctx;
    unsigned char sha[32];
    sha256_bytes(u->file->data, u->file->len, sha);
    hex_encode(sha, 32, j->sha256_hex);
    snprintf(j->reference, sizeof j->reference, "%s", u->reference);
    hex_encode(u->rhash, 32, j->rhash_hex);
    snprintf(j->type, sizeof j->type, "%s", u->type);
    snprintf(j->size, sizeof j->size, "%zu", u->file->len);
    snprintf(j->channel, sizeof j->channel, "%s", u->channel);
    const char *name = name_kept(u->file);
    size_t name_len = 0, content_len = 0;
    if (name)
        j->name_enc = seal_bytes(w->shared->contact_key, SEAL_AAD_ATTACHMENT_NAME,
                                 strlen(SEAL_AAD_ATTACHMENT_NAME), name, strlen(name), &name_len);
    j->content_enc =
        seal_bytes(w->shared->contact_key, SEAL_AAD_ATTACHMENT, strlen(SEAL_AAD_ATTACHMENT),
                   u->file->data, u->file->len, &content_len);
    if (!j->content_enc || (name && !j->name_enc)) {
        ActResult fail = {500, "internal", NULL, "the file could not be stored; please retry",
                          0,   NULL,       false};
        if (req)
            u->reply(req, &fail, u->ctx);
        evidence_job_free(j);
        return;
    }
    if (u->idempotency_key) {
        /* The same key with the same file (and name) replays; with another, a conflict. */
        char keyed[32 + 64 + 2 + 256];
        unsigned char request_hash[32];
        int n = snprintf(keyed, sizeof keyed, "attachments\n%s\n%s\n%s", u->type, j->sha256_hex,
                         name ? name : "");
        sha256_bytes(keyed, (size_t)n < sizeof keyed ? (size_t)n : sizeof keyed - 1, request_hash);
        hex_encode(request_hash, 32, j->request_hash_hex);
        j->idempotency_key = xstrdup(u->idempotency_key);
    }
    /* The body is not needed once the file is hashed and sealed: give its memory back now rather
     * than when the reply is sent (unless more files of it are still to be stored). */
    if (!u->keep_body) {
        struct evbuffer *body = evhttp_request_get_input_buffer(req);
        evbuffer_drain(body, evbuffer_get_length(body));
    }
    j->limits = evidence_limits_json(w->shared->cfg);
    const char *p[11] = {j->reference,
                         j->rhash_hex,
                         j->type,
                         j->size,
                         j->sha256_hex,
                         (const char *)j->name_enc,
                         (const char *)j->content_enc,
                         j->channel,
                         j->idempotency_key,
                         j->idempotency_key ? j->request_hash_hex : NULL,
                         j->limits};
    memcpy(j->params, p, sizeof p);
    j->lengths[5] = (int)name_len;
    j->lengths[6] = (int)content_len;
    j->formats[5] = j->formats[6] = 1;
    DbQuery call = {ADD_SQL, 11, j->params, j->lengths, j->formats};
    act_run(w, w->db_files ? w->db_files : w->db, conn, req, &call, evidence_job_reply,
            evidence_job_free, j);
}

void evidence_api(Worker *w, IntakeConn *conn, struct evhttp_request *req, const char *reference,
                  const char *receipt)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *key = evhttp_find_header(in, "Idempotency-Key");
    MultipartPart parts[MULTIPART_MAX_PARTS];
    int nparts;
    const MultipartPart *file;
    const char *type;
    EvidenceRefusal r;
    if (!api_content_type_is(req, "multipart/form-data")) {
        reply_error(req, 415, "unsupported_media_type", "send the file as multipart/form-data",
                    NULL);
        return;
    }
    /* A retry of an upload whose answer was lost must not store the file twice. */
    if (!key) {
        reply_error(req, 400, "idempotency_key_required",
                    "an upload needs an Idempotency-Key (1 to 200 visible ASCII characters)",
                    "Idempotency-Key");
        return;
    }
    if (!api_idempotency_key_valid(key)) {
        reply_error(req, 400, "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 200 visible ASCII characters", "Idempotency-Key");
        return;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body);
    const unsigned char *bytes = len ? evbuffer_pullup(body, -1) : (const unsigned char *)"";
    if (!evidence_check(w->shared->cfg, evhttp_find_header(in, "Content-Type"), bytes, len, parts,
                        &nparts, &file, &type, &r)) {
        reply_error(req, r.http, r.code, r.message, r.http == 400 ? NULL : "file");
        return;
    }
    unsigned char rhash[32];
    receipt_hash(receipt, rhash);
    EvidenceUpload u = {reference, rhash, file, type, "api", key, dialogue_reply, NULL, NULL};
    evidence_store(w, conn, req, &u);
}

size_t evidence_form_limit(const Config *cfg)
{
    return (size_t)cfg->attachments_max *
               ((size_t)cfg->attachment_max_bytes + EVIDENCE_OVERHEAD_BYTES) +
           (size_t)cfg->max_form_bytes;
}

size_t evidence_upload_limit(const Config *cfg, const char *method, size_t mlen, const char *path,
                             size_t plen)
{
    static const char tail[] = "/attachments";
    static const char api[] = "/v1/grievances/";
    static const char page[] = "/status/attachments";
    static const char form[] = "/grievances";
    if (mlen != 4 || strncmp(method, "POST", 4) != 0)
        return 0;
    const char *q = memchr(path, '?', plen);
    if (q)
        plen = (size_t)(q - path);
    if (plen == sizeof form - 1 && memcmp(path, form, plen) == 0)
        return cfg->attachments_max > 0 ? evidence_form_limit(cfg) : 0;
    bool one_file =
        (plen == sizeof page - 1 && memcmp(path, page, plen) == 0) ||
        (plen > sizeof api - 1 + sizeof tail - 1 && memcmp(path, api, sizeof api - 1) == 0 &&
         memcmp(path + plen - (sizeof tail - 1), tail, sizeof tail - 1) == 0);
    return one_file ? (size_t)cfg->attachment_max_bytes + EVIDENCE_OVERHEAD_BYTES : 0;
}
