/* SIGHUP reload of the certificate and the taxonomy; see reload.h. */
#include "reload.h"

#include <stdlib.h>

#include "log.h"
#include "taxonomy.h"
#include "tls.h"
#include "util.h"

#define RELOAD_TIMEOUT_MS 10000

typedef struct {
    SSL_CTX *ssl_ctx;    /* NULL: keep */
    const Taxonomy *tax; /* NULL: keep; GET /v1/taxonomy builds its body from it per language */
} ReloadSwap;

static void reload_swap_cb(Worker *w, void *arg)
{
    const ReloadSwap *swap = arg;
    if (swap->ssl_ctx)
        w->local.ssl_ctx = swap->ssl_ctx; /* new connections only: SSL objects hold their own */
    if (swap->tax) {
        w->local.tax = swap->tax;
    }
}

int reload_run(Server *server, Shared *master)
{
    const Config *cfg = master->cfg;
    char err[1024];
    int rc = 0;
    ReloadSwap *swap = xcalloc(1, sizeof *swap);
    swap->ssl_ctx = tls_ctx_new(cfg->cert_file, cfg->key_file, err, sizeof err);
    if (!swap->ssl_ctx) {
        LOG_ERROR("reload: keeping the current certificate: %s", err);
        rc = -1;
    }
    Taxonomy *tax = taxonomy_load(cfg->taxonomy_file, err, sizeof err);
    if (!tax) {
        LOG_ERROR("reload: keeping the current taxonomy: %s", err);
        rc = -1;
    } else {
        swap->tax = tax;
    }
    if (!swap->ssl_ctx && !swap->tax) {
        free(swap);
        return rc;
    }
    int n = server_workers(server);
    int ran = server_run_in_workers(server, reload_swap_cb, swap, RELOAD_TIMEOUT_MS);
    if (ran < n) {
        /* A worker may still switch later: neither the old nor the new may be freed. */
        LOG_ERROR("reload: %d of %d worker(s) did not answer within %d ms; the old certificate "
                  "and taxonomy stay in memory",
                  n - ran, n, RELOAD_TIMEOUT_MS);
        return -1;
    }
    if (swap->ssl_ctx) {
        SSL_CTX_free(master->ssl_ctx);
        master->ssl_ctx = swap->ssl_ctx;
    }
    if (swap->tax) {
        taxonomy_free((Taxonomy *)master->tax);
        master->tax = swap->tax;
    }
    LOG_INFO("reload: %s%s%s reloaded", swap->ssl_ctx ? "certificate" : "",
             swap->ssl_ctx && swap->tax ? " and " : "", swap->tax ? "taxonomy" : "");
    free(swap);
    return rc;
}
