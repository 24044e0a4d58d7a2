/*
 * psl.c: the Public Suffix List (https://publicsuffix.org/list/) and the
 * Organizational Domain of RFC 7489 §3.2.
 *
 * The list is kept as an open-addressing hash set of rule names in A-label
 * form, each with flag bits: a plain rule, a wildcard rule ("*.ck" is kept
 * as "ck" with RULE_WILD) and an exception ("!www.ck" as "www.ck" with
 * RULE_EXC), each bit once for the ICANN and once for the private section.
 * A lookup asks for each suffix of the name once: at most 127 hash probes.
 *
 * IDNA: the file writes internationalised rules as U-labels; names reach
 * DMARC in A-labels (DKIM d=, DNS) but may come as U-labels from an EAI
 * From header. Rules are converted to A-labels when the list is loaded, and
 * a name to look up is converted too (libidn2, IDNA2008 with UTS #46
 * non-transitional mapping, which also lower-cases); the answer is given
 * back in the form of the input by keeping the input's last N labels.
 *
 * Private section: counted for DMARC. RFC 7489 §3.2 only says "a public
 * suffix list"; the private section lists names under which unrelated
 * parties get their own subdomains (github.io, blogspot.com). Without it
 * alice.github.io and mallory.github.io would share the Organizational
 * Domain github.io, and under relaxed alignment (§3.1) a DKIM signature of
 * mallory.github.io would align with mail From alice.github.io: the
 * private entries are exactly the boundaries alignment must not cross.
 * (This also matches what the list's own tests expect and what OpenDMARC
 * and Go's publicsuffix, used by mox, do.)
 */
#include "dmarc/dmarc.h"

#include "core/arena.h"
#include "core/buf.h"

#include <errno.h>
#include <idn2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	RULE_PLAIN = 1,
	RULE_WILD = 2,
	RULE_EXC = 4,
	/* the same bits << 3 for the private section */
	RULE_PRIVATE_SHIFT = 3,
};

struct slot {
	uint32_t off;     /* into names; 0 = empty (names[0] is a NUL) */
	uint32_t hash;
	uint8_t flags;
};

struct dmarc_psl {
	char *names;      /* NUL-separated rule names */
	size_t names_len;
	struct slot *slots;
	size_t nslots;    /* power of two */
	size_t nrules;
	size_t nskipped;
};

/* Longest name handled: 253 characters in A-label form (RFC 1035 §2.3.4). */
#define NAME_MAX_LEN 253

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;   /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static struct slot *find_slot(const struct dmarc_psl *psl, const char *s, size_t n, uint32_t h)
{
	size_t mask = psl->nslots - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct slot *sl = &psl->slots[i];
		if (sl->off == 0)
			return sl;
		const char *name = psl->names + sl->off;
		if (sl->hash == h && strncmp(name, s, n) == 0 && name[n] == '\0')
			return sl;
	}
}

static unsigned lookup_flags(const struct dmarc_psl *psl, const char *s, size_t n)
{
	struct slot *sl = find_slot(psl, s, n, hash_bytes(s, n));
	return sl->off == 0 ? 0 : sl->flags;
}

static bool is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* s in A-label form, lower case, into out (malloc'd by libidn2 or a copy);
 * NULL if IDNA refuses it. */
static char *to_alabel(const char *s)
{
	char *out = NULL;
	if (is_ascii(s)) {
		out = strdup(s);
		if (out == NULL)
			abort();
		for (char *p = out; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		return out;
	}
	if (idn2_to_ascii_8z(s, &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) == IDN2_OK)
		return out;
	out = NULL;
	if (idn2_to_ascii_8z(s, &out, IDN2_NFC_INPUT | IDN2_TRANSITIONAL) == IDN2_OK)
		return out;
	return NULL;
}

struct pending {
	char *name;
	unsigned flags;
};

int dmarc_psl_parse(const char *text, size_t len, struct dmarc_psl **psl_r, struct error *err)
{
	struct pending *rules = NULL;
	size_t nrules = 0, cap = 0, skipped = 0, names_len = 1;
	bool private_section = false;
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		/* A rule is the line up to the first white space. */
		const char *q = p;
		while (q < eol && *q != ' ' && *q != '\t' && *q != '\r')
			q++;
		size_t n = (size_t)(q - p);
		if (n >= 2 && p[0] == '/' && p[1] == '/') {
			if (memmem(p, (size_t)(eol - p), "===BEGIN PRIVATE DOMAINS===", 27) != NULL)
				private_section = true;
			else if (memmem(p, (size_t)(eol - p), "===BEGIN ICANN DOMAINS===", 25) != NULL)
				private_section = false;
		} else if (n > 0 && n <= NAME_MAX_LEN + 2) {
			unsigned kind = RULE_PLAIN;
			const char *r = p;
			if (n > 2 && r[0] == '*' && r[1] == '.') {
				kind = RULE_WILD;
				r += 2;
			} else if (n > 1 && r[0] == '!') {
				kind = RULE_EXC;
				r += 1;
			}
			char tmp[NAME_MAX_LEN * 4 + 8];
			size_t rn = (size_t)(q - r);
			char *name = NULL;
			if (rn < sizeof(tmp) && memchr(r, '\0', rn) == NULL) {
				memcpy(tmp, r, rn);
				tmp[rn] = '\0';
				name = to_alabel(tmp);
			}
			if (name == NULL || name[0] == '\0' || strlen(name) > NAME_MAX_LEN) {
				free(name);
				skipped++;
			} else {
				if (nrules == cap) {
					cap = cap ? cap * 2 : 1024;
					rules = realloc(rules, cap * sizeof(*rules));
					if (rules == NULL)
						abort();
				}
				rules[nrules].name = name;
				rules[nrules].flags = private_section ? kind << RULE_PRIVATE_SHIFT : kind;
				nrules++;
				names_len += strlen(name) + 1;
			}
		}
		p = eol + 1;
	}
	if (nrules == 0) {
		free(rules);
		return error_set(err, ERR_INVALID, "public suffix list: no rules");
	}

	struct dmarc_psl *psl = calloc(1, sizeof(*psl));
	if (psl == NULL)
		abort();
	psl->nslots = 16;
	while (psl->nslots < nrules * 2)
		psl->nslots *= 2;
	psl->slots = calloc(psl->nslots, sizeof(*psl->slots));
	psl->names = malloc(names_len);
	if (psl->slots == NULL || psl->names == NULL)
		abort();
	psl->names[0] = '\0';
	size_t off = 1;
	for (size_t i = 0; i < nrules; i++) {
		size_t n = strlen(rules[i].name);
		uint32_t h = hash_bytes(rules[i].name, n);
		struct slot *sl = find_slot(psl, rules[i].name, n, h);
		if (sl->off == 0) {
			memcpy(psl->names + off, rules[i].name, n + 1);
			sl->off = (uint32_t)off;
			sl->hash = h;
			off += n + 1;
			psl->nrules++;
		}
		sl->flags |= (uint8_t)rules[i].flags;
		free(rules[i].name);
	}
	free(rules);
	psl->names_len = off;
	psl->nskipped = skipped;
	*psl_r = psl;
	return 0;
}

int dmarc_psl_load(const char *path, struct dmarc_psl **psl_r, struct error *err)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return error_errno(err, errno, "%s", path);
	struct buf b;
	buf_init(&b, 64u << 20);   /* the list is ~250 KB; a bound against a wrong path */
	char tmp[65536];
	size_t n;
	int rc = 0;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (buf_append(&b, tmp, n) < 0) {
			rc = error_set(err, ERR_LIMIT, "%s: larger than 64 MB", path);
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = error_errno(err, errno, "%s", path);
	fclose(f);
	if (rc == 0 && dmarc_psl_parse(b.data, b.len, psl_r, err) < 0)
		rc = error_prefix(err, "%s", path);
	buf_free(&b);
	return rc;
}

void dmarc_psl_free(struct dmarc_psl **psl)
{
	if (psl == NULL || *psl == NULL)
		return;
	free((*psl)->slots);
	free((*psl)->names);
	free(*psl);
	*psl = NULL;
}

size_t dmarc_psl_nrules(const struct dmarc_psl *psl)
{
	return psl->nrules;
}

size_t dmarc_psl_nskipped(const struct dmarc_psl *psl)
{
	return psl->nskipped;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct dmarc_psl *default_psl;
static struct error default_err;

static void load_default(void)
{
	if (dmarc_psl_load(DMARC_PSL_FILE, &default_psl, &default_err) < 0)
		default_psl = NULL;
}

const struct dmarc_psl *dmarc_psl_default(struct error *err)
{
	pthread_once(&default_once, load_default);
	if (default_psl == NULL && err != NULL)
		*err = default_err;
	return default_psl;
}

/* Splits the A-label form name into label start offsets; returns the count,
 * or 0 for an unusable name (empty label, too long). */
static size_t split_labels(const char *name, size_t *starts, size_t max)
{
	size_t n = 0, len = strlen(name);
	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			if (i == start || i - start > 63 || n == max)
				return 0;
			starts[n++] = start;
			start = i + 1;
		}
	}
	return n;
}

/* Labels in the public suffix of the A-label name (PSL algorithm,
 * https://publicsuffix.org/list/ "Algorithm"): exception rules win, then
 * the matching rule with most labels, "*" when none matches. 0 on error. */
static size_t suffix_labels(const struct dmarc_psl *psl, const char *name, unsigned sections,
                            size_t *nlabels_r, size_t *starts)
{
	size_t n = split_labels(name, starts, 128);
	*nlabels_r = n;
	if (n == 0)
		return 0;
	unsigned mask = 0;
	if (sections & DMARC_PSL_ICANN)
		mask |= RULE_PLAIN | RULE_WILD | RULE_EXC;
	if (sections & DMARC_PSL_PRIVATE)
		mask |= (RULE_PLAIN | RULE_WILD | RULE_EXC) << RULE_PRIVATE_SHIFT;
	size_t len = strlen(name), best = 1;
	unsigned prev_flags = 0;   /* flags of the suffix with k-1 labels */
	for (size_t k = 1; k <= n; k++) {
		const char *s = name + starts[n - k];
		unsigned f = lookup_flags(psl, s, len - starts[n - k]) & mask;
		unsigned fp = f | (f >> RULE_PRIVATE_SHIFT);
		unsigned pp = prev_flags | (prev_flags >> RULE_PRIVATE_SHIFT);
		if (fp & RULE_EXC)
			return k - 1;   /* the exception's parent is the suffix */
		if ((fp & RULE_PLAIN) && k > best)
			best = k;
		if ((pp & RULE_WILD) && k > best)
			best = k;
		prev_flags = f;
	}
	return best;
}

/* A-label form of a name: lower case, no final dot; NULL if unusable. */
const char *dmarc_domain_normalize(const char *domain, struct arena *a)
{
	if (domain == NULL)
		return NULL;
	size_t len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || domain[0] == '.' || len > NAME_MAX_LEN * 4)
		return NULL;
	char *tmp = arena_strndup(a, domain, len);
	char *al = to_alabel(tmp);
	if (al == NULL)
		return NULL;
	size_t starts[128];
	const char *out = NULL;
	if (split_labels(al, starts, 128) > 0)
		out = arena_strdup(a, al);
	free(al);
	return out;
}

/* The last k labels of the original input (final dot removed), ASCII lower case. */
static const char *tail_labels(const char *domain, size_t k, struct arena *a)
{
	size_t len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	size_t i = len, seen = 0;
	while (i > 0) {
		if (domain[i - 1] == '.' && ++seen == k)
			break;
		i--;
	}
	char *out = arena_strndup(a, domain + i, len - i);
	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return out;
}

const char *dmarc_psl_registrable(const struct dmarc_psl *psl, const char *domain,
                                  unsigned sections, struct arena *a)
{
	const char *name = dmarc_domain_normalize(domain, a);
	if (name == NULL)
		return NULL;
	size_t starts[128], n;
	size_t ps = suffix_labels(psl, name, sections, &n, starts);
	if (n == 0 || ps == 0 || n <= ps)
		return NULL;
	return tail_labels(domain, ps + 1, a);
}

/* RFC 7489 §3.2: 1. break into labels; 2. search the list for the public
 * suffix matching the most labels; 3. the Organizational Domain is that
 * suffix plus one label. */
const char *dmarc_org_domain(const struct dmarc_psl *psl, const char *domain, struct arena *a)
{
	const char *name = dmarc_domain_normalize(domain, a);
	if (name == NULL)
		return NULL;
	size_t starts[128], n;
	size_t ps = suffix_labels(psl, name, DMARC_PSL_ALL, &n, starts);
	if (n == 0)
		return NULL;
	if (n <= ps)
		return name;   /* a public suffix is its own (RFC 9091 §3.2) */
	return name + starts[n - ps - 1];
}
