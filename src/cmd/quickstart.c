/*
 * quickstart.c: `tern quickstart EMAIL [IP...]`, a configuration for running
 * tern as the mail server of EMAIL's domain, in the shape of mox quickstart.
 *
 * Writes into DIR/config (refusing to replace an existing configuration):
 *   tern.conf        host name, User, one listener "public" on the IPs with
 *                    SMTP 25, Submissions 465, Submission 587, IMAP 143, IMAPS 993
 *   domains.conf     the domain with two DKIM keys that both sign, and one
 *                    account receiving EMAIL, postmaster@, dmarc-reports@
 *                    (Reports: dmarc) and tls-reports@ (Reports: tlsrpt)
 *   tls/HOST.crt|key a self-signed certificate for the host name, so that the
 *                    server starts at once; a real one goes in its place
 *   dkim/           the DKIM keys: selector YYYYMMDDe (Ed25519, RFC 8463) and
 *                    YYYYMMDDr (RSA 2048), dated so that keys made at a later
 *                    rotation get new selectors
 *   DOMAIN.zone      the DNS records to publish (also printed)
 *   mta-sts.txt      the MTA-STS policy to serve (RFC 8461 §3.2)
 *   tern.service     a systemd unit running `tern serve` with this config
 * and sets a random password for the account, printed once. Data goes to
 * DIR/data (DataDir ../data, as for every tern.conf). Running as root, the
 * files the server must read or write after it drops privileges are handed
 * to User. The records, policy and unit are composed in quickstart_records.c.
 */
#include "cmd/cmd.h"
#include "cmd/quickstart.h"
#include "cmd/serve.h"
#include "cmd/zonefile.h"

#include "core/buf.h"
#include "core/arena.h"
#include "core/file.h"
#include "core/privdrop.h"
#include "core/tls.h"
#include "dkim/dkim.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <pwd.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Characters of the generated password, from an alphabet without look-alikes. */
#define PASSWORD_LEN 18
/* The account name rules of domains.conf (schema_dynamic.c). */
#define ACCOUNT_NAME_MAX 64

_Static_assert(PASSWORD_LEN < sizeof(((struct quickstart *)0)->password), "password size");

/* RFC 6186 §3, RFC 8314 §5.1: implicit TLS first. */
const struct newconfig_service quickstart_services[QS_NSERVICES] = {
	{"SMTP", 25},
	{"Submissions", 465},
	{"Submission", 587},
	{"IMAPS", 993},
	{"IMAP", 143},
};

/* ---- checking the input ---- */

/* atext of RFC 5322 §3.2.3. */
static bool is_atext(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* A dot-atom local part (RFC 5322 §3.4.1): what every mail program can type. */
static bool localpart_valid(const char *s, size_t n)
{
	if (n == 0 || n > LOCALPART_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(is_atext((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] != '.')))
			return false;
	return true;
}

/* A host name of at least two labels (RFC 1123 §2.1): letters, digits and
 * '-' not at a label's ends, labels of 1..63, the last not all digits. */
static bool hostname_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	bool digits = true, dot = false;
	if (n == 0 || n > DOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			if (i == n)
				break;
			dot = true;
			label = 0;
			digits = true;
			continue;
		}
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || (c == '-' && label > 0)))
			return false;
		digits = digits && isdigit(c);
		label++;
	}
	return dot && !digits;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int parse_email(struct quickstart *q, const char *email)
{
	const struct cmd *c = &cmd_quickstart;
	const char *at = strrchr(email, '@');
	if (at == NULL)
		return cmd_fail(c, "\"%s\" is not an email address (localpart@domain)", email);
	size_t n = (size_t)(at - email);
	if (!localpart_valid(email, n))
		return cmd_fail(c, "\"%s\": the part before '@' must be 1 to %d letters, digits, dots "
		                "(not at either end, not two in a row) and !#$%%&'*+-/=?^_`{|}~",
		                email, LOCALPART_MAX);
	if (!hostname_valid(at + 1))
		return cmd_fail(c, "\"%s\": \"%s\" is not a domain name (labels of letters, digits "
		                "and '-', separated by dots, like example.com; international names "
		                "as xn--)", email, at + 1);
	memcpy(q->localpart, email, n);
	q->localpart[n] = '\0';
	snprintf(q->domain, sizeof(q->domain), "%s", at + 1);
	lower(q->domain);
	snprintf(q->email, sizeof(q->email), "%s@%s", q->localpart, q->domain);
	return CMD_OK;
}

/* Letters, digits, '.', '-' and '_'; no leading '.' or '-', no ".." (as
 * Accounts of domains.conf wants: the name becomes a directory name). */
static bool account_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ACCOUNT_NAME_MAX || s[0] == '.' || s[0] == '-' || strstr(s, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(".-_", s[i]) == NULL)
			return false;
	return true;
}

/* A portable user name (POSIX.1-2017 §3.437), at most 32 characters. */
static bool user_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
			return false;
	return true;
}

/* The machine's fully qualified name: the canonical name of gethostname(). */
static int detect_hostname(struct quickstart *q)
{
	char name[256];
	if (gethostname(name, sizeof(name)) != 0)
		return cmd_fail(&cmd_quickstart, "gethostname: %s", strerror(errno));
	name[sizeof(name) - 1] = '\0';
	snprintf(q->hostname, sizeof(q->hostname), "%s", name);
	struct addrinfo hints = {.ai_flags = AI_CANONNAME, .ai_family = AF_UNSPEC};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(name, NULL, &hints, &ai) == 0 && ai != NULL && ai->ai_canonname != NULL)
		snprintf(q->hostname, sizeof(q->hostname), "%s", ai->ai_canonname);
	if (ai != NULL)
		freeaddrinfo(ai);
	if (strchr(q->hostname, '.') == NULL)
		return cmd_fail(&cmd_quickstart, "the name of this machine, \"%s\", is not fully "
		                "qualified (it has no dot): give the mail server's name with "
		                "-hostname, e.g. -hostname mail.%s", q->hostname, q->domain);
	return CMD_OK;
}

static int check_hostname(struct quickstart *q)
{
	size_t n = strlen(q->hostname);
	if (n > 0 && q->hostname[n - 1] == '.')
		q->hostname[n - 1] = '\0';
	lower(q->hostname);
	if (strchr(q->hostname, '.') == NULL)
		return cmd_fail(&cmd_quickstart, "host name \"%s\" is not fully qualified (it has no "
		                "dot): give the whole name, e.g. mail.%s", q->hostname, q->domain);
	if (!hostname_valid(q->hostname))
		return cmd_fail(&cmd_quickstart, "\"%s\" is not a host name (labels of letters, digits "
		                "and '-', separated by dots)", q->hostname);
	return CMD_OK;
}

/* ---- the IPs ---- */

enum ip_kind { IP_PUBLIC, IP_PRIVATE, IP_LOOPBACK, IP_LINKLOCAL, IP_UNSPECIFIED };

static const char *const ip_kind_names[] = {
	[IP_PUBLIC] = "public", [IP_PRIVATE] = "private", [IP_LOOPBACK] = "loopback",
	[IP_LINKLOCAL] = "link-local", [IP_UNSPECIFIED] = "unspecified",
};

/* Private: RFC 1918 and shared address space (RFC 6598, carrier NAT) for
 * IPv4, unique local addresses (RFC 4193) for IPv6. */
static enum ip_kind ipv4_kind(const unsigned char *a)
{
	if (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0)
		return IP_UNSPECIFIED;
	if (a[0] == 127)
		return IP_LOOPBACK;
	if (a[0] == 169 && a[1] == 254)
		return IP_LINKLOCAL;
	if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
	    (a[0] == 100 && (a[1] & 0xc0) == 64))
		return IP_PRIVATE;
	return IP_PUBLIC;
}

static enum ip_kind ipv6_kind(const unsigned char *a)
{
	static const unsigned char zero[16];
	if (memcmp(a, zero, 15) == 0)
		return a[15] == 0 ? IP_UNSPECIFIED : a[15] == 1 ? IP_LOOPBACK : IP_PUBLIC;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return IP_LINKLOCAL;
	if ((a[0] & 0xfe) == 0xfc)
		return IP_PRIVATE;
	return IP_PUBLIC;
}

/* Parses ip into its canonical text in out (INET6_ADDRSTRLEN); returns its
 * kind, or -1 when it is not an address. */
static int ip_parse(const char *ip, char *out)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, ip, a) == 1) {
		inet_ntop(AF_INET, a, out, INET6_ADDRSTRLEN);
		return (int)ipv4_kind(a);
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
		return (int)ipv6_kind(a);
	}
	return -1;
}

static bool have_ip(const struct quickstart *q, const char *ip)
{
	for (size_t i = 0; i < q->nips; i++)
		if (strcmp(q->ips[i], ip) == 0)
			return true;
	return false;
}

/* The IPs given as arguments: anything but an unspecified address, with a
 * warning for those other servers cannot reach. */
static int given_ips(struct quickstart *q, int argc, char **argv)
{
	const struct cmd *c = &cmd_quickstart;
	if (argc > QS_IPS_MAX)
		return cmd_fail(c, "%d IPs given, at most %d", argc, QS_IPS_MAX);
	for (int i = 0; i < argc; i++) {
		char ip[INET6_ADDRSTRLEN];
		int kind = ip_parse(argv[i], ip);
		if (kind < 0)
			return cmd_fail(c, "\"%s\" is not an IP address", argv[i]);
		if (kind == IP_UNSPECIFIED)
			return cmd_fail(c, "%s is no address of this machine: give the public IPs, "
			                "they are published in DNS too", ip);
		if (have_ip(q, ip))
			return cmd_fail(c, "IP %s given twice", ip);
		if (kind != IP_PUBLIC)
			fprintf(stderr, "tern quickstart: warning: %s is a %s address: mail servers on "
			        "the internet cannot reach it, and the DNS records below publish it\n",
			        ip, ip_kind_names[kind]);
		snprintf(q->ips[q->nips++], INET6_ADDRSTRLEN, "%s", ip);
	}
	printf("Using the IPs given:");
	for (size_t i = 0; i < q->nips; i++)
		printf(" %s", q->ips[i]);
	printf("\n");
	return CMD_OK;
}

/* The public addresses of the machine's interfaces that are up; a machine
 * with only private ones is refused: its public address (behind NAT) cannot
 * be seen from here. */
static int detect_ips(struct quickstart *q)
{
	const struct cmd *c = &cmd_quickstart;
	struct ifaddrs *ifs;
	if (getifaddrs(&ifs) != 0)
		return cmd_fail(c, "listing the network interfaces: %s", strerror(errno));
	char skipped[512] = "";
	for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP))
			continue;
		int family = i->ifa_addr->sa_family;
		if (family != AF_INET && family != AF_INET6)
			continue;
		const void *a = family == AF_INET
			? (const void *)&((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
		char ip[INET6_ADDRSTRLEN];
		inet_ntop(family, a, ip, sizeof(ip));
		enum ip_kind kind = family == AF_INET ? ipv4_kind(a) : ipv6_kind(a);
		if (kind == IP_PUBLIC && !have_ip(q, ip) && q->nips < QS_IPS_MAX)
			snprintf(q->ips[q->nips++], INET6_ADDRSTRLEN, "%s", ip);
		else if (kind == IP_PRIVATE && strlen(skipped) + strlen(ip) + 3 < sizeof(skipped))
			snprintf(skipped + strlen(skipped), sizeof(skipped) - strlen(skipped), "%s%s",
			         skipped[0] != '\0' ? ", " : "", ip);
	}
	freeifaddrs(ifs);
	if (q->nips == 0)
		return cmd_fail(c, "this machine has no public IP address%s%s%s; if it is reached "
		                "through NAT or a forwarded port, give the IPs to listen on as "
		                "arguments (tern quickstart EMAIL IP...) and publish the public "
		                "address in DNS instead of the one printed",
		                skipped[0] != '\0' ? " (private: " : "", skipped,
		                skipped[0] != '\0' ? ")" : "");
	printf("Using the public IPs of this machine:");
	for (size_t i = 0; i < q->nips; i++)
		printf(" %s", q->ips[i]);
	printf("%s%s%s\n", skipped[0] != '\0' ? " (not the private " : "", skipped,
	       skipped[0] != '\0' ? ")" : "");
	return CMD_OK;
}

/* ---- the directory ---- */

static int prepare_dir(struct quickstart *q, const char *dir)
{
	const struct cmd *c = &cmd_quickstart;
	struct error err;
	char path[2 * PATH_MAX];
	if (file_mkdir_all(dir, 0755, &err) != 0)
		return cmd_fail(c, "%s", err.msg);
	if (realpath(dir, q->dir) == NULL)
		return cmd_fail(c, "%s: %s", dir, strerror(errno));
	if (strlen(q->dir) > PATH_MAX - 128)
		return cmd_fail(c, "directory name too long: %s", q->dir);
	snprintf(q->confdir, sizeof(q->confdir), "%s/config", q->dir);
	const char *const files[] = {"tern.conf", "domains.conf"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", q->confdir, files[i]);
		if (file_exists(path))
			return cmd_fail(c, "%s exists already: not replacing a configuration (choose "
			                "another directory with -dir, or remove the old one first)", path);
	}
	return CMD_OK;
}

/* The dates in names: the DKIM selectors and the MTA-STS policy id. */
static void set_dates(struct quickstart *q)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(q->date, sizeof(q->date), "%Y%m%d", &tm);
	strftime(q->stamp, sizeof(q->stamp), "%Y%m%dT%H%M%S", &tm);
	snprintf(q->sel_ed25519, sizeof(q->sel_ed25519), "%se", q->date);
	snprintf(q->sel_rsa, sizeof(q->sel_rsa), "%sr", q->date);
	snprintf(q->dkim_ed25519, sizeof(q->dkim_ed25519), "dkim/%s._domainkey.%s.ed25519.pem",
	         q->sel_ed25519, q->domain);
	snprintf(q->dkim_rsa, sizeof(q->dkim_rsa), "dkim/%s._domainkey.%s.rsa2048.pem", q->sel_rsa,
	         q->domain);
}

/* ---- writing the files ---- */

static int write_file(const struct quickstart *q, const char *rel, const void *data, size_t n,
                      mode_t mode, struct error *err)
{
	char path[2 * PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", q->confdir, rel);
	return file_write_atomic(path, data, n, mode, err);
}

/* Makes a DKIM key (ed25519, or RSA 2048 bits), writes it (mode 0600) and
 * keeps its TXT record. */
static int write_dkim_key(const struct quickstart *q, bool ed25519, const char *rel,
                          char **txt_r, struct error *err)
{
	struct buf pem;
	buf_init(&pem, BUF_UNBOUNDED);  /* our own key */
	int r = ed25519 ? dkim_generate_ed25519(&pem, err) : dkim_generate_rsa(2048, &pem, err);
	struct dkim_private_key *key = NULL;
	if (r == 0)
		r = dkim_private_key_parse(pem.data, pem.len, &key, err);
	if (r == 0)
		r = write_file(q, rel, pem.data, pem.len, 0600, err);
	if (r == 0) {
		struct arena *a = arena_new(4096, ARENA_PLAIN);
		*txt_r = strdup(dkim_txt_record(a, key));
		arena_free(&a);
		if (*txt_r == NULL)
			abort();
	}
	dkim_private_key_free(&key);
	buf_free_secret(&pem);
	return r < 0 ? -1 : 0;
}

/* One address of the account and the reports it receives. */
struct destination {
	char address[LOCALPART_MAX + DOMAIN_MAX + 2];
	const char *reports;   /* "dmarc", "tlsrpt" or NULL */
};

/* EMAIL, then postmaster@ (RFC 5321 §4.5.1), dmarc-reports@ and
 * tls-reports@, each once. Returns the count. */
static size_t destinations(const struct quickstart *q, struct destination out[4])
{
	const char *const locals[] = {NULL, "postmaster", "dmarc-reports", "tls-reports"};
	const char *const reports[] = {NULL, NULL, "dmarc", "tlsrpt"};
	size_t n = 0;
	for (size_t i = 0; i < 4; i++) {
		char addr[sizeof(out[0].address)];
		snprintf(addr, sizeof(addr), "%s@%s", locals[i] != NULL ? locals[i] : q->localpart,
		         q->domain);
		size_t j = 0;
		while (j < n && strcasecmp(out[j].address, addr) != 0)
			j++;
		if (j == n)
			snprintf(out[n++].address, sizeof(addr), "%s", addr);
		if (reports[i] != NULL)
			out[j].reports = reports[i];
	}
	return n;
}

static char *domains_conf_text(const struct quickstart *q)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		abort();
	fprintf(f, "# domains.conf: domains and accounts (see `tern config describe-dynamic`).\n"
	        "# Written by tern quickstart for %s.\n"
	        "Domains:\n  %s:\n    DKIM:\n      Selectors:\n"
	        "        %s:\n          PrivateKeyFile: %s\n"
	        "        %s:\n          PrivateKeyFile: %s\n"
	        "      Sign:\n        - %s\n        - %s\n"
	        "Accounts:\n  %s:\n    Domain: %s\n    Destinations:\n",
	        q->email, q->domain, q->sel_ed25519, q->dkim_ed25519, q->sel_rsa, q->dkim_rsa,
	        q->sel_ed25519, q->sel_rsa, q->account, q->domain);
	struct destination d[4] = {0};
	size_t n = destinations(q, d);
	for (size_t i = 0; i < n; i++) {
		/* double quotes: a local part may start with a character YAML treats specially */
		if (d[i].reports == NULL)
			fprintf(f, "      \"%s\": {}\n", d[i].address);
		else
			fprintf(f, "      \"%s\":\n        Reports: %s\n", d[i].address, d[i].reports);
	}
	if (fclose(f) != 0)
		abort();
	return text;
}

static int write_configs(const struct quickstart *q, struct error *err)
{
	char cert[DOMAIN_MAX + 32], key[DOMAIN_MAX + 32], path[2 * PATH_MAX];
	snprintf(cert, sizeof(cert), "tls/%s.crt", q->hostname);
	snprintf(key, sizeof(key), "tls/%s.key", q->hostname);
	const char *ips[QS_IPS_MAX];
	for (size_t i = 0; i < q->nips; i++)
		ips[i] = q->ips[i];
	const struct newconfig nc = {
		.comment = "# tern.conf: host, listeners, TLS (see `tern config describe-static`).\n"
		           "# Written by tern quickstart.\n",
		.hostname = q->hostname, .user = q->user, .listener = "public",
		.ips = ips, .nips = q->nips, .cert_file = cert, .key_file = key,
		.services = quickstart_services, .nservices = QS_NSERVICES,
	};
	char *dyn = domains_conf_text(q), *st = newconfig_static_text(&nc);
	snprintf(path, sizeof(path), "%s/domains.conf", q->confdir);
	int r = newconfig_write(path, dyn, err);
	snprintf(path, sizeof(path), "%s/tern.conf", q->confdir);
	if (r == 0)
		r = newconfig_write(path, st, err);
	free(dyn);
	free(st);
	return r;
}

static int write_certificate(const struct quickstart *q, struct error *err)
{
	char cert[2 * PATH_MAX], key[2 * PATH_MAX];
	snprintf(cert, sizeof(cert), "%s/tls/%s.crt", q->confdir, q->hostname);
	snprintf(key, sizeof(key), "%s/tls/%s.key", q->confdir, q->hostname);
	const char *const names[] = {q->hostname};
	return tls_selfsigned_write(names, 1, cert, key, err);
}

/* A password of PASSWORD_LEN characters, each uniformly from the alphabet
 * (bytes at or past the largest multiple of its size are drawn again). */
static void make_password(char *out)
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	const unsigned size = sizeof(alphabet) - 1, limit = 256 - 256 % size;
	size_t n = 0;
	while (n < PASSWORD_LEN) {
		unsigned char b[32];
		if (RAND_bytes(b, sizeof(b)) != 1)
			abort();
		for (size_t i = 0; i < sizeof(b) && n < PASSWORD_LEN; i++)
			if (b[i] < limit)
				out[n++] = alphabet[b[i] % size];
	}
	out[n] = '\0';
}

/* Running as root: what the server reads or writes after dropping to User
 * becomes User's (the DKIM keys, signed with per message) or readable by
 * User's group (tern.conf and the certificate directory, read again on
 * reload). serve hands domains.conf and its directory over itself. */
static int hand_over(const struct quickstart *q, uid_t uid, gid_t gid, struct error *err)
{
	const char *const owned[] = {"dkim", q->dkim_ed25519, q->dkim_rsa};
	const char *const grouped[] = {".", "tern.conf", "domains.conf", "tls"};
	char path[2 * PATH_MAX];
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", q->confdir, owned[i]);
		if (chown(path, uid, gid) != 0)
			return error_errno(err, errno, "chown %s", path);
	}
	for (size_t i = 0; i < sizeof(grouped) / sizeof(grouped[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", q->confdir, grouped[i]);
		if (chown(path, 0, gid) != 0)
			return error_errno(err, errno, "chown %s", path);
	}
	return 0;
}

/* Writes everything but the password; *zone_r gets the zone text. */
static int write_all(struct quickstart *q, const char *exe, char **zone_r, struct error *err)
{
	char path[2 * PATH_MAX];
	snprintf(path, sizeof(path), "%s/dkim", q->confdir);
	if (file_mkdir_all(path, 0700, err) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tls", q->confdir);
	if (file_mkdir_all(path, 0750, err) != 0 || write_certificate(q, err) != 0 ||
	    write_dkim_key(q, true, q->dkim_ed25519, &q->txt_ed25519, err) != 0 ||
	    write_dkim_key(q, false, q->dkim_rsa, &q->txt_rsa, err) != 0 ||
	    write_configs(q, err) != 0)
		return -1;
	char zonename[DOMAIN_MAX + 8];
	snprintf(zonename, sizeof(zonename), "%s.zone", q->domain);
	*zone_r = quickstart_zone_text(q);
	char *policy = quickstart_mta_sts_policy(q), *unit = quickstart_systemd_unit(q, exe);
	int r = write_file(q, zonename, *zone_r, strlen(*zone_r), 0644, err);
	if (r == 0)
		r = write_file(q, "mta-sts.txt", policy, strlen(policy), 0644, err);
	if (r == 0)
		r = write_file(q, "tern.service", unit, strlen(unit), 0644, err);
	free(policy);
	free(unit);
	return r;
}

/* Loads what was written, as serve will, and sets the account's password. */
static int check_and_set_password(struct quickstart *q, struct error *err)
{
	char path[2 * PATH_MAX];
	snprintf(path, sizeof(path), "%s/tern.conf", q->confdir);
	struct config *cfg;
	if (config_load(path, &cfg, err) != 0)
		return error_prefix(err, "the written configuration does not load");
	make_password(q->password);
	int r = account_password_store(cfg, q->account, q->password, strlen(q->password), err);
	privdrop_fs_as(0, 0);  /* root again for files, if it was root */
	config_release(&cfg);
	return r;
}

/* ---- the output ---- */

static void print_summary(const struct quickstart *q)
{
	char cert[DOMAIN_MAX + 32], zone[DOMAIN_MAX + 8];
	snprintf(cert, sizeof(cert), "tls/%s.crt, .key", q->hostname);
	snprintf(zone, sizeof(zone), "%s.zone", q->domain);
	printf("\nWrote the configuration for %s in %s:\n"
	       "  %-24s host %s, account %s, data in %s/data\n"
	       "  %-24s a self-signed certificate (see TLS below)\n"
	       "  %-24s DKIM keys: selectors %s (Ed25519), %s (RSA 2048)\n"
	       "  %-24s the DNS records printed below\n"
	       "  %-24s the MTA-STS policy (see below)\n"
	       "  %-24s a systemd unit\n",
	       q->domain, q->confdir, "tern.conf, domains.conf", q->hostname, q->account, q->dir,
	       cert, "dkim/", q->sel_ed25519, q->sel_rsa, zone, "mta-sts.txt", "tern.service");
	struct destination d[4] = {0};
	size_t n = destinations(q, d);
	printf("\nAccount %s receives the mail to:\n", q->account);
	for (size_t i = 0; i < n; i++)
		printf("  %s%s\n", d[i].address, d[i].reports == NULL ? ""
		       : strcmp(d[i].reports, "dmarc") == 0 ? " (DMARC aggregate reports)"
		       : " (SMTP TLS reports)");
	printf("Its password, shown only now:\n\n\t%s\n\n"
	       "Log in as %s (or %s) with it. Change it with\n"
	       "  tern -config %s/tern.conf setaccountpassword %s\n",
	       q->password, q->email, q->account, q->confdir, q->account);
}

static void print_dns(const struct quickstart *q, const char *zone)
{
	printf("\nDNS: add these records to the zone of %s (they are in\n"
	       "%s/%s.zone too). Until MX, SPF, DKIM and DMARC are published,\n"
	       "other servers may refuse mail from %s or file it as junk.\n\n%s",
	       q->domain, q->confdir, q->domain, q->domain, zone);
	printf("\nReverse DNS: ask the provider of each IP to set its PTR record to the host\n"
	       "name; many receivers refuse mail from an IP without a matching name:\n");
	for (size_t i = 0; i < q->nips; i++) {
		char rev[ZONEFILE_REVERSE_MAX];
		if (zonefile_reverse_name(q->ips[i], rev, sizeof(rev)) == 0)
			printf("  %s PTR %s.\n", rev, q->hostname);
	}
}

static void print_next_steps(const struct quickstart *q, const char *exe)
{
	printf("\nTLS: the certificate in %s/tls/ is self-signed, so that\n"
	       "tern can start now. Mail programs warn about it, and MTA-STS needs a real one.\n"
	       "tern does not get certificates by itself yet: get one for %s\n"
	       "(e.g. from Let's Encrypt with certbot), put it and its key in\n"
	       "  %s/tls/%s.crt\n  %s/tls/%s.key\n"
	       "and restart tern.\n",
	       q->confdir, q->hostname, q->confdir, q->hostname, q->confdir, q->hostname);
	char *policy = quickstart_mta_sts_policy(q);
	printf("\nMTA-STS: senders fetch the policy from\n"
	       "  https://mta-sts.%s/.well-known/mta-sts.txt\n"
	       "tern has no web server yet: serve %s/mta-sts.txt there with one\n"
	       "(and a certificate for mta-sts.%s), or leave out the _mta-sts record\n"
	       "until you do. Mode testing only reports problems. The policy:\n\n%s",
	       q->domain, q->confdir, q->domain, policy);
	free(policy);
	printf("\nStart tern as root (it binds ports 25, 465, 587, 993 and 143, then runs as\n"
	       "user %s):\n"
	       "  %s -config %s/tern.conf serve\n"
	       "or as a service, with systemd:\n"
	       "  cp %s/tern.service /etc/systemd/system/\n"
	       "  systemctl daemon-reload && systemctl enable --now tern\n"
	       "  journalctl -u tern -f\n"
	       "After changing the configuration, check it with\n"
	       "  %s -config %s/tern.conf config test\n",
	       q->user, exe, q->confdir, q->confdir, exe, q->confdir);
}

/* ---- the command ---- */

static void executable_path(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	if (n <= 0)
		snprintf(out, size, "/usr/local/bin/tern");
	else
		out[n] = '\0';
}

/* Everything up to writing: the input checked, the machine looked at. */
static int gather(struct quickstart *q, const char *email, const char *hostname,
                  const char *dir, int nips, char **ips)
{
	if (parse_email(q, email) != CMD_OK)
		return CMD_FAIL;
	if (q->account == NULL)
		q->account = q->localpart;
	if (!account_name_valid(q->account))
		return cmd_fail(&cmd_quickstart, "\"%s\" cannot be an account name (1 to %d letters, "
		                "digits, '.', '-', '_'; no leading '.' or '-'): choose one with -account",
		                q->account, ACCOUNT_NAME_MAX);
	if (hostname != NULL)
		snprintf(q->hostname, sizeof(q->hostname), "%s", hostname);
	else if (detect_hostname(q) != CMD_OK)
		return CMD_FAIL;
	if (check_hostname(q) != CMD_OK)
		return CMD_FAIL;
	if (!user_name_valid(q->user))
		return cmd_fail(&cmd_quickstart, "\"%s\" is not a user name (letters, digits, '.', "
		                "'_' and '-', not starting with '-')", q->user);
	if (privdrop_is_root()) {
		uid_t uid;
		gid_t gid;
		struct error err;
		if (privdrop_lookup(q->user, &uid, &gid, &err) != 0)
			return cmd_fail(&cmd_quickstart, "%s; create the user the server runs as first:\n"
			                "  useradd --system --home-dir /nonexistent --shell "
			                "/usr/sbin/nologin %s\nor name another with -user", err.msg,
			                q->user);
	}
	if (prepare_dir(q, dir) != CMD_OK)
		return CMD_FAIL;
	if ((nips > 0 ? given_ips(q, nips, ips) : detect_ips(q)) != CMD_OK)
		return CMD_FAIL;
	set_dates(q);
	return CMD_OK;
}

static int write_and_hand_over(struct quickstart *q, const char *exe, char **zone_r)
{
	struct error err;
	if (file_mkdir_all(q->confdir, 0750, &err) != 0 || write_all(q, exe, zone_r, &err) != 0)
		return cmd_fail(&cmd_quickstart, "%s", err.msg);
	uid_t uid;
	gid_t gid;
	if (privdrop_is_root() && (privdrop_lookup(q->user, &uid, &gid, &err) != 0 ||
	                           hand_over(q, uid, gid, &err) != 0))
		return cmd_fail(&cmd_quickstart, "%s", err.msg);
	if (check_and_set_password(q, &err) != 0)
		return cmd_fail(&cmd_quickstart, "%s", err.msg);
	struct passwd *me = getpwuid(getuid());
	if (!privdrop_is_root() && (me == NULL || strcmp(me->pw_name, q->user) != 0))
		fprintf(stderr, "tern quickstart: not running as root, so the files are yours; user %s "
		        "must read the DKIM keys: as root, run\n  chown -R %s: %s/dkim\n", q->user,
		        q->user, q->confdir);
	return CMD_OK;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct quickstart q = {.user = "tern"};
	const char *hostname = NULL, *dir = ".";
	const struct flag flags[] = {
		{"hostname", FLAG_STRING, &hostname,
		 "the mail server's fully qualified name (default: this machine's)"},
		{"dir", FLAG_STRING, &dir,
		 "directory for config/ and data/ (default: the current directory)"},
		{"user", FLAG_STRING, &q.user, "user the server runs as (default tern)"},
		{"account", FLAG_STRING, &q.account,
		 "name of the account (default: the local part of EMAIL)"},
	};
	if (cmd_parse_flags(&cmd_quickstart, ctx, flags, 4, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc < 1)
		return cmd_usage(&cmd_quickstart, flags, 4);
	int r = gather(&q, argv[0], hostname, dir, argc - 1, argv + 1);
	char exe[PATH_MAX], *zone = NULL;
	executable_path(exe, sizeof(exe));
	if (r == CMD_OK)
		r = write_and_hand_over(&q, exe, &zone);
	if (r == CMD_OK) {
		print_summary(&q);
		print_dns(&q, zone);
		print_next_steps(&q, exe);
	}
	explicit_bzero(q.password, sizeof(q.password));
	free(q.txt_ed25519);
	free(q.txt_rsa);
	free(zone);
	return r;
}

const struct cmd cmd_quickstart = {
	.name = "quickstart",
	.args = "[-hostname NAME] [-dir DIR] [-user USER] [-account NAME] EMAIL [IP...]",
	.summary = "write a configuration for running tern as the mail server of EMAIL's domain",
	.help = "Writes DIR/config/tern.conf and domains.conf (DIR: the current directory\n"
	        "unless -dir says otherwise; data goes to DIR/data) for the domain of EMAIL,\n"
	        "with the account (named after EMAIL's local part, or -account) receiving\n"
	        "EMAIL, postmaster@, dmarc-reports@ (DMARC reports) and tls-reports@ (TLS\n"
	        "reports), and prints its new random password once. An existing configuration\n"
	        "in DIR is never replaced.\n"
	        "The host name is -hostname, or this machine's fully qualified name. tern\n"
	        "listens on the IPs given, or on the public IPs of this machine's interfaces\n"
	        "(a machine with only private ones is refused: give the IPs then), with SMTP\n"
	        "on 25, submission on 465 (TLS) and 587 (STARTTLS), IMAP on 993 (TLS) and 143.\n"
	        "Also written in DIR/config: a self-signed certificate for the host name in\n"
	        "tls/ (to replace with a real one), two DKIM keys in dkim/, Ed25519 with\n"
	        "selector YYYYMMDDe and RSA 2048 with YYYYMMDDr (today's date, UTC), both\n"
	        "signing; DOMAIN.zone, the DNS records to publish (MX, A/AAAA, SPF, DKIM,\n"
	        "DMARC, TLSRPT, MTA-STS, autoconfig and SRV, CAA), which are printed too\n"
	        "with the PTR records to ask the IPs' provider for; mta-sts.txt, the MTA-STS\n"
	        "policy; tern.service, a systemd unit. Running as root, the DKIM keys go to\n"
	        "-user (default tern, which must exist), which also gets read access to\n"
	        "tern.conf and the certificate.",
	.run = run,
};
