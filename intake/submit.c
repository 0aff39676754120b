/* Grievance -> row (the shared row builder) -> Batcher -> reply. */
#include "submit.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
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
    metrics_submission(outcome);
    if (req) {
        SubmitResult result = {outcome, NULL, NULL, NULL};
        if (outcome == SUBMIT_STORED || outcome == SUBMIT_REPLAYED) {
            result.reference = sub->row.reference;
            result.receipt = sub->row.receipt;
            result.received_at = sub->received_at;
        }
        p->reply(req, &result, p->ctx);
    } else if (p->ctx_free) {
        p->ctx_free(p->ctx); /* the client left; a committed row stays committed */
    }
    grievance_row_clear(&sub->row);
    free(p);
}

void submit_start(Worker *w, IntakeConn *conn, struct evhttp_request *req, const Grievance *g,
                  const SubmitRequest *sr)
{
    PendingSubmit *p = xcalloc(1, sizeof *p);
    char err[128];
    GrievanceRowInput in = {sr->channel, w->shared->receipt_key, w->shared->contact_key,
                            sr->idempotency_key, sr->request_hash};
    if (grievance_row_build(&p->sub.row, g, &in, err, sizeof err) < 0) {
        LOG_ERROR("worker %d: %s", w->id, err);
        SubmitResult fail = {SUBMIT_FAILED, NULL, NULL, NULL};
        sr->reply(req, &fail, sr->ctx);
        free(p);
        return;
    }
    p->sub.done = submit_done_cb;
    p->worker = w;
    p->reply = sr->reply;
    p->ctx_free = sr->ctx_free;
    p->ctx = sr->ctx;
    conn_slot_attach(conn, &p->slot, req);
    batcher_add(w->batch, &p->sub);
}
