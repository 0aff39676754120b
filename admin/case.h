/* Cases: the ranked queue, one case in full, owners, status transitions and notes. Also the two
 * helpers every case action shares (remedy.c uses them): resolving a reference and moving a case
 * along the case_transition table with its audit event, in the caller's transaction. */
#ifndef REDRESS_ADMIN_CASE_H
#define REDRESS_ADMIN_CASE_H

#include <stdbool.h>

#include "ctx.h"

typedef struct {
    char id[24];        /* remedy_case.id as text */
    char reference[64]; /* the case's own reference */
    char status[32];
} CaseRef;

/* Finds the case with reference ref, or holding the grievance with that reference; with lock, the
 * row is locked FOR UPDATE. 0, or -1 after printing why (a case the role may not see is reported
 * as not found). */
int case_resolve(Ctx *ctx, const char *ref, bool lock, CaseRef *out);
/* Connects, begins the command's transaction and locks the case of ref; its status before the
 * change is copied to from. 0, or -1 after printing why. */
int case_open_for_change(Ctx *ctx, const char *ref, CaseRef *c, char *from, size_t fromlen);

/* Moves the case from c->status to status `to` when case_transition allows it (note required when
 * the table says so), writes the case_event, and updates c->status. 0 or -1 (printed). */
int case_move(Ctx *ctx, CaseRef *c, const char *to, const char *note);

/* Appends an audit event (actor: current_user). from/to/note may be NULL. 0 or -1. */
int case_event_add(Ctx *ctx, const char *case_id, const char *action, const char *from,
                   const char *to, const char *note);

/* Prints a case action's outcome: JSON object or one line. */
void case_print_result(Ctx *ctx, const CaseRef *c, const char *action, const char *from,
                       const char *detail);

int case_cmd_queue(Ctx *ctx, int argc, char **argv);
int case_cmd_show(Ctx *ctx, int argc, char **argv);
int case_cmd_assign(Ctx *ctx, int argc, char **argv);
int case_cmd_transition(Ctx *ctx, int argc, char **argv);
int case_cmd_note(Ctx *ctx, int argc, char **argv);

#endif
