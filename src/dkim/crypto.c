/*
 * crypto.c: the public-key side of DKIM through OpenSSL 3 (EVP): private
 * keys, signing, verifying, key generation and the DNS record of a key.
 *
 * rsa-sha256 (RFC 6376 §3.3.1): RSASSA-PKCS1-v1_5 with SHA-256 over the
 * canonical header data.
 * ed25519-sha256 (RFC 8463 §3): PureEdDSA (RFC 8032) over the SHA-256 digest
 * of the same data; the key in DNS is the raw 32-byte public key (§4).
 */
#include "dkim/internal.h"

#include "core/base64.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>

struct dkim_private_key {
	EVP_PKEY *pkey;
	enum dkim_key_type type;
};

/* The last OpenSSL error as text, for messages. */
static const char *ossl_error(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	ERR_clear_error();
	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, n);
	return buf;
}

static int key_from_pkey(EVP_PKEY *pkey, struct dkim_private_key **key_r, struct error *err)
{
	enum dkim_key_type type;
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		type = DKIM_KEY_ED25519;
	} else if (EVP_PKEY_is_a(pkey, "RSA")) {
		/* RFC 8301 §3.2: "Signers MUST use RSA keys of at least 1024 bits" */
		int bits = EVP_PKEY_get_bits(pkey);
		if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
			EVP_PKEY_free(pkey);
			return error_set(err, ERR_INVALID, "RSA key of %d bits (must be %d..%d)", bits,
			                 DKIM_RSA_MIN_BITS, DKIM_RSA_MAX_BITS);
		}
		type = DKIM_KEY_RSA;
	} else {
		EVP_PKEY_free(pkey);
		return error_set(err, ERR_INVALID, "key is neither RSA nor Ed25519");
	}
	struct dkim_private_key *k = calloc(1, sizeof(*k));
	if (k == NULL)
		abort();
	k->pkey = pkey;
	k->type = type;
	*key_r = k;
	return 0;
}

int dkim_private_key_parse(const char *pem, size_t n, struct dkim_private_key **key_r,
                           struct error *err)
{
	char eb[256];
	if (n > INT32_MAX)
		return error_set(err, ERR_LIMIT, "key too large");
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	if (bio == NULL)
		abort();
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		return error_set(err, ERR_INVALID, "no PEM private key: %s", ossl_error(eb, sizeof(eb)));
	return key_from_pkey(pkey, key_r, err);
}

int dkim_private_key_load(const char *path, struct dkim_private_key **key_r, struct error *err)
{
	char eb[256];
	BIO *bio = BIO_new_file(path, "r");
	if (bio == NULL)
		return error_set(err, ERR_IO, "%s: cannot open: %s", path, ossl_error(eb, sizeof(eb)));
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		return error_set(err, ERR_INVALID, "%s: no PEM private key: %s", path,
		                 ossl_error(eb, sizeof(eb)));
	if (key_from_pkey(pkey, key_r, err) < 0)
		return error_prefix(err, "%s", path);
	return 0;
}

void dkim_private_key_free(struct dkim_private_key **key)
{
	if (*key == NULL)
		return;
	EVP_PKEY_free((*key)->pkey);
	free(*key);
	*key = NULL;
}

enum dkim_key_type dkim_private_key_type(const struct dkim_private_key *key)
{
	return key->type;
}

const char *dkim_private_key_algorithm(const struct dkim_private_key *key)
{
	return key->type == DKIM_KEY_ED25519 ? "ed25519-sha256" : "rsa-sha256";
}

static int write_pem(EVP_PKEY *pkey, struct buf *pem, struct error *err)
{
	char eb[256];
	BIO *bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		abort();
	/* PEM_write_bio_PrivateKey writes PKCS#8 ("PRIVATE KEY"), unencrypted. */
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		return error_set(err, ERR_INVALID, "writing key: %s", ossl_error(eb, sizeof(eb)));
	}
	char *p;
	long len = BIO_get_mem_data(bio, &p);
	int r = buf_append(pem, p, (size_t)len);
	OPENSSL_cleanse(p, (size_t)len);
	BIO_free(bio);
	return r < 0 ? error_set(err, ERR_LIMIT, "key does not fit") : 0;
}

int dkim_generate_ed25519(struct buf *pem, struct error *err)
{
	char eb[256];
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL)
		return error_set(err, ERR_INVALID, "generating key: %s", ossl_error(eb, sizeof(eb)));
	int r = write_pem(pkey, pem, err);
	EVP_PKEY_free(pkey);
	return r;
}

int dkim_generate_rsa(unsigned rsa_bits, struct buf *pem, struct error *err)
{
	char eb[256];
	if (rsa_bits < DKIM_RSA_MIN_BITS || rsa_bits > DKIM_RSA_MAX_BITS)
		return error_set(err, ERR_INVALID, "RSA keys must have %d..%d bits", DKIM_RSA_MIN_BITS,
		                 DKIM_RSA_MAX_BITS);
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
	if (pkey == NULL)
		return error_set(err, ERR_INVALID, "generating key: %s", ossl_error(eb, sizeof(eb)));
	int r = write_pem(pkey, pem, err);
	EVP_PKEY_free(pkey);
	return r;
}

char *dkim_txt_record(struct arena *a, const struct dkim_private_key *key)
{
	if (key->type == DKIM_KEY_ED25519) {
		unsigned char raw[32];
		size_t len = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &len) != 1 || len != 32)
			abort();
		return arena_printf(a, "v=DKIM1; k=ed25519; p=%s", base64_arena(a, raw, len));
	}
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key->pkey, &der);   /* SubjectPublicKeyInfo */
	if (len <= 0)
		abort();
	char *txt = arena_printf(a, "v=DKIM1; k=rsa; p=%s", base64_arena(a, der, (size_t)len));
	OPENSSL_free(der);
	return txt;
}

/* The SHA-256 of data (RFC 8463 §3: Ed25519 signs the hash, not the data). */
static void sha256(const void *data, size_t n, unsigned char out[32])
{
	unsigned int len = 32;
	if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1)
		abort();
}

int dkim_crypto_sign(const struct dkim_private_key *key, const void *data, size_t n,
                     struct arena *a, unsigned char **sig_r, size_t *len_r, struct error *err)
{
	char eb[256];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		abort();
	unsigned char digest[32];
	const EVP_MD *md = EVP_sha256();
	if (key->type == DKIM_KEY_ED25519) {
		sha256(data, n, digest);
		data = digest;
		n = sizeof(digest);
		md = NULL;
	}
	size_t len = 0;
	unsigned char *sig = NULL;
	int ok = EVP_DigestSignInit(ctx, NULL, md, NULL, key->pkey) == 1 &&
	         EVP_DigestSign(ctx, NULL, &len, data, n) == 1;
	if (ok) {
		sig = arena_alloc(a, len);
		ok = EVP_DigestSign(ctx, sig, &len, data, n) == 1;
	}
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return error_set(err, ERR_INVALID, "signing: %s", ossl_error(eb, sizeof(eb)));
	*sig_r = sig;
	*len_r = len;
	return 0;
}

/* RSA keys in DNS are SubjectPublicKeyInfo (what §3.6.1 means by "ASN.1
 * DER-encoded RSAPublicKey" in practice, and what every signer publishes);
 * a bare PKCS#1 RSAPublicKey is accepted too, as opendkim does. */
static EVP_PKEY *public_key(enum dkim_key_type type, const unsigned char *p, size_t n)
{
	if (type == DKIM_KEY_ED25519)
		return n == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, n) : NULL;
	if (n > 65536)
		return NULL;
	const unsigned char *q = p;
	EVP_PKEY *pkey = d2i_PUBKEY(NULL, &q, (long)n);
	if (pkey == NULL) {
		q = p;
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)n);
	}
	if (pkey != NULL && !EVP_PKEY_is_a(pkey, "RSA")) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

enum dkim_crypto_result dkim_crypto_verify(enum dkim_key_type type, enum dkim_hash hash,
                                           const unsigned char *pub, size_t publen,
                                           const void *data, size_t n,
                                           const unsigned char *sig, size_t siglen,
                                           unsigned *bits_r)
{
	*bits_r = 0;
	EVP_PKEY *pkey = public_key(type, pub, publen);
	ERR_clear_error();
	if (pkey == NULL)
		return DKIM_CRYPTO_BADKEY;
	int bits = EVP_PKEY_get_bits(pkey);
	*bits_r = bits > 0 ? (unsigned)bits : 0;
	if (type == DKIM_KEY_RSA && bits > DKIM_RSA_MAX_BITS) {
		EVP_PKEY_free(pkey);
		return DKIM_CRYPTO_BADKEY;
	}
	/* RFC 8301 §3.2: "Verifiers MUST NOT consider signatures using RSA keys
	 * of less than 1024 bits as valid signatures." */
	if (type == DKIM_KEY_RSA && bits < DKIM_RSA_MIN_BITS) {
		EVP_PKEY_free(pkey);
		return DKIM_CRYPTO_WEAKKEY;
	}
	unsigned char digest[32];
	const EVP_MD *md = hash == DKIM_HASH_SHA1 ? EVP_sha1() : EVP_sha256();
	if (type == DKIM_KEY_ED25519) {
		sha256(data, n, digest);
		data = digest;
		n = sizeof(digest);
		md = NULL;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		abort();
	int ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
	         EVP_DigestVerify(ctx, sig, siglen, data, n) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return ok ? DKIM_CRYPTO_OK : DKIM_CRYPTO_BAD;
}
