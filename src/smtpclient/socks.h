/*
 * socks.h: the client side of SOCKS version 5 (RFC 1928) with
 * username/password authentication (RFC 1929), as the SMTP client uses it
 * to reach MX hosts through a proxy.
 */
#ifndef TERN_SMTPCLIENT_SOCKS_H
#define TERN_SMTPCLIENT_SOCKS_H

#include <stddef.h>

/* On fd, connected to the proxy, asks for a CONNECT to host (an IPv4 or
 * IPv6 literal, else sent as a domain name) and port, authenticating with
 * user and password (RFC 1929) when user is not NULL, else with no
 * authentication. Reads nothing past the proxy's reply. Returns 0 when the
 * proxy connected, or -1 with why (the proxy's refusal, its reply code, a
 * timeout after timeout_ms in all). */
int socks5_connect(int fd, const char *host, int port, const char *user, const char *password,
	unsigned timeout_ms, char *why, size_t whysize);

/* The text of an RFC 1928 §6 reply code. */
const char *socks5_reply_text(unsigned rep);

#endif
