/*
 * reports.h: incoming DMARC aggregate reports (RFC 7489 §7.2, the XML schema
 * of Appendix C) and SMTP TLS reports (RFC 8460 §4, JSON): recognising a
 * report message, taking its attachment apart (transfer encoding, gzip,
 * zip), and parsing the document into the structs below.
 *
 * Everything a parse produces is allocated in the caller's arena; strings
 * are NUL-terminated UTF-8 (as the document gave them, whitespace trimmed),
 * NULL when the element or member was absent.
 *
 * Input is untrusted. Parsing is bounded: documents larger than
 * REPORTS_DOC_MAX after decompression are refused (decompression stops at
 * the bound, so a compression bomb costs at most that much memory), as are
 * more than REPORTS_RECORDS_MAX DMARC records or TLSRPT policies/failure
 * details, and values longer than REPORTS_VALUE_MAX. XML is read with
 * libxml2's streaming reader, without network access, without entity
 * substitution and without DTD loading; a document with a DOCTYPE is
 * refused outright (no report has one; it is where entity bombs live).
 *
 * Errors: ERR_NOTFOUND (reports_parse_message) when the message holds no
 * part that looks like a report; ERR_INVALID for a malformed or incomplete
 * document, the message naming the element or member; ERR_LIMIT for a bound.
 * A caller delivering mail treats any error as "deliver as plain mail".
 *
 * Threads: any function may be called from any thread; libxml2 is
 * initialised once (pthread_once) on first use.
 */
#ifndef TERN_REPORTS_REPORTS_H
#define TERN_REPORTS_REPORTS_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ---- */

/* Largest report document, after decompression. The biggest real reports
 * (large senders, one day) are a few MiB. */
#define REPORTS_DOC_MAX (20u * 1024 * 1024)
/* Most DMARC records in one report; most TLSRPT policies in one report and
 * failure details in one policy. */
#define REPORTS_RECORDS_MAX 50000
/* Most auth_results entries (dkim + spf) and reasons per DMARC record, and
 * strings per TLSRPT list (policy-string, mx-host). */
#define REPORTS_ITEMS_MAX 1000
/* Longest single value (one element's text, one JSON string). */
#define REPORTS_VALUE_MAX 8192
/* Deepest XML element nesting (unknown extension elements included). */
#define REPORTS_XML_DEPTH_MAX 64
/* Most entries looked at in a zip attachment. */
#define REPORTS_ZIP_ENTRIES_MAX 16
/* Largest counts accepted (message counts, session counts): 2^53 - 1, what
 * JSON consumers can hold exactly. */
#define REPORTS_COUNT_MAX ((int64_t)9007199254740991)

/* ---- DMARC aggregate reports (RFC 7489 Appendix C) ---- */

struct dmarc_reason {               /* PolicyOverrideReason */
	const char *type;               /* forwarded, sampled_out, trusted_forwarder,
	                                   mailing_list, local_policy, other */
	const char *comment;
};

struct dmarc_dkim_result {          /* DKIMAuthResultType */
	const char *domain;
	const char *selector;
	const char *result;             /* none, pass, fail, policy, neutral,
	                                   temperror, permerror */
	const char *human_result;
};

struct dmarc_spf_result {           /* SPFAuthResultType */
	const char *domain;
	const char *scope;              /* helo, mfrom (NULL when absent) */
	const char *result;             /* none, neutral, pass, fail, softfail,
	                                   temperror, permerror */
};

struct dmarcrpt_record {
	/* row */
	const char *source_ip;
	int64_t count;
	const char *disposition;        /* policy_evaluated: none, quarantine, reject */
	const char *dkim;               /* policy_evaluated: pass, fail */
	const char *spf;
	struct dmarc_reason *reasons;
	size_t n_reasons;
	/* identifiers */
	const char *header_from;
	const char *envelope_from;
	const char *envelope_to;
	/* auth_results */
	struct dmarc_dkim_result *dkim_results;
	size_t n_dkim;
	struct dmarc_spf_result *spf_results;
	size_t n_spf;
};

struct dmarc_report {
	const char *version;            /* <version>, NULL when absent */
	/* report_metadata */
	const char *org_name;
	const char *email;
	const char *extra_contact_info;
	const char *report_id;
	int64_t begin, end;             /* date_range, seconds since the epoch */
	const char **errors;            /* <error> elements */
	size_t n_errors;
	/* policy_published */
	const char *domain;
	const char *adkim;              /* r, s (NULL when absent) */
	const char *aspf;
	const char *p;                  /* none, quarantine, reject */
	const char *sp;
	const char *np;                 /* RFC 9091 / DMARCbis */
	const char *fo;
	int pct;                        /* 0..100; -1 when absent */
	struct dmarcrpt_record *records;
	size_t n_records;
};

/* Parses a DMARC aggregate report document (XML, len bytes, no NUL needed).
 * Root <feedback> (any namespace); unknown elements are ignored; a missing
 * required element gives ERR_INVALID naming it ("report_metadata/org_name
 * missing"). Required: report_metadata with org_name, email, report_id and
 * date_range begin/end; policy_published with domain and p; at least one
 * record, each with row/source_ip, row/count, row/policy_evaluated
 * disposition, dkim and spf, and identifiers/header_from. */
int reports_dmarc_parse(const char *xml, size_t len, struct arena *a, struct dmarc_report *out,
                        struct error *err);

/* ---- SMTP TLS reports (RFC 8460 §4) ---- */

struct tlsrpt_failure {             /* failure-details[] */
	const char *result_type;
	const char *sending_mta_ip;
	const char *receiving_mx_hostname;
	const char *receiving_mx_helo;
	const char *receiving_ip;
	int64_t failed_session_count;
	const char *additional_information;
	const char *failure_reason_code;    /* also read from "failure-error-code",
	                                       the name in the RFC's §4.4 example */
};

struct tlsrpt_policy {              /* policies[] */
	const char *policy_type;        /* sts, tlsa, no-policy-found */
	const char **policy_strings;
	size_t n_policy_strings;
	const char *policy_domain;
	const char **mx_hosts;          /* a single string is read as a list of one */
	size_t n_mx_hosts;
	int64_t successful;             /* summary/total-successful-session-count */
	int64_t failed;                 /* summary/total-failure-session-count */
	struct tlsrpt_failure *failures;
	size_t n_failures;
};

struct tlsrpt_report {
	const char *organization_name;
	const char *start_datetime;     /* date-range, RFC 3339 as written */
	const char *end_datetime;
	int64_t begin, end;             /* the same as seconds since the epoch */
	const char *contact_info;
	const char *report_id;
	struct tlsrpt_policy *policies;
	size_t n_policies;
};

/* Parses a TLS report (JSON, len bytes). Members are type-checked; unknown
 * members are ignored. Required: organization-name, date-range with
 * start-datetime and end-datetime (RFC 3339), report-id, policies (an array,
 * possibly empty), and in each policies[i] a policy object with policy-type
 * and a summary object; in failure-details, result-type. Counts absent are
 * 0. contact-info, policy-domain and the rest may be absent (reporters
 * omit them). */
int reports_tlsrpt_parse(const char *json, size_t len, struct arena *a,
                         struct tlsrpt_report *out, struct error *err);

/* ---- report messages (RFC 7489 §7.2.1.1, RFC 8460 §5.3) ---- */

enum report_kind {
	REPORT_NONE = 0,
	REPORT_DMARC,
	REPORT_TLSRPT,
};

/* How the report document was packed in the message. */
enum report_packing {
	REPORT_PLAIN = 0,   /* the document itself (xml or json) */
	REPORT_GZIP,
	REPORT_ZIP,
};

struct report {
	enum report_kind kind;
	struct dmarc_report dmarc;      /* kind REPORT_DMARC */
	struct tlsrpt_report tlsrpt;    /* kind REPORT_TLSRPT */
	const char *filename;           /* of the attachment, or NULL */
	const char *content_type;       /* "application/gzip", ... as labelled */
	enum report_packing packing;
	/* The attachment as sent, transfer encoding removed (still compressed):
	 * what a store keeps as the compact original. In the arena. */
	const char *raw;
	size_t raw_len;
	/* The report document, decompressed, NUL-terminated. In the arena. */
	const char *doc;
	size_t doc_len;
};

/* Finds the report in a message (RFC 5322, len bytes) and parses it.
 * Candidate parts, in message order (the whole body when the message is
 * not multipart): application/xml, text/xml, application/gzip,
 * application/x-gzip, application/zip, application/x-zip(-compressed),
 * application/tlsrpt+json, application/tlsrpt+gzip, application/tlsrpt,
 * application/json, and application/octet-stream (or any type) whose file
 * name ends in .xml, .xml.gz, .gz, .zip, .json or .json.gz. A candidate is
 * transfer-decoded (base64/QP), decompressed (by its gzip or zip magic bytes,
 * whatever its label), and parsed as XML (DMARC) or JSON (TLSRPT) by its
 * first character. The first candidate that parses is the report; if none
 * does, the first candidate's error is returned. Returns 0 with *out
 * filled, or -1 (ERR_NOTFOUND: no candidate part). */
int reports_parse_message(const char *data, size_t len, struct arena *a, struct report *out,
                          struct error *err);

/* Decompresses gzip (or zlib) data into out, refusing (ERR_LIMIT) output past
 * max bytes and garbage (ERR_INVALID). */
int reports_gunzip(const void *in, size_t n, size_t max, struct buf *out, struct error *err);

/* The first regular file of a zip archive (preferring names ending .xml or
 * .json) into out, at most max bytes (ERR_LIMIT past it). */
int reports_unzip(const void *in, size_t n, size_t max, struct buf *out, struct error *err);

/* ---- output ---- */

/* Appends a readable, multi-line description of r to out. Returns 0, or -1
 * if out would pass its maximum. */
int reports_format_text(const struct report *r, struct buf *out);

/* Appends r as JSON (the member names of the report formats: snake_case
 * for DMARC, RFC 8460's names for TLSRPT) to out. Returns 0 or -1. */
int reports_format_json(const struct report *r, struct buf *out);

/* "dmarc", "tlsrpt" or "none". */
const char *reports_kind_name(enum report_kind kind);

/* Parses an RFC 3339 date-time ("2016-04-01T00:00:00Z", fractions and
 * offsets allowed) into seconds since the epoch. Returns 0 or -1. */
int reports_parse_datetime(const char *s, int64_t *t_r);

#endif
