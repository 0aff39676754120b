/* redress-intake: the HTTPS grievance server. Loads config, taxonomy, keys and TLS context,
 * starts the workers, reloads the certificate and taxonomy on SIGHUP, and stops cleanly on
 * SIGINT/SIGTERM. Readiness, reloads and stopping are reported to systemd (service.h). */
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "conn.h"
#include "crypto.h"
#include "i18n.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "server.h"
#include "service.h"
#include "taxonomy.h"
#include "tls.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: redress-intake [-c FILE]\n"
                 "HTTPS intake of grievances: JSON API under /v1, an HTML form at /.\n"
                 "SIGHUP reloads the certificate and the taxonomy; SIGTERM stops.\n\n"
                 "  -c, --config FILE  settings (default: $REDRESS_CONFIG, else var/redress.conf)\n"
                 "  -V, --version      print the version\n"
                 "  -h, --help         this help\n");
}

static void libevent_log_cb(int severity, const char *msg)
{
    /* libevent's messages name sockets and states, not peers or payloads. */
    if (severity >= EVENT_LOG_WARN)
        LOG_WARN("libevent: %s", msg);
    else
        LOG_DEBUG("libevent: %s", msg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *cli_config = NULL;
    char err[1024];
    int c, status = 1;
    Shared shared;
    memset(&shared, 0, sizeof shared);
    Config *cfg = NULL;
    Taxonomy *tax = NULL; /* until shared owns it */
    Server *server = NULL;

    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cli_config = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("redress-intake %s\n", REDRESS_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    cfg = config_load_logged("redress-intake", cli_config);
    if (!cfg)
        goto done;
    tax = taxonomy_load(cfg->taxonomy_file, err, sizeof err);
    if (!tax) {
        LOG_ERROR("taxonomy: %s", err);
        goto done;
    }
    if (i18n_load(cfg->po_dir, err, sizeof err) < 0) {
        LOG_ERROR("translations: %s", err);
        goto done;
    }
    LOG_INFO("%zu languages from %s", i18n_count(), cfg->po_dir);
    if (key_file_load(cfg->contact_key_file, shared.contact_key, err, sizeof err) < 0 ||
        key_file_load(cfg->receipt_key_file, shared.receipt_key, err, sizeof err) < 0) {
        LOG_ERROR("%s", err);
        goto done;
    }
    shared.ssl_ctx = tls_ctx_new(cfg->cert_file, cfg->key_file, err, sizeof err);
    if (!shared.ssl_ctx) {
        LOG_ERROR("%s", err);
        goto done;
    }
    shared.cfg = cfg;
    shared.read_cfg = config_for_reads(cfg);
    shared.tax = tax;
    tax = NULL;
    if (evthread_use_pthreads() < 0 || conn_global_init() < 0) {
        LOG_ERROR("cannot initialise threading");
        goto done;
    }
    event_set_log_callback(libevent_log_cb);
    signal(SIGPIPE, SIG_IGN);

    /* Block the stop and reload signals in every thread; the main thread waits for them. */
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &wanted, NULL);
    server = server_start(&shared, err, sizeof err);
    if (!server) {
        LOG_ERROR("%s", err);
        goto done;
    }
    LOG_INFO("listening on https://%s:%d/ with %d worker(s)", cfg->listen_addr, cfg->port,
             cfg->workers);
    if (metrics_start(server, cfg, err, sizeof err) < 0) {
        LOG_ERROR("%s", err);
        server_stop(server);
        goto done;
    }
    if (cfg->metrics_enabled)
        LOG_INFO("metrics on http://%s:%d/metrics", cfg->metrics_listen, cfg->metrics_port);
    /* A worker loop beats every second: two missed beats and half the watchdog interval, stuck. */
    if (service_watchdog_start(cfg->workers + server_commit_streams(cfg), 2000) < 0)
        LOG_WARN("watchdog: cannot start its thread");
    char status_line[128];
    snprintf(status_line, sizeof status_line, "listening on port %d with %d worker(s)", cfg->port,
             cfg->workers);
    service_ready(status_line);
    int sig;
    while (sigwait(&wanted, &sig) == 0 && sig == SIGHUP) {
        LOG_INFO("reloading (SIGHUP)");
        service_reloading();
        reload_run(server, &shared);
        service_ready(status_line);
    }
    LOG_INFO("stopping (signal %d): finishing queued submissions", sig);
    service_stopping();
    metrics_stop();
    server_stop(server);
    service_watchdog_stop();
    LOG_INFO("stopped");
    status = 0;
done:
    i18n_free();
    SSL_CTX_free(shared.ssl_ctx);
    taxonomy_free((Taxonomy *)shared.tax);
    taxonomy_free(tax);
    config_free(shared.read_cfg);
    config_free(cfg);
    return status;
}
