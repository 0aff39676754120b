/* Metrics listener and histograms; see promhttp.h. */
#include "promhttp.h"

#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct PromServer {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    PromRenderCb render;
    void *arg;
};

static void prom_request_cb(struct evhttp_request *req, void *arg)
{
    PromServer *ps = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (!path || strcmp(path, "/metrics") != 0) {
        evhttp_send_error(req, 404, "Not Found");
        return;
    }
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        evhttp_send_error(req, 405, "Method Not Allowed");
        return;
    }
    struct evbuffer *body = evbuffer_new();
    ps->render(body, ps->arg);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    evhttp_send_reply(req, 200, "OK", body);
    evbuffer_free(body);
}

static void *prom_main(void *arg)
{
    PromServer *ps = arg;
    event_base_dispatch(ps->base);
    return NULL;
}

PromServer *prom_server_start(const char *addr, int port, PromRenderCb render, void *arg, char *err,
                              size_t errlen)
{
    PromServer *ps = xcalloc(1, sizeof *ps);
    ps->render = render;
    ps->arg = arg;
    ps->base = event_base_new();
    ps->http = ps->base ? evhttp_new(ps->base) : NULL;
    if (!ps->http) {
        snprintf(err, errlen, "metrics: cannot create the event loop");
        goto fail;
    }
    evhttp_set_max_headers_size(ps->http, 8192);
    evhttp_set_max_body_size(ps->http, 0);
    evhttp_set_timeout(ps->http, 10);
    evhttp_set_allowed_methods(ps->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_gencb(ps->http, prom_request_cb, ps);
    if (!evhttp_bind_socket_with_handle(ps->http, addr, (ev_uint16_t)port)) {
        snprintf(err, errlen, "metrics: cannot listen on %s port %d", addr, port);
        goto fail;
    }
    if (pthread_create(&ps->thread, NULL, prom_main, ps) != 0) {
        snprintf(err, errlen, "metrics: cannot start its thread");
        goto fail;
    }
    return ps;
fail:
    if (ps->http)
        evhttp_free(ps->http);
    if (ps->base)
        event_base_free(ps->base);
    free(ps);
    return NULL;
}

void prom_server_stop(PromServer *ps)
{
    if (!ps)
        return;
    event_base_loopbreak(ps->base);
    pthread_join(ps->thread, NULL);
    evhttp_free(ps->http);
    event_base_free(ps->base);
    free(ps);
}

void prom_histogram_observe(PromHistogram *h, double value)
{
    int i = 0;
    while (i < h->nbounds && value > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)(value * 1e6), memory_order_relaxed);
}

void prom_header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_histogram_write(struct evbuffer *out, const char *name, const char *help,
                          PromHistogram *h)
{
    prom_header(out, name, "histogram", help);
    uint64_t cumulative = 0;
    for (int i = 0; i <= h->nbounds; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->nbounds)
            evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
                                (unsigned long long)cumulative);
        else
            evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                                (unsigned long long)cumulative);
    }
    evbuffer_add_printf(out, "%s_sum %.6f\n%s_count %llu\n", name,
                        (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6,
                        name, (unsigned long long)cumulative);
}
