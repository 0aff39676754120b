/* The Prometheus side of both servers: a plain-HTTP listener, in a thread of its own with its own
 * event loop, answering GET /metrics with the text exposition format (version 0.0.4) that a
 * program's render callback writes; and lock-free histograms for its hot paths. Meant for
 * 127.0.0.1 (config [metrics]); it serves nothing else. Label values are fixed names chosen by
 * the program (route templates, outcomes, bands), never request data. */
#ifndef REDRESS_PROMHTTP_H
#define REDRESS_PROMHTTP_H

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct PromServer PromServer;

/* Writes the whole exposition into out; runs in the listener's thread. */
typedef void (*PromRenderCb)(struct evbuffer *out, void *arg);

/* Binds addr:port and starts the thread. NULL with the reason in err. */
PromServer *prom_server_start(const char *addr, int port, PromRenderCb render, void *arg, char *err,
                              size_t errlen);
/* Stops the thread and closes the socket. Accepts NULL. */
void prom_server_stop(PromServer *ps);

#define PROM_MAX_BUCKETS 16

/* A histogram with fixed upper bounds (in the unit of the observed value); +Inf is implicit. */
typedef struct {
    int nbounds;
    double bounds[PROM_MAX_BUCKETS];
    _Atomic uint64_t buckets[PROM_MAX_BUCKETS + 1]; /* per bucket, not cumulative */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_micro; /* sum of observations x 1e6 */
} PromHistogram;

void prom_histogram_observe(PromHistogram *h, double value);
/* "# HELP", "# TYPE" and the cumulative _bucket, _sum and _count lines of name. */
void prom_histogram_write(struct evbuffer *out, const char *name, const char *help,
                          PromHistogram *h);
/* "# HELP name help" and "# TYPE name type". */
void prom_header(struct evbuffer *out, const char *name, const char *type, const char *help);

#endif
