/*
 * tls.h: the TLS contexts of tern, on OpenSSL 3.
 *
 * A server context holds one or more certificate/key pairs and picks one per
 * connection from the server name the client asks for (RFC 6066 §3, SNI);
 * the first pair is the default. A client context verifies the server against
 * the system CAs, an explicit CA file, or not at all (opportunistic SMTP TLS,
 * RFC 3207 §4.1 allows a client to continue without authenticating the
 * server). Per-connection SSL objects are made here and driven by conn.c,
 * which owns the socket and the deadlines.
 *
 * Also here: self-signed certificates for `tern localserve` and for tests,
 * the tls-exporter channel binding (RFC 9266) for SCRAM-PLUS, and a short
 * description of a session for logs.
 *
 * Private keys are read from files in one function of tls.c and never leave
 * it except inside the SSL_CTX, so that key handling can move behind a signer
 * interface later without changing callers.
 *
 * Contexts are immutable once made and can be shared by threads; a config
 * reload makes new ones.
 */
#ifndef TERN_CORE_TLS_H
#define TERN_CORE_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct error;
struct ssl_st;      /* OpenSSL's SSL */
struct ssl_ctx_st;  /* OpenSSL's SSL_CTX */

/* RFC 9266 §2: the tls-exporter channel binding is 32 bytes. */
#define TLS_EXPORTER_LEN 32

/* Most certificate/key pairs one server context holds. A server with more
 * names than this wants wildcard certificates or several listeners. */
#define TLS_PAIRS_MAX 256

enum tls_min_version {
	TLS_MIN_V1_2 = 0,  /* default: TLS 1.2 and 1.3 */
	TLS_MIN_V1_3,
};

/* One certificate (PEM: leaf first, then its chain) and its private key (PEM). */
struct tls_cert_files {
	const char *cert_path;
	const char *key_path;
};

struct tls_server;

/* Makes a server context from n (1..TLS_PAIRS_MAX) pairs; pairs[0] is the
 * default certificate, used when the client sends no server name or one that
 * no pair matches. Compression and renegotiation are off; ciphers are
 * OpenSSL's defaults. Returns the context (free with tls_server_free), or
 * NULL with e set: a file that cannot be read or holds no certificate or key
 * is named in the message, as is a key that does not match its certificate. */
struct tls_server *tls_server_new(const struct tls_cert_files *pairs, size_t n,
	enum tls_min_version min_version, struct error *e);

/* Frees *s (NULL allowed) and sets *s to NULL. Established connections made
 * from it stay usable, but no handshake with it may still be running (its
 * SNI callback reads s): free it with the config snapshot that owns it,
 * after the connections holding that snapshot are gone. */
void tls_server_free(struct tls_server **s);

/* The SSL_CTX, borrowed, for code that needs OpenSSL's own object (the HTTP
 * server). Valid while s lives. */
struct ssl_ctx_st *tls_server_ctx(struct tls_server *s);

/* A new server-side SSL for one connection, or NULL with e set (ERR_TLS).
 * The caller (conn.c) owns it. */
struct ssl_st *tls_server_ssl_new(struct tls_server *s, struct error *e);

enum tls_verify {
	TLS_VERIFY_SYSTEM = 0,  /* the system's CA store (default) */
	TLS_VERIFY_CAFILE,      /* only the CAs in ca_file */
	TLS_VERIFY_NONE,        /* no verification: opportunistic TLS only */
};

struct tls_client_opts {
	enum tls_verify verify;
	const char *ca_file;    /* for TLS_VERIFY_CAFILE, PEM */
	enum tls_min_version min_version;
};

struct tls_client;

/* Makes a client context. opts may be NULL (system CAs, TLS 1.2 minimum).
 * Returns the context (free with tls_client_free), or NULL with e set; a CA
 * file that cannot be loaded is named in the message. */
struct tls_client *tls_client_new(const struct tls_client_opts *opts, struct error *e);

/* Frees *c (NULL allowed) and sets *c to NULL. */
void tls_client_free(struct tls_client **c);

/* The SSL_CTX, borrowed, for settings a caller makes before any connection
 * uses the context (DANE: SSL_CTX_dane_enable; extra trust anchors). Valid
 * while c lives. */
struct ssl_ctx_st *tls_client_ctx(struct tls_client *c);

/* A new client-side SSL for a connection to host, or NULL with e set.
 * host is sent as SNI unless it is an IP literal (RFC 6066 §3) and, when the
 * context verifies, the certificate must match it (SAN DNS name or IP
 * address). host may be NULL only with TLS_VERIFY_NONE. The caller owns the
 * result. */
struct ssl_st *tls_client_ssl_new(struct tls_client *c, const char *host, struct error *e);

/* Version and cipher of an established session, for logs. The strings are
 * static or live as long as ssl. */
struct tls_desc {
	const char *version;  /* "TLSv1.3" */
	const char *cipher;   /* "TLS_AES_256_GCM_SHA384" */
};

/* Fills desc_r for ssl (after the handshake). */
void tls_describe(const struct ssl_st *ssl, struct tls_desc *desc_r);

/* Writes the RFC 9266 tls-exporter channel binding of an established session
 * into cb_r. Returns 0, or -1 with e set (ERR_TLS) if the session cannot give
 * a safe binding (TLS 1.2 without extended master secret, RFC 9266 §2). */
int tls_exporter(struct ssl_st *ssl, unsigned char cb_r[TLS_EXPORTER_LEN], struct error *e);

/* Most names in a self-signed certificate. */
#define TLS_SELFSIGNED_NAMES_MAX 64

/* Generates an ECDSA P-256 key and a self-signed certificate for the n
 * (1..TLS_SELFSIGNED_NAMES_MAX) hostnames (DNS names, "*." wildcards, or IP
 * literals), valid from an hour ago for ten years, with a random serial.
 * Writes the certificate to cert_path and the key to key_path (mode 0600),
 * both PEM, replacing existing files. Returns 0, or -1 with e set. */
int tls_selfsigned_write(const char *const *hostnames, size_t n,
	const char *cert_path, const char *key_path, struct error *e);

/* Writes OpenSSL's queued error text (oldest first, joined by "; ") into
 * msg and clears the queue; "unknown error" if the queue is empty. For the
 * messages of callers driving an SSL. Writes at most size-1 bytes and a NUL. */
void tls_error_text(char *msg, size_t size);

#endif
