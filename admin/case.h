/* Cases: the ranked queue, one case in full, owners, status transitions and notes. Also the two
 * helpers every case action shares (remedy.c uses them): resolving a reference and calling the
 * database function that makes a change. */
#ifndef REDRESS_ADMIN_CASE_H
#define REDRESS_ADMIN_CASE_H

#include "ctx.h"

typedef struct {
    char id[24];        /* remedy_case.id as text */
    char reference[64]; /* the case's own reference */
    char status[32];
} CaseRef;

/* A case or grievance reference as typed, in canonical form in out. 0, or -1 after printing why. */
int case_ref_normalize(const char *in, char *out, size_t outlen);
/* Finds the case with reference ref, or holding the grievance with that reference. 0, or -1 after
 * printing why (a case the role may not see is reported as not found). */
int case_resolve(Ctx *ctx, const char *ref, CaseRef *out);

/* Runs one of the database's case functions on the case of ref and prints the outcome under
 * action. sql calls the function with the case id as $1 and returns one row (from_status, status,
 * detail); params[0] is set here, params[1..] are the caller's (borrowed). The call is one
 * statement, so the change and its audit event commit together or not at all. Returns CTL_OK or
 * CTL_FAIL (printed). */
int case_change(Ctx *ctx, const char *ref, const char *action, const char *sql, int nparams,
                const char **params);

int case_cmd_queue(Ctx *ctx, int argc, char **argv);
int case_cmd_show(Ctx *ctx, int argc, char **argv);
int case_cmd_assign(Ctx *ctx, int argc, char **argv);
int case_cmd_unassign(Ctx *ctx, int argc, char **argv);
int case_cmd_transition(Ctx *ctx, int argc, char **argv);
int case_cmd_note(Ctx *ctx, int argc, char **argv);

#endif
