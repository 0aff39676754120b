/* Contact sealing (AES-256-GCM), key files, SHA-256 (common/crypto.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"

static unsigned char *b64_decode(const char *in, size_t *len)
{
    size_t n = strlen(in);
    unsigned char *out = malloc(n + 1);
    int got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    assert_true(got >= 0);
    size_t pad = (n >= 1 && in[n - 1] == '=') + (n >= 2 && in[n - 2] == '=');
    *len = (size_t)got - pad;
    return out;
}

static void key_fill(unsigned char key[KEY_LEN], unsigned char v)
{
    for (int i = 0; i < KEY_LEN; i++)
        key[i] = (unsigned char)(v + i);
}

static void test_seal_open_round_trip(void **state)
{
    (void)state;
    unsigned char key[KEY_LEN];
    key_fill(key, 7);
    static const char *const texts[] = {"", "x", "{\"email\":\"ana@example.org\",\"name\":\"Ana\"}",
                                        "caf\xc3\xa9 \xf0\x9f\x98\x80"};
    for (size_t i = 0; i < 4; i++) {
        const char *pt = texts[i];
        char *b64 = contact_seal_b64(key, pt, strlen(pt));
        assert_non_null(b64);
        assert_null(strstr(b64, "ana@example.org"));
        size_t len;
        unsigned char *blob = b64_decode(b64, &len);
        assert_int_equal(len, 12 + strlen(pt) + 16); /* nonce | ciphertext | tag */
        if (strlen(pt) > 4)
            assert_null(memmem(blob, len, pt, strlen(pt)));
        char *back = contact_open(key, blob, len);
        assert_non_null(back);
        assert_string_equal(back, pt);
        free(back);
        free(blob);
        free(b64);
    }
    /* A fresh nonce each time: the same plaintext seals differently. */
    char *a = contact_seal_b64(key, "same", 4), *b = contact_seal_b64(key, "same", 4);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_tamper_detected(void **state)
{
    (void)state;
    unsigned char key[KEY_LEN];
    key_fill(key, 1);
    const char *pt = "{\"phone\":\"+44 20 7946 0958\"}";
    char *b64 = contact_seal_b64(key, pt, strlen(pt));
    size_t len;
    unsigned char *blob = b64_decode(b64, &len);
    for (size_t i = 0; i < len; i++) { /* every byte: nonce, ciphertext and tag */
        for (int bit = 0; bit < 8; bit += 7) {
            blob[i] ^= (unsigned char)(1 << bit);
            char *out = contact_open(key, blob, len);
            if (out)
                fail_msg("flipping bit %d of byte %zu went unnoticed", bit, i);
            blob[i] ^= (unsigned char)(1 << bit);
        }
    }
    assert_null(contact_open(key, blob, len - 1)); /* truncated */
    assert_null(contact_open(key, blob, 27));      /* shorter than nonce + tag */
    assert_null(contact_open(key, blob, 0));
    char *ok = contact_open(key, blob, len);
    assert_non_null(ok);
    assert_string_equal(ok, pt);
    free(ok);
    free(blob);
    free(b64);
}

static void test_wrong_key(void **state)
{
    (void)state;
    unsigned char key[KEY_LEN], other[KEY_LEN];
    key_fill(key, 3);
    key_fill(other, 3);
    other[0] ^= 0x80;
    char *b64 = contact_seal_b64(key, "secret", 6);
    size_t len;
    unsigned char *blob = b64_decode(b64, &len);
    assert_null(contact_open(other, blob, len));
    free(blob);
    free(b64);
}

static const char *write_file(const char *name, const char *content, size_t len)
{
    const char *path = scratch_write(name, content, len);
    assert_non_null(path);
    return path;
}

static int setup_tmp(void **state)
{
    (void)state;
    return scratch_setup("crypto");
}

static int teardown_tmp(void **state)
{
    (void)state;
    return scratch_teardown();
}

/* Attachments: binary bytes (NULs included), bound to their associated data. */
static void test_seal_bytes_with_aad(void **state)
{
    (void)state;
    unsigned char key[KEY_LEN], data[70000];
    key_fill(key, 7);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 31);
    size_t bloblen, outlen;
    unsigned char *blob = seal_bytes(key, "content", 7, data, sizeof data, &bloblen);
    assert_non_null(blob);
    assert_int_equal(bloblen, sizeof data + 28);
    unsigned char *out = open_bytes(key, "content", 7, blob, bloblen, &outlen);
    assert_non_null(out);
    assert_int_equal(outlen, sizeof data);
    assert_memory_equal(out, data, sizeof data);
    free(out);
    /* Another purpose's associated data, none, or a flipped bit: nothing opens. */
    assert_null(open_bytes(key, "name", 4, blob, bloblen, &outlen));
    assert_null(open_bytes(key, NULL, 0, blob, bloblen, &outlen));
    blob[100] ^= 1;
    assert_null(open_bytes(key, "content", 7, blob, bloblen, &outlen));
    free(blob);
    /* A contact blob (no associated data) is not an attachment. */
    char *b64 = contact_seal_b64(key, "x", 1);
    assert_non_null(b64);
    free(b64);
    blob = seal_bytes(key, NULL, 0, "", 0, &bloblen);
    out = open_bytes(key, NULL, 0, blob, bloblen, &outlen);
    assert_non_null(out);
    assert_int_equal(outlen, 0);
    free(out);
    free(blob);
}

static void test_key_file(void **state)
{
    (void)state;
    unsigned char key[KEY_LEN], want[KEY_LEN];
    char err[512];
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    for (int i = 0; i < KEY_LEN; i++)
        want[i] = (unsigned char)i;
    char text[128];
    snprintf(text, sizeof text, "  \n%s\r\n\n", hex);
    assert_int_equal(
        key_file_load(write_file("good.key", text, strlen(text)), key, err, sizeof err), 0);
    assert_memory_equal(key, want, KEY_LEN);
    assert_int_equal(key_file_load(write_file("bare.key", hex, 64), key, err, sizeof err), 0);
    assert_memory_equal(key, want, KEY_LEN);

    struct {
        const char *name, *content;
    } bad[] = {
        {"empty.key", ""},
        {"short.key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n"},
        {"long.key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n"},
        {"nonhex.key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n"},
        {"inner.key", "00010203040506070809 0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"},
        {"two.key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
                    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = write_file(bad[i].name, bad[i].content, strlen(bad[i].content));
        err[0] = '\0';
        if (key_file_load(path, key, err, sizeof err) == 0)
            fail_msg("%s accepted", bad[i].name);
        assert_non_null(strstr(err, bad[i].name)); /* the message names the file */
        assert_null(strstr(err, "0a0b0c"));        /* and never quotes the key */
    }
    /* Binary and NUL bytes. */
    char bin[65];
    memset(bin, 'a', 64);
    bin[10] = '\0';
    assert_int_equal(key_file_load(write_file("nul.key", bin, 64), key, err, sizeof err), -1);
    /* Missing and too large. */
    char path[160];
    snprintf(path, sizeof path, "%s/missing.key", scratch_dir);
    assert_int_equal(key_file_load(path, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing.key"));
    char *big = malloc(10000);
    memset(big, '0', 10000);
    assert_int_equal(key_file_load(write_file("big.key", big, 10000), key, err, sizeof err), -1);
    free(big);
}

static void test_sha256(void **state)
{
    (void)state;
    unsigned char out[32];
    static const unsigned char abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                          0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                          0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                          0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    sha256_bytes("abc", 3, out);
    assert_memory_equal(out, abc, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open_round_trip),
        cmocka_unit_test(test_tamper_detected),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_seal_bytes_with_aad),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_sha256),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
