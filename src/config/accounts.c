/*
 * accounts.c: changing the accounts of domains.conf (`tern account add/rm`).
 *
 * The new domains.conf is built from the current snapshot's values, written
 * as YAML by the schema (emit.c), parsed back to check it exactly as a load
 * would, and only then put in place of the old file atomically (a crash
 * leaves the old or the new file). Comments in the old file are not kept.
 * The caller reloads the configuration afterwards. A running server does
 * this itself when asked over its control socket, so that two writers never
 * race on the file.
 */
#include "config/config.h"
#include "config/schema.h"

#include "core/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/stat.h>

/* Writes dyn as domains.conf of cfg after checking that it loads. */
static int write_dynamic(const struct config *cfg, const struct config_dynamic *dyn,
                         struct error *err)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return error_errno(err, errno, "open_memstream");
	fputs("# domains.conf: domains and accounts (see `tern config describe-dynamic`).\n"
	      "# Written by tern; comments added here are not kept by later changes.\n", f);
	schema_emit(f, &schema_dynamic, dyn);
	fclose(f);
	struct config *check = NULL;
	int r = config_parse_dynamic_mem(cfg->dynamic_path, text, len, &check, err);
	config_release(&check);
	if (r == 0) {
		struct stat st;
		mode_t mode = stat(cfg->dynamic_path, &st) == 0 ? st.st_mode & 0777 : 0640;
		r = file_write_atomic(cfg->dynamic_path, text, len, mode, err);
	}
	free(text);
	return r;
}

/* The account that receives address, or NULL. Addresses compare without
 * regard to case, as the loader's uniqueness check does. */
static const char *address_owner(const struct config *cfg, const char *address)
{
	for (size_t i = 0; i < cfg->dyn.naccounts; i++) {
		const struct config_account *a = &cfg->dyn.accounts[i];
		for (size_t j = 0; j < a->ndestinations; j++)
			if (strcasecmp(a->destinations[j].address, address) == 0)
				return a->name;
	}
	return NULL;
}

int config_account_add(const struct config *cfg, const char *name, const char *address,
                       struct error *err)
{
	if (config_find_account(cfg, name) != NULL)
		return error_set(err, ERR_INVALID, "account \"%s\" already exists", name);
	const char *at = strrchr(address, '@');
	if (at == NULL || at == address || at[1] == '\0')
		return error_set(err, ERR_INVALID, "\"%s\" is not an address (localpart@domain)",
		                 address);
	const struct config_domain *d = config_find_domain(cfg, at + 1);
	if (d == NULL)
		return error_set(err, ERR_INVALID, "domain \"%s\" is not in %s; add it to Domains first",
		                 at + 1, cfg->dynamic_path);
	const char *owner = address_owner(cfg, address);
	if (owner != NULL)
		return error_set(err, ERR_INVALID, "address %s already belongs to account \"%s\"",
		                 address, owner);
	struct config_dynamic dyn = cfg->dyn;
	size_t n = dyn.naccounts;
	struct config_account *accounts = calloc(n + 1, sizeof(*accounts));
	if (accounts == NULL)
		abort();
	if (n > 0)
		memcpy(accounts, dyn.accounts, n * sizeof(*accounts));
	struct config_destination dest = {.address = address};
	accounts[n] = (struct config_account){
		.name = name, .domain = d->name, .destinations = &dest, .ndestinations = 1,
	};
	dyn.accounts = accounts;
	dyn.naccounts = n + 1;
	int r = write_dynamic(cfg, &dyn, err);
	free(accounts);
	return r;
}

int config_account_remove(const struct config *cfg, const char *name, struct error *err)
{
	if (config_find_account(cfg, name) == NULL)
		return error_set(err, ERR_NOTFOUND, "no account \"%s\"", name);
	struct config_dynamic dyn = cfg->dyn;
	struct config_account *accounts = calloc(dyn.naccounts, sizeof(*accounts));
	if (accounts == NULL)
		abort();
	size_t kept = 0;
	for (size_t i = 0; i < dyn.naccounts; i++)
		if (strcmp(dyn.accounts[i].name, name) != 0)
			accounts[kept++] = dyn.accounts[i];
	dyn.accounts = accounts;
	dyn.naccounts = kept;
	int r = write_dynamic(cfg, &dyn, err);
	free(accounts);
	return r;
}

uint64_t config_account_quota_bytes(const struct config_account *acc)
{
	return (uint64_t)acc->quota_mb * 1000000;
}
