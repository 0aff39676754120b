/* libFuzzer target: typed references and receipts (URL paths, form fields, headers). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char ref[REFERENCE_LEN + 1], receipt[RECEIPT_LEN + 1];
    if (reference_normalize(s, ref)) {
        char again[REFERENCE_LEN + 1];
        /* A canonical reference normalises to itself. */
        FUZZ_ASSERT(reference_normalize(ref, again) && strcmp(ref, again) == 0);
    }
    receipt_normalize(s, receipt);
    free(s);
    return 0;
}
