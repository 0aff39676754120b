/* Connection lifetime, deadline and cap. See conn.h. */
#include "conn.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "evidence.h"
#include "log.h"
#include "util.h"

struct IntakeConn {
    Worker *worker;
    struct bufferevent *bev; /* owned by evhttp once returned from the bevcb */
    struct event *deadline;  /* the whole request must arrive before this fires */
    RequestSlot *slot;       /* a request of this connection waiting on the database */
    bool await_line;         /* the next bytes begin a request: its line decides the body cap */
    bool upload;             /* the current request is an upload (counted in uploads_reading) */
};

/* Uploads being read by this worker thread at once (a form post of /grievances counts as one):
 * each may hold its route's upload cap in memory. Beyond the budget a request gets the ordinary
 * cap (a large upload is then refused with 413). */
#define CONN_UPLOADS_PER_WORKER 16
static _Thread_local int uploads_reading;

static int conn_ex_index = -1;

static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    IntakeConn *conn = arg;
    /* Cut the socket and let evhttp notice and tear the connection down in its own time; freeing
     * the bufferevent here would pull it from under evhttp. */
    evutil_socket_t sock = bufferevent_getfd(conn->bev);
    if (sock >= 0)
        shutdown(sock, SHUT_RDWR);
}

static void conn_deadline_arm(IntakeConn *conn)
{
    struct timeval tv = {conn->worker->shared->cfg->request_timeout_s, 0};
    event_add(conn->deadline, &tv);
}

/* Runs when evhttp frees the connection (SSL_free of its bufferevent's SSL object). */
static void conn_ssl_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                             void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    IntakeConn *conn = ptr;
    if (!conn)
        return;
    Worker *w = conn->worker;
    if (conn->upload)
        uploads_reading--;
    if (conn->slot) {
        conn->slot->req = NULL;
        conn->slot->conn = NULL;
    }
    event_free(conn->deadline);
    free(conn);
    w->nconns--;
    if (w->paused && w->nconns < w->max_conns && !w->stopping) {
        evconnlistener_enable(w->listener);
        w->paused = false;
    }
}

/* evhttp's connection of our bufferevent: evhttp installs its callbacks with the connection as
 * their argument (libevent 2.1, http.c); checked both ways before use. */
static struct evhttp_connection *conn_evcon(IntakeConn *conn)
{
    void *arg = NULL;
    bufferevent_getcb(conn->bev, NULL, NULL, NULL, &arg);
    struct evhttp_connection *evcon = arg;
    return evcon && evhttp_connection_get_bufferevent(evcon) == conn->bev ? evcon : NULL;
}

/* libevent buffers a whole body before our handler runs, against one cap per connection, checked
 * as soon as the headers are read (a Content-Length over it) or while a chunked body arrives. The
 * request line decides that cap before libevent parses it: an upload route gets the upload cap,
 * every other request the ordinary one, so a non-upload request never holds more than the
 * ordinary cap whatever an upload may send. */
static void conn_classify(IntakeConn *conn)
{
    struct evbuffer *in = bufferevent_get_input(conn->bev);
    char line[4097];
    ev_ssize_t got = evbuffer_copyout(in, line, sizeof line - 1);
    size_t have = got > 0 ? (size_t)got : 0;
    line[have] = '\0';
    size_t skip = strspn(line, "\r\n"); /* stray CRLFs before a request line, as libevent allows */
    char *eol = memchr(line + skip, '\n', have - skip);
    if (!eol && have < sizeof line - 1)
        return; /* the line is not complete yet */
    size_t n = eol ? (size_t)(eol - line) : have;
    line[n] = '\0';
    memmove(line, line + skip, n - skip + 1);
    n -= skip;
    const char *sp = memchr(line, ' ', n);
    const char *path = sp ? sp + 1 : NULL;
    const char *sp2 = path ? memchr(path, ' ', n - (size_t)(path - line)) : NULL;
    const Config *cfg = conn->worker->shared->cfg;
    size_t limit =
        sp2 && uploads_reading < CONN_UPLOADS_PER_WORKER
            ? evidence_upload_limit(cfg, line, (size_t)(sp - line), path, (size_t)(sp2 - path))
            : 0;
    bool upload = limit > 0;
    conn->await_line = false;
    struct evhttp_connection *evcon = conn_evcon(conn);
    if (!evcon)
        return; /* the server-wide (ordinary) cap stays */
    evhttp_connection_set_max_body_size(
        evcon, (ev_ssize_t)(upload ? conn_upload_cap(limit) : conn_ordinary_cap(cfg)));
    if (upload) {
        conn->upload = true;
        uploads_reading++;
    }
}

static void conn_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    IntakeConn *conn = arg;
    if (info->n_added > 0 && conn->await_line)
        conn_classify(conn);
}

size_t conn_ordinary_cap(const Config *cfg)
{
    int limit =
        cfg->max_body_bytes > cfg->max_form_bytes ? cfg->max_body_bytes : cfg->max_form_bytes;
    return (size_t)limit * 4;
}

size_t conn_upload_cap(size_t route_limit)
{
    return route_limit + CONN_UPLOAD_SLACK_BYTES;
}

int conn_global_init(void)
{
    conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_ssl_free_cb);
    return conn_ex_index < 0 ? -1 : 0;
}

struct bufferevent *conn_bev_new_cb(struct event_base *base, void *arg)
{
    Worker *w = arg;
    SSL *ssl = SSL_new(w->shared->ssl_ctx);
    if (!ssl)
        abort();
    IntakeConn *conn = xcalloc(1, sizeof *conn);
    conn->worker = w;
    conn->deadline = evtimer_new(base, conn_deadline_cb, conn);
    if (!conn->deadline || SSL_set_ex_data(ssl, conn_ex_index, conn) != 1)
        abort();
    conn->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                               BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!conn->bev)
        abort();
    bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
    conn->await_line = true;
    evbuffer_add_cb(bufferevent_get_input(conn->bev), conn_input_cb, conn);
    conn_deadline_arm(conn);
    if (++w->nconns >= w->max_conns && !w->paused) {
        evconnlistener_disable(w->listener);
        w->paused = true;
        LOG_WARN("worker %d: connection cap %d reached, not accepting", w->id, w->max_conns);
    }
    return conn->bev;
}

IntakeConn *conn_of_request(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl ? SSL_get_ex_data(ssl, conn_ex_index) : NULL;
}

Worker *conn_worker(const IntakeConn *conn)
{
    return conn->worker;
}

static void conn_reply_sent_cb(struct evhttp_request *req, void *arg)
{
    (void)req;
    IntakeConn *conn = arg;
    conn_deadline_arm(conn); /* the next request on this connection gets the same deadline */
    if (conn->upload)
        uploads_reading--;
    conn->upload = false;
    /* The next request's line may be buffered already (pipelined): libevent reads it only after
     * this returns. */
    conn->await_line = true;
    conn_classify(conn);
}

void conn_request_begin(IntakeConn *conn, struct evhttp_request *req)
{
    if (!conn)
        return;
    event_del(conn->deadline);
    evhttp_request_set_on_complete_cb(req, conn_reply_sent_cb, conn);
}

void conn_slot_attach(IntakeConn *conn, RequestSlot *slot, struct evhttp_request *req)
{
    slot->req = req;
    slot->conn = conn;
    if (conn)
        conn->slot = slot;
}

struct evhttp_request *conn_slot_release(RequestSlot *slot)
{
    struct evhttp_request *req = slot->req;
    if (slot->conn)
        slot->conn->slot = NULL;
    slot->req = NULL;
    slot->conn = NULL;
    return req;
}
