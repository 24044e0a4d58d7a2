/*
 * dns_test.c: unit tests for src/dns/: the RFC 1035 wire parser on hand-made
 * packets (compression, loops, truncation, bad lengths), rdata of each type,
 * answers into results (CNAME chains, RFC 2308 negative TTLs), the cache
 * (expiry, LRU eviction), and the resolver thread against a tiny DNS server
 * on 127.0.0.1 run by the test itself (answers, cache hits, timeouts, many
 * threads at once).
 */
#include "dns/dns.h"
#include "dns/internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* ---- packet builder ---- */

struct pk {
	uint8_t b[2048];
	size_t n;
};

static void put(struct pk *p, const void *data, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, data, n);
	p->n += n;
}

static void put8(struct pk *p, unsigned v)
{
	uint8_t c = (uint8_t)v;
	put(p, &c, 1);
}

static void put16(struct pk *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

static void put32(struct pk *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/* A name in wire form from "a.b.c" (no compression); "" is the root. */
static void putname(struct pk *p, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);
		put8(p, (unsigned)n);
		put(p, name, n);
		name += n + (dot != NULL ? 1 : 0);
	}
	put8(p, 0);
}

static void putptr(struct pk *p, unsigned off)
{
	put16(p, 0xc000 | off);
}

static void header(struct pk *p, unsigned rcode, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode); /* QR RD RA */
	put16(p, qd);
	put16(p, an);
	put16(p, ns);
	put16(p, ar);
}

static void question(struct pk *p, const char *name, unsigned type)
{
	putname(p, name);
	put16(p, type);
	put16(p, 1);
}

/* Record header with the owner compressed to offset 12 (the question). */
static void rrhead(struct pk *p, unsigned owner_off, unsigned type, uint32_t ttl, unsigned rdlen)
{
	putptr(p, owner_off);
	put16(p, type);
	put16(p, 1);
	put32(p, ttl);
	put16(p, rdlen);
}

/* ---- names ---- */

static int name_at(const struct pk *p, size_t off, char *out, size_t *end_r, const char **why)
{
	size_t o = off;
	int r = dns_wire_name(p->b, p->n, &o, out, why);
	if (end_r != NULL)
		*end_r = o;
	return r;
}

static void test_name_plain_and_root(void **state)
{
	struct pk p = {.n = 0};
	char out[DNS_NAME_TEXT_MAX];
	const char *why;
	size_t end;

	putname(&p, "mx1.Example.test");
	assert_int_equal(name_at(&p, 0, out, &end, &why), 0);
	assert_string_equal(out, "mx1.Example.test.");
	assert_int_equal(end, p.n);

	p.n = 0;
	putname(&p, "");
	assert_int_equal(name_at(&p, 0, out, &end, &why), 0);
	assert_string_equal(out, ".");
	assert_int_equal(end, 1);
}

static void test_name_escapes(void **state)
{
	struct pk p = {.n = 0};
	char out[DNS_NAME_TEXT_MAX];
	const char *why;

	/* RFC 1035 §5.1 / RFC 4343 §2.1: a dot inside a label, a space, a
	 * non-ASCII octet and a backslash are escaped. */
	put8(&p, 6);
	put(&p, "a.b c\\", 6);
	put8(&p, 1);
	put8(&p, 0xff);
	put8(&p, 0);
	assert_int_equal(name_at(&p, 0, out, NULL, &why), 0);
	assert_string_equal(out, "a\\.b\\032c\\\\.\\255.");
}

static void test_name_compression(void **state)
{
	struct pk p = {.n = 0};
	char out[DNS_NAME_TEXT_MAX];
	const char *why;
	size_t end;

	putname(&p, "example.test");    /* 0..13 */
	put8(&p, 3);                    /* 14: "mx1" + ptr to 0 */
	put(&p, "mx1", 3);
	putptr(&p, 0);
	putptr(&p, 14);                 /* 20: pointer to a name ending in a pointer */
	assert_int_equal(name_at(&p, 14, out, &end, &why), 0);
	assert_string_equal(out, "mx1.example.test.");
	assert_int_equal(end, 20);
	assert_int_equal(name_at(&p, 20, out, &end, &why), 0);
	assert_string_equal(out, "mx1.example.test.");
	assert_int_equal(end, 22);
}

static void test_name_pointer_loops(void **state)
{
	struct pk p = {.n = 0};
	char out[DNS_NAME_TEXT_MAX];
	const char *why;

	putptr(&p, 0); /* points at itself */
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);
	assert_string_equal(why, "compression pointer does not point backwards");

	p.n = 0;
	putptr(&p, 2); /* forward */
	putname(&p, "x");
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);

	/* 0: "a" then pointer to 4; 4: "b" then pointer back to 0: a loop where
	 * each pointer alone points backwards from itself. */
	p.n = 0;
	put8(&p, 1), put8(&p, 'a'), putptr(&p, 4);
	put8(&p, 1), put8(&p, 'b'), putptr(&p, 0);
	assert_int_equal(name_at(&p, 4, out, NULL, &why), -1);
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);

	/* Pointer into the labels of the same name (a suffix of itself). */
	p.n = 0;
	put8(&p, 1), put8(&p, 'a'), put8(&p, 1), put8(&p, 'b'), putptr(&p, 2);
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);
}

static void test_name_truncated_and_bad(void **state)
{
	struct pk p = {.n = 0};
	char out[DNS_NAME_TEXT_MAX];
	const char *why;

	put8(&p, 5);
	put(&p, "abc", 3); /* label claims 5 */
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);
	assert_string_equal(why, "label runs past the end of the message");

	p.n = 0;
	put8(&p, 3);
	put(&p, "abc", 3); /* no terminating zero */
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);

	p.n = 0;
	put8(&p, 0xc0); /* half a pointer */
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);
	assert_string_equal(why, "compression pointer cut off");

	p.n = 0;
	put8(&p, 0x41); /* label type 01: RFC 6891 extended label */
	put8(&p, 0);
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);
	assert_string_equal(why, "reserved label type");

	p.n = 0;
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);
}

static void test_name_length_limit(void **state)
{
	struct pk p = {.n = 0};
	char out[DNS_NAME_TEXT_MAX];
	const char *why;
	uint8_t label[63];

	/* 4 labels of 63 (256 octets with length octets) + root = too long;
	 * 3 of 63 and one of 61 is exactly 255 octets. */
	memset(label, 0xff, sizeof(label)); /* widest text: \255 each */
	for (int i = 0; i < 3; i++) {
		put8(&p, 63);
		put(&p, label, 63);
	}
	put8(&p, 61);
	put(&p, label, 61);
	put8(&p, 0);
	assert_int_equal(p.n, 255);
	assert_int_equal(name_at(&p, 0, out, NULL, &why), 0);
	assert_int_equal(strlen(out), 4 * 250 + 4);

	p.n = 0;
	for (int i = 0; i < 3; i++) {
		put8(&p, 63);
		put(&p, label, 63);
	}
	put8(&p, 62);
	put(&p, label, 62);
	put8(&p, 0);
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);
	assert_string_equal(why, "name longer than 255 octets");

	/* A label of 64 is a reserved label type (01 in the top bits). */
	p.n = 0;
	put8(&p, 64);
	put(&p, label, 63);
	put8(&p, 0);
	assert_int_equal(name_at(&p, 0, out, NULL, &why), -1);
}

/* ---- messages ---- */

static void test_msg_header_and_counts(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct pk p;
	struct dns_msg m;
	const char *why;

	p.n = 11;
	memset(p.b, 0, 11);
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), -1);

	header(&p, 0, 2, 0, 0, 0);
	question(&p, "a.test", 1);
	question(&p, "b.test", 1);
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), -1);
	assert_string_equal(why, "2 questions, expected at most one");

	/* A count that cannot fit must fail before allocating. */
	header(&p, 0, 0, 65535, 0, 0);
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), -1);

	/* rdata longer than the packet */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "a.test", 1);
	rrhead(&p, 12, DNS_TYPE_A, 300, 8);
	put32(&p, 0x7f000001);
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), -1);

	/* question cut off after its name */
	header(&p, 0, 1, 0, 0, 0);
	putname(&p, "a.test");
	put16(&p, 1);
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), -1);
	assert_string_equal(why, "question cut off after its name");

	/* a good one; TTL with the top bit set reads as 0 (RFC 2181 §8) */
	header(&p, 3, 1, 1, 0, 0);
	question(&p, "a.test", 1);
	rrhead(&p, 12, DNS_TYPE_A, 0x80000000u, 4);
	put32(&p, 0x7f000001);
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), 0);
	assert_int_equal(m.rcode, 3);
	assert_string_equal(m.qname, "a.test.");
	assert_int_equal(m.nan, 1);
	assert_int_equal(m.an[0].ttl, 0);
	assert_int_equal(m.an[0].rdlen, 4);
	arena_free(&a);
}

/* Builds a one-record answer for name/type with the given rdata bytes and
 * parses the record. */
static int one_rr(struct arena *a, struct pk *p, unsigned type, const struct pk *rdata,
                  struct dns_rr *rr, const char **why)
{
	struct dns_msg m;
	header(p, 0, 1, 1, 0, 0);
	question(p, "example.test", type);
	rrhead(p, 12, type, 300, (unsigned)rdata->n);
	put(p, rdata->b, rdata->n);
	if (dns_msg_parse(a, p->b, p->n, &m, why) < 0)
		return -1;
	return dns_rr_parse(a, p->b, p->n, &m.an[0], m.an[0].ttl, rr, why);
}

static void test_rr_addresses(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct pk p, rd = {.n = 0};
	struct dns_rr rr;
	const char *why;

	put32(&rd, 0xc0000219);
	assert_int_equal(one_rr(a, &p, DNS_TYPE_A, &rd, &rr, &why), 0);
	assert_string_equal(rr.text, "example.test. 300 IN A 192.0.2.25");
	assert_int_equal(ntohl(rr.u.a.s_addr), 0xc0000219);

	rd.n = 0;
	put32(&rd, 0x20010db8), put32(&rd, 0), put32(&rd, 0), put32(&rd, 0x25);
	assert_int_equal(one_rr(a, &p, DNS_TYPE_AAAA, &rd, &rr, &why), 0);
	assert_string_equal(rr.text, "example.test. 300 IN AAAA 2001:db8::25");

	rd.n = 3; /* bad length */
	assert_int_equal(one_rr(a, &p, DNS_TYPE_A, &rd, &rr, &why), -1);
	assert_non_null(strstr(why, "expected 4"));
	arena_free(&a);
}

static void test_rr_mx_compressed(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct pk p;
	struct dns_msg m;
	struct dns_rr rr;
	const char *why;

	header(&p, 0, 1, 1, 0, 0);
	question(&p, "example.test", DNS_TYPE_MX);
	rrhead(&p, 12, DNS_TYPE_MX, 300, 2 + 4 + 2);
	put16(&p, 10);
	put8(&p, 3), put(&p, "mx1", 3), putptr(&p, 12); /* exchange compressed */
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), 0);
	assert_int_equal(dns_rr_parse(a, p.b, p.n, &m.an[0], 300, &rr, &why), 0);
	assert_int_equal(rr.u.mx.preference, 10);
	assert_string_equal(rr.u.mx.host, "mx1.example.test.");
	assert_string_equal(rr.text, "example.test. 300 IN MX 10 mx1.example.test.");

	/* the same with RDLENGTH one short: the name would run into the next
	 * octets, which are not the record's */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "example.test", DNS_TYPE_MX);
	rrhead(&p, 12, DNS_TYPE_MX, 300, 2 + 4 + 1);
	put16(&p, 10);
	put8(&p, 3), put(&p, "mx1", 3), putptr(&p, 12);
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), 0);
	assert_int_equal(dns_rr_parse(a, p.b, p.n, &m.an[0], 300, &rr, &why), -1);

	/* octets left over after the exchange */
	header(&p, 0, 1, 1, 0, 0);
	question(&p, "example.test", DNS_TYPE_MX);
	rrhead(&p, 12, DNS_TYPE_MX, 300, 2 + 2 + 1);
	put16(&p, 10), putptr(&p, 12), put8(&p, 0);
	assert_int_equal(dns_msg_parse(a, p.b, p.n, &m, &why), 0);
	assert_int_equal(dns_rr_parse(a, p.b, p.n, &m.an[0], 300, &rr, &why), -1);
	assert_non_null(strstr(why, "1 octets left over"));
	arena_free(&a);
}

static void test_rr_txt(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct pk p, rd = {.n = 0};
	struct dns_rr rr;
	const char *why;

	put8(&rd, 12), put(&rd, "v=DKIM1; p=a", 12);
	put8(&rd, 4), put(&rd, "b\"c\\", 4);
	put8(&rd, 0);
	assert_int_equal(one_rr(a, &p, DNS_TYPE_TXT, &rd, &rr, &why), 0);
	assert_int_equal(rr.u.txt.nstrings, 3);
	assert_string_equal(rr.u.txt.text, "v=DKIM1; p=ab\"c\\");
	assert_int_equal(rr.u.txt.len, 16);
	assert_string_equal(rr.u.txt.strings[1].data, "b\"c\\");
	assert_int_equal(rr.u.txt.strings[2].len, 0);
	assert_string_equal(rr.text, "example.test. 300 IN TXT \"v=DKIM1; p=a\" \"b\\\"c\\\\\" \"\"");

	/* a string longer than what is left */
	rd.n = 0;
	put8(&rd, 5), put(&rd, "ab", 2);
	assert_int_equal(one_rr(a, &p, DNS_TYPE_TXT, &rd, &rr, &why), -1);

	/* non-printable octets and a NUL inside a string */
	rd.n = 0;
	put8(&rd, 3), put8(&rd, 'a'), put8(&rd, 0), put8(&rd, 0xe9);
	assert_int_equal(one_rr(a, &p, DNS_TYPE_TXT, &rd, &rr, &why), 0);
	assert_int_equal(rr.u.txt.len, 3);
	assert_memory_equal(rr.u.txt.text, "a\0\xe9", 3);
	assert_string_equal(rr.text, "example.test. 300 IN TXT \"a\\000\\233\"");

	/* empty rdata is read as no strings */
	rd.n = 0;
	assert_int_equal(one_rr(a, &p, DNS_TYPE_TXT, &rd, &rr, &why), 0);
	assert_int_equal(rr.u.txt.nstrings, 0);
	assert_string_equal(rr.u.txt.text, "");
	arena_free(&a);
}

static void test_rr_tlsa(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct pk p, rd = {.n = 0};
	struct dns_rr rr;
	const char *why;

	/* RFC 6698 §2.3 example shape: 3 1 1 <sha-256> */
	put8(&rd, 3), put8(&rd, 1), put8(&rd, 1);
	for (unsigned i = 0; i < 32; i++)
		put8(&rd, i);
	assert_int_equal(one_rr(a, &p, DNS_TYPE_TLSA, &rd, &rr, &why), 0);
	assert_int_equal(rr.u.tlsa.usage, 3);
	assert_int_equal(rr.u.tlsa.selector, 1);
	assert_int_equal(rr.u.tlsa.mtype, 1);
	assert_int_equal(rr.u.tlsa.len, 32);
	assert_int_equal(rr.u.tlsa.data[31], 31);
	assert_string_equal(rr.text, "example.test. 300 IN TLSA 3 1 1 "
	                             "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
	rd.n = 2;
	assert_int_equal(one_rr(a, &p, DNS_TYPE_TLSA, &rd, &rr, &why), -1);
	arena_free(&a);
}

static void test_rr_names_soa_srv_caa_generic(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct pk p, rd = {.n = 0};
	struct dns_rr rr;
	const char *why;

	putname(&rd, "host.example.test");
	assert_int_equal(one_rr(a, &p, DNS_TYPE_PTR, &rd, &rr, &why), 0);
	assert_string_equal(rr.u.target, "host.example.test.");
	assert_int_equal(one_rr(a, &p, DNS_TYPE_CNAME, &rd, &rr, &why), 0);
	assert_string_equal(rr.text, "example.test. 300 IN CNAME host.example.test.");

	rd.n = 0;
	putname(&rd, "ns.example.test"), putname(&rd, "hostmaster.example.test");
	put32(&rd, 2024), put32(&rd, 3600), put32(&rd, 600), put32(&rd, 86400), put32(&rd, 300);
	assert_int_equal(one_rr(a, &p, DNS_TYPE_SOA, &rd, &rr, &why), 0);
	assert_int_equal(rr.u.soa.minimum, 300);
	assert_string_equal(rr.text, "example.test. 300 IN SOA ns.example.test. "
	                             "hostmaster.example.test. 2024 3600 600 86400 300");
	rd.n -= 1; /* MINIMUM cut short */
	assert_int_equal(one_rr(a, &p, DNS_TYPE_SOA, &rd, &rr, &why), -1);

	rd.n = 0;
	put16(&rd, 0), put16(&rd, 1), put16(&rd, 993), putname(&rd, "mx.example.test");
	assert_int_equal(one_rr(a, &p, DNS_TYPE_SRV, &rd, &rr, &why), 0);
	assert_string_equal(rr.text, "example.test. 300 IN SRV 0 1 993 mx.example.test.");

	rd.n = 0;
	put8(&rd, 0), put8(&rd, 5), put(&rd, "issue", 5), put(&rd, "letsencrypt.org", 15);
	assert_int_equal(one_rr(a, &p, DNS_TYPE_CAA, &rd, &rr, &why), 0);
	assert_string_equal(rr.text, "example.test. 300 IN CAA 0 issue \"letsencrypt.org\"");

	rd.n = 0;
	put16(&rd, 0xabcd);
	assert_int_equal(one_rr(a, &p, 65280, &rd, &rr, &why), 0);
	assert_string_equal(rr.text, "example.test. 300 IN TYPE65280 \\# 2 ABCD");
	arena_free(&a);
}

/* ---- results ---- */

static void test_result_cname_chain_and_mx_order(void **state)
{
	struct pk p;
	const char *why;

	/* www.example.test CNAME a.example.test; a CNAME b.example.test;
	 * b MX 20 mx2, MX 10 mx1, MX 10 mx0 */
	header(&p, 0, 1, 5, 0, 0);
	question(&p, "www.example.test", DNS_TYPE_MX);       /* name at 12 */
	rrhead(&p, 12, DNS_TYPE_CNAME, 600, 4);
	size_t a_off = p.n;
	put8(&p, 1), put8(&p, 'a'), putptr(&p, 16);            /* a.example.test */
	rrhead(&p, (unsigned)a_off, DNS_TYPE_CNAME, 100, 4);
	size_t b_off = p.n;
	put8(&p, 1), put8(&p, 'b'), putptr(&p, 16);
	unsigned prefs[] = {20, 10, 10};
	const char *hosts[] = {"mx2", "mx1", "mx0"};
	for (int i = 0; i < 3; i++) {
		rrhead(&p, (unsigned)b_off, DNS_TYPE_MX, 300, 2 + 4 + 2);
		put16(&p, prefs[i]);
		put8(&p, 3), put(&p, hosts[i], 3), putptr(&p, 16);
	}
	struct dns_result *r = dns_result_new("www.example.test.", DNS_TYPE_MX, DNS_TEMPFAIL, NULL);
	assert_int_equal(dns_result_from_packet(r, p.b, p.n, 0, DNS_SEC_SECURE, 0, &why), 0);
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->security, DNS_SEC_SECURE);
	assert_string_equal(r->canonical, "b.example.test.");
	assert_int_equal(r->nchain, 2);
	assert_string_equal(r->chain[0].u.target, "a.example.test.");
	assert_string_equal(r->chain[1].name, "a.example.test.");
	assert_int_equal(r->nrrs, 3);
	assert_string_equal(r->rrs[0].u.mx.host, "mx0.example.test.");
	assert_string_equal(r->rrs[1].u.mx.host, "mx1.example.test.");
	assert_string_equal(r->rrs[2].u.mx.host, "mx2.example.test.");
	assert_int_equal(r->ttl, 100); /* the least TTL along the chain */
	dns_result_free(&r);
	assert_null(r);

	/* asking for the CNAME itself does not chase */
	r = dns_result_new("www.example.test.", DNS_TYPE_CNAME, DNS_TEMPFAIL, NULL);
	p.b[12 + 18] = 0, p.b[12 + 19] = DNS_TYPE_CNAME; /* question type */
	assert_int_equal(dns_result_from_packet(r, p.b, p.n, 0, DNS_SEC_INSECURE, 30, &why), 0);
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->nchain, 0);
	assert_int_equal(r->nrrs, 1);
	assert_int_equal(r->ttl, 570); /* aged by 30 s */
	dns_result_free(&r);
}

static void test_result_cname_loop(void **state)
{
	struct pk p;
	const char *why;

	/* a CNAME b, b CNAME a, asked for A */
	header(&p, 0, 1, 2, 0, 0);
	question(&p, "a.test", DNS_TYPE_A);
	rrhead(&p, 12, DNS_TYPE_CNAME, 60, 4);
	size_t b_off = p.n;
	put8(&p, 1), put8(&p, 'b'), putptr(&p, 14);
	rrhead(&p, (unsigned)b_off, DNS_TYPE_CNAME, 60, 2);
	putptr(&p, 12);
	struct dns_result *r = dns_result_new("a.test.", DNS_TYPE_A, DNS_TEMPFAIL, NULL);
	assert_int_equal(dns_result_from_packet(r, p.b, p.n, 0, DNS_SEC_INSECURE, 0, &why), -1);
	assert_non_null(strstr(why, "CNAME chain longer"));
	assert_int_equal(r->status, DNS_TEMPFAIL);
	dns_result_free(&r);
}

static void negative_packet(struct pk *p, unsigned rcode, bool with_soa, uint32_t soa_ttl,
                            uint32_t minimum)
{
	header(p, rcode, 1, 0, with_soa ? 1 : 0, 0);
	question(p, "nope.example.test", DNS_TYPE_A);
	if (!with_soa)
		return;
	rrhead(p, 17, DNS_TYPE_SOA, soa_ttl, 2 + 2 + 20);   /* owner example.test */
	put8(p, 0xc0), put8(p, 17), put8(p, 0xc0), put8(p, 17);
	put32(p, 1), put32(p, 3600), put32(p, 600), put32(p, 86400), put32(p, minimum);
}

static void test_result_negative(void **state)
{
	struct pk p;
	const char *why;
	struct dns_result *r;

	/* RFC 2308 §5: min(SOA TTL, MINIMUM) */
	negative_packet(&p, 3, true, 3600, 120);
	r = dns_result_new("nope.example.test.", DNS_TYPE_A, DNS_TEMPFAIL, NULL);
	assert_int_equal(dns_result_from_packet(r, p.b, p.n, 3, DNS_SEC_INSECURE, 0, &why), 0);
	assert_int_equal(r->status, DNS_NXDOMAIN);
	assert_int_equal(r->ttl, 120);
	dns_result_free(&r);

	negative_packet(&p, 0, true, 50, 120);
	r = dns_result_new("nope.example.test.", DNS_TYPE_A, DNS_TEMPFAIL, NULL);
	assert_int_equal(dns_result_from_packet(r, p.b, p.n, 0, DNS_SEC_SECURE, 10, &why), 0);
	assert_int_equal(r->status, DNS_NODATA);
	assert_int_equal(r->security, DNS_SEC_SECURE);
	assert_int_equal(r->ttl, 40);
	dns_result_free(&r);

	/* capped at DNS_NEGATIVE_TTL_MAX */
	negative_packet(&p, 3, true, 999999, 999999);
	r = dns_result_new("nope.example.test.", DNS_TYPE_A, DNS_TEMPFAIL, NULL);
	assert_int_equal(dns_result_from_packet(r, p.b, p.n, 3, DNS_SEC_INSECURE, 0, &why), 0);
	assert_int_equal(r->ttl, DNS_NEGATIVE_TTL_MAX);
	dns_result_free(&r);

	negative_packet(&p, 0, false, 0, 0);
	r = dns_result_new("nope.example.test.", DNS_TYPE_A, DNS_TEMPFAIL, NULL);
	assert_int_equal(dns_result_from_packet(r, p.b, p.n, 0, DNS_SEC_INSECURE, 0, &why), 0);
	assert_int_equal(r->status, DNS_NODATA);
	assert_int_equal(r->ttl, DNS_NEGATIVE_TTL_DEFAULT);
	dns_result_free(&r);

	negative_packet(&p, 2, false, 0, 0);
	r = dns_result_new("nope.example.test.", DNS_TYPE_A, DNS_OK, NULL);
	assert_int_equal(dns_result_from_packet(r, p.b, p.n, 2, DNS_SEC_INSECURE, 0, &why), 0);
	assert_int_equal(r->status, DNS_TEMPFAIL);
	assert_non_null(r->error);
	dns_result_free(&r);
}

static void test_name_normalize(void **state)
{
	char out[DNS_NAME_TEXT_MAX];
	const char *why;
	char big[300];

	assert_int_equal(dns_name_normalize("Example.test", out, &why), 0);
	assert_string_equal(out, "Example.test.");
	assert_int_equal(dns_name_normalize("example.test.", out, &why), 0);
	assert_string_equal(out, "example.test.");
	assert_int_equal(dns_name_normalize(".", out, &why), 0);
	assert_string_equal(out, ".");
	assert_int_equal(dns_name_normalize("", out, &why), -1);
	assert_int_equal(dns_name_normalize("a..b", out, &why), -1);
	assert_int_equal(dns_name_normalize(".a", out, &why), -1);
	assert_int_equal(dns_name_normalize("a b.test", out, &why), 0);
	assert_string_equal(out, "a\\032b.test.");
	assert_int_equal(dns_name_normalize("a\\.b", out, &why), 0);
	assert_string_equal(out, "a\\092.b.");
	memset(big, 'a', 64);
	big[64] = '\0';
	assert_int_equal(dns_name_normalize(big, out, &why), -1);
	big[63] = '\0';
	assert_int_equal(dns_name_normalize(big, out, &why), 0);
	/* 253 characters without the final dot is the longest (255 octets) */
	memset(big, 'a', 253);
	for (int i = 63; i < 253; i += 64)
		big[i] = '.';
	big[253] = '\0';
	assert_int_equal(dns_name_normalize(big, out, &why), 0);
	big[253] = 'a', big[254] = '\0';
	assert_int_equal(dns_name_normalize(big, out, &why), -1);
}

static void test_reverse_and_types(void **state)
{
	char out[80], tb[16];
	uint16_t t;

	assert_int_equal(dns_reverse_name("192.0.2.25", out, sizeof(out)), 0);
	assert_string_equal(out, "25.2.0.192.in-addr.arpa.");
	assert_int_equal(dns_reverse_name("2001:db8::567:89ab", out, sizeof(out)), 0);
	assert_string_equal(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
	assert_int_equal(strlen(out), 73);
	assert_int_equal(dns_reverse_name("2001:db8::1", out, 73), -1);
	assert_int_equal(dns_reverse_name("example.test", out, sizeof(out)), -1);

	assert_int_equal(dns_type_parse("mx", &t), 0);
	assert_int_equal(t, DNS_TYPE_MX);
	assert_int_equal(dns_type_parse("TLSA", &t), 0);
	assert_int_equal(t, 52);
	assert_int_equal(dns_type_parse("99", &t), 0);
	assert_int_equal(t, 99);
	assert_int_equal(dns_type_parse("TYPE65535", &t), 0);
	assert_int_equal(t, 65535);
	assert_int_equal(dns_type_parse("0", &t), -1);
	assert_int_equal(dns_type_parse("65536", &t), -1);
	assert_int_equal(dns_type_parse("MXX", &t), -1);
	assert_int_equal(dns_type_parse("", &t), -1);
	assert_string_equal(dns_type_name(DNS_TYPE_AAAA, tb, sizeof(tb)), "AAAA");
	assert_string_equal(dns_type_name(999, tb, sizeof(tb)), "TYPE999");
	assert_string_equal(dns_status_name(DNS_NODATA), "nodata");
	assert_string_equal(dns_security_name(DNS_SEC_BOGUS), "bogus");
}

/* ---- cache ---- */

static void test_cache_expiry(void **state)
{
	struct dns_cache *c = dns_cache_new(4);
	struct dns_cached hit;
	const uint8_t pkt[] = {1, 2, 3};

	dns_cache_put(c, "Example.TEST.", DNS_TYPE_MX, 1000, 300, pkt, 3, 0, DNS_SEC_SECURE);
	assert_false(dns_cache_get(c, "example.test.", DNS_TYPE_A, 1000, &hit));
	assert_true(dns_cache_get(c, "example.test.", DNS_TYPE_MX, 1000 + 299999, &hit));
	assert_int_equal(hit.len, 3);
	assert_int_equal(hit.age, 299);
	assert_int_equal(hit.security, DNS_SEC_SECURE);
	assert_memory_equal(hit.pkt, pkt, 3);
	free(hit.pkt);
	/* exactly at the TTL it is gone, and dropped */
	assert_false(dns_cache_get(c, "example.test.", DNS_TYPE_MX, 1000 + 300000, &hit));
	assert_int_equal(dns_cache_count(c), 0);

	/* TTL 0 is not stored and removes an older entry */
	dns_cache_put(c, "a.test.", 1, 0, 60, pkt, 3, 0, DNS_SEC_INSECURE);
	dns_cache_put(c, "a.test.", 1, 0, 0, pkt, 3, 0, DNS_SEC_INSECURE);
	assert_int_equal(dns_cache_count(c), 0);

	/* replacing keeps one entry */
	dns_cache_put(c, "a.test.", 1, 0, 60, pkt, 3, 0, DNS_SEC_INSECURE);
	dns_cache_put(c, "A.test.", 1, 0, 60, pkt, 2, 3, DNS_SEC_INSECURE);
	assert_int_equal(dns_cache_count(c), 1);
	assert_true(dns_cache_get(c, "a.test.", 1, 0, &hit));
	assert_int_equal(hit.rcode, 3);
	assert_int_equal(hit.len, 2);
	free(hit.pkt);
	dns_cache_free(&c);
	assert_null(c);
}

static void test_cache_lru_eviction(void **state)
{
	struct dns_cache *c = dns_cache_new(3);
	struct dns_cached hit;
	const uint8_t pkt[] = {0};
	char name[32];

	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "n%d.test.", i);
		dns_cache_put(c, name, 1, 0, 60, pkt, 1, 0, DNS_SEC_INSECURE);
	}
	/* use n0, so n1 is now the least recently used */
	assert_true(dns_cache_get(c, "n0.test.", 1, 0, &hit));
	free(hit.pkt);
	dns_cache_put(c, "n3.test.", 1, 0, 60, pkt, 1, 0, DNS_SEC_INSECURE);
	assert_int_equal(dns_cache_count(c), 3);
	assert_false(dns_cache_get(c, "n1.test.", 1, 0, &hit));
	for (int i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		snprintf(name, sizeof(name), "n%d.test.", i);
		assert_true(dns_cache_get(c, name, 1, 0, &hit));
		free(hit.pkt);
	}
	/* many more than fit */
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "m%d.test.", i);
		dns_cache_put(c, name, 1, 0, 60, pkt, 1, 0, DNS_SEC_INSECURE);
	}
	assert_int_equal(dns_cache_count(c), 3);
	assert_true(dns_cache_get(c, "m999.test.", 1, 0, &hit));
	free(hit.pkt);
	dns_cache_free(&c);
}

/* ---- the resolver against a server in this process ---- */

/* Answers A queries for *.ok.test with 192.0.2.N (N from a counter),
 * TXT queries with NODATA, names under nx.test with NXDOMAIN, and drops
 * queries under drop.test (so they time out). */
struct fake_server {
	int fd;
	int port;
	int stopfd[2];
	pthread_t thread;
	atomic_int queries;
};

static size_t fake_answer(struct fake_server *s, const uint8_t *q, size_t qn, uint8_t *out)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct dns_msg m;
	const char *why;
	size_t n = 0;

	if (dns_msg_parse(a, q, qn, &m, &why) < 0 || m.qname == NULL) {
		arena_free(&a);
		return 0;
	}
	bool drop = strcasestr(m.qname, "drop.test.") != NULL;
	bool nx = strcasestr(m.qname, "nx.test.") != NULL;
	bool a_rec = m.qtype == DNS_TYPE_A && strcasestr(m.qname, "ok.test.") != NULL;
	/* question end: header + name + 4 */
	size_t qend = DNS_HEADER_LEN;
	char tmp[DNS_NAME_TEXT_MAX];
	dns_wire_name(q, qn, &qend, tmp, &why);
	qend += 4;
	arena_free(&a);
	if (drop)
		return 0;
	int nth = atomic_fetch_add(&s->queries, 1);
	memcpy(out, q, qend);
	out[2] = (uint8_t)(0x84 | (q[2] & 1)); /* QR AA RD */
	out[3] = (uint8_t)(0x80 | (nx ? 3 : 0)); /* RA, RCODE */
	out[6] = 0, out[7] = a_rec ? 1 : 0;
	memset(out + 8, 0, 4); /* no authority, no additional (drops the OPT) */
	n = qend;
	if (a_rec) {
		const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4,
		                      192, 0, 2, (uint8_t)(1 + nth % 200)};
		memcpy(out + n, rr, sizeof(rr));
		n += sizeof(rr);
	}
	return n;
}

static void *fake_main(void *arg)
{
	struct fake_server *s = arg;
	uint8_t q[1500], out[1600];
	for (;;) {
		struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->stopfd[0], .events = POLLIN}};
		if (poll(p, 2, -1) < 0 || p[1].revents != 0)
			return NULL;
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			continue;
		size_t an = fake_answer(s, q, (size_t)n, out);
		if (an > 0)
			sendto(s->fd, out, an, 0, (struct sockaddr *)&from, fl);
	}
}

static void fake_start(struct fake_server *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &sl), 0);
	s->port = ntohs(sa.sin_port);
	atomic_init(&s->queries, 0);
	assert_int_equal(pipe(s->stopfd), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, fake_main, s), 0);
}

static void fake_stop(struct fake_server *s)
{
	(void)!write(s->stopfd[1], "x", 1);
	pthread_join(s->thread, NULL);
	close(s->fd);
	close(s->stopfd[0]);
	close(s->stopfd[1]);
}

/* A trust anchor for a name no test asks about: it stands in for the root
 * anchor, so answers of the fake server are insecure, not bogus. */
static const char *const unrelated_anchor[] = {
	"anchor.invalid. IN DS 12345 13 2 "
	"0000000000000000000000000000000000000000000000000000000000000000",
};

static struct dns_resolver *resolver_for(struct fake_server *s, int cache, int timeout_ms)
{
	char up[64];
	const char *ups[] = {up};
	snprintf(up, sizeof(up), "127.0.0.1@%d", s->port);
	struct dns_resolver_config cfg = {
		.upstreams = ups, .nupstreams = 1,
		.trust_anchors = unrelated_anchor, .ntrust_anchors = 1,
		.cache_entries = cache, .timeout_ms = timeout_ms,
	};
	struct dns_resolver *res = NULL;
	struct error err;
	if (dns_resolver_new(&cfg, &res, &err) < 0)
		fail_msg("dns_resolver_new: %s", err.msg);
	return res;
}

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static void test_resolver_answers_and_cache(void **state)
{
	struct fake_server s;
	fake_start(&s);
	struct dns_resolver *res = resolver_for(&s, 100, 5000);
	struct dns_result *r;

	fake_now = 1000000;
	dns_resolver_set_clock(res, fake_clock);
	assert_int_equal(dns_lookup_a(res, "Host.OK.test", &r), DNS_OK);
	assert_int_equal(r->security, DNS_SEC_INSECURE);
	assert_int_equal(r->nrrs, 1);
	assert_int_equal(r->ttl, 3600);
	assert_int_equal(strncasecmp(r->rrs[0].text, "host.ok.test. 3600 IN A 192.0.2.", 32), 0);
	dns_result_free(&r);
	int asked = atomic_load(&s.queries);

	/* from tern's cache: no query, TTL aged */
	fake_now += 100500;
	assert_int_equal(dns_lookup_a(res, "host.ok.test.", &r), DNS_OK);
	assert_int_equal(r->rrs[0].ttl, 3500);
	assert_int_equal(atomic_load(&s.queries), asked);
	dns_result_free(&r);

	assert_int_equal(dns_lookup_txt(res, "host.ok.test", &r), DNS_NODATA);
	dns_result_free(&r);
	assert_int_equal(dns_lookup(res, "a.nx.test", DNS_TYPE_A, &r), DNS_NXDOMAIN);
	assert_int_equal(r->ttl, DNS_NEGATIVE_TTL_DEFAULT);
	dns_result_free(&r);
	assert_int_equal(dns_lookup(res, "a..test", DNS_TYPE_A, &r), DNS_INVALID);
	assert_non_null(r->error);
	dns_result_free(&r);
	assert_int_equal(dns_lookup_ptr(res, "not-an-ip", &r), DNS_INVALID);
	dns_result_free(&r);

	dns_resolver_free(&res);
	assert_null(res);
	fake_stop(&s);
}

static void test_resolver_timeout(void **state)
{
	struct fake_server s;
	fake_start(&s);
	struct dns_resolver *res = resolver_for(&s, 0, 300);
	struct dns_result *r;

	assert_int_equal(dns_lookup_a(res, "x.drop.test", &r), DNS_TEMPFAIL);
	assert_string_equal(r->error, "timeout");
	dns_result_free(&r);
	/* the resolver still works afterwards */
	assert_int_equal(dns_lookup_a(res, "y.ok.test", &r), DNS_OK);
	dns_result_free(&r);
	dns_resolver_free(&res);
	fake_stop(&s);
}

struct worker_arg {
	struct dns_resolver *res;
	int id;
	int ok;
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	char name[64];
	for (int i = 0; i < 40; i++) {
		struct dns_result *r;
		snprintf(name, sizeof(name), "w%d-%d.ok.test", w->id, i % 20);
		if (dns_lookup_a(w->res, name, &r) == DNS_OK && r->nrrs == 1)
			w->ok++;
		dns_result_free(&r);
	}
	return NULL;
}

static void test_resolver_many_threads(void **state)
{
	struct fake_server s;
	fake_start(&s);
	struct dns_resolver *res = resolver_for(&s, 50, 5000);
	pthread_t t[8];
	struct worker_arg w[8];

	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker_arg){.res = res, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 40);
	}
	dns_resolver_free(&res);
	fake_stop(&s);
}

/* Shutdown while lookups wait: they end with DNS_TEMPFAIL, none hangs. */
static void *slow_lookup(void *p)
{
	struct dns_result *r;
	enum dns_status st = dns_lookup_a(p, "z.drop.test", &r);
	dns_result_free(&r);
	return (void *)(intptr_t)st;
}

static void test_resolver_shutdown_with_waiters(void **state)
{
	struct fake_server s;
	fake_start(&s);
	struct dns_resolver *res = resolver_for(&s, 0, 60000);
	pthread_t t;
	void *st;

	assert_int_equal(pthread_create(&t, NULL, slow_lookup, res), 0);
	usleep(200000);
	dns_resolver_stop(res);
	dns_resolver_stop(res); /* again: nothing */
	pthread_join(t, &st);
	assert_int_equal((intptr_t)st, DNS_TEMPFAIL);
	struct dns_result *r;
	assert_int_equal(dns_lookup_a(res, "late.ok.test", &r), DNS_TEMPFAIL);
	assert_string_equal(r->error, "resolver stopped");
	dns_result_free(&r);
	dns_resolver_free(&res);
	fake_stop(&s);
}

/* A zone with its own server goes to its own server; everything else to the upstream,
 * here a port where nothing answers. */
static void test_resolver_stub_zone(void **state)
{
	struct fake_server s;
	fake_start(&s);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1@%d", s.port);
	const char *ups[] = {"127.0.0.1@9"};
	const struct dns_stub stubs[] = {{"ok.test.", addr}};
	struct dns_resolver_config cfg = {
		.upstreams = ups, .nupstreams = 1, .stubs = stubs, .nstubs = 1,
		.trust_anchors = unrelated_anchor, .ntrust_anchors = 1, .timeout_ms = 3000,
	};
	struct dns_resolver *res;
	struct error err;
	struct dns_result *r;
	assert_int_equal(dns_resolver_new(&cfg, &res, &err), 0);
	assert_int_equal(dns_lookup_a(res, "s.ok.test", &r), DNS_OK);
	dns_result_free(&r);
	dns_resolver_free(&res);
	fake_stop(&s);
}

static void test_resolver_bad_config(void **state)
{
	const char *ups[] = {"not an address"};
	struct dns_resolver_config cfg = {.upstreams = ups, .nupstreams = 1};
	struct dns_resolver *res = NULL;
	struct error err;
	assert_int_equal(dns_resolver_new(&cfg, &res, &err), -1);
	assert_non_null(strstr(err.msg, "not an address"));

	struct dns_resolver_config cfg2 = {.trust_anchor_file = "/nonexistent/anchor"};
	assert_int_equal(dns_resolver_new(&cfg2, &res, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/anchor"));
	assert_null(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_plain_and_root),
		cmocka_unit_test(test_name_escapes),
		cmocka_unit_test(test_name_compression),
		cmocka_unit_test(test_name_pointer_loops),
		cmocka_unit_test(test_name_truncated_and_bad),
		cmocka_unit_test(test_name_length_limit),
		cmocka_unit_test(test_msg_header_and_counts),
		cmocka_unit_test(test_rr_addresses),
		cmocka_unit_test(test_rr_mx_compressed),
		cmocka_unit_test(test_rr_txt),
		cmocka_unit_test(test_rr_tlsa),
		cmocka_unit_test(test_rr_names_soa_srv_caa_generic),
		cmocka_unit_test(test_result_cname_chain_and_mx_order),
		cmocka_unit_test(test_result_cname_loop),
		cmocka_unit_test(test_result_negative),
		cmocka_unit_test(test_name_normalize),
		cmocka_unit_test(test_reverse_and_types),
		cmocka_unit_test(test_cache_expiry),
		cmocka_unit_test(test_cache_lru_eviction),
		cmocka_unit_test(test_resolver_answers_and_cache),
		cmocka_unit_test(test_resolver_timeout),
		cmocka_unit_test(test_resolver_many_threads),
		cmocka_unit_test(test_resolver_shutdown_with_waiters),
		cmocka_unit_test(test_resolver_stub_zone),
		cmocka_unit_test(test_resolver_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
