/* Keys and encryption at rest. Contact details are sealed with AES-256-GCM under the contact key:
 * the stored blob is nonce (12) | ciphertext | tag (16). */
#ifndef REDRESS_CRYPTO_H
#define REDRESS_CRYPTO_H

#include <stddef.h>

#define KEY_LEN 32

/* The associated data of evidence files' seals (intake/evidence.c seals, redressctl opens): a
 * sealed contact cannot pass for a file, nor a file's name for its bytes. */
#define SEAL_AAD_ATTACHMENT "redress attachment content v1"
#define SEAL_AAD_ATTACHMENT_NAME "redress attachment name v1"

/* Reads a key file holding 64 hex digits (surrounding white space allowed). 0, or -1 with err. */
int key_file_load(const char *path, unsigned char key[KEY_LEN], char *err, size_t errlen);
/* Seals plaintext; returns the blob base64-encoded (caller frees), or NULL on a library failure. */
char *contact_seal_b64(const unsigned char key[KEY_LEN], const char *plaintext, size_t len);
/* Opens a blob; returns the NUL-terminated plaintext (caller frees) or NULL when the blob was
 * tampered with or the key is wrong. */
char *contact_open(const unsigned char key[KEY_LEN], const unsigned char *blob, size_t len);
/* Seals len bytes with AES-256-GCM, binding aad (may be NULL with aadlen 0) into the tag: returns
 * the blob nonce | ciphertext | tag (caller frees) and its length, or NULL on a library failure. */
unsigned char *seal_bytes(const unsigned char key[KEY_LEN], const void *aad, size_t aadlen,
                          const void *plaintext, size_t len, size_t *bloblen);
/* Opens a blob of seal_bytes with the same aad: the plaintext (caller frees; NUL-terminated for
 * convenience, *outlen excludes it), or NULL when the blob, the aad or the key is wrong. */
unsigned char *open_bytes(const unsigned char key[KEY_LEN], const void *aad, size_t aadlen,
                          const unsigned char *blob, size_t len, size_t *outlen);
/* n bytes from OpenSSL's CSPRNG, drawn through a small per-thread buffer (one RAND_bytes call
 * per 4 KiB instead of one per value: the call and its fork check showed in the profile). Aborts if
 * the generator fails: nothing safe could be handed out. */
void random_bytes(void *out, size_t n);
void sha256_bytes(const void *data, size_t len, unsigned char out[32]);
void hmac_sha256(const unsigned char key[KEY_LEN], const void *data, size_t len,
                 unsigned char out[32]);

#endif
