/*
 * route.c: which way the recipients of one domain of a queued message
 * leave: the first route whose conditions all hold (the MAIL FROM domain,
 * the recipient domain, the attempts made so far), looked for in the
 * sender's account's Routes, then its MAIL FROM domain's (domains.conf),
 * then tern.conf's, names a transport of Transports; no route: direct
 * delivery to the domain's MX hosts.
 *
 * A transport is a smarthost reached with Submissions (RFC 8314 implicit
 * TLS, port 465), Submission (RFC 6409, STARTTLS required, 587) or SMTP (25,
 * opportunistic STARTTLS), with AUTH (RFC 4954) when configured; or direct
 * delivery through a SOCKS5 proxy (RFC 1928).
 */
#include "queue/internal.h"

#include "config/config.h"

#include "core/arena.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest password line read from a file. */
#define PASSWORD_LINE_MAX 1024

/* Whether domain matches pattern: equal, or under it for ".pattern". */
static bool domain_matches(const char *pattern, const char *domain)
{
	if (pattern[0] != '.')
		return strcasecmp(pattern, domain) == 0;
	size_t pl = strlen(pattern), dl = strlen(domain);
	return dl > pl && strcasecmp(domain + dl - pl, pattern) == 0;
}

/* Whether some pattern matches domain; an empty list matches anything. */
static bool list_matches(const char *const *list, size_t n, const char *domain)
{
	if (n == 0)
		return true;
	if (domain == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (domain_matches(list[i], domain))
			return true;
	return false;
}

/* The first route of the list that matches. */
static const struct config_route *first_match(const struct config_route *routes, size_t n,
                                              const char *from_domain, const char *domain,
                                              unsigned attempts)
{
	for (size_t i = 0; i < n; i++) {
		const struct config_route *r = &routes[i];
		if (list_matches(r->from_domains, r->nfrom_domains, from_domain) &&
		    list_matches(r->to_domains, r->nto_domains, domain) &&
		    attempts >= (unsigned)r->minimum_attempts)
			return r;
	}
	return NULL;
}

const struct config_route *queue_route_find(const struct config *cfg, const char *account,
                                            const char *mail_from, const char *domain,
                                            unsigned attempts)
{
	const char *at = mail_from != NULL ? strrchr(mail_from, '@') : NULL;
	const char *from_domain = at != NULL ? at + 1 : NULL;
	const struct config_route *r = NULL;
	/* like mox: the account's routes, then those of the sender's domain,
	 * then tern.conf's */
	const struct config_account *acc = account != NULL ? config_find_account(cfg, account) : NULL;
	if (acc != NULL)
		r = first_match(acc->routes, acc->nroutes, from_domain, domain, attempts);
	const struct config_domain *d = from_domain != NULL ? config_find_domain(cfg, from_domain)
	                                : NULL;
	if (r == NULL && d != NULL)
		r = first_match(d->routes, d->nroutes, from_domain, domain, attempts);
	if (r == NULL)
		r = first_match(cfg->st.routes, cfg->st.nroutes, from_domain, domain, attempts);
	return r;
}

static const struct config_transport *find_transport(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->st.ntransports; i++)
		if (strcmp(cfg->st.transports[i].name, name) == 0)
			return &cfg->st.transports[i];
	return NULL;
}

/* The first line of file (without its line end), into a. */
static const char *read_password(const char *file, struct arena *a, struct error *e)
{
	FILE *f = fopen(file, "re");
	if (f == NULL) {
		error_errno(e, errno, "password file %s", file);
		return NULL;
	}
	char line[PASSWORD_LINE_MAX];
	bool got = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	line[got ? strcspn(line, "\r\n") : 0] = '\0';
	if (line[0] == '\0') {
		error_set(e, ERR_INVALID, "password file %s: no password on its first line", file);
		return NULL;
	}
	return arena_strdup(a, line);
}

/* Fills r for smarthost way w. */
static int smarthost_route(const struct config_transport_smtp *w, int tls, int default_port,
                           struct smtpclient_route *r, struct arena *a, struct error *e)
{
	r->host = w->host;
	r->port = w->port > 0 ? w->port : default_port;
	r->tls = tls;
	if (w->auth.username == NULL)
		return 0;
	r->auth_user = w->auth.username;
	r->auth_password = w->auth.password;
	if (r->auth_password == NULL)
		r->auth_password = read_password(w->auth.password_file, a, e);
	return r->auth_password != NULL ? 0 : -1;
}

int queue_route_apply(const struct config *cfg, const struct config_route *route,
                      struct smtpclient_route *r, struct arena *a, struct error *e)
{
	if (route == NULL || route->transport == NULL || route->transport[0] == '\0')
		return 0;
	const struct config_transport *t = find_transport(cfg, route->transport);
	if (t == NULL)
		return error_set(e, ERR_NOTFOUND, "transport %s is not configured", route->transport);
	if (t->submissions.host != NULL)
		return smarthost_route(&t->submissions, SMTPCLIENT_TLS_IMPLICIT, 465, r, a, e);
	if (t->submission.host != NULL)
		return smarthost_route(&t->submission, t->submission.no_starttls ? SMTPCLIENT_TLS_NONE
		                       : SMTPCLIENT_TLS_STARTTLS_REQUIRED, 587, r, a, e);
	if (t->smtp.host != NULL)
		return smarthost_route(&t->smtp, t->smtp.no_starttls ? SMTPCLIENT_TLS_NONE
		                       : SMTPCLIENT_TLS_OPPORTUNISTIC, 25, r, a, e);
	r->socks_proxy = t->socks.address;
	r->socks_user = t->socks.username;
	r->socks_password = t->socks.password;
	r->ehlo_name = t->socks.remote_hostname;
	return 0;
}
