/*
 * wire.c: the DNS message format of RFC 1035 §4.1, read from untrusted bytes.
 * @UNSAFE: offsets into packets; every read is checked against the length.
 *
 * The packets come from libunbound (answer_packet of a ub_result), which
 * builds them from whatever the network sent, so they are parsed as hostile:
 * every length is checked before the bytes are read, names are limited to
 * 255 octets (RFC 1035 §3.1) and 63-octet labels (§2.3.4), and compression
 * pointers (§4.1.4) must point to a "prior occurrence": each pointer's target
 * lies before the start of the labels read just before it, so a chain of
 * pointers always moves backwards and ends. Names found inside rdata are
 * decompressed against the whole packet, which is why rdata is parsed here
 * and not from ub_result's data[] (those copies hold pointers into a packet
 * they do not carry).
 *
 * Names are written in presentation form (RFC 1035 §5.1): labels joined by
 * ".", a final ".", and "\c" or "\DDD" for octets that would be ambiguous.
 */
#include "dns/internal.h"

#include "core/buf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest text made for one record: rdata is at most 65535 octets and \DDD
 * or two hex digits per octet, plus the owner and the fixed fields. */
#define RR_TEXT_MAX (4 * 65536 + 2 * DNS_NAME_TEXT_MAX + 64)

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes one label octet in presentation form; returns the characters used. */
static size_t escape_octet(uint8_t c, char *out)
{
	if (c < 0x21 || c > 0x7e)
		return (size_t)sprintf(out, "\\%03u", c);
	if (strchr(".\\\"()@$;", c) != NULL) {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	out[0] = (char)c;
	return 1;
}

/*
 * RFC 1035 §4.1.4:
 *   name     = *label ( zero-octet / pointer )
 *   label    = length(1..63, top bits 00) 1*63OCTET
 *   pointer  = 2OCTET with top bits 11, 14-bit offset from the message start
 * Label types 01 and 10 (RFC 6891 §5 deprecates extended labels) are errors.
 */
int dns_wire_name(const uint8_t *pkt, size_t len, size_t *off, char *out,
                  const char **error_r)
{
	size_t pos = *off, run_start = *off, after = 0, wirelen = 0, o = 0;
	unsigned pointers = 0;

	for (;;) {
		if (pos >= len) {
			*error_r = "name runs past the end of the message";
			return -1;
		}
		uint8_t c = pkt[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len) {
				*error_r = "compression pointer cut off";
				return -1;
			}
			size_t target = (size_t)(c & 0x3f) << 8 | pkt[pos + 1];
			/* §4.1.4: a pointer refers to a prior occurrence; anything
			 * at or after run_start could loop. */
			if (target >= run_start || ++pointers > DNS_WIRE_POINTERS_MAX) {
				*error_r = "compression pointer does not point backwards";
				return -1;
			}
			if (after == 0)
				after = pos + 2;
			pos = run_start = target;
			continue;
		}
		if ((c & 0xc0) != 0) {
			*error_r = "reserved label type";
			return -1;
		}
		if (c == 0)
			break;
		/* §3.1: 255 octets in all, counting length octets and the root. */
		if (pos + 1 + c > len) {
			*error_r = "label runs past the end of the message";
			return -1;
		}
		wirelen += 1u + c;
		if (wirelen + 1 > 255) {
			*error_r = "name longer than 255 octets";
			return -1;
		}
		for (size_t i = 0; i < c; i++)
			o += escape_octet(pkt[pos + 1 + i], out + o);
		out[o++] = '.';
		pos += 1u + c;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	*off = after != 0 ? after : pos + 1;
	return 0;
}

bool dns_name_equal(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* RFC 1035 §4.1.3: NAME TYPE(2) CLASS(2) TTL(4) RDLENGTH(2) RDATA. */
static int parse_rr(struct arena *a, const uint8_t *pkt, size_t len, size_t *off,
                    struct dns_wire_rr *rr, const char **error_r)
{
	char name[DNS_NAME_TEXT_MAX];
	size_t start = *off;
	const char *why;

	if (dns_wire_name(pkt, len, off, name, &why) < 0) {
		*error_r = arena_printf(a, "record at offset %zu: %s", start, why);
		return -1;
	}
	if (len - *off < 10) {
		*error_r = arena_printf(a, "record at offset %zu: cut off after its name", start);
		return -1;
	}
	const uint8_t *p = pkt + *off;
	rr->name = arena_strdup(a, name);
	rr->type = get16(p);
	rr->class = get16(p + 2);
	rr->ttl = get32(p + 4);
	/* RFC 2181 §8: a TTL with the top bit set is read as zero. */
	if (rr->ttl > 0x7fffffffu)
		rr->ttl = 0;
	rr->rdlen = get16(p + 8);
	rr->rdoff = *off + 10;
	if (rr->rdlen > len - rr->rdoff) {
		*error_r = arena_printf(a, "record at offset %zu: rdata of %zu octets runs past "
		                        "the end", start, rr->rdlen);
		return -1;
	}
	*off = rr->rdoff + rr->rdlen;
	return 0;
}

static int parse_section(struct arena *a, const uint8_t *pkt, size_t len, size_t *off,
                         size_t count, struct dns_wire_rr **rrs_r, const char **error_r)
{
	/* Each record takes at least 11 octets: a count that cannot fit is a
	 * lie, and must not size an allocation. */
	if (count > (len - *off) / 11) {
		*error_r = arena_printf(a, "%zu records cannot fit in the %zu octets left",
		                        count, len - *off);
		return -1;
	}
	struct dns_wire_rr *rrs = arena_alloc(a, count * sizeof(*rrs));
	for (size_t i = 0; i < count; i++)
		if (parse_rr(a, pkt, len, off, &rrs[i], error_r) < 0)
			return -1;
	*rrs_r = rrs;
	return 0;
}

/* RFC 1035 §4.1.1 header, §4.1.2 question, §4.1.3 records. Octets after the
 * last record are ignored, as resolvers do. */
int dns_msg_parse(struct arena *a, const uint8_t *pkt, size_t len, struct dns_msg *m,
                  const char **error_r)
{
	memset(m, 0, sizeof(*m));
	if (len < DNS_HEADER_LEN) {
		*error_r = arena_printf(a, "message of %zu octets is shorter than a header", len);
		return -1;
	}
	m->id = get16(pkt);
	m->flags = get16(pkt + 2);
	m->rcode = m->flags & 0xf;
	size_t qd = get16(pkt + 4), an = get16(pkt + 6), ns = get16(pkt + 8), ar = get16(pkt + 10);
	size_t off = DNS_HEADER_LEN;
	if (qd > 1) {
		*error_r = arena_printf(a, "%zu questions, expected at most one", qd);
		return -1;
	}
	if (qd == 1) {
		char name[DNS_NAME_TEXT_MAX];
		const char *why;
		if (dns_wire_name(pkt, len, &off, name, &why) < 0) {
			*error_r = arena_printf(a, "question: %s", why);
			return -1;
		}
		if (len - off < 4) {
			*error_r = "question cut off after its name";
			return -1;
		}
		m->qname = arena_strdup(a, name);
		m->qtype = get16(pkt + off);
		m->qclass = get16(pkt + off + 2);
		off += 4;
	}
	if (parse_section(a, pkt, len, &off, an, &m->an, error_r) < 0 ||
	    parse_section(a, pkt, len, &off, ns, &m->ns, error_r) < 0 ||
	    parse_section(a, pkt, len, &off, ar, &m->ar, error_r) < 0)
		return -1;
	m->nan = an;
	m->nns = ns;
	m->nar = ar;
	return 0;
}

/* ---- rdata (RFC 1035 §3.3, §3.4 and the RFCs of later types) ---- */

/* A cursor over one record's rdata; names may point back into pkt. */
struct rdata {
	struct arena *a;
	const uint8_t *pkt;
	size_t len;      /* of pkt */
	size_t off;      /* next octet to read */
	size_t end;      /* one past the rdata */
	const char *why; /* set on the first error */
};

static bool need(struct rdata *d, size_t n)
{
	if (d->why == NULL && d->end - d->off < n)
		d->why = arena_printf(d->a, "rdata cut off: %zu octets needed at offset %zu, %zu left",
		                      n, d->off, d->end - d->off);
	return d->why == NULL;
}

static unsigned rd8(struct rdata *d)
{
	return need(d, 1) ? d->pkt[d->off++] : 0;
}

static unsigned rd16(struct rdata *d)
{
	if (!need(d, 2))
		return 0;
	d->off += 2;
	return get16(d->pkt + d->off - 2);
}

static uint32_t rd32(struct rdata *d)
{
	if (!need(d, 4))
		return 0;
	d->off += 4;
	return get32(d->pkt + d->off - 4);
}

static const char *rdname(struct rdata *d)
{
	char name[DNS_NAME_TEXT_MAX];
	const char *why;
	if (d->why != NULL)
		return ".";
	/* Parse against the rdata end first so a name cannot borrow octets
	 * of the next record; pointers still reach back into the packet. */
	size_t off = d->off;
	if (dns_wire_name(d->pkt, d->end, &off, name, &why) < 0) {
		d->why = arena_printf(d->a, "name in rdata at offset %zu: %s", d->off, why);
		return ".";
	}
	d->off = off;
	return arena_strdup(d->a, name);
}

/* RFC 1035 §3.3: <character-string> is a length octet and that many octets. */
static int rdstring(struct rdata *d, const uint8_t **s_r, size_t *n_r)
{
	size_t n = rd8(d);
	if (!need(d, n))
		return -1;
	*s_r = d->pkt + d->off;
	*n_r = n;
	d->off += n;
	return 0;
}

/* RFC 1035 §5.1: a <character-string> in quotes, with \" \\ and \DDD. */
static void text_quoted(struct buf *t, const uint8_t *s, size_t n)
{
	buf_append_char(t, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_appendf(t, "\\%c", s[i]);
		else if (s[i] < 0x20 || s[i] > 0x7e)
			buf_appendf(t, "\\%03u", s[i]);
		else
			buf_append_char(t, (char)s[i]);
	}
	buf_append_char(t, '"');
}

static void text_hex(struct buf *t, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_appendf(t, "%02X", p[i]);
}

/* RFC 1035 §3.3.14: TXT-DATA is one or more <character-string>s. Zero
 * strings (an empty rdata) are accepted and read as "". */
static void parse_txt(struct rdata *d, struct dns_txt *txt, struct buf *t)
{
	size_t count = 0, total = 0;
	for (size_t o = d->off; o < d->end; o += 1u + d->pkt[o]) {
		count++;
		total += d->pkt[o];
	}
	struct dns_txt_string *ss = arena_alloc(d->a, count * sizeof(*ss));
	char *all = arena_alloc(d->a, total + 1);
	size_t used = 0;
	for (size_t i = 0; i < count; i++) {
		const uint8_t *s;
		size_t n;
		if (rdstring(d, &s, &n) < 0)
			return;
		ss[i].data = arena_strndup(d->a, (const char *)s, n);
		ss[i].len = n;
		memcpy(all + used, s, n);
		used += n;
		if (i > 0)
			buf_append_char(t, ' ');
		text_quoted(t, s, n);
	}
	txt->strings = ss;
	txt->nstrings = count;
	txt->text = all;
	txt->len = used;
}

/* RFC 6698 §2.1: usage(1) selector(1) matching type(1) association data. */
static void parse_tlsa(struct rdata *d, struct dns_tlsa *tlsa, struct buf *t)
{
	tlsa->usage = (uint8_t)rd8(d);
	tlsa->selector = (uint8_t)rd8(d);
	tlsa->mtype = (uint8_t)rd8(d);
	if (d->why != NULL)
		return;
	tlsa->len = d->end - d->off;
	uint8_t *data = arena_alloc(d->a, tlsa->len);
	memcpy(data, d->pkt + d->off, tlsa->len);
	tlsa->data = data;
	d->off = d->end;
	/* §2.2: the data is written as hexadecimal. */
	buf_appendf(t, "%u %u %u ", tlsa->usage, tlsa->selector, tlsa->mtype);
	text_hex(t, tlsa->data, tlsa->len);
}

/* RFC 8659 §4.1: flags(1) tag-length(1) tag value. */
static void parse_caa(struct rdata *d, struct buf *t)
{
	unsigned flags = rd8(d);
	const uint8_t *tag;
	size_t taglen;
	if (rdstring(d, &tag, &taglen) < 0)
		return;
	buf_appendf(t, "%u %.*s ", flags, (int)taglen, (const char *)tag);
	text_quoted(t, d->pkt + d->off, d->end - d->off);
	d->off = d->end;
}

/* RFC 3597 §5: \# LENGTH HEX for types without their own form. */
static void parse_generic(struct rdata *d, struct buf *t)
{
	buf_appendf(t, "\\# %zu", d->end - d->off);
	if (d->end > d->off)
		buf_append_char(t, ' ');
	text_hex(t, d->pkt + d->off, d->end - d->off);
	d->off = d->end;
}

static void parse_addr(struct rdata *d, int af, void *dst, size_t n, struct buf *t)
{
	char s[INET6_ADDRSTRLEN];
	if (d->end - d->off != n) {
		d->why = arena_printf(d->a, "address rdata of %zu octets, expected %zu",
		                      d->end - d->off, n);
		return;
	}
	memcpy(dst, d->pkt + d->off, n);
	d->off += n;
	buf_append_str(t, inet_ntop(af, dst, s, sizeof(s)));
}

static void parse_rdata(struct rdata *d, struct dns_rr *rr, struct buf *t)
{
	switch (rr->type) {
	case DNS_TYPE_A: /* RFC 1035 §3.4.1 */
		parse_addr(d, AF_INET, &rr->u.a, 4, t);
		break;
	case DNS_TYPE_AAAA: /* RFC 3596 §2.2 */
		parse_addr(d, AF_INET6, &rr->u.aaaa, 16, t);
		break;
	case DNS_TYPE_NS: /* RFC 1035 §3.3.11, §3.3.1, §3.3.12 */
	case DNS_TYPE_CNAME:
	case DNS_TYPE_PTR:
		rr->u.target = rdname(d);
		buf_append_str(t, rr->u.target);
		break;
	case DNS_TYPE_MX: /* RFC 1035 §3.3.9: PREFERENCE(2) EXCHANGE */
		rr->u.mx.preference = (uint16_t)rd16(d);
		rr->u.mx.host = rdname(d);
		buf_appendf(t, "%u %s", rr->u.mx.preference, rr->u.mx.host);
		break;
	case DNS_TYPE_TXT:
		parse_txt(d, &rr->u.txt, t);
		break;
	case DNS_TYPE_SOA: { /* RFC 1035 §3.3.13 */
		struct dns_soa *s = &rr->u.soa;
		s->mname = rdname(d);
		s->rname = rdname(d);
		s->serial = rd32(d), s->refresh = rd32(d), s->retry = rd32(d);
		s->expire = rd32(d), s->minimum = rd32(d);
		buf_appendf(t, "%s %s %u %u %u %u %u", s->mname, s->rname, s->serial, s->refresh,
		            s->retry, s->expire, s->minimum);
		break;
	}
	case DNS_TYPE_SRV: /* RFC 2782: priority weight port target */
		rr->u.srv.priority = (uint16_t)rd16(d);
		rr->u.srv.weight = (uint16_t)rd16(d);
		rr->u.srv.port = (uint16_t)rd16(d);
		rr->u.srv.target = rdname(d);
		buf_appendf(t, "%u %u %u %s", rr->u.srv.priority, rr->u.srv.weight,
		            rr->u.srv.port, rr->u.srv.target);
		break;
	case DNS_TYPE_TLSA:
		parse_tlsa(d, &rr->u.tlsa, t);
		break;
	case DNS_TYPE_CAA:
		parse_caa(d, t);
		break;
	default:
		parse_generic(d, t);
		break;
	}
}

int dns_rr_parse(struct arena *a, const uint8_t *pkt, size_t len, const struct dns_wire_rr *w,
                 uint32_t ttl, struct dns_rr *rr, const char **error_r)
{
	struct rdata d = {.a = a, .pkt = pkt, .len = len, .off = w->rdoff,
	                  .end = w->rdoff + w->rdlen};
	struct buf t;
	char tbuf[16], cbuf[16];

	if (d.end > len || d.end < d.off) {
		*error_r = "rdata outside the message";
		return -1;
	}
	memset(rr, 0, sizeof(*rr));
	rr->name = w->name;
	rr->type = w->type;
	rr->ttl = ttl;
	rr->rdata = pkt + w->rdoff;
	rr->rdlen = w->rdlen;

	buf_init(&t, RR_TEXT_MAX);
	/* RFC 3597 §5: CLASSnnn for classes without a name. */
	snprintf(cbuf, sizeof(cbuf), "CLASS%u", w->class);
	buf_appendf(&t, "%s %u %s %s ", w->name, ttl, w->class == 1 ? "IN" : cbuf,
	            dns_type_name(w->type, tbuf, sizeof(tbuf)));
	parse_rdata(&d, rr, &t);
	if (d.why == NULL && d.off != d.end)
		d.why = arena_printf(a, "%zu octets left over in %s rdata", d.end - d.off,
		                     dns_type_name(w->type, tbuf, sizeof(tbuf)));
	if (d.why != NULL) {
		buf_free(&t);
		*error_r = arena_printf(a, "%s %s: %s", w->name, dns_type_name(w->type, tbuf, sizeof(tbuf)),
		                        d.why);
		return -1;
	}
	rr->text = arena_strndup(a, t.data, t.len);
	buf_free(&t);
	return 0;
}

/* ---- type names ---- */

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
	{DNS_TYPE_A, "A"},         {DNS_TYPE_NS, "NS"},       {DNS_TYPE_CNAME, "CNAME"},
	{DNS_TYPE_SOA, "SOA"},     {DNS_TYPE_PTR, "PTR"},     {DNS_TYPE_MX, "MX"},
	{DNS_TYPE_TXT, "TXT"},     {DNS_TYPE_AAAA, "AAAA"},   {DNS_TYPE_SRV, "SRV"},
	{43, "DS"},                {46, "RRSIG"},             {47, "NSEC"},
	{48, "DNSKEY"},            {50, "NSEC3"},             {DNS_TYPE_TLSA, "TLSA"},
	{64, "SVCB"},              {65, "HTTPS"},             {DNS_TYPE_CAA, "CAA"},
};

const char *dns_type_name(uint16_t type, char *buf, size_t bufsize)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	snprintf(buf, bufsize, "TYPE%u", type);
	return buf;
}

static int parse_number(const char *s, uint16_t *type_r)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long n = strtoul(s, &end, 10);
	if (*end != '\0' || n < 1 || n > 65535)
		return -1;
	*type_r = (uint16_t)n;
	return 0;
}

int dns_type_parse(const char *s, uint16_t *type_r)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(type_names[i].name, s) == 0) {
			*type_r = type_names[i].type;
			return 0;
		}
	if (strncasecmp(s, "TYPE", 4) == 0)
		s += 4;
	return parse_number(s, type_r);
}
