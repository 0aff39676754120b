/* Reaching the person: `redressctl contact show REF --reason TEXT` opens a complainant's sealed
 * contact details. The database decides who may (staff always; a team owning the case only where
 * the person consented to sharing with members) and writes the reason to the case's audit trail
 * in the same transaction; the details are printed only after that COMMIT. Never exported. */
#ifndef REDRESS_ADMIN_CONTACT_H
#define REDRESS_ADMIN_CONTACT_H

#include "ctx.h"

int contact_cmd_show(Ctx *ctx, int argc, char **argv);

#endif
