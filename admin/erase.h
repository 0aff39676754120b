/* `grievance erase`: erasure of one grievance's contact and narrative on request (GDPR Art. 17),
 * by mechanism staff, through grievance_erase() in the database (sql/006_integrity.sql). */
#ifndef REDRESS_ADMIN_ERASE_H
#define REDRESS_ADMIN_ERASE_H

#include "ctx.h"

int erase_cmd_grievance(Ctx *ctx, int argc, char **argv);

#endif
