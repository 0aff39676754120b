/* The case team's side of the dialogue with complainants: messages to one complainant or an
 * announcement to every complainant of a collective case (stored once), the list of a case's
 * messages, and a remedy decision given on paper or by phone. Writes go through the database's
 * functions (sql/013), which check who may act and write the audit event; reads are limited by
 * row-level security (a team reads a complainant's words only where that person consented). */
#ifndef REDRESS_ADMIN_MESSAGE_H
#define REDRESS_ADMIN_MESSAGE_H

#include "ctx.h"

int message_cmd_send(Ctx *ctx, int argc, char **argv);
int message_cmd_list(Ctx *ctx, int argc, char **argv);
int message_cmd_remedy_respond(Ctx *ctx, int argc, char **argv);

#endif
