/*
 * verifydata.c: `tern verifydata [-fix] DIR`, checks a data directory (the
 * live one, or a backup): every account's database, message files and
 * counts. Exit 0 when all is well, 1 when something is wrong.
 */
#include "cmd/cmd.h"

#include "store/store.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Orphan files younger than this may be deliveries in progress: reported,
 * never moved. */
#define ORPHAN_MIN_AGE_S 300

/* Verifies one account; returns whether it is well. */
static bool verify_account(const char *dir, const char *name, bool fix)
{
	struct store_account *acct;
	struct error err;
	if (store_open(dir, name, &acct, &err) != 0) {
		printf("account %s: cannot open: %s\n", name, err.msg);
		return false;
	}
	struct store_verify_opts opts = {.fix = fix, .min_orphan_age = ORPHAN_MIN_AGE_S};
	struct store_verify_report rep;
	bool ok = store_verify(acct, &opts, &rep, &err) == 0;
	if (!ok) {
		printf("account %s: verification failed: %s\n", name, err.msg);
	} else {
		ok = store_verify_ok(&rep);
		printf("account %s: %s: %llu messages, %llu files, %llu missing, %llu bad sizes, "
		       "%llu orphans (%llu moved), database %s\n",
		       name, ok ? "ok" : "PROBLEMS", (unsigned long long)rep.messages,
		       (unsigned long long)rep.files, (unsigned long long)rep.missing,
		       (unsigned long long)rep.bad_size, (unsigned long long)rep.orphans,
		       (unsigned long long)rep.moved, rep.db_ok ? "ok" : "DAMAGED");
		if (rep.text.len > 0)
			fputs(rep.text.data, stdout);
		store_verify_report_free(&rep);
	}
	store_close(&acct);
	return ok;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool fix = false;
	const struct flag flags[] = {
		{"fix", FLAG_BOOL, &fix, "move orphan files aside and recompute mailbox counts"},
	};
	if (cmd_parse_flags(&cmd_verifydata, ctx, flags, 1, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(&cmd_verifydata, flags, 1);
	char *accounts;
	if (asprintf(&accounts, "%s/accounts", argv[0]) < 0)
		abort();
	DIR *d = opendir(accounts);
	if (d == NULL) {
		cmd_fail(&cmd_verifydata, "%s: %m", accounts);
		free(accounts);
		return CMD_FAIL;
	}
	bool all_ok = true;
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		all_ok &= verify_account(argv[0], e->d_name, fix);
		n++;
	}
	closedir(d);
	free(accounts);
	printf("%u accounts checked: %s\n", n, all_ok ? "all ok" : "problems found");
	return all_ok ? CMD_OK : CMD_FAIL;
}

const struct cmd cmd_verifydata = {
	.name = "verifydata",
	.args = "[-fix] DIR",
	.summary = "check a data directory (or a backup) for damage and orphan files",
	.help = "Checks every account under DIR/accounts: database integrity, that every\n"
	        "message has its file with the recorded size, files no message names\n"
	        "(orphans, e.g. from a crash during delivery), and mailbox counts.\n"
	        "With -fix, orphans older than five minutes are moved to\n"
	        "DIR/accounts/NAME/orphans/ and counts are recomputed. Exits 1 when a\n"
	        "problem remains.",
	.run = run,
};
