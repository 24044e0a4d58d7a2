/*
 * mailbox_io.h: what `tern import` and `tern export` share: the names of the
 * formats on the command line, and the account checks.
 */
#ifndef TERN_CMD_MAILBOX_IO_H
#define TERN_CMD_MAILBOX_IO_H

#include "cmd/cmd.h"
#include "config/config.h"
#include "mailfmt/mailfmt.h"
#include "store/store.h"

/* Parses a format word: "mbox", "maildir", "zip", "tgz", "files", "auto"
 * (export accepts mbox and maildir only). Returns 0 or -1. */
int mailbox_io_kind(const char *word, bool for_export, enum mailfmt_kind *kind_r);

/* Loads the configuration and checks that account exists in it. Returns 0
 * with *cfg_r, or prints the problem and returns CMD_FAIL. */
int mailbox_io_account(const struct cmd *c, const char *config_path, const char *account,
                       struct config **cfg_r);

/* Opens the store of account (which must be configured) with the quota of
 * its configuration applied. Returns 0, or -1 with err set. */
int mailbox_io_open_store(const struct config *cfg, const char *account,
                          struct store_account **acct_r, struct error *err);

#endif
