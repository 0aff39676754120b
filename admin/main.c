/* redressctl: the command-line tool of remedy teams, mechanism staff and regulators' exports.
 * main only takes the global options (-c CONFIG, --json, --help), finds the subcommand in the one
 * table of commands.c and runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "ctx.h"
#include "log.h"

int main(int argc, char **argv)
{
    Ctx ctx = {0};
    int i = 1;
    log_init("redressctl", LOG_LEVEL_WARN);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                ctx_error("option %s needs a value", argv[i]);
                return CTL_USAGE;
            }
            ctx.config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            ctx.config_path = argv[i] + 9;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctx.json = true;
        } else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("redressctl %s\n", REDRESS_VERSION);
            return CTL_OK;
        } else if (strcmp(argv[i], "--commands") == 0) {
            commands_print_table(stdout); /* for the bash completion */
            return CTL_OK;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            commands_print_list(stdout, NULL);
            return CTL_OK;
        } else {
            ctx_error("unknown option %s", argv[i]);
            commands_print_list(stderr, NULL);
            return CTL_USAGE;
        }
    }
    if (i >= argc) {
        commands_print_list(stderr, NULL);
        return CTL_USAGE;
    }
    int nwords = 0;
    const Command *cmd = commands_find(argc - i, argv + i, &nwords);
    if (!cmd) {
        if (commands_is_group(argv[i])) {
            int help =
                i + 1 < argc && (!strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h"));
            if (!help)
                ctx_error(i + 1 < argc ? "unknown command '%s %s'" : "'%s' needs a command",
                          argv[i], i + 1 < argc ? argv[i + 1] : "");
            commands_print_list(help ? stdout : stderr, argv[i]);
            return help ? CTL_OK : CTL_USAGE;
        }
        ctx_error("unknown command '%s'", argv[i]);
        commands_print_list(stderr, NULL);
        return CTL_USAGE;
    }
    ctx.cmd = cmd;
    /* --help and --json are every command's; take them out before the handler's own parsing. */
    int n = 0;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return CTL_FAIL;
    int opts_done = 0;
    for (int j = i + nwords; j < argc; j++) {
        if (!opts_done && strcmp(argv[j], "--") == 0)
            opts_done = 1;
        if (!opts_done && (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0)) {
            commands_print_usage(stdout, cmd, 1);
            free(rest);
            return CTL_OK;
        }
        if (!opts_done && strcmp(argv[j], "--json") == 0) {
            ctx.json = true;
            continue;
        }
        rest[n++] = argv[j];
    }
    int rc = cmd->handler(&ctx, n, rest);
    if (rc == CTL_USAGE)
        commands_print_usage(stderr, cmd, 0);
    ctx_close(&ctx);
    free(rest);
    return rc;
}
