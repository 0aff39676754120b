/* libFuzzer target: multipart/form-data bodies (uploads to the API and the status page). The
 * input's first line is the Content-Type, the rest the body. Every part must lie inside the body
 * and its header fields be NUL-terminated within their arrays. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../intake/multipart.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ctlen = nl ? (size_t)(nl - data) : size;
    char *ct = malloc(ctlen + 1);
    memcpy(ct, data, ctlen);
    ct[ctlen] = '\0';
    size_t blen = nl ? size - ctlen - 1 : 0;
    unsigned char *body = malloc(blen ? blen : 1); /* its own allocation: ASan sees overreads */
    if (blen)
        memcpy(body, nl + 1, blen);
    MultipartPart parts[MULTIPART_MAX_PARTS];
    int n = -1;
    MultipartResult r = multipart_parse(ct, body, blen, parts, &n);
    FUZZ_ASSERT(n >= 0 && n <= MULTIPART_MAX_PARTS);
    if (r == MULTIPART_OK) {
        for (int i = 0; i < n; i++) {
            FUZZ_ASSERT(parts[i].data >= body && parts[i].data + parts[i].len <= body + blen);
            FUZZ_ASSERT(memchr(parts[i].name, '\0', sizeof parts[i].name) != NULL);
            FUZZ_ASSERT(memchr(parts[i].filename, '\0', sizeof parts[i].filename) != NULL);
            FUZZ_ASSERT(memchr(parts[i].content_type, '\0', sizeof parts[i].content_type));
        }
    }
    free(body);
    free(ct);
    return 0;
}
