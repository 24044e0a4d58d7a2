/*
 * dmarc.h: DMARC (RFC 7489), with the policy discovery of the DMARCbis
 * draft (draft-ietf-dmarc-dmarcbis, "DNS Tree Walk") where the two differ.
 *
 * Four pieces, one file each:
 *   psl.c       the Public Suffix List and the Organizational Domain of
 *               RFC 7489 §3.2 (psl.c says why private entries count)
 *   record.c    the DMARC record (RFC 7489 §6.3, §6.4; np and psd from
 *               DMARCbis), reporting URIs (§6.2) with their size limits
 *   discover.c  policy discovery in DNS (§6.6.3, or the DMARCbis tree walk)
 *               and the tree-walk Organizational Domain
 *   evaluate.c  identifier alignment (§3.1), the DMARC result, the
 *               disposition with pct= sampling (§6.6.4), and the RFC 8601
 *               Authentication-Results text
 *
 * Which document is followed where (details beside the code):
 *   - Policy discovery: the DMARCbis tree walk by default
 *     (DMARC_DISCOVERY_TREEWALK). For the common case (a record at the From
 *     domain or at its registered domain) it finds what RFC 7489 finds, since
 *     the Organizational Domain lies on the walk; it also honours records on
 *     names between the two and Public Suffix Domain records (RFC 9091),
 *     which RFC 7489 skips, and it does not depend on the PSL being current.
 *     The bound of 8 queries keeps it as cheap as a DNS check should be.
 *     DMARC_DISCOVERY_RFC7489 (From domain, then PSL Organizational Domain)
 *     is available.
 *   - Organizational Domain, used for relaxed alignment (§3.1) and printed
 *     by `tern dmarc lookup`: the PSL (RFC 7489 §3.2) by default. Alignment
 *     needs it for every DKIM d= and SPF domain of every message; with the
 *     tree walk that is up to 8 more queries per identifier, steered by psd=
 *     tags that almost no one publishes, while the PSL answers locally and
 *     agrees for nearly all names. DMARC_ORGDOMAIN_TREEWALK selects DMARCbis.
 *   - Records: RFC 7489 tags and defaults (pct, rf, ri included), plus np=
 *     and psd= of DMARCbis; v=DMARC1 must come first, p= may come anywhere
 *     (DMARCbis; RFC 7489's ABNF also fixes p second, which nobody relies
 *     on). A record with a syntax error is ignored (RFC 7489 §6.6.3 step 6
 *     and the brief: no policy from it), except that a missing or bad p= (or
 *     bad sp=) with a usable rua= acts as p=none (§6.6.3 step 6.1).
 *   - An ignored (bad) record counts as no record at its name: discovery goes
 *     on to the next name (DMARCbis looks for a "valid DMARC record"; RFC
 *     7489's step 3 would stop at the bad record, leaving no policy). Two or
 *     more DMARC records at one name end discovery with no policy (§6.6.3
 *     step 5, and DMARCbis alike).
 *
 * Memory: everything a function returns lives in the arena it was given.
 */
#ifndef TERN_DMARC_DMARC_H
#define TERN_DMARC_DMARC_H

#include "core/error.h"
#include "dns/dns.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* ---- Public Suffix List (psl.c) ---- */

/* Where Debian's publicsuffix package installs the list. */
#define DMARC_PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat"

/* Sections of the list a lookup uses. */
enum {
	DMARC_PSL_ICANN = 1,
	DMARC_PSL_PRIVATE = 2,
	DMARC_PSL_ALL = 3,
};

struct dmarc_psl;

/* Parses a list in the publicsuffix.org format (rules with "*." and "!",
 * U-labels, "===BEGIN ICANN/PRIVATE DOMAINS===" markers). Rules are kept in
 * A-label form (libidn2, IDNA2008 with UTS #46 mapping). Returns 0, or -1
 * with err set (no rules at all). */
int dmarc_psl_parse(const char *text, size_t len, struct dmarc_psl **psl_r, struct error *err);

/* The same from a file. */
int dmarc_psl_load(const char *path, struct dmarc_psl **psl_r, struct error *err);

void dmarc_psl_free(struct dmarc_psl **psl);

/* Number of rules kept, and of rules skipped because IDNA refused them. */
size_t dmarc_psl_nrules(const struct dmarc_psl *psl);
size_t dmarc_psl_nskipped(const struct dmarc_psl *psl);

/* The list of DMARC_PSL_FILE, loaded once on first use by any thread
 * (pthread_once). NULL if it could not be loaded; err then says why (the
 * same message on every call). */
const struct dmarc_psl *dmarc_psl_default(struct error *err);

/* The registrable domain of domain ("www.example.co.uk" -> "example.co.uk")
 * using the given sections: the public suffix plus one label, in the form
 * domain was given (U-labels stay U-labels), lower case, no final dot. NULL
 * when domain is itself a public suffix, or is not a usable name (empty, an
 * empty label, a leading dot, IDNA failure). */
const char *dmarc_psl_registrable(const struct dmarc_psl *psl, const char *domain,
                                  unsigned sections, struct arena *a);

/* Normalises a domain for DMARC: A-labels, lower case, no final dot. NULL if
 * it is no usable domain name. */
const char *dmarc_domain_normalize(const char *domain, struct arena *a);

/* RFC 7489 §3.2 Organizational Domain of domain (normalised as above), with
 * both sections of the list. A domain that is itself a public suffix is its
 * own Organizational Domain (§3.2 gives none; RFC 9091 §3.2 treats such a
 * PSD as its own). NULL if domain is no usable name. */
const char *dmarc_org_domain(const struct dmarc_psl *psl, const char *domain, struct arena *a);

/* ---- Records (record.c) ---- */

enum dmarc_policy {
	DMARC_POLICY_NONE = 0,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

enum dmarc_align {
	DMARC_ALIGN_RELAXED = 0,
	DMARC_ALIGN_STRICT,
};

/* DMARCbis psd= tag. */
enum dmarc_psd {
	DMARC_PSD_UNSET = 0,   /* "u", the default */
	DMARC_PSD_YES,
	DMARC_PSD_NO,
};

/* fo= options (§6.3). */
enum {
	DMARC_FO_0 = 1,
	DMARC_FO_1 = 2,
	DMARC_FO_D = 4,
	DMARC_FO_S = 8,
};

/* rf= formats (§6.3, IANA "DMARC Report Format" registry). */
enum {
	DMARC_RF_AFRF = 1,
	DMARC_RF_OTHER = 2,    /* some name we do not know */
};

/* Tags present in the record, for printing which values are defaults. */
enum {
	DMARC_TAG_P = 1 << 0, DMARC_TAG_SP = 1 << 1, DMARC_TAG_NP = 1 << 2,
	DMARC_TAG_ADKIM = 1 << 3, DMARC_TAG_ASPF = 1 << 4, DMARC_TAG_PCT = 1 << 5,
	DMARC_TAG_RUA = 1 << 6, DMARC_TAG_RUF = 1 << 7, DMARC_TAG_FO = 1 << 8,
	DMARC_TAG_RF = 1 << 9, DMARC_TAG_RI = 1 << 10, DMARC_TAG_PSD = 1 << 11,
};

/* A reporting URI of rua=/ruf= (§6.2, §6.4 dmarc-uri). */
struct dmarc_uri {
	const char *uri;         /* as written, without the !size suffix */
	const char *scheme;      /* lower case: "mailto", "https", ... */
	const char *mailto;      /* scheme mailto: the address, %-decoded, without ?hfields; else NULL */
	uint64_t max_size;       /* bytes; 0: no limit given */
};

/* Reporting URIs per tag, at most (more are dropped, §6.2 leaves it to the receiver). */
#define DMARC_URIS_MAX 8

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp;    /* default: p */
	enum dmarc_policy np;    /* DMARCbis; default: sp */
	enum dmarc_align adkim, aspf;
	unsigned pct;            /* 0..100, default 100 */
	const struct dmarc_uri *rua, *ruf;
	size_t nrua, nruf;
	size_t nbad_uris;        /* URIs of rua/ruf dropped as unusable */
	unsigned fo;             /* DMARC_FO_*, default DMARC_FO_0 */
	unsigned rf;             /* DMARC_RF_*, default DMARC_RF_AFRF */
	uint32_t ri;             /* seconds, default 86400 */
	enum dmarc_psd psd;
	unsigned tags;           /* DMARC_TAG_* present */
	bool p_defaulted;        /* §6.6.3 step 6.1: p= missing or bad, rua usable: p=none */
};

/* Maximum record length accepted (a TXT record of many strings). */
#define DMARC_RECORD_MAX 4096

enum dmarc_parse {
	DMARC_PARSE_OK = 0,
	DMARC_PARSE_NOT_DMARC,   /* does not start with v=DMARC1: not a DMARC record at all */
	DMARC_PARSE_INVALID,     /* a DMARC record with a syntax error: to be ignored */
};

/* Parses one record (the joined strings of one TXT record; may contain
 * NULs, which make it invalid). On DMARC_PARSE_INVALID err says what and
 * where. Strings of rec live in a. */
enum dmarc_parse dmarc_record_parse(const char *text, size_t len, struct arena *a,
                                    struct dmarc_record *rec, struct error *err);

/* Parses a size limit "10m" into bytes; -1 on bad syntax or overflow. */
int dmarc_size_parse(const char *s, size_t len, uint64_t *bytes_r);

const char *dmarc_policy_name(enum dmarc_policy p);   /* "none", "quarantine", "reject" */
const char *dmarc_align_name(enum dmarc_align a);     /* "r", "s" */

/* ---- DNS and policy discovery (discover.c) ---- */

/* The joined text of one TXT record. */
struct dmarc_txt {
	const char *text;
	size_t len;
};

/* How discovery asks for TXT records: fills *txts_r and *n_r (in a) and
 * returns the status; *why_r may explain TEMPFAIL/BOGUS. dmarc_dns_resolver
 * makes one from a struct dns_resolver; unit tests give their own. */
struct dmarc_dns {
	enum dns_status (*txt)(void *arg, const char *name, struct arena *a,
	                       struct dmarc_txt **txts_r, size_t *n_r, const char **why_r);
	void *arg;
};

/* A struct dmarc_dns asking res (dns_lookup_txt). */
struct dmarc_dns dmarc_dns_resolver(struct dns_resolver *res);

enum dmarc_discovery_mode {
	DMARC_DISCOVERY_TREEWALK = 0,   /* DMARCbis DNS Tree Walk (default) */
	DMARC_DISCOVERY_RFC7489,        /* RFC 7489 §6.6.3: From domain, then Organizational Domain */
};

enum dmarc_orgdomain_mode {
	DMARC_ORGDOMAIN_PSL = 0,        /* RFC 7489 §3.2 (default) */
	DMARC_ORGDOMAIN_TREEWALK,       /* DMARCbis */
};

/* DMARCbis: at most 8 names are asked in one walk. */
#define DMARC_TREEWALK_MAX 8

struct dmarc_options {
	enum dmarc_discovery_mode discovery;
	enum dmarc_orgdomain_mode orgdomain;
	const struct dmarc_psl *psl;    /* NULL: dmarc_psl_default() */
	/* pct= sampling: a number 0..99; NULL: arc4random_uniform(100). */
	unsigned (*rand100)(void *arg);
	void *rand_arg;
};

enum dmarc_discovery_status {
	DMARC_DISC_FOUND = 0,    /* one valid record */
	DMARC_DISC_NONE,         /* no policy (none, several, only bad records) */
	DMARC_DISC_TEMPERROR,    /* DNS temporary failure or DNSSEC bogus */
	DMARC_DISC_PERMERROR,    /* the domain is not a usable name; PSL missing */
};

/* A note about a record that was looked at and set aside. */
struct dmarc_note {
	const char *name;        /* "_dmarc.example.com" */
	const char *text;        /* what and why */
};

#define DMARC_NOTES_MAX 16

struct dmarc_discovery {
	enum dmarc_discovery_status status;
	const char *domain;          /* the From domain, normalised */
	const char *org_domain;      /* its Organizational Domain (per options); NULL on errors */
	const char *record_domain;   /* FOUND: where the record is (without _dmarc.) */
	const char *record_name;     /* FOUND: "_dmarc." record_domain */
	const char *record_text;     /* FOUND: the record as published */
	struct dmarc_record record;  /* FOUND */
	bool at_domain;              /* FOUND at the From domain itself: p= applies */
	bool at_org_domain;          /* FOUND at the Organizational Domain, != domain */
	bool domain_nonexistent;     /* FOUND above the domain, np= set, domain is NXDOMAIN */
	const char *reason;          /* NONE/TEMPERROR/PERMERROR: why */
	struct dmarc_note notes[DMARC_NOTES_MAX];
	size_t nnotes;
	unsigned nqueries;
};

/* Finds the policy for the From domain (§6.6.3 or the DMARCbis tree walk). */
void dmarc_discover(const struct dmarc_options *o, const struct dmarc_dns *dns,
                    const char *from_domain, struct arena *a, struct dmarc_discovery *d);

/* The DMARCbis Organizational Domain of domain (tree walk: the record with
 * psd=n, the name below a psd=y record, else the highest name with a record,
 * else domain itself). Returns 0, or -1 with *why_r on DNS trouble (temperror)
 * or an unusable name. */
int dmarc_org_domain_treewalk(const struct dmarc_dns *dns, const char *domain, struct arena *a,
                              const char **org_r, const char **why_r);

/* ---- Evaluation (evaluate.c) ---- */

/* SPF (RFC 7208 §2.6) and DKIM (RFC 6376, RFC 8601 §2.7.1) results as given to DMARC. */
enum dmarc_auth {
	DMARC_AUTH_NONE = 0,
	DMARC_AUTH_PASS,
	DMARC_AUTH_FAIL,
	DMARC_AUTH_SOFTFAIL,
	DMARC_AUTH_NEUTRAL,
	DMARC_AUTH_POLICY,
	DMARC_AUTH_TEMPERROR,
	DMARC_AUTH_PERMERROR,
};

enum dmarc_spf_scope { DMARC_SPF_MFROM = 0, DMARC_SPF_HELO };

struct dmarc_dkim_input {
	const char *domain;          /* d= */
	const char *selector;        /* s=, for reports; may be NULL */
	enum dmarc_auth result;
};

struct dmarc_input {
	const char *from_domain;     /* RFC5322.From domain */
	enum dmarc_auth spf;
	const char *spf_domain;      /* MAIL FROM domain, or the HELO domain when MAIL FROM was empty */
	enum dmarc_spf_scope spf_scope;
	const struct dmarc_dkim_input *dkim;
	size_t ndkim;
};

/* The dmarc method's results for Authentication-Results (RFC 7489 §11.2). */
enum dmarc_result {
	DMARC_RESULT_NONE = 0,
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,
	DMARC_RESULT_PERMERROR,
};

/* Per DKIM signature, what an aggregate report lists (RFC 7489 Appendix C). */
struct dmarc_dkim_eval {
	const char *domain;          /* normalised d= */
	const char *selector;
	enum dmarc_auth result;
	bool aligned;                /* domain aligned with From under adkim */
};

#define DMARC_DKIM_MAX 16

/* The evaluated facts: the verdict and what a report needs later. */
struct dmarc_eval {
	enum dmarc_result result;
	/* The policy the domain asks for mail from this domain (p, sp or np)
	 * and which tag gave it (set whenever a record was found); the
	 * disposition to apply after pct= sampling (none unless result is fail). */
	enum dmarc_policy policy;
	const char *policy_tag;      /* "p", "sp", "np"; NULL without a record */
	enum dmarc_policy disposition;
	bool sampled_out;            /* pct= excluded this message: disposition lowered (§6.6.4) */
	const char *reason;          /* for logs and the A-R comment */
	/* Identifiers and alignment (§3.1). */
	const char *from_domain;
	const char *org_domain;
	bool spf_aligned;            /* SPF passed and aligned */
	bool dkim_aligned;           /* one DKIM signature passed and aligned */
	enum dmarc_auth spf;
	const char *spf_domain;
	enum dmarc_spf_scope spf_scope;
	bool spf_domain_aligned;     /* the SPF domain aligns, whatever SPF said */
	struct dmarc_dkim_eval dkim[DMARC_DKIM_MAX];
	size_t ndkim;
	/* The policy published: a copy of discovery (record, where found). */
	struct dmarc_discovery discovery;
};

/* Discovery and evaluation in one: what a receiving server calls. */
void dmarc_check(const struct dmarc_options *o, const struct dmarc_dns *dns,
                 const struct dmarc_input *in, struct arena *a, struct dmarc_eval *ev);

/* Evaluation given discovery d (made for in->from_domain). dns is used
 * only for DMARC_ORGDOMAIN_TREEWALK and may then not be NULL. */
void dmarc_evaluate(const struct dmarc_options *o, const struct dmarc_dns *dns,
                    const struct dmarc_discovery *d, const struct dmarc_input *in,
                    struct arena *a, struct dmarc_eval *ev);

/* Whether two normalised domains align (§3.1.1, §3.1.2): equal (strict),
 * or with the same Organizational Domain (relaxed; org_a and org_b given by
 * the caller). */
bool dmarc_aligned(enum dmarc_align mode, const char *a, const char *org_a, const char *b,
                   const char *org_b);

/* The RFC 8601 resinfo, e.g.
 * "dmarc=pass (p=reject dis=none) header.from=example.com". */
const char *dmarc_authres(const struct dmarc_eval *ev, struct arena *a);

const char *dmarc_result_name(enum dmarc_result r);   /* "pass", "fail", ... */
const char *dmarc_auth_name(enum dmarc_auth r);       /* "pass", "softfail", ... */

#endif
