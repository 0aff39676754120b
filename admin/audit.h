/* `audit verify`: recomputes every case's audit hash chain in C, independently of the SQL
 * function that wrote it, and names the first broken link; with --since, first checks that every
 * chain head a checkpoint recorded is still there and that the heads hash to its digest.
 * `audit checkpoint`: records such a checkpoint of the whole mechanism and prints its digest. */
#ifndef REDRESS_ADMIN_AUDIT_H
#define REDRESS_ADMIN_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"

/* Parses PostgreSQL's ISO text of a UTC timestamptz ("2026-01-02 03:04:05.123456+00") into
 * microseconds since the epoch. 0, or -1 when it is not in that form. */
int audit_time_parse(const char *s, int64_t *micros);

/* The hash of one event: SHA-256 over prev (prevlen bytes, may be 0) followed by the UTF-8 text
 * case_id|seq|micros|actor|action|from|to|note (absent values as empty strings), exactly as
 * case_event_hash() in sql/001_schema.sql. */
void audit_event_hash(const unsigned char *prev, size_t prevlen, const char *case_id,
                      const char *seq, int64_t micros, const char *actor, const char *action,
                      const char *from, const char *to, const char *note, unsigned char out[32]);

int audit_cmd_verify(Ctx *ctx, int argc, char **argv);
int audit_cmd_checkpoint(Ctx *ctx, int argc, char **argv);

#endif
