/*
 * quickstart_records.c: what `tern quickstart` gives the admin to publish or
 * install: the DNS records of the domain as a zone-file fragment (MX, the
 * host's addresses, SPF, DKIM, DMARC, TLSRPT, MTA-STS, autoconfig and SRV,
 * CAA), the MTA-STS policy and the systemd unit.
 */
#include "cmd/quickstart.h"
#include "cmd/zonefile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The A and AAAA records of the host name and its SPF record for the EHLO
 * identity (RFC 7208 §2.3), commented out when the host name is in
 * another zone. */
static void host_records(FILE *f, const struct quickstart *q, bool in_zone)
{
	char owner[DOMAIN_MAX + 4];
	zonefile_owner(q->hostname, q->domain, owner, sizeof(owner));
	if (in_zone)
		fprintf(f, "; The mail server's name and addresses.\n");
	else
		fprintf(f, "; The mail server's name is in another zone, which needs:\n");
	for (size_t i = 0; i < q->nips; i++) {
		if (!in_zone)
			fputs(";   ", f);
		zonefile_record(f, owner, strchr(q->ips[i], ':') != NULL ? "AAAA" : "A", q->ips[i]);
	}
	if (strcmp(q->hostname, q->domain) == 0)
		return;  /* the domain's own SPF record below covers it */
	fprintf(f, "; SPF of the host name itself, checked against the EHLO name (RFC 7208 §2.3).\n");
	if (!in_zone)
		fputs(";   ", f);
	zonefile_txt(f, owner, "v=spf1 a -all");
}

/* SPF (RFC 7208 §4.6.1, §5.6, §5.4): our IPs, the MX hosts, nothing else. */
static void spf_record(FILE *f, const struct quickstart *q)
{
	char spf[QS_IPS_MAX * (INET6_ADDRSTRLEN + 6) + 32] = "v=spf1";
	for (size_t i = 0; i < q->nips; i++)
		snprintf(spf + strlen(spf), sizeof(spf) - strlen(spf), " %s:%s",
		         strchr(q->ips[i], ':') != NULL ? "ip6" : "ip4", q->ips[i]);
	snprintf(spf + strlen(spf), sizeof(spf) - strlen(spf), " mx -all");
	fprintf(f, "\n; SPF (RFC 7208): the hosts that send the domain's mail; -all: no others.\n");
	zonefile_txt(f, "@", spf);
}

/* A CNAME to the host name, unless owner is the host name itself (it has
 * its own addresses then). */
static void cname_to_host(FILE *f, const struct quickstart *q, const char *owner,
                          const char *host)
{
	char name[DOMAIN_MAX + 64];
	snprintf(name, sizeof(name), "%s.%s", owner, q->domain);
	if (strcmp(name, q->hostname) != 0)
		zonefile_record(f, owner, "CNAME", host);
}

static void policy_records(FILE *f, const struct quickstart *q, const char *host)
{
	char text[512];
	fprintf(f, "\n; DKIM (RFC 6376, RFC 8463): the keys that sign outgoing mail, Ed25519 and "
	        "RSA.\n");
	snprintf(text, sizeof(text), "%s._domainkey", q->sel_ed25519);
	zonefile_txt(f, text, q->txt_ed25519);
	snprintf(text, sizeof(text), "%s._domainkey", q->sel_rsa);
	zonefile_txt(f, text, q->txt_rsa);
	fprintf(f, "\n; DMARC (RFC 7489): reject mail from the domain that fails both SPF and "
	        "DKIM;\n; aggregate reports go to dmarc-reports@%s.\n", q->domain);
	snprintf(text, sizeof(text), "v=DMARC1;p=reject;rua=mailto:dmarc-reports@%s", q->domain);
	zonefile_txt(f, "_dmarc", text);
	fprintf(f, "\n; SMTP TLS reporting (RFC 8460): reports on TLS with the domain's mail "
	        "server.\n");
	snprintf(text, sizeof(text), "v=TLSRPTv1; rua=mailto:tls-reports@%s", q->domain);
	zonefile_txt(f, "_smtp._tls", text);
	fprintf(f, "\n; MTA-STS (RFC 8461): senders fetch the policy from\n"
	        "; https://mta-sts.%s/.well-known/mta-sts.txt; change id= with the policy.\n",
	        q->domain);
	snprintf(text, sizeof(text), "v=STSv1; id=%s", q->stamp);
	zonefile_txt(f, "_mta-sts", text);
	cname_to_host(f, q, "mta-sts", host);
}

/* SRV records (RFC 2782) for mail programs (RFC 6186 §3.1, §3.2; RFC 8314
 * §5.1); a target of "." says a service is not offered (RFC 6186 §4). */
static void client_records(FILE *f, const struct quickstart *q, const char *host)
{
	char data[DOMAIN_MAX + 32];
	fprintf(f, "\n; Mail program configuration: autoconfig (Thunderbird), autodiscover "
	        "(Outlook),\n; SRV records (RFC 6186, RFC 8314); no POP3.\n");
	cname_to_host(f, q, "autoconfig", host);
	snprintf(data, sizeof(data), "0 1 443 %s", host);
	zonefile_record(f, "_autodiscover._tcp", "SRV", data);
	const char *const names[QS_NSERVICES] = {NULL, "_submissions._tcp", "_submission._tcp",
	                                      "_imaps._tcp", "_imap._tcp"};
	for (size_t i = 0; i < QS_NSERVICES; i++) {
		if (names[i] == NULL)
			continue;
		snprintf(data, sizeof(data), "0 1 %d %s", quickstart_services[i].port, host);
		zonefile_record(f, names[i], "SRV", data);
	}
	zonefile_record(f, "_pop3s._tcp", "SRV", "0 0 0 .");
	zonefile_record(f, "_pop3._tcp", "SRV", "0 0 0 .");
}

char *quickstart_zone_text(const struct quickstart *q)
{
	char *text = NULL, host[DOMAIN_MAX + 4];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		abort();
	snprintf(host, sizeof(host), "%s.", q->hostname);
	bool in_zone = zonefile_in_zone(q->hostname, q->domain);
	fprintf(f, "; DNS records for %s, written by tern quickstart.\n$ORIGIN %s.\n\n",
	        q->domain, q->domain);
	fprintf(f, "; The domain's mail goes to this host (RFC 5321 §5.1).\n");
	char mx[DOMAIN_MAX + 16];
	snprintf(mx, sizeof(mx), "10 %s", host);
	zonefile_record(f, "@", "MX", mx);
	host_records(f, q, in_zone);
	spf_record(f, q);
	policy_records(f, q, host);
	client_records(f, q, host);
	fprintf(f, "\n; CAA (RFC 8659): only Let's Encrypt may issue certificates for the domain "
	        "and\n; the names below it; add a line per certificate authority you use.\n");
	zonefile_record(f, "@", "CAA", "0 issue \"letsencrypt.org\"");
	if (fclose(f) != 0)
		abort();
	return text;
}

/* The MTA-STS policy (RFC 8461 §3.2), in testing mode: failures are
 * reported (TLSRPT) but mail is still delivered. */
char *quickstart_mta_sts_policy(const struct quickstart *q)
{
	char *text = NULL;
	if (asprintf(&text, "version: STSv1\nmode: testing\nmx: %s\nmax_age: 86400\n",
	             q->hostname) < 0)
		abort();
	return text;
}

/* The systemd unit: tern serve as root (it binds ports below 1024, then
 * drops to User), allowed to write only its config and data directories. */
char *quickstart_systemd_unit(const struct quickstart *q, const char *exe)
{
	char *text = NULL;
	if (asprintf(&text,
	             "# tern.service: install with\n"
	             "#   cp %s/tern.service /etc/systemd/system/\n"
	             "#   systemctl daemon-reload && systemctl enable --now tern\n"
	             "[Unit]\n"
	             "Description=tern mail server\n"
	             "After=network-online.target\n"
	             "Wants=network-online.target\n"
	             "\n"
	             "[Service]\n"
	             "Type=simple\n"
	             "WorkingDirectory=%s\n"
	             "ExecStart=%s -config %s/tern.conf serve\n"
	             "ExecReload=/bin/kill -HUP $MAINPID\n"
	             "Restart=on-failure\n"
	             "RestartSec=5s\n"
	             "LimitNOFILE=65536\n"
	             "ProtectSystem=strict\n"
	             "ReadWritePaths=%s %s/data\n"
	             "PrivateTmp=yes\n"
	             "PrivateDevices=yes\n"
	             "ProtectKernelTunables=yes\n"
	             "ProtectKernelModules=yes\n"
	             "ProtectControlGroups=yes\n"
	             "RestrictSUIDSGID=yes\n"
	             "NoNewPrivileges=yes\n"
	             "\n"
	             "[Install]\n"
	             "WantedBy=multi-user.target\n",
	             q->confdir, q->dir, exe, q->confdir, q->confdir, q->dir) < 0)
		abort();
	return text;
}
