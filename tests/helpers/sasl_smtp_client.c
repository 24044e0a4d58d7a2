/*
 * sasl_smtp_client: a test client for tern's SMTP AUTH with channel binding
 * (Python's ssl module cannot give the RFC 9266 tls-exporter value).
 *
 *   sasl_smtp_client [-starttls] HOST PORT MECHANISM USER PASSWORD
 *
 * Connects, does implicit TLS (default, port 465) or STARTTLS (-starttls,
 * port 587) without verifying the certificate, says EHLO, then runs AUTH
 * MECHANISM through src/sasl's client with the connection's tls-exporter
 * binding. Prints the server's final reply line and exits 0 on 235, 1 on any
 * other reply, 2 on a usage or connection error.
 *
 * The binding goes to the SASL client for -PLUS mechanisms, and for plain
 * SCRAM only when the server advertised no -PLUS mechanism (RFC 5802 §6: a
 * client that could bind says "y" only if it thinks the server cannot).
 */
#include "core/base64.h"
#include "core/conn.h"
#include "core/error.h"
#include "core/tls.h"
#include "sasl/sasl.h"

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what, const struct error *e)
{
	fprintf(stderr, "sasl_smtp_client: %s: %s\n", what, e != NULL ? e->msg : "failed");
	exit(2);
}

/* Reads one reply; returns its code, the last line in last (without CRLF)
 * and whether any line contained needle. */
static int read_reply(struct conn *c, char *last, size_t lastsz, const char *needle,
                      bool *found)
{
	struct error e;
	for (;;) {
		struct conn_line l;
		if (conn_read_line(c, &l, &e) != 0)
			die("reading a reply", &e);
		if (l.len < 3)
			die("short reply line", NULL);
		if (needle != NULL && found != NULL && strstr(l.data, needle) != NULL)
			*found = true;
		snprintf(last, lastsz, "%s", l.data);
		if (l.len == 3 || l.data[3] == ' ')
			return atoi(l.data);
	}
}

static void send_line(struct conn *c, const char *line)
{
	struct error e;
	if (conn_printf(c, &e, "%s\r\n", line) != 0 || conn_flush(c, &e) != 0)
		die("sending", &e);
}

int main(int argc, char **argv)
{
	bool starttls = false;
	if (argc > 1 && strcmp(argv[1], "-starttls") == 0) {
		starttls = true;
		argc--;
		argv++;
	}
	if (argc != 6) {
		fprintf(stderr, "usage: sasl_smtp_client [-starttls] HOST PORT MECHANISM USER PASSWORD\n");
		return 2;
	}
	const char *host = argv[1], *port = argv[2], *mech = argv[3];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(host, port, &hints, &ai) != 0) {
		fprintf(stderr, "sasl_smtp_client: cannot resolve %s\n", host);
		return 2;
	}
	int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		perror("sasl_smtp_client: connect");
		return 2;
	}
	freeaddrinfo(ai);
	struct error e;
	struct conn *c = conn_new(fd, 16384, &e);
	if (c == NULL)
		die("conn_new", &e);
	conn_set_idle_timeout(c, 15000);
	struct tls_client_opts topts = {.verify = TLS_VERIFY_NONE};
	struct tls_client *tc = tls_client_new(&topts, &e);
	if (tc == NULL)
		die("tls_client_new", &e);
	char line[1024];
	if (!starttls && conn_tls_connect(c, tc, NULL, &e) != 0)
		die("TLS handshake", &e);
	if (read_reply(c, line, sizeof(line), NULL, NULL) != 220)
		die("greeting", NULL);
	if (starttls) {
		send_line(c, "EHLO sasl-client.example.org");
		if (read_reply(c, line, sizeof(line), NULL, NULL) != 250)
			die("EHLO", NULL);
		send_line(c, "STARTTLS");
		if (read_reply(c, line, sizeof(line), NULL, NULL) != 220)
			die("STARTTLS", NULL);
		if (conn_starttls_client(c, tc, NULL, &e) != 0)
			die("STARTTLS handshake", &e);
	}
	send_line(c, "EHLO sasl-client.example.org");
	bool plus_offered = false;
	if (read_reply(c, line, sizeof(line), "-PLUS", &plus_offered) != 250)
		die("EHLO after TLS", NULL);
	unsigned char cb[TLS_EXPORTER_LEN];
	if (conn_tls_exporter(c, cb, &e) != 0)
		die("tls-exporter", &e);
	size_t mlen = strlen(mech);
	bool plus = mlen > 5 && strcasecmp(mech + mlen - 5, "-PLUS") == 0;
	struct sasl_client_opts so = {
		.username = argv[4],
		.password = argv[5],
		.cb_exporter = plus || !plus_offered ? cb : NULL,
	};
	struct sasl_client *sc = sasl_client_new(mech, &so);
	if (sc == NULL) {
		fprintf(stderr, "sasl_smtp_client: mechanism %s not supported by the client\n", mech);
		return 2;
	}
	const unsigned char *out;
	size_t outlen;
	bool done = false;
	if (sasl_client_step(sc, NULL, 0, &out, &outlen, &done) != 0) {
		fprintf(stderr, "sasl_smtp_client: %s\n", sasl_client_error(sc));
		return 2;
	}
	static char b64[BASE64_ENCODED_LEN(SASL_MSG_MAX) + 64];
	char *cmd = malloc(sizeof(b64) + 64);
	base64_encode(b64, out, outlen);
	snprintf(cmd, sizeof(b64) + 64, "AUTH %s %s", mech, outlen > 0 ? b64 : "=");
	send_line(c, cmd);
	free(cmd);
	int code;
	for (;;) {
		code = read_reply(c, line, sizeof(line), NULL, NULL);
		if (code != 334)
			break;
		static unsigned char in[SASL_MSG_MAX];
		const char *t = line + 4;
		long n = base64_decode(in, sizeof(in), t, strlen(t));
		if (n < 0)
			die("server challenge is not base64", NULL);
		if (done) {
			send_line(c, "*");
			continue;
		}
		if (sasl_client_step(sc, in, (size_t)n, &out, &outlen, &done) != 0) {
			fprintf(stderr, "sasl_smtp_client: client step: %s\n", sasl_client_error(sc));
			send_line(c, "*");
			continue;
		}
		base64_encode(b64, out, outlen);
		send_line(c, outlen > 0 ? b64 : "");
	}
	printf("%s\n", line);
	send_line(c, "QUIT");
	sasl_client_free(&sc);
	conn_free(&c);
	tls_client_free(&tc);
	return code == 235 ? 0 : 1;
}
