/* message_test.c: recognising report messages (RFC 7489 §7.2.1.1, RFC 8460
 * §5.3): zip, gzip, plain, octet-stream with a file name, multipart/report,
 * Stalwart's real report messages, and what is not a report or is hostile
 * (corrupt gzip, gzip and zip bombs). Also the text and JSON output. */
#include "reports/reports.h"
#include "reports/samples.h"

#include "core/base64.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <cmocka.h>

#include "core/test_external.h"

static struct arena *A;

static int setup(void **state)
{
	A = arena_new(64 * 1024, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&A);
	return 0;
}

/* gzip of n bytes into out (malloc'd). */
static unsigned char *gzip(const void *in, size_t n, size_t *len_r)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&zs, n) + 64;
	unsigned char *out = malloc(cap);
	zs.next_in = (unsigned char *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*len_r = zs.total_out;
	deflateEnd(&zs);
	return out;
}

/* A zip holding one file name with n bytes. */
static unsigned char *zip(const char *name, const void *in, size_t n, size_t *len_r)
{
	size_t cap = n + 65536;
	unsigned char *out = malloc(cap);
	struct archive *ar = archive_write_new();
	archive_write_set_format_zip(ar);
	size_t used = 0;
	assert_int_equal(archive_write_open_memory(ar, out, cap, &used), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	assert_int_equal(archive_write_header(ar, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(ar, in, n), (la_ssize_t)n);
	archive_entry_free(e);
	archive_write_close(ar);
	archive_write_free(ar);
	*len_r = used;
	return out;
}

/* A message whose report part has the given header lines and the bytes
 * base64-encoded; multipart adds a text/plain part before it. */
static char *message(bool multipart, const char *part_header, const void *bytes, size_t n)
{
	char *b64 = base64_arena(A, bytes, n);
	struct buf m;
	buf_init(&m, BUF_UNBOUNDED);
	buf_append_str(&m, "From: noreply-dmarc-support@google.com\r\n"
	               "To: dmarc@example.org\r\nSubject: Report domain: example.org\r\n"
	               "MIME-Version: 1.0\r\n");
	if (multipart)
		buf_append_str(&m, "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
		               "--b1\r\nContent-Type: text/plain\r\n\r\nThis is a report.\r\n--b1\r\n");
	buf_appendf(&m, "%s\r\nContent-Transfer-Encoding: base64\r\n\r\n", part_header);
	size_t b64len = strlen(b64);
	for (size_t i = 0; i < b64len; i += 76)
		buf_appendf(&m, "%.76s\r\n", b64 + i);
	if (multipart)
		buf_append_str(&m, "--b1--\r\n");
	return buf_steal(&m);
}

static int parse_msg(const char *m, struct report *r, struct error *e)
{
	return reports_parse_message(m, strlen(m), A, r, e);
}

static void test_google_zip(void **state)
{
	size_t zn;
	unsigned char *z = zip("google.com!example.org!1700006400!1700092799.xml",
	                       sample_google_xml, strlen(sample_google_xml), &zn);
	char *m = message(false, "Content-Type: application/zip;\r\n"
	                  " name=\"google.com!example.org!1700006400!1700092799.zip\"\r\n"
	                  "Content-Disposition: attachment;\r\n"
	                  " filename=\"google.com!example.org!1700006400!1700092799.zip\"", z, zn);
	struct report r;
	struct error e;
	if (parse_msg(m, &r, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(r.kind, REPORT_DMARC);
	assert_int_equal(r.packing, REPORT_ZIP);
	assert_string_equal(r.filename, "google.com!example.org!1700006400!1700092799.zip");
	assert_string_equal(r.content_type, "application/zip");
	assert_int_equal(r.raw_len, zn);
	assert_memory_equal(r.raw, z, zn);
	assert_int_equal(r.doc_len, strlen(sample_google_xml));
	assert_string_equal(r.dmarc.org_name, "google.com");
	assert_int_equal(r.dmarc.n_records, 2);
	free(m);
	free(z);
}

static void test_microsoft_gzip_multipart(void **state)
{
	size_t gn;
	unsigned char *g = gzip(sample_microsoft_xml, strlen(sample_microsoft_xml), &gn);
	char *m = message(true, "Content-Type: application/gzip\r\nContent-Disposition: "
	                  "attachment; filename=\"enterprise.protection.outlook.com!example.org!"
	                  "1700006400!1700092800.xml.gz\"", g, gn);
	struct report r;
	struct error e;
	if (parse_msg(m, &r, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(r.kind, REPORT_DMARC);
	assert_int_equal(r.packing, REPORT_GZIP);
	assert_string_equal(r.dmarc.org_name, "Enterprise Outlook");
	free(m);
	/* the same as application/octet-stream, named by its file name only */
	m = message(true, "Content-Type: application/octet-stream;\r\n"
	            " name=outlook.com!example.org!1!2.xml.gz", g, gn);
	assert_int_equal(parse_msg(m, &r, &e), 0);
	assert_int_equal(r.kind, REPORT_DMARC);
	free(m);
	/* and as application/x-gzip mislabelled: the bytes decide */
	m = message(false, "Content-Type: application/x-gzip", g, gn);
	assert_int_equal(parse_msg(m, &r, &e), 0);
	free(m);
	free(g);
}

static void test_plain_xml_body(void **state)
{
	/* the whole body is the report, as text/xml, quoted-printable */
	struct buf m;
	buf_init(&m, BUF_UNBOUNDED);
	buf_append_str(&m, "From: a@b\r\nContent-Type: text/xml; charset=utf-8\r\n"
	               "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	for (const char *p = sample_google_xml; *p; p++) {
		if (*p == '=')
			buf_append_str(&m, "=3D");
		else if (*p == '\n')
			buf_append_str(&m, "\r\n");
		else
			buf_append_char(&m, *p);
	}
	struct report r;
	struct error e;
	if (parse_msg(m.data, &r, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(r.kind, REPORT_DMARC);
	assert_int_equal(r.packing, REPORT_PLAIN);
	assert_int_equal(r.dmarc.records[0].count, 42);
	buf_free(&m);
}

static void test_tlsrpt(void **state)
{
	size_t gn;
	unsigned char *g = gzip(sample_rfc8460_json, strlen(sample_rfc8460_json), &gn);
	struct buf mb;
	buf_init(&mb, BUF_UNBOUNDED);
	char *b64 = base64_arena(A, g, gn);
	buf_appendf(&mb, "From: tlsrpt@mail.sender.example.com\r\nTLS-Report-Domain: "
	            "company-y.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
	            "report-type=\"tlsrpt\"; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain"
	            "\r\n\r\nThis is an aggregate TLS report\r\n--x\r\nContent-Type: "
	            "application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"
	            "Content-Disposition: attachment; filename=\"company-x.example!company-y."
	            "example!1459468800!1459555199!001.json.gz\"\r\n\r\n%s\r\n--x--\r\n", b64);
	struct report r;
	struct error e;
	if (parse_msg(mb.data, &r, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(r.kind, REPORT_TLSRPT);
	assert_int_equal(r.packing, REPORT_GZIP);
	assert_string_equal(r.tlsrpt.organization_name, "Company-X");
	assert_int_equal(r.tlsrpt.policies[0].n_failures, 3);
	buf_free(&mb);
	free(g);
	/* application/tlsrpt+json, not compressed */
	char *m = message(false, "Content-Type: application/tlsrpt+json", sample_rfc8460_json,
	                  strlen(sample_rfc8460_json));
	assert_int_equal(parse_msg(m, &r, &e), 0);
	assert_int_equal(r.kind, REPORT_TLSRPT);
	assert_int_equal(r.packing, REPORT_PLAIN);
	free(m);
}

static void test_not_a_report(void **state)
{
	struct report r;
	struct error e;
	assert_int_equal(parse_msg("From: a@b\r\nSubject: hi\r\n\r\nhello\r\n", &r, &e), -1);
	assert_int_equal(e.kind, ERR_NOTFOUND);
	assert_int_equal(r.kind, REPORT_NONE);
	assert_int_equal(parse_msg("", &r, &e), -1);
	assert_int_equal(e.kind, ERR_NOTFOUND);
	/* a PDF attachment is not a candidate */
	char *m = message(true, "Content-Type: application/pdf; name=x.pdf", "%PDF-1.4", 8);
	assert_int_equal(parse_msg(m, &r, &e), -1);
	assert_int_equal(e.kind, ERR_NOTFOUND);
	free(m);
	/* a candidate that is neither XML nor JSON */
	m = message(false, "Content-Type: application/octet-stream; name=r.zip", "hello", 5);
	assert_int_equal(parse_msg(m, &r, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_non_null(strstr(e.msg, "r.zip"));
	free(m);
	/* an XML attachment that is not a report */
	m = message(false, "Content-Type: application/xml", "<html/>", 7);
	assert_int_equal(parse_msg(m, &r, &e), -1);
	if (strstr(e.msg, "not <feedback>") == NULL)
		fail_msg("%s", e.msg);
	free(m);
}

static void test_corrupt_gzip(void **state)
{
	size_t gn;
	unsigned char *g = gzip(sample_google_xml, strlen(sample_google_xml), &gn);
	struct report r;
	struct error e;
	/* truncated */
	char *m = message(false, "Content-Type: application/gzip", g, gn / 2);
	assert_int_equal(parse_msg(m, &r, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_non_null(strstr(e.msg, "gzip"));
	free(m);
	/* flipped bytes */
	for (size_t i = 20; i < gn - 8; i += 7)
		g[i] ^= 0x5a;
	m = message(false, "Content-Type: application/gzip", g, gn);
	assert_int_equal(parse_msg(m, &r, &e), -1);
	free(m);
	free(g);
}

static void test_bombs(void **state)
{
	/* 64 MiB of zeros: gzip ~64 KiB, zip ~64 KiB. Both stop at the bound. */
	size_t n = 64u * 1024 * 1024;
	char *zeros = calloc(1, n);
	memcpy(zeros, "<feedback>", 10);
	size_t gn, zn;
	unsigned char *g = gzip(zeros, n, &gn);
	unsigned char *z = zip("bomb.xml", zeros, n, &zn);
	free(zeros);
	assert_true(gn < 200 * 1024);
	assert_true(zn < 200 * 1024);
	struct report r;
	struct error e;
	char *m = message(false, "Content-Type: application/gzip", g, gn);
	assert_int_equal(parse_msg(m, &r, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_non_null(strstr(e.msg, "uncompressed"));
	free(m);
	m = message(false, "Content-Type: application/zip", z, zn);
	assert_int_equal(parse_msg(m, &r, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_non_null(strstr(e.msg, "uncompressed"));
	free(m);
	free(g);
	free(z);
	/* direct API: a bound of 1000 stops early */
	struct buf out;
	buf_init(&out, 1000);
	g = gzip(sample_google_xml, strlen(sample_google_xml), &gn);
	assert_int_equal(reports_gunzip(g, gn, 1000, &out, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_true(out.len <= 1000);
	buf_free(&out);
	buf_init(&out, REPORTS_DOC_MAX);
	assert_int_equal(reports_gunzip(g, gn, REPORTS_DOC_MAX, &out, &e), 0);
	assert_int_equal(out.len, strlen(sample_google_xml));
	buf_free(&out);
	free(g);
}

static void test_external_messages(void **state)
{
	const char *dir = test_external_dir();
	static const struct {
		const char *file;
		enum report_kind kind;
		const char *org;
	} cases[] = {
		{"dmarc-feedback/100.eml", REPORT_DMARC, "google.com"},
		{"dmarc-feedback/101.eml", REPORT_DMARC, NULL},
		{"dmarc-feedback/102.eml", REPORT_DMARC, "Mail.Ru"},
		{"dmarc-feedback/103.eml", REPORT_DMARC, "Outlook.com"},
		{"dmarc-feedback/104.eml", REPORT_DMARC, "AMAZON-SES"},
		{"tlsrpt/rpt01.eml", REPORT_TLSRPT, "Company-X"},
		{"tlsrpt/rpt02.eml", REPORT_TLSRPT, "Google Inc."},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/mail-auth-stalwart/resources/%s", dir, cases[i].file);
		size_t len;
		char *data = test_read_file(path, &len);
		struct report r;
		struct error e;
		if (reports_parse_message(data, len, A, &r, &e) != 0)
			fail_msg("%s: %s", path, e.msg);
		assert_int_equal(r.kind, cases[i].kind);
		const char *org = r.kind == REPORT_DMARC ? r.dmarc.org_name
		                                         : r.tlsrpt.organization_name;
		if (cases[i].org != NULL && strcmp(org, cases[i].org) != 0)
			fail_msg("%s: org %s, expected %s", path, org, cases[i].org);
		struct buf out;
		buf_init(&out, BUF_UNBOUNDED);
		assert_int_equal(reports_format_text(&r, &out), 0);
		assert_int_equal(reports_format_json(&r, &out), 0);
		buf_free(&out);
		free(data);
	}
}

static void test_format(void **state)
{
	char *m = message(false, "Content-Type: text/xml", sample_microsoft_xml,
	                  strlen(sample_microsoft_xml));
	struct report r;
	struct error e;
	if (parse_msg(m, &r, &e) != 0)
		fail_msg("%s", e.msg);
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);
	assert_int_equal(reports_format_text(&r, &out), 0);
	assert_non_null(strstr(out.data, "organization:  Enterprise Outlook\n"));
	assert_non_null(strstr(out.data, "period:        2023-11-15 00:00:00 UTC - "));
	assert_non_null(strstr(out.data, "source 198.51.100.7: 1 message, disposition none, "
	                                 "dkim fail, spf pass\n"));
	assert_non_null(strstr(out.data, "reason forwarded: mailing list & forwarder\n"));
	assert_non_null(strstr(out.data, "dkim fail: d=example.org s=sel1 (body hash mismatch)"));
	buf_reset(&out);
	assert_int_equal(reports_format_json(&r, &out), 0);
	json_error_t je;
	json_t *j = json_loads(out.data, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "dmarc");
	json_t *rec = json_array_get(json_object_get(json_object_get(j, "report"), "record"), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "row"), "count")),
	                 1);
	json_decref(j);
	buf_free(&out);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_google_zip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_microsoft_gzip_multipart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_xml_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlsrpt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bombs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
