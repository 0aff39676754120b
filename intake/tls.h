/* The server's one SSL_CTX: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers (Mozilla's
 * intermediate set), no session resumption of any kind (it would let the server link a person's
 * visits), no renegotiation, ALPN http/1.1. */
#ifndef REDRESS_INTAKE_TLS_H
#define REDRESS_INTAKE_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Builds the context from PEM files. NULL with the reason in err (OpenSSL's error queue drained
 * into it). */
SSL_CTX *tls_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen);
/* Drains this thread's OpenSSL error queue into one line (for logs: carries no peer data). */
void tls_errors_drain(char *out, size_t outlen);

#endif
