/* Remedies: proposing one to the complainant and recording the answer and the progress. Each
 * remedy step moves the case along case_transition (remedy_proposed, remedy_accepted, ...) in the
 * same transaction, with audit events for both. */
#ifndef REDRESS_ADMIN_REMEDY_H
#define REDRESS_ADMIN_REMEDY_H

#include "ctx.h"

int remedy_cmd_propose(Ctx *ctx, int argc, char **argv);
int remedy_cmd_record(Ctx *ctx, int argc, char **argv);

#endif
