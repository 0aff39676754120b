/* SIGHUP: the certificate (and key) and the taxonomy are read again from the files the config
 * names, and every worker switches to them between two of its callbacks. Open connections keep
 * the context they were accepted with; nothing is dropped. A file that does not load keeps the
 * old one, and the log says why. */
#ifndef REDRESS_INTAKE_RELOAD_H
#define REDRESS_INTAKE_RELOAD_H

#include "server.h"
#include "worker.h"

/* Reloads into the running server. master is main's Shared (the one freed at exit): it is
 * updated to what the workers use. Returns 0 when everything loaded, -1 when something was kept. */
int reload_run(Server *server, Shared *master);

#endif
