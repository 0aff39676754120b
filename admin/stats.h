/* `export stats`: the transparency report (UNGP 31: transparent, a source of continuous
 * learning) as CSV rows measure,key,value. */
#ifndef REDRESS_ADMIN_STATS_H
#define REDRESS_ADMIN_STATS_H

#include "ctx.h"

int stats_cmd_export(Ctx *ctx, int argc, char **argv);

#endif
