/*
 * dane.c: DANE for SMTP (RFC 7672): the TLSA records of an MX host and
 * their use with OpenSSL's DANE verifier.
 *
 * Only DNSSEC-secure TLSA RRsets count (§2.2). Of the records, only
 * DANE-TA(2) and DANE-EE(3) are usable for SMTP (§3.1: PKIX-TA(0) and
 * PKIX-EE(1) are not), with selectors 0/1 and matching types 0/1/2
 * (RFC 6698 §2.1.2, §2.1.3). For DANE-EE the certificate names and dates
 * are not checked (§3.1.1); for DANE-TA the reference identifiers are the
 * MX host name (the TLSA base domain) and the destination domain (§3.2.2).
 */
#include "smtpclient/internal.h"

#include "dns/dns.h"

#include <openssl/ssl.h>
#include <strings.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool record_usable(const struct dns_tlsa *t)
{
	return (t->usage == 2 || t->usage == 3) && t->selector <= 1 && t->mtype <= 2 &&
	       t->len > 0;
}

void dane_host_free(struct dane_host *dh)
{
	for (size_t i = 0; i < dh->n; i++)
		free(dh->tlsa[i].data);
	dh->n = 0;
}

enum dane_lookup_result dane_lookup(struct dns_resolver *res, const char *host,
	struct dane_host *dh, char *why, size_t whysize)
{
	memset(dh, 0, sizeof(*dh));
	snprintf(dh->base, sizeof(dh->base), "%s", host);
	struct dns_result *r = NULL;
	enum dns_status st = dns_lookup_tlsa(res, 25, "tcp", host, &r);
	enum dane_lookup_result out = DANE_NONE;
	switch (st) {
	case DNS_OK:
		if (r->security != DNS_SEC_SECURE)
			break;   /* §2.2: insecure TLSA records are ignored */
		dh->secure_rrset = true;
		for (size_t i = 0; i < r->nrrs && dh->n < DANE_TLSA_MAX; i++) {
			const struct dns_tlsa *t = &r->rrs[i].u.tlsa;
			if (r->rrs[i].type != DNS_TYPE_TLSA || !record_usable(t))
				continue;
			struct dane_tlsa *d = &dh->tlsa[dh->n++];
			d->usage = t->usage;
			d->selector = t->selector;
			d->mtype = t->mtype;
			d->len = t->len;
			d->data = malloc(t->len);
			if (d->data == NULL)
				abort();
			memcpy(d->data, t->data, t->len);
		}
		out = DANE_FOUND;
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
	case DNS_INVALID:
		break;
	case DNS_TEMPFAIL:
	case DNS_BOGUS:
		/* §2.2: a failed or bogus TLSA lookup of a host under a secure MX
		 * RRset makes the host unusable: the records may exist. */
		snprintf(why, whysize, "TLSA _25._tcp.%s: %s%s%s", host, dns_status_name(st),
			r->why_bogus || r->error ? ": " : "",
			r->why_bogus ? r->why_bogus : r->error ? r->error : "");
		out = DANE_LOOKUP_FAILED;
		break;
	}
	dns_result_free(&r);
	return out;
}

int dane_ssl_setup(struct ssl_st *ssl, const char *host, const char *domain,
	const struct dane_host *dh)
{
	/* the TLSA base domain is the MX host name: it becomes the SNI name and
	 * the first reference identifier (§3.2.2) */
	if (SSL_dane_enable(ssl, host) <= 0)
		return -1;
	if (domain != NULL && strcasecmp(domain, host) != 0 && SSL_add1_host(ssl, domain) != 1)
		return -1;
	/* §3.1.1: DANE-EE(3) binds the key; names and expiry are not checked */
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	int added = 0;
	for (size_t i = 0; i < dh->n; i++) {
		const struct dane_tlsa *t = &dh->tlsa[i];
		if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype, t->data, t->len) > 0)
			added++;
	}
	return added > 0 ? 0 : -1;
}
