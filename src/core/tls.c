/*
 * tls.c: see tls.h. TLS contexts on OpenSSL 3: certificate loading and SNI
 * selection (RFC 6066 §3), client verification with hostname checks
 * (RFC 6125 via X509_check_host), the tls-exporter channel binding
 * (RFC 9266) and self-signed certificates.
 *
 * Invariant: private keys are read by key_load() only and are kept in the
 * pairs of a tls_server and its SSL_CTX; nothing else in tern sees them.
 */
#include "core/tls.h"

#include "core/error.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* One certificate with its chain and key, as loaded from a pair of files. */
struct tls_pair {
	X509 *leaf;
	STACK_OF(X509) *chain;  /* intermediates, may be empty */
	EVP_PKEY *key;
};

struct tls_server {
	SSL_CTX *ctx;
	size_t n;
	struct tls_pair pairs[];  /* pairs[0] is the default */
};

struct tls_client {
	SSL_CTX *ctx;
	enum tls_verify verify;
};

void tls_error_text(char *msg, size_t size)
{
	size_t used = 0;
	unsigned long code;
	msg[0] = '\0';
	while ((code = ERR_get_error()) != 0) {
		char one[256];
		ERR_error_string_n(code, one, sizeof(one));
		int n = snprintf(msg + used, size - used, "%s%s", used > 0 ? "; " : "", one);
		if (n < 0 || (size_t)n >= size - used) {
			ERR_clear_error();  /* the rest does not fit; drop it */
			break;
		}
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(msg, size, "unknown error");
}

/* error_set with OpenSSL's queued errors appended. Returns -1. */
static int tls_fail(struct error *e, const char *what, const char *path)
{
	char text[ERROR_MSG_MAX];
	tls_error_text(text, sizeof(text));
	if (path != NULL)
		return error_set(e, ERR_TLS, "%s %s: %s", what, path, text);
	return error_set(e, ERR_TLS, "%s: %s", what, text);
}

/* tls_fail for a file, saying first what was wrong with it. Returns -1. */
static int tls_fail_why(struct error *e, const char *what, const char *path, const char *why)
{
	char text[ERROR_MSG_MAX];
	tls_error_text(text, sizeof(text));
	return error_set(e, ERR_TLS, "%s %s: %s (%s)", what, path, why, text);
}

/* Opens path for reading with a clear message naming it. */
static BIO *file_open(const char *what, const char *path, struct error *e)
{
	BIO *b = BIO_new_file(path, "r");
	if (b == NULL) {
		int err = errno;
		ERR_clear_error();
		error_errno(e, err, "%s %s: cannot open", what, path);
	}
	return b;
}

/* The only place where tern reads a private key (see the file header).
 * Returns the key, or NULL with e naming the file. */
static EVP_PKEY *key_load(const char *path, struct error *e)
{
	BIO *b = file_open("TLS key", path, e);
	if (b == NULL)
		return NULL;
	EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (key == NULL)
		tls_fail_why(e, "TLS key", path, "no usable PEM private key");
	return key;
}

static void pair_clear(struct tls_pair *p)
{
	X509_free(p->leaf);
	sk_X509_pop_free(p->chain, X509_free);
	EVP_PKEY_free(p->key);
	memset(p, 0, sizeof(*p));
}

/* Reads the certificates after the leaf, up to the end of the file. */
static int chain_load(BIO *b, STACK_OF(X509) *chain, const char *path, struct error *e)
{
	X509 *x;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(chain, x) <= 0) {
			X509_free(x);
			return tls_fail(e, "TLS certificate", path);
		}
	}
	unsigned long last = ERR_peek_last_error();
	if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
		ERR_clear_error();  /* normal end of the file */
		return 0;
	}
	return tls_fail(e, "TLS certificate", path);
}

/* Reads a PEM file with the leaf first and its chain after it. */
static int cert_load(struct tls_pair *p, const char *path, struct error *e)
{
	BIO *b = file_open("TLS certificate", path, e);
	if (b == NULL)
		return -1;
	int r = -1;
	p->leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (p->leaf == NULL) {
		tls_fail_why(e, "TLS certificate", path, "no PEM certificate");
		goto out;
	}
	p->chain = sk_X509_new_null();
	if (p->chain == NULL) {
		tls_fail(e, "TLS certificate", path);
		goto out;
	}
	r = chain_load(b, p->chain, path, e);
out:
	BIO_free(b);
	return r;
}

static int pair_load(struct tls_pair *p, const struct tls_cert_files *f, struct error *e)
{
	if (cert_load(p, f->cert_path, e) < 0)
		return -1;
	p->key = key_load(f->key_path, e);
	if (p->key == NULL)
		return -1;
	if (X509_check_private_key(p->leaf, p->key) != 1) {
		ERR_clear_error();
		return error_set(e, ERR_TLS, "TLS key %s does not match certificate %s",
			f->key_path, f->cert_path);
	}
	return 0;
}

/* Index of the pair whose leaf matches name: an exact SAN DNS match first,
 * then a "*." wildcard for one label; 0 (the default) if none. RFC 6125 §6.4:
 * names compare case-insensitively and a wildcard stands for one whole label. */
static size_t pair_select(const struct tls_server *s, const char *name)
{
	static const unsigned int passes[] = {
		X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS,
		X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
	};
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < s->n; i++)
			if (X509_check_host(s->pairs[i].leaf, name, 0, passes[pass], NULL) == 1)
				return i;
	struct log_line *l = log_begin(LOG_DEBUG, "tls", "no certificate for server name, using default");
	log_str(l, "sni", name);
	log_end(l);
	return 0;
}

/* RFC 6066 §3: picks the certificate for the server name the client sent. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_server *s = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;  /* no SNI: the context's default pair */
	size_t i = pair_select(s, name);
	if (i == 0)
		return SSL_TLSEXT_ERR_OK;
	const struct tls_pair *p = &s->pairs[i];
	if (SSL_use_cert_and_key(ssl, p->leaf, p->key, p->chain, 1) != 1) {
		ERR_clear_error();
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int min_proto(enum tls_min_version v)
{
	return v == TLS_MIN_V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

/* Settings shared by server and client contexts. */
static int ctx_common(SSL_CTX *ctx, enum tls_min_version v)
{
	/* No compression (CRIME) and no renegotiation (RFC 5746 attacks, and a
	 * peer-driven source of work): mail protocols need neither. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* conn.c retries writes after WANT_WRITE from a buffer that may move.
	 * The record buffers (about 34 KiB) are freed while empty: most
	 * connections wait far longer than they transfer (IMAP IDLE). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return SSL_CTX_set_min_proto_version(ctx, min_proto(v)) == 1 ? 0 : -1;
}

static int server_ctx_init(struct tls_server *s, enum tls_min_version v, struct error *e)
{
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->ctx == NULL || ctx_common(s->ctx, v) < 0)
		return tls_fail(e, "TLS server context", NULL);
	static const unsigned char sid_ctx[] = "tern";
	SSL_CTX_set_session_id_context(s->ctx, sid_ctx, sizeof(sid_ctx) - 1);
	const struct tls_pair *p = &s->pairs[0];
	if (SSL_CTX_use_cert_and_key(s->ctx, p->leaf, p->key, p->chain, 1) != 1)
		return tls_fail(e, "TLS server context: default certificate", NULL);
	SSL_CTX_set_tlsext_servername_callback(s->ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(s->ctx, s);
	return 0;
}

struct tls_server *tls_server_new(const struct tls_cert_files *pairs, size_t n,
	enum tls_min_version min_version, struct error *e)
{
	if (n == 0 || n > TLS_PAIRS_MAX) {
		error_set(e, ERR_INVALID, "TLS server: %zu certificates, want 1 to %d", n, TLS_PAIRS_MAX);
		return NULL;
	}
	struct tls_server *s = calloc(1, sizeof(*s) + n * sizeof(s->pairs[0]));
	if (s == NULL)
		abort();
	s->n = n;
	for (size_t i = 0; i < n; i++) {
		if (pair_load(&s->pairs[i], &pairs[i], e) < 0) {
			tls_server_free(&s);
			return NULL;
		}
	}
	if (server_ctx_init(s, min_version, e) < 0)
		tls_server_free(&s);
	return s;
}

void tls_server_free(struct tls_server **sp)
{
	struct tls_server *s = *sp;
	if (s == NULL)
		return;
	SSL_CTX_free(s->ctx);
	for (size_t i = 0; i < s->n; i++)
		pair_clear(&s->pairs[i]);
	free(s);
	*sp = NULL;
}

struct ssl_ctx_st *tls_server_ctx(struct tls_server *s)
{
	return s->ctx;
}

struct ssl_st *tls_server_ssl_new(struct tls_server *s, struct error *e)
{
	SSL *ssl = SSL_new(s->ctx);
	if (ssl == NULL)
		tls_fail(e, "TLS server connection", NULL);
	return ssl;
}

static int client_verify_init(struct tls_client *c, const struct tls_client_opts *o,
	struct error *e)
{
	switch (o->verify) {
	case TLS_VERIFY_NONE:
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	case TLS_VERIFY_CAFILE:
		if (o->ca_file == NULL)
			return error_set(e, ERR_INVALID, "TLS client: CA file verification without a CA file");
		if (SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL) != 1)
			return tls_fail(e, "TLS CA file", o->ca_file);
		break;
	case TLS_VERIFY_SYSTEM:
		if (SSL_CTX_set_default_verify_paths(c->ctx) != 1)
			return tls_fail(e, "TLS client: system CA store", NULL);
		break;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

struct tls_client *tls_client_new(const struct tls_client_opts *opts, struct error *e)
{
	static const struct tls_client_opts defaults = { .verify = TLS_VERIFY_SYSTEM };
	const struct tls_client_opts *o = opts != NULL ? opts : &defaults;
	struct tls_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	c->verify = o->verify;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL || ctx_common(c->ctx, o->min_version) < 0) {
		tls_fail(e, "TLS client context", NULL);
		tls_client_free(&c);
		return NULL;
	}
	if (client_verify_init(c, o, e) < 0)
		tls_client_free(&c);
	return c;
}

void tls_client_free(struct tls_client **cp)
{
	struct tls_client *c = *cp;
	if (c == NULL)
		return;
	SSL_CTX_free(c->ctx);
	free(c);
	*cp = NULL;
}

struct ssl_ctx_st *tls_client_ctx(struct tls_client *c)
{
	return c->ctx;
}

static bool is_ip_literal(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* Sets SNI and the name the certificate must match. */
static int client_name_init(struct tls_client *c, SSL *ssl, const char *host, struct error *e)
{
	bool ip = is_ip_literal(host);
	/* RFC 6066 §3: literal IP addresses are not sent as a server name. */
	if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1)
		return tls_fail(e, "TLS client: server name", host);
	if (c->verify == TLS_VERIFY_NONE)
		return 0;
	int ok;
	if (ip) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set1_host(ssl, host);
	}
	return ok == 1 ? 0 : tls_fail(e, "TLS client: host name to verify", host);
}

struct ssl_st *tls_client_ssl_new(struct tls_client *c, const char *host, struct error *e)
{
	if (host == NULL && c->verify != TLS_VERIFY_NONE) {
		error_set(e, ERR_INVALID, "TLS client: verifying the server needs its host name");
		return NULL;
	}
	SSL *ssl = SSL_new(c->ctx);
	if (ssl == NULL) {
		tls_fail(e, "TLS client connection", NULL);
		return NULL;
	}
	if (host != NULL && client_name_init(c, ssl, host, e) < 0) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

void tls_describe(const struct ssl_st *ssl, struct tls_desc *desc_r)
{
	desc_r->version = SSL_get_version(ssl);
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	desc_r->cipher = cipher != NULL ? SSL_CIPHER_get_name(cipher) : "(none)";
}

int tls_exporter(struct ssl_st *ssl, unsigned char cb_r[TLS_EXPORTER_LEN], struct error *e)
{
	static const char label[] = "EXPORTER-Channel-Binding";
	static const unsigned char empty[1];
	if (!SSL_is_init_finished(ssl))
		return error_set(e, ERR_TLS, "tls-exporter: handshake not finished");
	/* RFC 9266 §2: defined only when the master secret is unique: with TLS
	 * 1.2 only when extended master secret (RFC 7627) is in use; TLS 1.3
	 * always qualifies. */
	if (SSL_version(ssl) < TLS1_3_VERSION && SSL_get_extms_support(ssl) != 1)
		return error_set(e, ERR_TLS, "tls-exporter: TLS 1.2 session without extended master secret");
	/* RFC 9266 §2: label "EXPORTER-Channel-Binding", empty context, 32 bytes. */
	if (SSL_export_keying_material(ssl, cb_r, TLS_EXPORTER_LEN, label, sizeof(label) - 1,
			empty, 0, 1) != 1)
		return tls_fail(e, "tls-exporter", NULL);
	return 0;
}

/*
 * Self-signed certificates.
 */

/* Ten years, in days, for the validity of a self-signed certificate. */
#define SELFSIGNED_DAYS 3653
/* Backdating of notBefore, in seconds, for clocks slightly behind. */
#define SELFSIGNED_BACKDATE (60 * 60)
/* Bytes of randomness in a serial (RFC 5280 §4.1.2.2 allows up to 20 octets). */
#define SERIAL_BYTES 16

static int name_valid(const char *h)
{
	if (h == NULL || h[0] == '\0' || strlen(h) > 253)
		return 0;
	if (is_ip_literal(h))
		return 1;
	for (const char *p = h; *p != '\0'; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' || (c == '*' && p == h);
		if (!ok)
			return 0;
	}
	return 1;
}

static GENERAL_NAME *san_entry(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];
	int len = 0;
	if (inet_pton(AF_INET, host, addr) == 1)
		len = 4;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		len = 16;
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *v = len > 0 ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
	if (gn == NULL || v == NULL) {
		GENERAL_NAME_free(gn);
		ASN1_STRING_free(v);
		return NULL;
	}
	int ok = len > 0 ? ASN1_OCTET_STRING_set(v, addr, len)
			: ASN1_STRING_set(v, host, (int)strlen(host));
	GENERAL_NAME_set0_value(gn, len > 0 ? GEN_IPADD : GEN_DNS, v);
	if (ok != 1) {
		GENERAL_NAME_free(gn);
		return NULL;
	}
	return gn;
}

/* RFC 5280 §4.2.1.6: the names go in subjectAltName, one entry each. */
static int add_san(X509 *x, const char *const *hostnames, size_t n)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	if (names == NULL)
		return -1;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		GENERAL_NAME *gn = san_entry(hostnames[i]);
		if (gn == NULL || sk_GENERAL_NAME_push(names, gn) <= 0) {
			GENERAL_NAME_free(gn);
			r = -1;
		}
	}
	if (r == 0 && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1)
		r = -1;
	GENERAL_NAMES_free(names);
	return r;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static int set_serial(X509 *x)
{
	unsigned char raw[SERIAL_BYTES];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	raw[0] &= 0x7f;  /* RFC 5280 §4.1.2.2: positive */
	raw[0] |= 0x40;  /* and of full length */
	BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
	ASN1_INTEGER *serial = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	int ok = serial != NULL && X509_set_serialNumber(x, serial) == 1;
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ok ? 0 : -1;
}

/* Subject and issuer: CN = the first name when it fits (RFC 5280 ub-common-name 64). */
static int set_names(X509 *x, const char *first)
{
	X509_NAME *name = X509_get_subject_name(x);
	if (strlen(first) <= 64 &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
			(const unsigned char *)first, -1, -1, 0) != 1)
		return -1;
	return X509_set_issuer_name(x, name) == 1 ? 0 : -1;
}

static X509 *selfsigned_make(EVP_PKEY *key, const char *const *hostnames, size_t n)
{
	X509 *x = X509_new();
	if (x == NULL)
		return NULL;
	bool ok = X509_set_version(x, X509_VERSION_3) == 1 && set_serial(x) == 0 &&
		X509_gmtime_adj(X509_getm_notBefore(x), -SELFSIGNED_BACKDATE) != NULL &&
		X509_time_adj_ex(X509_getm_notAfter(x), SELFSIGNED_DAYS, 0, NULL) != NULL &&
		X509_set_pubkey(x, key) == 1 && set_names(x, hostnames[0]) == 0 &&
		add_san(x, hostnames, n) == 0 &&
		add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		add_ext(x, NID_key_usage, "critical,digitalSignature") == 0 &&
		add_ext(x, NID_ext_key_usage, "serverAuth") == 0 &&
		add_ext(x, NID_subject_key_identifier, "hash") == 0 &&
		X509_sign(x, key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Opens path for writing with the given mode (also applied to an existing file). */
static FILE *file_create(const char *path, mode_t mode, struct error *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		error_errno(e, errno, "cannot create %s", path);
		return NULL;
	}
	if (fchmod(fd, mode) < 0) {
		error_errno(e, errno, "cannot set mode of %s", path);
		close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		error_errno(e, errno, "cannot open %s", path);
		close(fd);
	}
	return f;
}

/* Writes one PEM object to path: a certificate (x) or a private key (key). */
static int pem_write(const char *path, mode_t mode, X509 *x, EVP_PKEY *key, struct error *e)
{
	FILE *f = file_create(path, mode, e);
	if (f == NULL)
		return -1;
	int ok = x != NULL ? PEM_write_X509(f, x)
			: PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (ok != 1) {
		ERR_clear_error();
		return error_errno(e, errno, "cannot write %s", path);
	}
	return 0;
}

int tls_selfsigned_write(const char *const *hostnames, size_t n,
	const char *cert_path, const char *key_path, struct error *e)
{
	if (n == 0 || n > TLS_SELFSIGNED_NAMES_MAX)
		return error_set(e, ERR_INVALID, "self-signed certificate: %zu names, want 1 to %d",
			n, TLS_SELFSIGNED_NAMES_MAX);
	for (size_t i = 0; i < n; i++)
		if (!name_valid(hostnames[i]))
			return error_set(e, ERR_INVALID, "self-signed certificate: invalid host name \"%s\"",
				hostnames[i] != NULL ? hostnames[i] : "");
	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (key == NULL)
		return tls_fail(e, "self-signed certificate: key generation", NULL);
	int r = -1;
	X509 *x = selfsigned_make(key, hostnames, n);
	if (x == NULL)
		tls_fail(e, "self-signed certificate", cert_path);
	else if (pem_write(key_path, 0600, NULL, key, e) == 0)
		r = pem_write(cert_path, 0644, x, NULL, e);
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}
