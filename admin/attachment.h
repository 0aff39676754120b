/* Evidence files under audit: `redressctl attachment get REF N -o FILE --reason TEXT` opens
 * attachment N of grievance REF and writes its bytes to FILE (created, mode 0600, never
 * overwritten). Staff only: grievance_attachment_get() (sql/014) refuses every other role and
 * writes the reason to the case's audit trail in the same transaction; the file is written only
 * after that COMMIT, and only when its SHA-256 matches the stored one. Never exported. */
#ifndef REDRESS_ADMIN_ATTACHMENT_H
#define REDRESS_ADMIN_ATTACHMENT_H

#include "ctx.h"

int attachment_cmd_get(Ctx *ctx, int argc, char **argv);

#endif
