// The system OpenSSL (libssl-dev) for SocketTransport's TLS stream: hvd's TCP listener and
// hv --host. Only SocketTransport imports this module.
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/crypto.h>

// Macros Swift cannot import (they expand to SSL_ctrl calls with casts).
static inline long copenssl_set_min_proto_tls12(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
// SSL_OP_* are built from casts Swift does not import.
static inline void copenssl_ignore_unexpected_eof(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
}
static inline long copenssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
#endif
