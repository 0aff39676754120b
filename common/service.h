/* Life under a service manager (systemd, Type=notify): readiness, reloading and stopping reported
 * with sd_notify, and the watchdog. Without systemd ($NOTIFY_SOCKET unset) every call is a no-op.
 *
 * The watchdog pings only while every watched thread is alive: each beats (service_beat) from its
 * own loop, and a watchdog thread pings systemd when every beat is recent. A thread stuck in a
 * callback or a database call stops beating, the pings stop and systemd restarts the service. */
#ifndef REDRESS_SERVICE_H
#define REDRESS_SERVICE_H

#include <event2/event.h>
#include <stdbool.h>

#define SERVICE_MAX_BEATS 128

/* READY=1 with a one-line STATUS. */
void service_ready(const char *status);
/* RELOADING=1 (then service_ready when done). */
void service_reloading(void);
/* STOPPING=1. */
void service_stopping(void);

/* Thread slot (0 .. SERVICE_MAX_BEATS-1) is alive now. */
void service_beat(int slot);
/* A persistent timer on base beating slot every second: the event loop's own liveness. Caller
 * frees it with event_free before the base. */
struct event *service_beat_timer_new(struct event_base *base, int slot);
/* When systemd's watchdog is on (WatchdogSec=), starts a thread pinging it while each of slots
 * 0..nslots-1 beat within idle_ms (the longest a healthy thread goes between two beats) plus half
 * the watchdog interval. Returns 0 (also when the watchdog is off), -1 on failure. */
int service_watchdog_start(int nslots, int idle_ms);
/* Stops that thread (no-op if none). */
void service_watchdog_stop(void);

#endif
