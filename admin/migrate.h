/* `migrate`: applies the numbered sql/NNN_*.sql files not yet recorded in schema_migration (the
 * table scripts/pgcluster.sh uses too), each file and its record in one transaction. */
#ifndef REDRESS_ADMIN_MIGRATE_H
#define REDRESS_ADMIN_MIGRATE_H

#include "ctx.h"

int migrate_cmd_run(Ctx *ctx, int argc, char **argv);

#endif
