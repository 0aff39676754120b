/* Worker threads and their listening sockets. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "conn.h"
#include "log.h"
#include "routes.h"
#include "service.h"
#include "util.h"

#define SHUTDOWN_GRACE_S 5

struct Server {
    const Shared *shared;
    Worker *workers;
    int nworkers;
    Worker *streams; /* commit stream threads: an event loop and a submissions connection each */
    int nstreams;
    pthread_mutex_t run_lock; /* one server_run_in_workers at a time */
};

static int listen_socket_open(const char *addr, int port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sslen = sizeof *sin;
    } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sslen = sizeof *sin6;
    } else {
        snprintf(err, errlen, "listen address '%s' is not an IPv4 or IPv6 literal", addr);
        return -1;
    }
    int one = 1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        /* Inherited by accepted sockets: a reply written in two TLS records must not wait for
         * the client's delayed ACK. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int worker_init(Worker *w, char *err, size_t errlen)
{
    const Config *cfg = w->shared->cfg;
    /* The changelist folds a disable and re-enable of one event within a loop iteration into no
     * epoll_ctl at all (evhttp toggles read and write interest around every request). */
    struct event_config *ec = event_config_new();
    if (ec)
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec)
        event_config_free(ec);
    w->http = w->base ? evhttp_new(w->base) : NULL;
    if (!w->http) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    /* libevent buffers a body up to a hard cap before our handler runs: a Content-Length over it
     * gets libevent's HTML 413 before any body is read, a chunked body is cut off as soon as a
     * chunk would pass it. Between our limits (max_body_bytes for the API, max_form_bytes for the
     * form) and the cap, routes.c answers: JSON 413, or the form again with its text. So a
     * request holds at most 4 x the larger limit (plus one 16 KiB socket read) in memory. Upload
     * requests get a cap of their own, set per request from its line (conn.c). */
    evhttp_set_max_body_size(w->http, (ev_ssize_t)conn_ordinary_cap(cfg));
    evhttp_set_max_headers_size(w->http, (size_t)cfg->max_header_bytes);
    evhttp_set_timeout(w->http, cfg->request_timeout_s);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(w->http, "application/json; charset=utf-8");
    evhttp_set_bevcb(w->http, conn_bev_new_cb, w);
    evhttp_set_gencb(w->http, routes_request_cb, w);
    int fd = listen_socket_open(cfg->listen_addr, cfg->port, err, errlen);
    if (fd < 0)
        return -1;
    struct evhttp_bound_socket *bound = evhttp_accept_socket_with_handle(w->http, fd);
    if (!bound) {
        close(fd);
        snprintf(err, errlen, "cannot accept on the listening socket");
        return -1;
    }
    w->listener = evhttp_bound_socket_get_listener(bound);
    w->db = db_new(w->base, cfg, cfg->intake_user, "redress-intake");
    if (w->shared->read_cfg)
        w->db_read = db_new(w->base, w->shared->read_cfg, cfg->intake_user, "redress-intake/read");
    /* A 10 MiB file in the submissions' pipeline would hold every batch queued behind it. */
    if (cfg->attachments_max > 0 && cfg->attachment_connection)
        w->db_files = db_new(w->base, cfg, cfg->intake_user, "redress-intake/files");
    w->beat = service_beat_timer_new(w->base, w->id);
    return 0;
}

static void worker_drain_cb(evutil_socket_t fd, short what, void *arg);

/* Shutdown, in the worker's own thread: stop accepting, then wait for queued rows. */
static void worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Worker *w = arg;
    w->stopping = true;
    evconnlistener_disable(w->listener);
    worker_drain_cb(-1, 0, w);
}

/* A commit stream's thread: its own event loop with the submissions connection and nothing else,
 * so a commit's answer is read the moment it arrives, never behind a loop of TLS work. */
static int stream_init(Worker *sw, char *err, size_t errlen)
{
    const Config *cfg = sw->shared->cfg;
    sw->base = event_base_new();
    if (!sw->base) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    sw->db = db_new(sw->base, cfg, cfg->intake_user, "redress-intake/commit");
    sw->stream = batcher_new(sw);
    sw->beat = service_beat_timer_new(sw->base, sw->id);
    return 0;
}

static void worker_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Worker *w = arg;
    static __thread int waited_ms;
    if (w->stream) {
        /* A stream stays until the workers it serves have stopped adding and it is empty. */
        if (!batcher_has_ports(w->stream) && batcher_pending(w->stream) == 0) {
            event_base_loopexit(w->base, NULL);
            return;
        }
        if (waited_ms >= SHUTDOWN_GRACE_S * 1000) {
            /* The database is stuck: close it so waiting clients get their 503 (never a 201
             * whose commit is unknown); the workers write those replies. */
            LOG_WARN("commit stream %d: %d submission(s) still waiting at shutdown; answering 503",
                     w->id, batcher_pending(w->stream));
            db_close(w->db);
            struct timeval flush = {0, 200000};
            event_base_loopexit(w->base, &flush);
            return;
        }
    } else if (batch_port_outstanding(w->batch) == 0 ||
               waited_ms >= (SHUTDOWN_GRACE_S + 1) * 1000) {
        /* Answered, or past the grace period after which its stream answers 503. Answers that
         * came while draining get a moment to be written before the connections close. */
        batch_port_close(w->batch);
        struct timeval flush = {0, 200000};
        event_base_loopexit(w->base, waited_ms > 0 ? &flush : NULL);
        return;
    }
    waited_ms += 50;
    struct timeval tv = {0, 50000};
    event_base_once(w->base, -1, EV_TIMEOUT, worker_drain_cb, w, &tv);
}

/* "worker0", "commit0": what top -H and perf show for each thread. */
static void thread_name(pthread_t thread, const char *role, int i)
{
    char name[16];
    snprintf(name, sizeof name, "%.6s%u", role, (unsigned)i % 1000u);
    pthread_setname_np(thread, name);
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    log_thread_id(w->id);
    LOG_DEBUG("worker %d running", w->id);
    event_base_dispatch(w->base);
    return NULL;
}

static void worker_parts_free(Worker *w)
{
    batch_port_free(w->batch);
    if (w->beat)
        event_free(w->beat);
    if (w->http)
        evhttp_free(w->http);
    if (w->base)
        event_base_free(w->base);
}

/* Freed in steps, so nothing is freed while another thread's part may still use it: ports are
 * closed, each stream's connection fails what is still in flight and the stream fails what is
 * queued (answers go to the ports), then the ports deliver them. */
static void server_parts_free(Server *s)
{
    for (int i = 0; i < s->nworkers; i++)
        batch_port_close(s->workers[i].batch);
    for (int i = 0; i < s->nstreams; i++) {
        db_free(s->streams[i].db);
        batcher_free(s->streams[i].stream);
    }
    for (int i = 0; i < s->nworkers; i++) {
        Worker *w = &s->workers[i];
        db_free(w->db_files);
        db_free(w->db_read);
        db_free(w->db);
        worker_parts_free(w);
    }
    for (int i = 0; i < s->nstreams; i++)
        worker_parts_free(&s->streams[i]);
}

int server_commit_streams(const Config *cfg)
{
    return cfg->commit_streams < cfg->workers ? cfg->commit_streams : cfg->workers;
}

Server *server_start(const Shared *shared, char *err, size_t errlen)
{
    Server *s = xcalloc(1, sizeof *s);
    s->shared = shared;
    s->nworkers = shared->cfg->workers;
    s->workers = xcalloc((size_t)s->nworkers, sizeof(Worker));
    s->nstreams = server_commit_streams(shared->cfg);
    s->streams = xcalloc((size_t)s->nstreams, sizeof(Worker));
    pthread_mutex_init(&s->run_lock, NULL);
    int per_worker = shared->cfg->max_connections / s->nworkers;
    for (int i = 0; i < s->nworkers; i++) {
        Worker *w = &s->workers[i];
        w->id = i;
        w->local = *shared;
        w->shared = &w->local;
        w->max_conns = per_worker > 0 ? per_worker : 1;
        if (worker_init(w, err, errlen) < 0)
            goto fail;
    }
    for (int i = 0; i < s->nstreams; i++) {
        Worker *sw = &s->streams[i];
        sw->id = s->nworkers + i; /* its watchdog slot and its name in the log */
        sw->local = *shared;
        sw->shared = &sw->local;
        if (stream_init(sw, err, errlen) < 0)
            goto fail;
    }
    for (int i = 0; i < s->nworkers; i++) {
        Worker *w = &s->workers[i];
        w->batch = batch_port_new(w, s->streams[i % s->nstreams].stream);
    }
    for (int i = 0; i < s->nstreams; i++) {
        if (pthread_create(&s->streams[i].thread, NULL, worker_main, &s->streams[i]) != 0) {
            snprintf(err, errlen, "cannot start commit stream thread");
            abort(); /* threads already running cannot be unwound safely */
        }
        thread_name(s->streams[i].thread, "commit", i);
    }
    for (int i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            snprintf(err, errlen, "cannot start worker thread");
            abort(); /* threads already running cannot be unwound safely */
        }
        thread_name(s->workers[i].thread, "worker", i);
    }
    return s;
fail:
    server_parts_free(s);
    free(s->streams);
    pthread_mutex_destroy(&s->run_lock);
    free(s->workers);
    free(s);
    return NULL;
}

/* One server_run_in_workers call, shared by the caller and the workers: the last to let go frees
 * it, so a worker running late after a timeout never touches freed memory. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int remaining; /* workers yet to run fn */
    int refs;      /* workers yet to run, plus the caller until it returns */
    void (*fn)(Worker *w, void *arg);
    void *arg;
} WorkerCall;

typedef struct {
    WorkerCall *call;
    Worker *w;
} WorkerCallArg;

static void worker_call_release(WorkerCall *call)
{
    bool last = --call->refs == 0;
    pthread_mutex_unlock(&call->lock);
    if (last) {
        pthread_mutex_destroy(&call->lock);
        pthread_cond_destroy(&call->done);
        free(call);
    }
}

static void worker_call_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    WorkerCallArg *a = arg;
    WorkerCall *call = a->call;
    call->fn(a->w, call->arg);
    free(a);
    pthread_mutex_lock(&call->lock);
    call->remaining--;
    pthread_cond_signal(&call->done);
    worker_call_release(call);
}

int server_run_in_workers(Server *s, void (*fn)(Worker *w, void *arg), void *arg, int timeout_ms)
{
    pthread_mutex_lock(&s->run_lock);
    WorkerCall *call = xcalloc(1, sizeof *call);
    pthread_mutex_init(&call->lock, NULL);
    pthread_cond_init(&call->done, NULL);
    call->fn = fn;
    call->arg = arg;
    call->refs = 1;
    for (int i = 0; i < s->nworkers; i++) {
        WorkerCallArg *a = xcalloc(1, sizeof *a);
        a->call = call;
        a->w = &s->workers[i];
        pthread_mutex_lock(&call->lock);
        call->remaining++;
        call->refs++;
        pthread_mutex_unlock(&call->lock);
        if (event_base_once(a->w->base, -1, EV_TIMEOUT, worker_call_cb, a, NULL) < 0) {
            pthread_mutex_lock(&call->lock);
            call->remaining--;
            call->refs--;
            pthread_mutex_unlock(&call->lock);
            free(a);
        }
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = until.tv_nsec + (long long)timeout_ms * 1000000;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&call->lock);
    while (call->remaining > 0) {
        if (pthread_cond_timedwait(&call->done, &call->lock, &until) != 0)
            break;
    }
    int ran = s->nworkers - call->remaining;
    worker_call_release(call);
    pthread_mutex_unlock(&s->run_lock);
    return ran;
}

int server_workers(const Server *s)
{
    return s->nworkers;
}

void server_stop(Server *s)
{
    for (int i = 0; i < s->nworkers; i++)
        event_base_once(s->workers[i].base, -1, EV_TIMEOUT, worker_stop_cb, &s->workers[i], NULL);
    for (int i = 0; i < s->nstreams; i++)
        event_base_once(s->streams[i].base, -1, EV_TIMEOUT, worker_drain_cb, &s->streams[i], NULL);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i].thread, NULL);
    for (int i = 0; i < s->nstreams; i++)
        pthread_join(s->streams[i].thread, NULL);
    server_parts_free(s);
    free(s->streams);
    pthread_mutex_destroy(&s->run_lock);
    free(s->workers);
    free(s);
}
