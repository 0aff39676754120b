/* redress-triage: loads config, taxonomy and rules, then runs the worker threads until SIGINT or
 * SIGTERM (each finishes its batch first), drains the backlog and exits (--once), re-scores open
 * cases under the current rules (--rescore), or only checks the rules file (--check). */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "pgconn.h"
#include "rescore.h"
#include "rules.h"
#include "taxonomy.h"
#include "worker.h"

static WorkerPool *main_pool;

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: redress-triage [-c FILE] [-w N] [--once | --rescore | --check]\n"
        "Ranks stored grievances by severity, groups mass events into collective cases and\n"
        "assigns joint-mechanism owners. Runs until SIGINT/SIGTERM.\n\n"
        "  -c, --config FILE  settings (default: $REDRESS_CONFIG, else var/redress.conf)\n"
        "  -w, --workers N    worker threads, each with its own database connection\n"
        "                     (default: [triage] workers)\n"
        "      --once         triage the backlog, then exit\n"
        "      --rescore      re-score every open case under the current rules file, then exit\n"
        "      --check        check the config and rules file, then exit\n"
        "  -h, --help         this help\n");
}

static void main_stop_cb(int sig)
{
    (void)sig;
    if (main_pool)
        worker_pool_stop(main_pool);
}

static double main_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    enum { OPT_ONCE = 1000, OPT_RESCORE, OPT_CHECK };
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"once", no_argument, NULL, OPT_ONCE},
                                         {"rescore", no_argument, NULL, OPT_RESCORE},
                                         {"check", no_argument, NULL, OPT_CHECK},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cli_config = NULL;
    long workers = 0;
    bool once = false, rescore = false, check = false;
    char err[1024];
    int c, status = 1;
    Config *cfg = NULL;
    Taxonomy *tax = NULL;
    Rules *rules = NULL;
    PGconn *conn = NULL;

    while ((c = getopt_long(argc, argv, "c:w:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c':
            cli_config = optarg;
            break;
        case 'w':
            workers = strtol(optarg, &end, 10);
            if (*end || workers < 1 || workers > 64) {
                fprintf(stderr, "redress-triage: --workers must be 1..64, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_ONCE:
            once = true;
            break;
        case OPT_RESCORE:
            rescore = true;
            break;
        case OPT_CHECK:
            check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || once + rescore + check > 1) {
        usage(stderr);
        return 2;
    }
    cfg = config_load_logged("redress-triage", cli_config);
    if (!cfg)
        goto done;
    if (workers > 0)
        cfg->triage_workers = (int)workers;
    tax = taxonomy_load(cfg->taxonomy_file, err, sizeof err);
    if (!tax) {
        LOG_ERROR("taxonomy: %s", err);
        goto done;
    }
    rules = rules_load(cfg->rules_file, tax, err, sizeof err);
    if (!rules) {
        LOG_ERROR("rules: %s", err);
        goto done;
    }
    if (check) {
        printf("%s: rules version %s: ok\n", rules->path, rules->version);
        status = 0;
        goto done;
    }
    signal(SIGPIPE, SIG_IGN);
    double t0 = main_now();
    if (rescore) {
        conn = pgconn_open(cfg, cfg->triage_user, "redress-triage/rescore", err, sizeof err);
        if (!conn) {
            LOG_ERROR("%s", err);
            goto done;
        }
        long long n = rescore_run(conn, rules, err, sizeof err);
        if (n < 0) {
            LOG_ERROR("rescore: %s", err);
            goto done;
        }
        LOG_INFO("re-scored %lld open case(s) under rules %s in %.1f s", n, rules->version,
                 main_now() - t0);
        status = 0;
        goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = main_stop_cb;
    sigemptyset(&sa.sa_mask);
    /* Block the stop signals while starting threads so they land in the main thread's handler
     * only after the pool exists. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    main_pool = worker_pool_start(cfg, rules, once, err, sizeof err);
    if (!main_pool) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        LOG_ERROR("%s", err);
        goto done;
    }
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    LOG_INFO("triaging with %d worker(s), batches of %d, rules %s%s", cfg->triage_workers,
             cfg->triage_batch_size, rules->version, once ? " (until the backlog is empty)" : "");
    BatchStats total = {0, 0, 0, 0};
    int rc = worker_pool_join(main_pool, &total);
    main_pool = NULL;
    double secs = main_now() - t0;
    LOG_INFO("stopped: %lld grievance(s) triaged in %.2f s (%.0f/s), %lld case(s) opened, "
             "%lld joined an open case, %lld decision(s)",
             total.grievances, secs, secs > 0 ? (double)total.grievances / secs : 0.0, total.opened,
             total.joined, total.decisions);
    status = rc == 0 ? 0 : 1;
done:
    if (conn)
        PQfinish(conn);
    rules_free(rules);
    taxonomy_free(tax);
    config_free(cfg);
    return status;
}
