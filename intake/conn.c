/* Connection lifetime, deadline and cap. See conn.h. */
#include "conn.h"

#include <event2/bufferevent_ssl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

struct IntakeConn {
    Worker *worker;
    struct bufferevent *bev; /* owned by evhttp once returned from the bevcb */
    struct event *deadline;  /* the whole request must arrive before this fires */
    RequestSlot *slot;       /* a request of this connection waiting on the database */
};

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

static void conn_reply_sent_cb(struct evhttp_request *req, void *arg)
{
    (void)req;
    conn_deadline_arm(arg); /* the next request on this connection gets the same deadline */
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
