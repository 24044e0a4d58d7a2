/*
 * socks.c: the client side of SOCKS version 5 (RFC 1928): on a connection
 * to the proxy, choose the authentication method (§3: none, or
 * username/password of RFC 1929), then CONNECT (§4) to a host given as an
 * IPv4 or IPv6 address or as a domain name (ATYP 1, 4, 3), and read the
 * proxy's reply (§6). After success the connection carries the bytes of the
 * remote host.
 *
 * Every read and write waits at most until the deadline given (on blocking
 * and non-blocking sockets alike).
 */
#include "smtpclient/socks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* RFC 1928 §3 method numbers, RFC 1929 §2 sub-negotiation version. */
#define SOCKS_VERSION 5
#define METHOD_NONE 0x00
#define METHOD_USERPASS 0x02
#define METHOD_REFUSED 0xff
#define USERPASS_VERSION 1
#define CMD_CONNECT 1
#define ATYP_IPV4 1
#define ATYP_DOMAIN 3
#define ATYP_IPV6 4

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline. Returns 0, or -1 with why. */
static int wait_fd(int fd, short events, long long deadline, char *why, size_t whysize)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0) {
			snprintf(why, whysize, "SOCKS proxy: timeout");
			return -1;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			snprintf(why, whysize, "SOCKS proxy: poll: %s", strerror(errno));
			return -1;
		}
	}
}

static int write_all(int fd, const unsigned char *p, size_t n, long long deadline, char *why,
	size_t whysize)
{
	while (n > 0) {
		if (wait_fd(fd, POLLOUT, deadline, why, whysize) < 0)
			return -1;
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline, why, whysize) < 0)
				return -1;
		} else {
			snprintf(why, whysize, "SOCKS proxy: write: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Reads exactly n bytes (never more: the bytes after the reply belong to
 * the remote host). */
static int read_exact(int fd, unsigned char *p, size_t n, long long deadline, char *why,
	size_t whysize)
{
	while (n > 0) {
		if (wait_fd(fd, POLLIN, deadline, why, whysize) < 0)
			return -1;
		ssize_t r = read(fd, p, n);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0) {
			snprintf(why, whysize, "SOCKS proxy closed the connection");
			return -1;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(fd, POLLIN, deadline, why, whysize) < 0)
				return -1;
		} else {
			snprintf(why, whysize, "SOCKS proxy: read: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* RFC 1929 §2: VER 1, ULEN, UNAME, PLEN, PASSWD; reply VER, STATUS (0: ok). */
static int userpass(int fd, const char *user, const char *password, long long deadline,
	char *why, size_t whysize)
{
	size_t ul = strlen(user), pl = strlen(password);
	unsigned char req[3 + 255 + 255];
	size_t n = 0;
	req[n++] = USERPASS_VERSION;
	req[n++] = (unsigned char)ul;
	memcpy(req + n, user, ul);
	n += ul;
	req[n++] = (unsigned char)pl;
	memcpy(req + n, password, pl);
	n += pl;
	unsigned char rep[2];
	if (write_all(fd, req, n, deadline, why, whysize) < 0 ||
	    read_exact(fd, rep, 2, deadline, why, whysize) < 0)
		return -1;
	if (rep[1] != 0) {
		snprintf(why, whysize, "SOCKS proxy refused the user name and password (RFC 1929 "
			"status %u)", rep[1]);
		return -1;
	}
	return 0;
}

const char *socks5_reply_text(unsigned rep)
{
	/* RFC 1928 §6 */
	static const char *const texts[] = {
		"succeeded", "general SOCKS server failure", "connection not allowed by ruleset",
		"network unreachable", "host unreachable", "connection refused", "TTL expired",
		"command not supported", "address type not supported",
	};
	return rep < sizeof(texts) / sizeof(texts[0]) ? texts[rep] : "unknown reply";
}

/* §4: VER CMD RSV ATYP DST.ADDR DST.PORT. */
static size_t connect_request(unsigned char *req, const char *host, int port)
{
	size_t n = 0;
	req[n++] = SOCKS_VERSION;
	req[n++] = CMD_CONNECT;
	req[n++] = 0;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		req[n++] = ATYP_IPV4;
		memcpy(req + n, &a4, 4);
		n += 4;
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		req[n++] = ATYP_IPV6;
		memcpy(req + n, &a6, 16);
		n += 16;
	} else {
		size_t hl = strlen(host);
		req[n++] = ATYP_DOMAIN;
		req[n++] = (unsigned char)hl;
		memcpy(req + n, host, hl);
		n += hl;
	}
	req[n++] = (unsigned char)(port >> 8);
	req[n++] = (unsigned char)(port & 0xff);
	return n;
}

/* §6: VER REP RSV ATYP BND.ADDR BND.PORT, read whole. */
static int connect_reply(int fd, long long deadline, char *why, size_t whysize)
{
	unsigned char h[5];
	if (read_exact(fd, h, sizeof(h), deadline, why, whysize) < 0)
		return -1;
	if (h[0] != SOCKS_VERSION) {
		snprintf(why, whysize, "SOCKS proxy answered with version %u", h[0]);
		return -1;
	}
	if (h[1] != 0) {
		snprintf(why, whysize, "SOCKS proxy: %s (RFC 1928 reply %u)", socks5_reply_text(h[1]),
			h[1]);
		return -1;
	}
	/* the first byte after ATYP is read: the rest of BND.ADDR, then the port */
	size_t rest;
	switch (h[3]) {
	case ATYP_IPV4: rest = 4 - 1 + 2; break;
	case ATYP_IPV6: rest = 16 - 1 + 2; break;
	case ATYP_DOMAIN: rest = (size_t)h[4] + 2; break;
	default:
		snprintf(why, whysize, "SOCKS proxy: reply with address type %u", h[3]);
		return -1;
	}
	unsigned char skip[258];
	return read_exact(fd, skip, rest, deadline, why, whysize);
}

int socks5_connect(int fd, const char *host, int port, const char *user, const char *password,
	unsigned timeout_ms, char *why, size_t whysize)
{
	if (host == NULL || host[0] == '\0' || strlen(host) > 255 || port < 1 || port > 65535) {
		snprintf(why, whysize, "SOCKS: bad destination");
		return -1;
	}
	if (user != NULL && (password == NULL || strlen(user) < 1 || strlen(user) > 255 ||
	                     strlen(password) < 1 || strlen(password) > 255)) {
		snprintf(why, whysize, "SOCKS: user name and password must be 1..255 bytes "
			"(RFC 1929 §2)");
		return -1;
	}
	long long deadline = now_ms() + timeout_ms;
	/* §3: VER NMETHODS METHODS */
	unsigned char hello[3] = {SOCKS_VERSION, 1, user != NULL ? METHOD_USERPASS : METHOD_NONE};
	unsigned char choice[2];
	if (write_all(fd, hello, sizeof(hello), deadline, why, whysize) < 0 ||
	    read_exact(fd, choice, 2, deadline, why, whysize) < 0)
		return -1;
	if (choice[0] != SOCKS_VERSION) {
		snprintf(why, whysize, "SOCKS proxy answered with version %u", choice[0]);
		return -1;
	}
	if (choice[1] != hello[2]) {
		snprintf(why, whysize, "SOCKS proxy accepts no offered authentication method "
			"(it chose %u)", choice[1]);
		return -1;
	}
	if (user != NULL && userpass(fd, user, password, deadline, why, whysize) < 0)
		return -1;
	unsigned char req[4 + 1 + 255 + 2];
	size_t n = connect_request(req, host, port);
	if (write_all(fd, req, n, deadline, why, whysize) < 0)
		return -1;
	return connect_reply(fd, deadline, why, whysize);
}
