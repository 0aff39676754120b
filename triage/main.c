/* redress-triage: loads config, taxonomy and rules, then runs the worker threads until SIGINT or
 * SIGTERM (each finishes its batch first), drains the backlog and exits (--once), re-scores open
 * cases under the current rules (--rescore), or only checks the rules file (--check). While the
 * workers run, the main thread waits for signals (sigtimedwait; every thread blocks them): SIGHUP
 * reloads the rules file, validated first, and a file that does not validate is refused with its
 * file and line while the rules in use stay. */
#include <event2/thread.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "pgconn.h"
#include "rescore.h"
#include "rules.h"
#include "service.h"
#include "taxonomy.h"
#include "worker.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: redress-triage [-c FILE] [-w N] [--once | --rescore | --check]\n"
        "Ranks stored grievances by severity, groups mass events into collective cases and\n"
        "assigns joint-mechanism owners, escalates missed deadlines. Runs until SIGINT/SIGTERM;\n"
        "SIGHUP reloads the rules file (a file that does not validate is refused).\n\n"
        "  -c, --config FILE  settings (default: $REDRESS_CONFIG, else var/redress.conf)\n"
        "  -w, --workers N    worker threads, each with its own database connection\n"
        "                     (default: [triage] workers)\n"
        "      --once         triage the backlog, then exit\n"
        "      --rescore      re-score every open case under the current rules file, then exit\n"
        "      --check        check the config and rules file, then exit\n"
        "  -V, --version      print the version\n"
        "  -h, --help         this help\n");
}

/* SIGHUP: the rules file again. Only rules that load and validate replace the ones in use. */
static void main_rules_reload(const Config *cfg, const Taxonomy *tax, WorkerPool *pool,
                              char *version, size_t vlen)
{
    char err[1024];
    Rules *fresh = rules_load(cfg->rules_file, tax, err, sizeof err);
    if (!fresh) {
        LOG_ERROR("rules: reload refused, still using version %s: %s", version, err);
        return;
    }
    LOG_INFO("rules: reloaded %s: version %s (was %s)", fresh->path, fresh->version, version);
    snprintf(version, vlen, "%s", fresh->version);
    worker_pool_rules_set(pool, fresh);
}

/* Runs the pool until a stop signal (or, in once mode, until every worker is done). */
static int main_run_pool(const Config *cfg, const Taxonomy *tax, Rules *rules, bool once,
                         BatchStats *total, SweepStats *swept)
{
    char err[1024], version[80];
    snprintf(version, sizeof version, "%s", rules->version);
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    /* Blocked before the threads start, so they inherit the mask: only sigtimedwait below takes
     * these signals. */
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    WorkerPool *pool = worker_pool_start(cfg, rules, once, err, sizeof err);
    if (!pool) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        LOG_ERROR("%s", err);
        return -1;
    }
    LOG_INFO("triaging with %d worker(s), batches of %d, rules %s%s", cfg->triage_workers,
             cfg->triage_batch_size, version, once ? " (until the backlog is empty)" : "");
    /* The service side (service.h, metrics.h): only for a long-running worker. */
    if (!once) {
        snprintf(err, sizeof err, "cannot initialise threading");
        if (evthread_use_pthreads() < 0 || triage_metrics_start(cfg, err, sizeof err) < 0)
            LOG_ERROR("%s", err); /* triage goes on without its metrics */
        /* Each worker beats once per round; it may sleep a whole sweep interval between two. */
        if (service_watchdog_start(cfg->triage_workers, cfg->triage_sweep_s * 1000) < 0)
            LOG_WARN("watchdog: cannot start its thread");
        service_ready("triaging");
    }
    const struct timespec tick = {0, 100 * 1000 * 1000};
    while (!worker_pool_finished(pool)) {
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGHUP) {
            service_reloading();
            main_rules_reload(cfg, tax, pool, version, sizeof version);
            service_ready("triaging");
        } else if (sig == SIGINT || sig == SIGTERM) {
            LOG_INFO("stopping: each worker finishes its batch");
            service_stopping();
            worker_pool_stop(pool);
            break;
        }
    }
    int rc = worker_pool_join(pool, total, swept);
    service_watchdog_stop();
    triage_metrics_stop();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
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
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"workers", required_argument, NULL, 'w'},
        {"once", no_argument, NULL, OPT_ONCE},    {"rescore", no_argument, NULL, OPT_RESCORE},
        {"check", no_argument, NULL, OPT_CHECK},  {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
    const char *cli_config = NULL;
    long workers = 0;
    bool once = false, rescore = false, check = false;
    char err[1024];
    int c, status = 1;
    Config *cfg = NULL;
    Taxonomy *tax = NULL;
    Rules *rules = NULL;
    PGconn *conn = NULL;

    while ((c = getopt_long(argc, argv, "c:w:hV", opts, NULL)) != -1) {
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
        case 'V':
            printf("redress-triage %s\n", REDRESS_VERSION);
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

    BatchStats total = {0, 0, 0, 0};
    SweepStats swept = {0, 0, 0};
    Rules *owned = rules;
    rules = NULL; /* the pool owns it now, even if it fails to start */
    int rc = main_run_pool(cfg, tax, owned, once, &total, &swept);
    double secs = main_now() - t0;
    LOG_INFO("stopped: %lld grievance(s) triaged in %.2f s (%.0f/s), %lld case(s) opened, "
             "%lld joined an open case, %lld decision(s); %lld deadline(s) missed, %lld case(s) "
             "escalated",
             total.grievances, secs, secs > 0 ? (double)total.grievances / secs : 0.0, total.opened,
             total.joined, total.decisions, swept.missed, swept.escalated);
    status = rc == 0 ? 0 : 1;
done:
    if (conn)
        PQfinish(conn);
    rules_free(rules);
    taxonomy_free(tax);
    config_free(cfg);
    return status;
}
