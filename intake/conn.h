/* Per-connection state: the TLS bufferevent handed to evhttp, the request deadline (libevent's
 * own timeouts are inactivity timeouts that slowloris defeats), the connection cap, and the link
 * to a request waiting on the database. The connection is freed by evhttp; we learn of it through
 * the SSL object's ex_data free hook, so nothing of ours outlives it or points into it. */
#ifndef REDRESS_INTAKE_CONN_H
#define REDRESS_INTAKE_CONN_H

#include <event2/bufferevent.h>
#include <event2/http.h>

#include "worker.h"

typedef struct IntakeConn IntakeConn;

/* A request parked while the database works. When the connection dies first, req and conn are set
 * to NULL so the eventual answer is dropped instead of touching freed memory. */
typedef struct RequestSlot {
    struct evhttp_request *req;
    IntakeConn *conn;
} RequestSlot;

/* Past the upload route's own limit, so a file just over it still gets our JSON 413. */
#define CONN_UPLOAD_SLACK_BYTES (1024 * 1024)

/* libevent's body caps (see conn.c): 4 x the larger of the API's and the form's limits for every
 * request but uploads; for an upload, its route's limit (evidence_upload_limit) + the slack. */
size_t conn_ordinary_cap(const Config *cfg);
size_t conn_upload_cap(size_t route_limit);

/* Sets up the SSL ex_data index; call once before any worker starts. 0 or -1. */
int conn_global_init(void);
/* evhttp_set_bevcb callback (arg: Worker). Never returns NULL: a NULL would make evhttp fall back
 * to plaintext on the TLS port, so on failure the process aborts (only out of memory gets there).
 */
struct bufferevent *conn_bev_new_cb(struct event_base *base, void *arg);
/* The connection of a request; NULL only if the request is not ours. */
IntakeConn *conn_of_request(struct evhttp_request *req);
/* The worker that owns conn. */
Worker *conn_worker(const IntakeConn *conn);
/* The request is complete: stop its deadline; it restarts when the reply has been sent. */
void conn_request_begin(IntakeConn *conn, struct evhttp_request *req);
/* Parks req in slot until conn_slot_release; conn may be NULL. */
void conn_slot_attach(IntakeConn *conn, RequestSlot *slot, struct evhttp_request *req);
/* Returns the request still waiting in slot (NULL if its connection died) and detaches it. */
struct evhttp_request *conn_slot_release(RequestSlot *slot);

#endif
