/* Key files, AES-256-GCM sealing of contact details and attachments, SHA-256. OpenSSL 3 EVP
 * throughout. */
#include "crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16

/* Fetched once: OpenSSL 3 looks algorithms up in its provider store on every implicit use, under a
 * lock, which showed in the intake server's profile. */
static EVP_CIPHER *crypto_aes_gcm;
static EVP_MD *crypto_sha256;
static EVP_MAC *crypto_hmac;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static pthread_key_t crypto_hmac_key; /* the thread's keyed HMAC context (hmac_sha256) */

typedef struct {
    EVP_MAC_CTX *ctx;
    unsigned char key[KEY_LEN];
} KeyedHmac;

static void keyed_hmac_free(void *p)
{
    KeyedHmac *h = p;
    EVP_MAC_CTX_free(h->ctx);
    OPENSSL_cleanse(h->key, sizeof h->key);
    free(h);
}

static void crypto_fetch(void)
{
    if (pthread_key_create(&crypto_hmac_key, keyed_hmac_free) != 0)
        abort();
    crypto_aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    crypto_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    crypto_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!crypto_aes_gcm || !crypto_sha256 || !crypto_hmac)
        abort(); /* the default provider is part of libcrypto: a broken installation */
}

static void crypto_init(void)
{
    pthread_once(&crypto_once, crypto_fetch);
}

#define RANDOM_POOL 4096

void random_bytes(void *out, size_t n)
{
    static __thread unsigned char pool[RANDOM_POOL];
    static __thread size_t left;
    unsigned char *dst = out;
    while (n > 0) {
        if (left == 0) {
            if (RAND_bytes(pool, RANDOM_POOL) != 1)
                abort();
            left = RANDOM_POOL;
        }
        size_t take = n < left ? n : left;
        memcpy(dst, pool + RANDOM_POOL - left, take);
        OPENSSL_cleanse(pool + RANDOM_POOL - left, take); /* handed-out bytes do not linger */
        left -= take;
        dst += take;
        n -= take;
    }
}

int key_file_load(const char *path, unsigned char key[KEY_LEN], char *err, size_t errlen)
{
    char reason[256];
    char *text = file_read_all(path, 4096, NULL, reason, sizeof reason);
    if (!text) {
        snprintf(err, errlen, "key file %s", reason);
        return -1;
    }
    char *start = text, *end;
    while (*start == ' ' || *start == '\n' || *start == '\r' || *start == '\t')
        start++;
    end = start + strlen(start);
    while (end > start && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t'))
        *--end = '\0';
    int rc = hex_decode(start, key, KEY_LEN);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (rc < 0) {
        snprintf(err, errlen, "key file %s: must hold exactly 64 hex digits (32 bytes)", path);
        return -1;
    }
    return 0;
}

unsigned char *seal_bytes(const unsigned char key[KEY_LEN], const void *aad, size_t aadlen,
                          const void *plaintext, size_t len, size_t *bloblen)
{
    size_t total = GCM_NONCE_LEN + len + GCM_TAG_LEN;
    unsigned char *blob = xmalloc(total);
    int n = 0, fin = 0, ok = 0;
    crypto_init();
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    random_bytes(blob, GCM_NONCE_LEN);
    /* OpenSSL counts in int: feed large inputs in slices. */
    if (ctx && EVP_EncryptInit_ex(ctx, crypto_aes_gcm, NULL, key, blob) == 1 &&
        (aadlen == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1)) {
        size_t done = 0;
        ok = 1;
        while (ok && done < len) {
            size_t slice = len - done < (1u << 30) ? len - done : (1u << 30);
            ok = EVP_EncryptUpdate(ctx, blob + GCM_NONCE_LEN + done, &n,
                                   (const unsigned char *)plaintext + done, (int)slice) == 1;
            done += (size_t)n;
        }
        ok = ok && EVP_EncryptFinal_ex(ctx, blob + GCM_NONCE_LEN + done, &fin) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN,
                                 blob + GCM_NONCE_LEN + len) == 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(blob, total);
        free(blob);
        return NULL;
    }
    *bloblen = total;
    return blob;
}

unsigned char *open_bytes(const unsigned char key[KEY_LEN], const void *aad, size_t aadlen,
                          const unsigned char *blob, size_t len, size_t *outlen)
{
    if (len < GCM_NONCE_LEN + GCM_TAG_LEN)
        return NULL;
    size_t ctlen = len - GCM_NONCE_LEN - GCM_TAG_LEN;
    unsigned char *out = xmalloc(ctlen + 1);
    int n = 0, fin = 0, ok = 0;
    crypto_init();
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_DecryptInit_ex(ctx, crypto_aes_gcm, NULL, key, blob) == 1 &&
        (aadlen == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1)) {
        size_t done = 0;
        ok = 1;
        while (ok && done < ctlen) {
            size_t slice = ctlen - done < (1u << 30) ? ctlen - done : (1u << 30);
            ok = EVP_DecryptUpdate(ctx, out + done, &n, blob + GCM_NONCE_LEN + done, (int)slice) ==
                 1;
            done += (size_t)n;
        }
        ok = ok &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN,
                                 (void *)(blob + GCM_NONCE_LEN + ctlen)) == 1 &&
             EVP_DecryptFinal_ex(ctx, out + done, &fin) == 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, ctlen);
        free(out);
        return NULL;
    }
    out[ctlen] = '\0';
    *outlen = ctlen;
    return out;
}

char *contact_seal_b64(const unsigned char key[KEY_LEN], const char *plaintext, size_t len)
{
    size_t bloblen;
    unsigned char *blob = seal_bytes(key, NULL, 0, plaintext, len, &bloblen);
    if (!blob)
        return NULL;
    char *out = xmalloc(4 * ((bloblen + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, blob, (int)bloblen);
    free(blob);
    return out;
}

char *contact_open(const unsigned char key[KEY_LEN], const unsigned char *blob, size_t len)
{
    size_t n;
    return (char *)open_bytes(key, NULL, 0, blob, len, &n);
}

void sha256_bytes(const void *data, size_t len, unsigned char out[32])
{
    crypto_init();
    EVP_Digest(data, len, out, NULL, crypto_sha256, NULL);
}

/* A context per thread, keyed once: EVP_MAC_CTX_new and a keyed init with its parameters cost
 * more than the HMAC of a short reference itself. Re-initialising with no key reuses the key. The
 * context goes with its thread (the key's destructor). */
void hmac_sha256(const unsigned char key[KEY_LEN], const void *data, size_t len,
                 unsigned char out[32])
{
    crypto_init();
    size_t outlen = 0;
    int ok;
    KeyedHmac *h = pthread_getspecific(crypto_hmac_key);
    if (h && CRYPTO_memcmp(h->key, key, KEY_LEN) == 0) {
        ok = EVP_MAC_init(h->ctx, NULL, 0, NULL);
    } else {
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                               OSSL_PARAM_construct_end()};
        if (!h) {
            h = xcalloc(1, sizeof *h);
            h->ctx = EVP_MAC_CTX_new(crypto_hmac);
            if (!h->ctx || pthread_setspecific(crypto_hmac_key, h) != 0)
                abort();
        }
        memcpy(h->key, key, KEY_LEN);
        ok = EVP_MAC_init(h->ctx, key, KEY_LEN, params);
    }
    if (ok != 1 || EVP_MAC_update(h->ctx, data, len) != 1 ||
        EVP_MAC_final(h->ctx, out, &outlen, 32) != 1 || outlen != 32)
        abort(); /* cannot fail with valid arguments */
}
