/* The regulator export of cases: pseudonymised, streamed CSV with a manifest (see export.c). */
#ifndef REDRESS_ADMIN_EXPORT_H
#define REDRESS_ADMIN_EXPORT_H

#include <jansson.h>
#include <stdbool.h>

#include "ctx.h"

/* 0 when s looks like YYYY-MM-DD (the database checks the calendar), else -1. */
int export_date_check(const char *s);

/* Records an export's manifest through export_manifest_record() in the caller's transaction, with
 * a checkpoint of every audit chain taken in the same snapshot. When the caller read through
 * read_conninfo (ctx_connect_reader), that transaction ends and the manifest and its checkpoint are
 * recorded on the primary in a new one: the checkpoint is then at or after the rows exported.
 * Returns a new JSON object {id, created_at, created_by, checkpoint: {id, digest, cases, events}}
 * (caller json_decref-s), or NULL (printed, rolled back). */
json_t *export_manifest_record(Ctx *ctx, const char *kind, const char *file_name, long rows,
                               const char *sha256, const char *filter_json, bool with_narrative);

int export_cmd_cases(Ctx *ctx, int argc, char **argv);

#endif
