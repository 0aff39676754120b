/* The regulator export of cases: pseudonymised, streamed CSV with a manifest (see export.c). */
#ifndef REDRESS_ADMIN_EXPORT_H
#define REDRESS_ADMIN_EXPORT_H

#include "ctx.h"

/* 0 when s looks like YYYY-MM-DD (the database checks the calendar), else -1. */
int export_date_check(const char *s);

int export_cmd_cases(Ctx *ctx, int argc, char **argv);

#endif
