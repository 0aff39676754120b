/* The subcommand table and what is generated from it: lookup, usage lines, --help. Handlers live
 * in the module named for what they work on (case.c, remedy.c, member.c, ...). */
#include "commands.h"

#include <string.h>

#include "audit.h"
#include "case.h"
#include "attachment.h"
#include "contact.h"
#include "erase.h"
#include "export.h"
#include "import.h"
#include "member.h"
#include "message.h"
#include "migrate.h"
#include "remedy.h"
#include "stats.h"

static const Command commands[] = {
    {"queue", case_cmd_queue,
     "[--member M] [--band P1..P4] [--status S] [--overdue] [--limit N] [--json]",
     "The ranked queue of open cases, in the order the triage worker ranks them: immediate danger "
     "first, then band, severity and ageing (see case_queue in sql/007). --overdue: only cases "
     "past a deadline. Flags: danger, overdue, escalated (the lead missed two deadlines: in the "
     "mechanism staff's queue). A remedy team sees only the cases its member owns."},
    {"case show", case_cmd_show, "REF [--json]",
     "One case by its reference or the reference of any grievance in it: grievances (count and a "
     "sample), owners and involvement, severity and its explanation, deadlines, remedies and the "
     "full audit trail."},
    {"case assign", case_cmd_assign,
     "REF --member M --role lead|co-owner|informed --involvement caused|contributed|linked",
     "Makes member M an owner of the case (or changes its role). A new lead replaces the old one, "
     "who stays as co-owner; a triaged case moves to assigned. Staff only."},
    {"case unassign", case_cmd_unassign, "REF --member M --reason TEXT",
     "Removes member M from the case's owners (and as its lead), with the reason in the audit "
     "trail. Staff only."},
    {"case transition", case_cmd_transition, "REF STATE [--note TEXT]",
     "Moves the case to STATE. Only the moves in the case_transition table are allowed; some "
     "(rejected, referred) need a reason in --note."},
    {"case note", case_cmd_note, "REF TEXT", "Adds a note to the case's audit trail."},
    {"remedy propose", remedy_cmd_propose,
     "REF --type restoration|correction|apology|compensation|policy_change|non_repetition|referral "
     "--details TEXT",
     "Offers a remedy to the complainant; the case moves to remedy_proposed."},
    {"remedy record", remedy_cmd_record,
     "REF accepted|declined|implemented|verified [--note TEXT] [--remedy ID]",
     "Records the complainant's answer or the remedy's progress on the case's latest remedy (or "
     "remedy ID); the case moves to remedy_accepted, remedy_declined or remedy_implemented. A "
     "co-owner records only the remedies its member proposed."},
    {"remedy respond", message_cmd_remedy_respond,
     "REF REMEDY_ID accept|decline --via paper|phone [--comment TEXT]",
     "Records a complainant's answer to an offered remedy given on paper or by phone, marked as "
     "such (an answer online is the person's own, from the status page or the API). REF is the "
     "grievance (or a case of one grievance)."},
    {"message send", message_cmd_send, "CASE|REF --text TEXT [--all]",
     "Sends a message to the complainant of grievance REF (or of a case of one grievance); with "
     "--all, an announcement to every complainant of case CASE, stored once. Staff, or the lead "
     "or a co-owner of the case; a team reaches one person only where that person consented to "
     "sharing with members."},
    {"message list", message_cmd_list, "CASE|REF [--json]",
     "The messages of a case, or of one grievance with the case's announcements. A team sees a "
     "complainant's messages only where that person consented to sharing with members."},
    {"contact show", contact_cmd_show, "REF --reason TEXT [--json]",
     "Opens a complainant's contact details (needs the contact key) and writes the reason to the "
     "case's audit trail. Staff; a team owning the case only where the person consented to "
     "sharing with members."},
    {"attachment get", attachment_cmd_get, "REF N -o FILE --reason TEXT [--json]",
     "Writes evidence file N of grievance REF to FILE (created, mode 0600; needs the contact key) "
     "and the reason to the case's audit trail. Staff only: teams never read attachments."},
    {"member add", member_cmd_add,
     "SLUG --name NAME --sector isp|telco|platform|other [--countries KE,UG] [--services a,b]",
     "Adds a company to the joint mechanism and creates its remedy team's role team_<slug>."},
    {"member list", member_cmd_list, "[--json]", "Lists the members."},
    {"member show", member_cmd_show, "SLUG [--json]",
     "One member and the cases it owns by status."},
    {"member import", member_cmd_import, "FILE.csv",
     "Adds members from a CSV file with the header slug,name,sector,countries,services (lists "
     "inside a cell separated by ';'). All or nothing; errors name the line."},
    {"grievance erase", erase_cmd_grievance, "REF --reason TEXT",
     "Erases a grievance's contact details and description (GDPR Art. 17), keeping its "
     "statistical skeleton (category, country, dates, case, band, outcome); the erasure and its "
     "reason go into the case's audit trail. Staff only; the grievance must be in a case."},
    {"import grievances", import_cmd_grievances, "FILE.csv",
     "Stores grievances from a partner channel. The header names the API's fields (lists "
     "separated by ';', consent.* and contact.* for nested fields); every row is validated as the "
     "HTTPS API validates it. All or nothing; errors name the line. Prints each reference and "
     "receipt for the partner to hand to the complainant."},
    {"export cases", export_cmd_cases,
     "--from DATE --to DATE [--country CC] [--member M] [--with-narrative] -o FILE.csv",
     "The regulator export: one pseudonymised row per case received in the period, streamed to "
     "FILE.csv with a manifest (rows, SHA-256, filter, time, who) beside it and in the database."},
    {"export stats", stats_cmd_export, "--from DATE --to DATE [-o FILE.csv]",
     "The transparency report as CSV: counts by category, band, country, member, status and "
     "outcome; median and 90th-percentile days to each stage; share of deadlines met."},
    {"audit verify", audit_cmd_verify, "[--since CHECKPOINT] [--json]",
     "Recomputes every case's audit hash chain and names the first broken link. With --since (a "
     "checkpoint's id, or better its digest as printed or in an export manifest) it first checks "
     "that every chain head the checkpoint recorded is still there, unchanged: deleted or "
     "rewritten last events of a case are found too. A regulator, who may not read actors and "
     "notes, checks the chains' links and the checkpoint's heads."},
    {"audit checkpoint", audit_cmd_checkpoint, "[--json]",
     "Records a checkpoint of the whole mechanism (every case's chain head) and prints its "
     "digest: keep it outside the database. Every export records one in its manifest."},
    {"migrate", migrate_cmd_run, "[--dir DIR]",
     "Applies the sql/NNN_name.sql migrations not yet in schema_migration, each in its own "
     "transaction."},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static size_t verb_words(const char *verb, const char **second)
{
    const char *sp = strchr(verb, ' ');
    *second = sp ? sp + 1 : NULL;
    return sp ? 2 : 1;
}

static int first_word_is(const char *verb, const char *word)
{
    size_t n = strcspn(verb, " ");
    return strlen(word) == n && strncmp(verb, word, n) == 0;
}

const Command *commands_find(int argc, char **argv, int *nwords)
{
    for (size_t i = 0; argc > 0 && i < NCOMMANDS; i++) {
        const char *second;
        size_t words = verb_words(commands[i].verb, &second);
        if (!first_word_is(commands[i].verb, argv[0]))
            continue;
        if (words == 1 || (argc > 1 && strcmp(second, argv[1]) == 0)) {
            *nwords = (int)words;
            return &commands[i];
        }
    }
    return NULL;
}

int commands_is_group(const char *word)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strchr(commands[i].verb, ' ') && first_word_is(commands[i].verb, word))
            return 1;
    return 0;
}

void commands_print_usage(FILE *fp, const Command *cmd, int with_help)
{
    fprintf(fp, "usage: redressctl [-c CONFIG] %s %s\n", cmd->verb, cmd->usage);
    if (with_help)
        fprintf(fp, "\n%s\n", cmd->help);
}

void commands_print_list(FILE *fp, const char *group)
{
    if (!group)
        fprintf(fp, "usage: redressctl [-c CONFIG] [--json] COMMAND [ARGS]\n\ncommands:\n");
    else
        fprintf(fp, "usage: redressctl %s COMMAND [ARGS]\n\ncommands:\n", group);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (group && !first_word_is(commands[i].verb, group))
            continue;
        fprintf(fp, "  %-18s %s\n", commands[i].verb, commands[i].usage);
    }
    fprintf(fp, "\n'redressctl COMMAND --help' explains one command. Exit codes: 0 ok, 1 failure, "
                "2 usage.\nConnection: the config's [database] conninfo and admin_user, or libpq's "
                "environment (PGUSER, PGHOST, PGSERVICE, ...).\n");
}

void commands_print_table(FILE *fp)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(fp, "%s\t%s\n", commands[i].verb, commands[i].usage);
}
