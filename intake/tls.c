/* TLS context. */
#include "tls.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

void tls_errors_drain(char *out, size_t outlen)
{
    unsigned long e;
    size_t used = 0;
    out[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (used < outlen) {
            int n = snprintf(out + used, outlen - used, "%s%s", used ? "; " : "", buf);
            if (n > 0)
                used += (size_t)n;
        }
    }
}

static int tls_alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                              const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    if (SSL_select_next_proto((unsigned char **)out, outlen, http11, sizeof http11 - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *tls_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    char why[512];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        goto fail;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS13_CIPHERS) ||
        !SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384"))
        goto fail;
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select_cb, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        tls_errors_drain(why, sizeof why);
        snprintf(err, errlen, "certificate %s: %s", cert_file, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        tls_errors_drain(why, sizeof why);
        snprintf(err, errlen, "private key %s: %s", key_file, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
fail:
    tls_errors_drain(why, sizeof why);
    snprintf(err, errlen, "TLS setup failed: %s", why);
    SSL_CTX_free(ctx);
    return NULL;
}
