/*
 * mailbox_io.c: see mailbox_io.h.
 */
#include "cmd/mailbox_io.h"

#include <string.h>

static const struct {
	const char *word;
	enum mailfmt_kind kind;
	bool export_ok;
} kinds[] = {
	{"mbox", MAILFMT_MBOX, true},
	{"maildir", MAILFMT_MAILDIR, true},
	{"zip", MAILFMT_ZIP, false},
	{"tgz", MAILFMT_TGZ, false},
	{"files", MAILFMT_FILES, false},
	{"auto", MAILFMT_AUTO, false},
};

int mailbox_io_kind(const char *word, bool for_export, enum mailfmt_kind *kind_r)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kinds[i].word, word) != 0 || (for_export && !kinds[i].export_ok))
			continue;
		*kind_r = kinds[i].kind;
		return 0;
	}
	return -1;
}

int mailbox_io_account(const struct cmd *c, const char *config_path, const char *account,
                       struct config **cfg_r)
{
	struct error err;
	if (config_load(config_path, cfg_r, &err) != 0)
		return cmd_fail(c, "%s", err.msg);
	if (config_find_account(*cfg_r, account) != NULL)
		return 0;
	cmd_fail(c, "no account \"%s\" in %s", account, (*cfg_r)->dynamic_path);
	config_release(cfg_r);
	return CMD_FAIL;
}

int mailbox_io_open_store(const struct config *cfg, const char *account,
                          struct store_account **acct_r, struct error *err)
{
	const struct config_account *ca = config_find_account(cfg, account);
	if (ca == NULL)
		return error_set(err, ERR_NOTFOUND, "no account \"%s\"", account);
	if (store_open(cfg->st.data_dir, account, acct_r, err) != 0)
		return -1;
	store_set_quota(*acct_r, config_account_quota_bytes(ca), (uint64_t)ca->quota_messages);
	return 0;
}
