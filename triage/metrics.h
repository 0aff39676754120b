/* redress-triage's Prometheus metrics (config [metrics] enabled, listen, triage_port): what it did
 * (grievances triaged, batches rolled back: counters bumped by the workers) and what waits (the
 * backlog of untriaged grievances and the age of its oldest, open cases by band, open cases past
 * their current stage's deadline), read from the database at each scrape over the listener
 * thread's own connection. Labels are bands and stage names only. */
#ifndef REDRESS_TRIAGE_METRICS_H
#define REDRESS_TRIAGE_METRICS_H

#include <stddef.h>

#include "config.h"

/* One batch ended: n grievances triaged, or n < 0 when it rolled back. */
void triage_metrics_batch(int n);

/* Starts the listener when cfg->metrics_enabled (cfg borrowed until triage_metrics_stop); 0 also
 * when off, -1 with the reason in err. */
int triage_metrics_start(const Config *cfg, char *err, size_t errlen);
void triage_metrics_stop(void);

#endif
