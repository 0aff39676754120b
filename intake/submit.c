/* Grievance -> Submission -> Batcher -> reply. */
#include "submit.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "util.h"

typedef struct {
    Submission sub; /* first member: the batcher hands this back */
    Worker *worker;
    RequestSlot slot;
    SubmitReplyCb reply;
    void (*ctx_free)(void *ctx);
    void *ctx;
} PendingSubmit;

static void submit_done_cb(Submission *sub, SubmitOutcome outcome)
{
    PendingSubmit *p = (PendingSubmit *)sub;
    struct evhttp_request *req = conn_slot_release(&p->slot);
    if (req) {
        SubmitResult result = {outcome, NULL, NULL, NULL};
        if (outcome == SUBMIT_STORED || outcome == SUBMIT_REPLAYED) {
            result.reference = sub->reference;
            result.receipt = sub->receipt;
            result.received_at = sub->received_at;
        }
        p->reply(req, &result, p->ctx);
    } else if (p->ctx_free) {
        p->ctx_free(p->ctx); /* the client left; a committed row stays committed */
    }
    json_decref(sub->row);
    OPENSSL_cleanse(sub->receipt, sizeof sub->receipt);
    free(p);
}

void submit_start(Worker *w, IntakeConn *conn, struct evhttp_request *req, const Grievance *g,
                  const SubmitRequest *sr)
{
    PendingSubmit *p = xcalloc(1, sizeof *p);
    char *contact = NULL, hash_hex[65];
    p->worker = w;
    p->reply = sr->reply;
    p->ctx_free = sr->ctx_free;
    p->ctx = sr->ctx;
    if (g->contact_json) {
        contact =
            contact_seal_b64(w->shared->contact_key, g->contact_json, strlen(g->contact_json));
        if (!contact) {
            LOG_ERROR("worker %d: sealing a contact failed", w->id);
            SubmitResult fail = {SUBMIT_FAILED, NULL, NULL, NULL};
            sr->reply(req, &fail, sr->ctx);
            free(p);
            return;
        }
    }
    if (sr->idempotency_key) {
        hex_encode(sr->request_hash, 32, hash_hex);
        memcpy(p->sub.request_hash, sr->request_hash, 32);
        p->sub.has_key = true;
    }
    GrievanceRowMeta meta = {0,
                             "",
                             sr->channel,
                             "",
                             contact,
                             sr->idempotency_key,
                             sr->idempotency_key ? hash_hex : NULL};
    p->sub.row = grievance_row_json(g, &meta);
    free(contact);
    submission_assign_reference(&p->sub, w->shared->receipt_key);
    p->sub.done = submit_done_cb;
    conn_slot_attach(conn, &p->slot, req);
    batcher_add(w->batcher, &p->sub);
}
