/*
 * dkim.c: the DKIM commands (src/dkim/, RFC 6376, RFC 8463):
 *
 *   tern dkim gened25519 >KEYFILE    new Ed25519 key, PKCS#8 PEM; its TXT record on stderr
 *   tern dkim genrsa [-bits N] >KEYFILE   the same for RSA (2048 bits by default)
 *   tern dkim txt <KEYFILE           the TXT record for a private key
 *   tern dkim verify [resolver flags] FILE    every signature's result and reason
 *   tern dkim sign [-domain D -selector S -key FILE] FILE   the message signed
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "dkim/dkim.h"
#include "dns/dns.h"
#include "message/message.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest message or key file these commands read: far past real mail. */
#define DKIM_CMD_FILE_MAX (256u * 1024 * 1024)

/* ---- gened25519, genrsa ---- */

/* Writes the key to stdout, which must not be a terminal (the key would stay
 * in its scrollback); a regular file gets mode 0600 first. The record goes
 * to stderr. */
static int emit_key(const struct cmd *c, struct buf *pem)
{
	struct error err;
	struct stat st;
	if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, "tern %s: refusing to print a private key to a terminal; redirect "
		        "it into a file:\n  tern %s >SELECTOR._domainkey.DOMAIN.pem\n", c->name,
		        c->name);
		return CMD_USAGE;
	}
	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
	    fchmod(STDOUT_FILENO, 0600) < 0)
		return cmd_fail(c, "making the key file private: %s", strerror(errno));
	struct dkim_private_key *key = NULL;
	if (dkim_private_key_parse(pem->data, pem->len, &key, &err) < 0)
		return cmd_fail(c, "%s", err.msg);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	if (fwrite(pem->data, 1, pem->len, stdout) != pem->len || fflush(stdout) != 0) {
		dkim_private_key_free(&key);
		arena_free(&a);
		return cmd_fail(c, "writing the key: %s", strerror(errno));
	}
	fprintf(stderr, "Private key written to stdout (PKCS#8 PEM). Publish this TXT record at "
	        "SELECTOR._domainkey.DOMAIN:\n%s\n", dkim_txt_record(a, key));
	dkim_private_key_free(&key);
	arena_free(&a);
	return CMD_OK;
}

static int run_gened25519(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_no_args(&cmd_dkim_gened25519, ctx, argc, argv) != 0)
		return CMD_USAGE;
	struct buf pem;
	struct error err;
	buf_init(&pem, BUF_UNBOUNDED);  /* our own key */
	int r = dkim_generate_ed25519(&pem, &err) < 0 ? cmd_fail(&cmd_dkim_gened25519, "%s", err.msg)
	                                              : emit_key(&cmd_dkim_gened25519, &pem);
	buf_free_secret(&pem);
	return r;
}

static int run_genrsa(struct cmd_ctx *ctx, int argc, char **argv)
{
	long bits = 2048;
	struct flag flags[] = {
		{"bits", FLAG_INT, &bits, "key size in bits, 1024..8192 (default 2048)"},
	};
	if (cmd_parse_flags(&cmd_dkim_genrsa, ctx, flags, 1, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 0 || bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS)
		return cmd_usage(&cmd_dkim_genrsa, flags, 1);
	struct buf pem;
	struct error err;
	buf_init(&pem, BUF_UNBOUNDED);  /* our own key */
	int r = dkim_generate_rsa((unsigned)bits, &pem, &err) < 0
		? cmd_fail(&cmd_dkim_genrsa, "%s", err.msg) : emit_key(&cmd_dkim_genrsa, &pem);
	buf_free_secret(&pem);
	return r;
}

/* ---- txt ---- */

static int run_txt(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_no_args(&cmd_dkim_txt, ctx, argc, argv) != 0)
		return CMD_USAGE;
	struct buf pem;
	struct error err;
	buf_init(&pem, 1024 * 1024);
	if (cmd_read_file(&cmd_dkim_txt, "-", &pem, 1024 * 1024) != CMD_OK) {
		buf_free_secret(&pem);
		return CMD_FAIL;
	}
	struct dkim_private_key *key = NULL;
	int r = dkim_private_key_parse(pem.data, pem.len, &key, &err);
	buf_free_secret(&pem);
	if (r < 0)
		return cmd_fail(&cmd_dkim_txt, "%s", err.msg);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	printf("%s\n", dkim_txt_record(a, key));
	dkim_private_key_free(&key);
	arena_free(&a);
	return CMD_OK;
}

/* ---- verify ---- */

static int run_verify(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct cmd_resolver_opts o = {0};
	struct flag flags[CMD_RESOLVER_FLAGS];
	size_t nflags = cmd_resolver_flags(&o, flags);
	if (cmd_parse_flags(&cmd_dkim_verify, ctx, flags, nflags, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(&cmd_dkim_verify, flags, nflags);
	struct buf msg;
	buf_init(&msg, DKIM_CMD_FILE_MAX);
	if (cmd_read_file(&cmd_dkim_verify, argv[0], &msg, DKIM_CMD_FILE_MAX) != CMD_OK) {
		buf_free(&msg);
		return CMD_FAIL;
	}
	struct config *cfg;
	struct dns_resolver *res;
	int code = cmd_resolver_open(&cmd_dkim_verify, ctx, &o, &res, &cfg);
	if (code != CMD_OK) {
		buf_free(&msg);
		return code == CMD_USAGE ? cmd_usage(&cmd_dkim_verify, flags, nflags) : code;
	}
	struct arena *a = arena_new(16384, ARENA_PLAIN);
	struct dkim_verify_opts vo = {.lookup = dkim_dns_lookup, .lookup_ctx = res};
	struct dkim_verification v;
	dkim_verify(a, msg.data, msg.len, &vo, &v);
	bool all_pass = v.n > 0;
	if (v.n == 0)
		printf("dkim=none (no DKIM-Signature)\n");
	for (size_t i = 0; i < v.n; i++) {
		const struct dkim_result *r = &v.results[i];
		printf("%s\n", dkim_result_authres(a, r));
		printf("  %s%s%s\n", r->reason,
		       r->body_length_limited ? "; l= leaves part of the body unsigned" : "",
		       r->key_bits > 0 ? arena_printf(a, " (%u-bit key)", r->key_bits) : "");
		all_pass = all_pass && r->status == DKIM_PASS;
	}
	if (v.skipped > 0)
		printf("%zu more signatures not verified (limit %d)\n", v.skipped, DKIM_MAX_SIGNATURES);
	fflush(stdout);
	arena_free(&a);
	buf_free(&msg);
	dns_resolver_free(&res);
	config_release(&cfg);
	return all_pass ? CMD_OK : CMD_FAIL;
}

/* ---- sign ---- */

/* The domain of the message's first From address, lower case, in a. */
static const char *from_domain(struct arena *a, const char *msg, size_t n)
{
	struct message_headers h;
	unsigned flags;
	message_headers_parse(a, msg, n, MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	const struct message_header *f = message_header_find(&h, "From", NULL);
	if (f == NULL)
		return NULL;
	struct message_address_list list;
	message_address_parse(a, f->value, f->value_len, 0, &list);
	for (size_t i = 0; i < list.count; i++)
		if (list.items[i].domain != NULL) {
			char *d = arena_strdup(a, list.items[i].domain);
			for (char *p = d; *p != '\0'; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			return d;
		}
	return NULL;
}

/* Signers from the config: the DKIM.Sign selectors of the From domain. */
static int config_signers(struct cmd_ctx *ctx, struct arena *a, const char *msg, size_t n,
                          struct dkim_signer **signers_r, size_t *n_r)
{
	const struct cmd *c = &cmd_dkim_sign;
	struct config *cfg = NULL;
	struct error err;
	if (config_load(ctx->config_path, &cfg, &err) < 0)
		return cmd_fail(c, "%s", err.msg);
	int r = CMD_FAIL;
	const char *domain = from_domain(a, msg, n);
	const struct config_domain *d = domain != NULL ? config_find_domain(cfg, domain) : NULL;
	if (domain == NULL) {
		cmd_fail(c, "message has no From address with a domain");
	} else if (d == NULL) {
		cmd_fail(c, "From domain %s is not configured", domain);
	} else if (dkim_signers_for_domain(d, a, signers_r, n_r, &err) != 0) {
		cmd_fail(c, "%s", err.msg);
	} else {
		r = CMD_OK;
	}
	config_release(&cfg);
	return r;
}

static int run_sign(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = &cmd_dkim_sign;
	const char *domain = NULL, *selector = NULL, *keyfile = NULL;
	struct flag flags[] = {
		{"domain", FLAG_STRING, &domain, "signing domain (d=)"},
		{"selector", FLAG_STRING, &selector, "selector (s=)"},
		{"key", FLAG_STRING, &keyfile, "PEM private key file, RSA or Ed25519"},
	};
	if (cmd_parse_flags(c, ctx, flags, 3, &argc, &argv) != 0)
		return CMD_USAGE;
	bool explicit = domain != NULL || selector != NULL || keyfile != NULL;
	if (argc != 1 || (explicit && (domain == NULL || selector == NULL || keyfile == NULL)))
		return cmd_usage(c, flags, 3);
	struct buf msg;
	buf_init(&msg, DKIM_CMD_FILE_MAX);
	if (cmd_read_file(c, argv[0], &msg, DKIM_CMD_FILE_MAX) != CMD_OK) {
		buf_free(&msg);
		return CMD_FAIL;
	}
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dkim_signer *signers = NULL;
	size_t nsigners = 0;
	struct error err;
	int r = CMD_OK;
	if (explicit) {
		struct dkim_private_key *key = NULL;
		if (dkim_private_key_load(keyfile, &key, &err) < 0) {
			r = cmd_fail(c, "%s", err.msg);
		} else {
			signers = arena_alloc(a, sizeof(*signers));
			signers[0] = (struct dkim_signer){.domain = domain, .selector = selector,
			                                  .key = key};
			nsigners = 1;
		}
	} else {
		r = config_signers(ctx, a, msg.data, msg.len, &signers, &nsigners);
	}
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);  /* a few signature fields of our own */
	if (r == CMD_OK && dkim_sign(msg.data, msg.len, signers, nsigners, 0, &out, &err) < 0)
		r = cmd_fail(c, "%s", err.msg);
	if (r == CMD_OK) {
		/* a message stored with bare LF line endings gets fields with LF too */
		const char *nl = memchr(msg.data, '\n', msg.len);
		bool lf = nl != NULL && (nl == msg.data || nl[-1] != '\r');
		for (size_t i = 0; i < out.len; i++)
			if (!(lf && out.data[i] == '\r'))
				putchar(out.data[i]);
		fwrite(msg.data, 1, msg.len, stdout);
		if (fflush(stdout) != 0)
			r = cmd_fail(c, "writing: %s", strerror(errno));
	}
	dkim_signers_free(signers, nsigners);
	buf_free(&out);
	buf_free(&msg);
	arena_free(&a);
	return r;
}

const struct cmd cmd_dkim_gened25519 = {
	.name = "dkim gened25519",
	.args = ">KEYFILE",
	.summary = "generate an Ed25519 DKIM key (PKCS#8 PEM on stdout, TXT record on stderr)",
	.help = "Generates an Ed25519 private key for DKIM (RFC 8463) and writes it as PKCS#8\n"
	        "PEM to stdout, which must be redirected into a file (it is made mode 0600).\n"
	        "The DNS TXT record to publish at SELECTOR._domainkey.DOMAIN goes to stderr.\n"
	        "Ed25519 signatures are not verified by every receiver yet: sign with an RSA\n"
	        "key as well.\n",
	.run = run_gened25519,
};

const struct cmd cmd_dkim_genrsa = {
	.name = "dkim genrsa",
	.args = "[-bits N] >KEYFILE",
	.summary = "generate an RSA DKIM key (PKCS#8 PEM on stdout, TXT record on stderr)",
	.help = "Generates an RSA private key for DKIM (2048 bits unless -bits says otherwise;\n"
	        "RFC 8301 requires at least 1024) and writes it as PKCS#8 PEM to stdout, which\n"
	        "must be redirected into a file (it is made mode 0600). The DNS TXT record to\n"
	        "publish at SELECTOR._domainkey.DOMAIN goes to stderr.\n",
	.run = run_genrsa,
};

const struct cmd cmd_dkim_txt = {
	.name = "dkim txt",
	.args = "<KEYFILE",
	.summary = "print the DKIM DNS TXT record for a private key read from stdin",
	.help = NULL,
	.run = run_txt,
};

const struct cmd cmd_dkim_verify = {
	.name = "dkim verify",
	.args = "[-server IP[@PORT]] [-trust-anchor FILE] [-timeout SECONDS] FILE",
	.summary = "verify the DKIM signatures of a message",
	.help = "Verifies every DKIM-Signature of the message in FILE (\"-\": stdin), looking up\n"
	        "keys with tern's resolver, and prints for each its Authentication-Results\n"
	        "text (RFC 8601) and a line with the reason. Results are pass, fail, neutral,\n"
	        "temperror, permerror or policy (rsa-sha1 and RSA keys under 1024 bits, RFC\n"
	        "8301). Exit status: 0 when there are signatures and all pass, 1 otherwise.\n",
	.run = run_verify,
};

const struct cmd cmd_dkim_sign = {
	.name = "dkim sign",
	.args = "[-domain DOMAIN -selector SELECTOR -key KEYFILE] FILE",
	.summary = "sign a message with DKIM and print it with its DKIM-Signature",
	.help = "Signs the message in FILE (\"-\": stdin) and prints it with the new\n"
	        "DKIM-Signature fields in front: relaxed/relaxed, rsa-sha256 or ed25519-sha256\n"
	        "by the key, the usual header set with From, To, Cc, Subject, Date, ...\n"
	        "oversigned. With -domain, -selector and -key, signs with that key; without\n"
	        "them, with the DKIM.Sign selectors that the config file gives the domain of\n"
	        "the From address.\n",
	.run = run_sign,
};
