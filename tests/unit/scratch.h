/* Scratch files for unit tests: one private directory per test binary, made by scratch_setup
 * and removed by scratch_teardown; scratch_write puts a file in it and returns its path (valid
 * until the next call). Header-only so every test binary links as before. */
#ifndef REDRESS_TESTS_SCRATCH_H
#define REDRESS_TESTS_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>

static char scratch_dir[64];

/* 0, or -1 when the directory cannot be made. */
static inline int scratch_setup(const char *name)
{
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/redress-test-%s-XXXXXX", name);
    return mkdtemp(scratch_dir) ? 0 : -1;
}

static inline int scratch_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes len bytes of content to name in the scratch directory; NULL when it cannot. */
static inline const char *scratch_write(const char *name, const char *content, size_t len)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", scratch_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    size_t n = fwrite(content, 1, len, f);
    return fclose(f) == 0 && n == len ? path : NULL;
}

#endif
