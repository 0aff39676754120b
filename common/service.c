/* sd_notify and the watchdog; see service.h. */
#include "service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

static _Atomic int64_t service_beats[SERVICE_MAX_BEATS]; /* CLOCK_MONOTONIC ms, 0: never */
static pthread_t service_wd_thread;
static bool service_wd_running;
static pthread_mutex_t service_wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t service_wd_cond = PTHREAD_COND_INITIALIZER;
static bool service_wd_stop;
static int service_wd_slots, service_wd_stall_ms;
static int64_t service_wd_started_ms; /* when the watchdog started: a slot's first deadline */
static uint64_t service_wd_usec;

static int64_t service_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void service_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void service_reloading(void)
{
    /* MONOTONIC_USEC lets systemd 253+ match the reload; older ones ignore it. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld",
               (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

void service_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void service_beat(int slot)
{
    if (slot >= 0 && slot < SERVICE_MAX_BEATS)
        atomic_store(&service_beats[slot], service_now_ms());
}

static void service_beat_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    service_beat((int)(intptr_t)arg);
}

struct event *service_beat_timer_new(struct event_base *base, int slot)
{
    struct event *ev = event_new(base, -1, EV_PERSIST, service_beat_cb, (void *)(intptr_t)slot);
    struct timeval second = {1, 0};
    if (ev)
        event_add(ev, &second);
    service_beat(slot);
    return ev;
}

static bool service_all_alive(void)
{
    int64_t now = service_now_ms();
    for (int i = 0; i < service_wd_slots; i++) {
        int64_t t = atomic_load(&service_beats[i]);
        /* Not beaten yet: its thread may not have begun its loop, so the limit counts from the
         * watchdog's start (judged stuck at once, it logged a false stall at start-up). */
        if (t == 0)
            t = service_wd_started_ms;
        if (now - t > service_wd_stall_ms)
            return false;
    }
    return true;
}

static void *service_watchdog_main(void *arg)
{
    (void)arg;
    bool warned = false;
    pthread_mutex_lock(&service_wd_lock);
    while (!service_wd_stop) {
        if (service_all_alive()) {
            sd_notify(0, "WATCHDOG=1");
            warned = false;
        } else if (!warned) {
            LOG_WARN("watchdog: a worker thread has not run for %d ms; not pinging systemd",
                     service_wd_stall_ms);
            warned = true;
        }
        /* systemd recommends pinging at half the interval; a quarter leaves room. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + service_wd_usec / 4 * 1000;
        until.tv_sec += (time_t)(ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&service_wd_cond, &service_wd_lock, &until);
    }
    pthread_mutex_unlock(&service_wd_lock);
    return NULL;
}

int service_watchdog_start(int nslots, int idle_ms)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    service_wd_usec = usec;
    service_wd_slots = nslots < SERVICE_MAX_BEATS ? nslots : SERVICE_MAX_BEATS;
    service_wd_stall_ms = idle_ms + (int)(usec / 2000);
    service_wd_stop = false;
    service_wd_started_ms = service_now_ms();
    if (pthread_create(&service_wd_thread, NULL, service_watchdog_main, NULL) != 0)
        return -1;
    service_wd_running = true;
    LOG_INFO("watchdog: pinging systemd every %llu ms while %d thread(s) are alive",
             (unsigned long long)(usec / 4000), service_wd_slots);
    return 0;
}

void service_watchdog_stop(void)
{
    if (!service_wd_running)
        return;
    pthread_mutex_lock(&service_wd_lock);
    service_wd_stop = true;
    pthread_cond_signal(&service_wd_cond);
    pthread_mutex_unlock(&service_wd_lock);
    pthread_join(service_wd_thread, NULL);
    service_wd_running = false;
}
