/*
 * password.c: `tern setaccountpassword ACCOUNT` and `tern account
 * checkpassword ACCOUNT`.
 *
 * The password is read from standard input, never from the command line
 * (argv is visible to every user in ps): with a terminal, it is asked for
 * without echo (twice when setting); otherwise the first line of input is
 * the password. What is stored is the set of keys derived from it
 * (src/sasl/: an argon2id hash, SCRAM-SHA-1 and SCRAM-SHA-256 keys, CRAM-MD5
 * state), in the account's database; the password itself is never stored or
 * logged, and buffers holding it are zeroed.
 */
#include "cmd/cmd.h"
#include "cmd/mailbox_io.h"
#include "cmd/serve.h"

#include "core/arena.h"
#include "sasl/sasl.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Longest password read; longer input is an error, not silently cut. */
#define PASSWORD_MAX 1024

/* Reads one line from stdin into buf (NUL-terminated, without the line end).
 * With a terminal, prompts on stderr and turns echo off. Returns the length,
 * or -1 if there was no line or it was too long. */
static ssize_t read_password(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(0) && tcgetattr(0, &old) == 0;
	if (tty) {
		fputs(prompt, stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &quiet);
	}
	char *got = fgets(buf, (int)size, stdin);
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (got == NULL)
		return -1;
	size_t n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(stdin))
		return -1;  /* no line end within the buffer: too long */
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return (ssize_t)n;
}

/* Reads the new password (twice on a terminal). Returns its length or -1
 * with the reason in err. */
static ssize_t new_password(char *pw, char *again, size_t size, struct error *err)
{
	ssize_t n = read_password("new password: ", pw, size);
	if (n < 0)
		return error_set(err, ERR_INVALID, "no password on standard input (at most %d bytes)",
		                 PASSWORD_MAX);
	if (n == 0)
		return error_set(err, ERR_INVALID, "empty password");
	if (isatty(0) && (read_password("repeat password: ", again, size) != n ||
	                  memcmp(pw, again, (size_t)n) != 0))
		return error_set(err, ERR_INVALID, "the passwords differ");
	return n;
}

int account_password_store(const struct config *cfg, const char *account, const char *pw,
                           size_t n, struct error *err)
{
	struct sasl_credentials creds;
	if (sasl_credentials_derive(pw, n, SASL_CRED_ALL, &creds, err) != 0)
		return -1;
	struct arena *secret = arena_new(4096, ARENA_SECRET);
	const char *line = sasl_credentials_encode(&creds, secret);
	sasl_credentials_clear(&creds);
	uid_t uid;
	gid_t gid;
	struct store_account *acct = NULL;
	int r = serve_as_data_owner(cfg, &uid, &gid, err);
	if (r == 0)
		r = store_open(cfg->st.data_dir, account, &acct, err);
	if (r == 0)
		r = store_credentials_set(acct, line, err);
	store_close(&acct);
	arena_free(&secret);
	return r;
}

static int run_set(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_parse_flags(&cmd_setaccountpassword, ctx, NULL, 0, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(&cmd_setaccountpassword, NULL, 0);
	struct config *cfg;
	if (mailbox_io_account(&cmd_setaccountpassword, ctx->config_path, argv[0], &cfg) != 0)
		return CMD_FAIL;
	char pw[PASSWORD_MAX + 2], again[PASSWORD_MAX + 2];
	struct error err;
	ssize_t n = new_password(pw, again, sizeof(pw), &err);
	int r = n < 0 ? -1 : account_password_store(cfg, argv[0], pw, (size_t)n, &err);
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
	config_release(&cfg);
	if (r != 0)
		return cmd_fail(&cmd_setaccountpassword, "%s", err.msg);
	printf("password of account %s set\n", argv[0]);
	return CMD_OK;
}

const struct cmd cmd_setaccountpassword = {
	.name = "setaccountpassword",
	.args = "ACCOUNT",
	.summary = "set the password of an account (read from standard input)",
	.help = "Sets the password of ACCOUNT. On a terminal it is asked for twice without\n"
	        "echo; otherwise the first line of standard input is the password (never\n"
	        "give it as an argument). Only keys derived from it are stored: an argon2id\n"
	        "hash, SCRAM-SHA-1 and SCRAM-SHA-256 keys and CRAM-MD5 state, so that every\n"
	        "login mechanism works without the password being kept.",
	.run = run_set,
};

/* 1 if pw matches the stored credentials, 0 if not, -1 with err set. */
static int check_stored(const struct config *cfg, const char *account, const char *pw,
                        size_t n, struct error *err)
{
	struct arena *secret = arena_new(4096, ARENA_SECRET);
	struct store_account *acct = NULL;
	const char *line = NULL;
	struct sasl_credentials creds;
	uid_t uid;
	gid_t gid;
	/* the store may create files in the data directory: as its owner */
	int r = serve_as_data_owner(cfg, &uid, &gid, err);
	if (r == 0)
		r = store_open(cfg->st.data_dir, account, &acct, err);
	if (r == 0)
		r = store_credentials_get(acct, secret, &line, err);
	if (r == 0)
		r = sasl_credentials_decode(line, strlen(line), &creds, err);
	if (r == 0) {
		r = sasl_password_verify(&creds, pw, n);
		sasl_credentials_clear(&creds);
	}
	store_close(&acct);
	arena_free(&secret);
	return r;
}

static int run_check(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_parse_flags(&cmd_account_checkpassword, ctx, NULL, 0, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(&cmd_account_checkpassword, NULL, 0);
	struct config *cfg;
	if (mailbox_io_account(&cmd_account_checkpassword, ctx->config_path, argv[0], &cfg) != 0)
		return CMD_FAIL;
	char pw[PASSWORD_MAX + 2];
	struct error err;
	ssize_t n = read_password("password: ", pw, sizeof(pw));
	int r = n < 0 ? error_set(&err, ERR_INVALID, "no password on standard input")
	              : check_stored(cfg, argv[0], pw, (size_t)n, &err);
	explicit_bzero(pw, sizeof(pw));
	config_release(&cfg);
	if (r < 0)
		return cmd_fail(&cmd_account_checkpassword, "%s", err.msg);
	printf("password %s\n", r == 1 ? "matches" : "does not match");
	return r == 1 ? CMD_OK : CMD_FAIL;
}

const struct cmd cmd_account_checkpassword = {
	.name = "account checkpassword",
	.args = "ACCOUNT",
	.summary = "check a password against the one stored for an account",
	.help = "Reads a password from standard input (without echo on a terminal) and says\n"
	        "whether it is the password of ACCOUNT; exits 0 when it matches, 1 when not.",
	.run = run_check,
};
