/* References and receipts (common/reference.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "reference.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford data symbols */
static const char checks[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

/* An independent computation of Crockford's mod-37 check symbol. */
static char check_of(const char *data)
{
    int mod = 0;
    for (size_t i = 0; i < 10; i++)
        mod = (mod * 32 + (int)(strchr(alphabet, data[i]) - alphabet)) % 37;
    return checks[mod];
}

static void test_generate_format(void **state)
{
    (void)state;
    char seen[64][REFERENCE_LEN + 1];
    for (int k = 0; k < 64; k++) {
        char ref[REFERENCE_LEN + 1], norm[REFERENCE_LEN + 1];
        reference_generate(ref);
        assert_int_equal(strlen(ref), REFERENCE_LEN);
        for (int i = 0; i < 10; i++)
            assert_non_null(strchr(alphabet, ref[i]));
        assert_int_equal(ref[10], check_of(ref));
        assert_true(reference_normalize(ref, norm));
        assert_string_equal(norm, ref);
        for (int j = 0; j < k; j++)
            assert_string_not_equal(seen[j], ref); /* 50 random bits: no repeats in 64 */
        memcpy(seen[k], ref, sizeof ref);
    }
}

static void test_check_catches_substitutions(void **state)
{
    (void)state;
    int tried = 0;
    for (int k = 0; k < 200; k++) {
        char ref[REFERENCE_LEN + 1], norm[REFERENCE_LEN + 1];
        reference_generate(ref);
        for (int pos = 0; pos < REFERENCE_LEN; pos++) {
            const char *symbols = pos < 10 ? alphabet : checks;
            for (const char *c = symbols; *c; c++) {
                if (*c == ref[pos])
                    continue;
                char bad[REFERENCE_LEN + 1];
                memcpy(bad, ref, sizeof bad);
                bad[pos] = *c;
                if (reference_normalize(bad, norm))
                    fail_msg("%s (from %s) accepted", bad, ref);
                tried++;
            }
        }
    }
    assert_true(tried > 200 * 10 * 31);
}

static void test_check_catches_transpositions(void **state)
{
    (void)state;
    for (int k = 0; k < 200; k++) {
        char ref[REFERENCE_LEN + 1], norm[REFERENCE_LEN + 1];
        reference_generate(ref);
        for (int pos = 0; pos + 1 < 10; pos++) {
            if (ref[pos] == ref[pos + 1])
                continue;
            char bad[REFERENCE_LEN + 1];
            memcpy(bad, ref, sizeof bad);
            bad[pos] = ref[pos + 1];
            bad[pos + 1] = ref[pos];
            if (reference_normalize(bad, norm))
                fail_msg("%s (from %s) accepted", bad, ref);
        }
    }
}

static void test_normalize_typed_forms(void **state)
{
    (void)state;
    char data[11] = "01ABX0Y1Z9", ref[REFERENCE_LEN + 1], norm[REFERENCE_LEN + 1];
    snprintf(ref, sizeof ref, "%s%c", data, check_of(data));
    assert_true(reference_normalize(ref, norm));
    assert_string_equal(norm, ref);

    char typed[64];
    /* lower case, hyphens, spaces */
    for (size_t i = 0; i <= strlen(ref); i++)
        typed[i] = (char)tolower((unsigned char)ref[i]);
    assert_true(reference_normalize(typed, norm));
    assert_string_equal(norm, ref);
    snprintf(typed, sizeof typed, "%.4s-%.4s-%s", ref, ref + 4, ref + 8);
    assert_true(reference_normalize(typed, norm));
    assert_string_equal(norm, ref);
    snprintf(typed, sizeof typed, " %.3s %.3s %s- ", ref, ref + 3, ref + 6);
    assert_true(reference_normalize(typed, norm));
    assert_string_equal(norm, ref);
    /* O -> 0, I and L -> 1 (either case) */
    snprintf(typed, sizeof typed, "%s", ref);
    typed[0] = 'O';
    typed[1] = 'l';
    typed[5] = 'o';
    typed[7] = 'I';
    assert_true(reference_normalize(typed, norm));
    assert_string_equal(norm, ref);
    typed[7] = 'i';
    typed[1] = 'L';
    assert_true(reference_normalize(typed, norm));
    assert_string_equal(norm, ref);
    /* U is not a data symbol; wrong lengths; check-only symbols inside */
    snprintf(typed, sizeof typed, "%s", ref);
    typed[2] = 'U';
    assert_false(reference_normalize(typed, norm));
    typed[2] = '*';
    assert_false(reference_normalize(typed, norm));
    assert_false(reference_normalize("", norm));
    assert_false(reference_normalize("----", norm));
    snprintf(typed, sizeof typed, "%.10s", ref);
    assert_false(reference_normalize(typed, norm));
    snprintf(typed, sizeof typed, "%s0", ref);
    assert_false(reference_normalize(typed, norm));
    snprintf(typed, sizeof typed, "%s%s", ref, ref);
    assert_false(reference_normalize(typed, norm));
    assert_false(reference_normalize("01ABX0Y1Z9\xc3\xa9", norm));
    assert_false(reference_normalize("01ABX0Y1Z9/", norm));
}

static void test_check_symbols_past_31(void **state)
{
    (void)state;
    /* Find data whose check is each of the five extra symbols; typed in lower case too. */
    int found = 0;
    char ref[REFERENCE_LEN + 1], norm[REFERENCE_LEN + 1];
    for (int k = 0; k < 20000 && found != 0x1f; k++) {
        reference_generate(ref);
        const char *p = strchr("*~$=U", ref[10]);
        if (!p)
            continue;
        found |= 1 << (p - "*~$=U");
        assert_true(reference_normalize(ref, norm));
        assert_string_equal(norm, ref);
        if (ref[10] == 'U') {
            ref[10] = 'u';
            assert_true(reference_normalize(ref, norm));
            assert_int_equal(norm[10], 'U');
        }
    }
    assert_int_equal(found, 0x1f);
}

static void test_receipt_derive(void **state)
{
    (void)state;
    unsigned char k1[32], k2[32];
    memset(k1, 0x11, sizeof k1);
    memset(k2, 0x11, sizeof k2);
    k2[31] ^= 1;
    char a[RECEIPT_LEN + 1], b[RECEIPT_LEN + 1], c[RECEIPT_LEN + 1], d[RECEIPT_LEN + 1];
    receipt_derive(k1, "7K3QMZ9X2FA", a);
    receipt_derive(k1, "7K3QMZ9X2FA", b);
    receipt_derive(k2, "7K3QMZ9X2FA", c);
    receipt_derive(k1, "7K3QMZ9X2FB", d);
    assert_int_equal(strlen(a), RECEIPT_LEN);
    assert_string_equal(a, b);     /* deterministic */
    assert_string_not_equal(a, c); /* key-dependent */
    assert_string_not_equal(a, d); /* reference-dependent */
    for (int i = 0; i < RECEIPT_LEN; i++)
        assert_non_null(strchr(alphabet, a[i]));
    /* 128 bits in 26 symbols: the last symbol carries 3 bits and two zero bits. */
    assert_int_equal((strchr(alphabet, a[25]) - alphabet) & 3, 0);
    char norm[RECEIPT_LEN + 1];
    assert_true(receipt_normalize(a, norm));
    assert_string_equal(norm, a);

    /* Known answer: HMAC-SHA-256 under 32 bytes of 0x11 over "7K3QMZ9X2FA", first 16 bytes in
     * Crockford base32, computed independently (Python hmac + base32 with Crockford's alphabet). */
    assert_string_equal(a, "EDAJDCV1RSSGTC7RMKXS0JAJXM");

    unsigned char h1[32], h2[32];
    receipt_hash(a, h1);
    sha256_bytes(a, strlen(a), h2);
    assert_memory_equal(h1, h2, 32);
    receipt_hash(c, h2);
    assert_memory_not_equal(h1, h2, 32);
}

static void test_receipt_normalize(void **state)
{
    (void)state;
    const char *r = "0123456789ABCDEFGHJKMNPQRS";
    char norm[RECEIPT_LEN + 1];
    assert_true(receipt_normalize(r, norm));
    assert_string_equal(norm, r);
    assert_true(receipt_normalize("01234-56789-abcde-fghjk-mnpqr-s", norm));
    assert_string_equal(norm, r);
    assert_true(receipt_normalize("o1234 56789 ABCDE FGHJK MNPQR S", norm));
    assert_string_equal(norm, r);
    assert_true(receipt_normalize("0i234567891BCDEFGHJKMNPQRS", norm));
    assert_string_equal(norm, "01234567891BCDEFGHJKMNPQRS");
    assert_true(receipt_normalize("0l234567891BCDEFGHJKMNPQRS", norm));
    assert_string_equal(norm, "01234567891BCDEFGHJKMNPQRS");
    assert_false(receipt_normalize("0123456789ABCDEFGHJKMNPQR", norm));   /* 25 */
    assert_false(receipt_normalize("0123456789ABCDEFGHJKMNPQRST", norm)); /* 27 */
    assert_false(receipt_normalize("0123456789ABCDEFGHJKMNPQRU", norm));  /* U */
    assert_false(receipt_normalize("0123456789ABCDEFGHJKMNPQR*", norm));
    assert_false(receipt_normalize("0123456789ABCDEFGHJKMNPQR\xc3\xa9", norm));
    assert_false(receipt_normalize("", norm));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_format),
        cmocka_unit_test(test_check_catches_substitutions),
        cmocka_unit_test(test_check_catches_transpositions),
        cmocka_unit_test(test_normalize_typed_forms),
        cmocka_unit_test(test_check_symbols_past_31),
        cmocka_unit_test(test_receipt_derive),
        cmocka_unit_test(test_receipt_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
