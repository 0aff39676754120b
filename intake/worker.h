/* One event-loop thread of the intake server and what its handlers share: its own listening
 * socket (SO_REUSEPORT), evhttp, database connection and its way into a group-commit stream.
 * Everything a worker owns is touched only by its own thread. Internal to intake/. */
#ifndef REDRESS_INTAKE_WORKER_H
#define REDRESS_INTAKE_WORKER_H

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>

#include "config.h"
#include "db.h"
#include "taxonomy.h"

typedef struct Batcher Batcher;
typedef struct BatchPort BatchPort;

/* Read-only state built once at start and shared by every worker. */
typedef struct {
    const Config *cfg;
    Config *read_cfg; /* cfg with read_conninfo as conninfo, or NULL when reads use cfg */
    const Taxonomy *tax;
    SSL_CTX *ssl_ctx;
    unsigned char contact_key[32];
    unsigned char receipt_key[32];
} Shared;

typedef struct Worker {
    int id;
    const Shared *shared; /* &local */
    Shared local;         /* this worker's copy: a reload swaps its taxonomy and TLS context in the
                             worker's own thread (server_run_in_workers) */
    struct event *beat;   /* watchdog liveness timer (service.h) */
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener; /* borrowed from evhttp's bound socket */
    Db *db;
    Db *db_read;  /* status look-ups, possibly on a standby; NULL: they use db */
    Db *db_files; /* evidence uploads, their own connection (README "Evidence files"); NULL: db */
    Batcher *stream;  /* the commit stream this worker runs on its db, or NULL (batch.h) */
    BatchPort *batch; /* where this worker's submissions go: its own stream or another's */
    int nconns;       /* open connections of this worker */
    int max_conns;    /* this worker's share of server.max_connections */
    bool paused;      /* listener disabled because nconns reached max_conns */
    bool stopping;
    pthread_t thread;
} Worker;

#endif
