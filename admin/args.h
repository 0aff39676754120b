/* Argument parsing for redressctl's subcommands: each handler declares its options as a small
 * table of ArgOpt and gets its positional arguments back. Long options are --name VALUE or
 * --name=VALUE, a one-letter name is -x VALUE; "--" ends the options. Pure functions, unit-tested
 * in tests/unit/test_admin_args.c. */
#ifndef REDRESS_ADMIN_ARGS_H
#define REDRESS_ADMIN_ARGS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *name;  /* "member" for --member, "o" for -o */
    const char *alias; /* another accepted name ("output" for -o), or NULL */
    bool takes_value;
    const char *value; /* out: the value (borrowed from argv), NULL when absent */
    bool seen;         /* out: given at least once */
} ArgOpt;

#define ARGS_MAX_POS 8

typedef struct {
    const char *pos[ARGS_MAX_POS]; /* positional arguments, borrowed from argv */
    size_t npos;
} ArgPos;

/* Parses argv[0..argc) against opts (values reset first). Positional arguments go to pos; there
 * must be between min_pos and max_pos of them. Returns 0, or -1 with a reason naming the offending
 * argument in err (a usage error: exit code 2). */
int args_parse(int argc, char **argv, ArgOpt *opts, size_t nopts, size_t min_pos, size_t max_pos,
               ArgPos *pos, char *err, size_t errlen);

/* The value of option name, or NULL; whether a flag was given. */
const char *args_value(const ArgOpt *opts, size_t nopts, const char *name);
bool args_flag(const ArgOpt *opts, size_t nopts, const char *name);

/* Parses a whole decimal number in [min, max]; 0 or -1. */
int args_long(const char *s, long min, long max, long *out);

/* True when s is one of the NULL-terminated list of words. */
bool args_one_of(const char *s, const char *const *words);

#endif
