/* Shared by the libFuzzer targets: the entry point's prototype and the assertion that turns a
 * broken property into a crash libFuzzer keeps as a reproducer. */
#ifndef REDRESS_FUZZ_H
#define REDRESS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: assertion failed: %s\n", #cond);                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
