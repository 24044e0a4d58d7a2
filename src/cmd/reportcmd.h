/*
 * reportcmd.h: what the commands on outgoing reports (tern dmarc
 * composereports/outgoing, tern tlsrpt composereports/results) share: the
 * configuration with its DATA/tern.db, and the sender of the reports.
 */
#ifndef TERN_CMD_REPORTCMD_H
#define TERN_CMD_REPORTCMD_H

#include "cmd/cmd.h"
#include "config/config.h"
#include "reports/aggregate.h"
#include "store/globaldb.h"

#include <stddef.h>

struct dns_resolver;

/* The command line of a compose command: flags[0..n) followed by the
 * resolver's flags (flags has room for n + CMD_RESOLVER_FLAGS), no
 * arguments, *now (bound to one of the flags) not negative; then the
 * resolver they describe (cmd_resolver_open). Returns CMD_OK with *res_r and
 * *rcfg_r (release with reportcmd_resolver_close), or the command's exit
 * code after printing the problem. */
int reportcmd_compose_args(const struct cmd *c, struct cmd_ctx *ctx, struct flag *flags,
                           size_t n, const long *now, int argc, char **argv,
                           struct dns_resolver **res_r, struct config **rcfg_r);
/* Releases what reportcmd_compose_args opened. */
void reportcmd_resolver_close(struct dns_resolver **res, struct config **rcfg);

/* Loads the configuration of ctx and opens its DATA/tern.db: CMD_OK, or the
 * failure printed for c and nothing left open. */
int reportcmd_open(const struct cmd *c, struct cmd_ctx *ctx, struct config **cfg_r,
                   struct globaldb **db_r);
/* Closes what reportcmd_open opened (either may be NULL). */
void reportcmd_close(struct config **cfg, struct globaldb **db);

/* The sender of reports for cfg: organization and host name Hostname, From
 * from (NULL: postmaster@Hostname, written into fromb of n bytes), DKIM-signed
 * with the DKIM.Sign selectors of the From domain as the server does
 * (RFC 7489 §7.2.1.1, RFC 8460 §5.3), unsigned when it has none. */
struct reports_sender reportcmd_sender(struct config *cfg, const char *from, char *fromb,
                                       size_t n);

#endif
