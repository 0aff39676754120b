/* Members of the joint mechanism and their remedy-team roles: add, list, show, import from CSV. */
#ifndef REDRESS_ADMIN_MEMBER_H
#define REDRESS_ADMIN_MEMBER_H

#include <stddef.h>

#include "ctx.h"

/* The team role of a slug: "team_" + slug with '-' turned into '_'. 0, or -1 when the slug is
 * not 1-47 characters of [a-z0-9-] starting with a letter or digit. */
int member_team_role(const char *slug, char *out, size_t outlen);

int member_cmd_add(Ctx *ctx, int argc, char **argv);
int member_cmd_list(Ctx *ctx, int argc, char **argv);
int member_cmd_show(Ctx *ctx, int argc, char **argv);
int member_cmd_import(Ctx *ctx, int argc, char **argv);

#endif
