/* The one table of redressctl's subcommands: {verb, handler, usage, help}. Dispatch, --help and
 * usage errors are all generated from it, so a command exists exactly when it has a row. */
#ifndef REDRESS_ADMIN_COMMANDS_H
#define REDRESS_ADMIN_COMMANDS_H

#include <stdio.h>

#include "ctx.h"

/* A handler gets the arguments after its verb words (--json and --help already taken out) and
 * returns an exit code: CTL_OK, CTL_FAIL or CTL_USAGE (after printing what was wrong). */
typedef int (*CommandFn)(Ctx *ctx, int argc, char **argv);

struct Command {
    const char *verb; /* one or two words: "queue", "case show" */
    CommandFn handler;
    const char *usage; /* arguments after the verb */
    const char *help;  /* one paragraph */
};

/* The command whose verb words start argv, with *nwords set to how many words it took; NULL when
 * none matches. */
const Command *commands_find(int argc, char **argv, int *nwords);
/* True when word is the first word of some two-word verb ("case", "member"...). */
int commands_is_group(const char *word);

/* "usage: redressctl VERB USAGE" for one command; with help, its paragraph too. */
void commands_print_usage(FILE *fp, const Command *cmd, int with_help);
/* Every command (or every command of a group when group is not NULL), one line each. */
void commands_print_list(FILE *fp, const char *group);
/* Every command as "VERB<TAB>USAGE" lines: what completion/redressctl.bash completes from. */
void commands_print_table(FILE *fp);

#endif
