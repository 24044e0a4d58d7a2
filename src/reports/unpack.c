/*
 * unpack.c: report attachments' compression: gzip (RFC 1952) with zlib,
 * zip with libarchive. Output stops at the caller's bound, so a compression
 * bomb costs at most that many bytes (and the time to inflate them): the
 * ratio is never trusted, nor the sizes an archive claims.
 */
#include "reports/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* Bytes inflated per step. */
#define UNPACK_CHUNK 65536

int reports_gunzip(const void *in, size_t n, size_t max, struct buf *out, struct error *err)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* 15 + 32: the largest window, gzip or zlib header detected */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return error_set(err, ERR_IO, "gzip: cannot initialise zlib");
	const unsigned char *p = in;
	size_t left = n;
	int r = Z_OK;
	int ret = 0;
	while (r != Z_STREAM_END) {
		if (zs.avail_in == 0) {
			if (left == 0) {
				ret = error_set(err, ERR_INVALID, "gzip: data ends early");
				break;
			}
			size_t k = left > UINT32_MAX ? UINT32_MAX : left;
			zs.next_in = (unsigned char *)(uintptr_t)p;
			zs.avail_in = (uInt)k;
			p += k;
			left -= k;
		}
		size_t room = max - out->len;
		if (room == 0) {
			ret = error_set(err, ERR_LIMIT, "gzip: more than %zu bytes uncompressed", max);
			break;
		}
		size_t want = room < UNPACK_CHUNK ? room : UNPACK_CHUNK;
		char *dst = buf_reserve(out, want);
		if (dst == NULL) {
			ret = error_set(err, ERR_LIMIT, "gzip: more than %zu bytes uncompressed", max);
			break;
		}
		zs.next_out = (unsigned char *)dst;
		zs.avail_out = (uInt)want;
		r = inflate(&zs, Z_NO_FLUSH);
		buf_commit(out, want - zs.avail_out);
		if (r == Z_STREAM_END)
			break;
		if (r == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
			ret = error_set(err, ERR_INVALID, "gzip: data ends early");
			break;
		}
		if (r != Z_OK && r != Z_BUF_ERROR) {
			ret = error_set(err, ERR_INVALID, "gzip: %s",
			                zs.msg != NULL ? zs.msg : "corrupt data");
			break;
		}
	}
	inflateEnd(&zs);
	return ret;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

int reports_unzip(const void *in, size_t n, size_t max, struct buf *out, struct error *err)
{
	struct archive *ar = archive_read_new();
	if (ar == NULL)
		return error_set(err, ERR_IO, "zip: cannot initialise libarchive");
	archive_read_support_format_zip(ar);
	int ret = 0;
	if (archive_read_open_memory(ar, in, n) != ARCHIVE_OK) {
		ret = error_set(err, ERR_INVALID, "zip: %s", archive_error_string(ar));
		goto done;
	}
	/* The first regular file named *.xml or *.json, else the first regular
	 * file. The archive is read once, so a fallback is remembered by
	 * reading the first file as we pass it. */
	bool have_first = false;
	struct buf first;
	buf_init(&first, max);
	for (int i = 0;; i++) {
		if (i >= REPORTS_ZIP_ENTRIES_MAX)
			break;
		struct archive_entry *e;
		int r = archive_read_next_header(ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			ret = error_set(err, ERR_INVALID, "zip: %s", archive_error_string(ar));
			break;
		}
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		const char *name = archive_entry_pathname(e);
		bool named = name != NULL && (ends_with(name, ".xml") || ends_with(name, ".json"));
		if (!named && have_first)
			continue;
		struct buf *dst = named ? out : &first;
		buf_reset(dst);
		for (;;) {
			char *p = buf_reserve(dst, UNPACK_CHUNK);
			size_t want = UNPACK_CHUNK;
			if (p == NULL) {
				want = buf_room(dst);
				if (want == 0) {
					ret = error_set(err, ERR_LIMIT, "zip: more than %zu bytes "
					                "uncompressed", max);
					break;
				}
				p = buf_reserve(dst, want);
			}
			la_ssize_t k = archive_read_data(ar, p, want);
			if (k < 0) {
				ret = error_set(err, ERR_INVALID, "zip: %s", archive_error_string(ar));
				break;
			}
			if (k == 0)
				break;
			buf_commit(dst, (size_t)k);
		}
		if (ret != 0)
			break;
		if (named)
			goto done_first;
		have_first = true;
	}
	if (ret == 0) {
		if (!have_first) {
			ret = error_set(err, ERR_INVALID, "zip: no file in the archive");
		} else {
			buf_reset(out);
			if (buf_append(out, first.data, first.len) != 0)
				ret = error_set(err, ERR_LIMIT, "zip: more than %zu bytes", max);
		}
	}
done_first:
	buf_free(&first);
done:
	archive_read_free(ar);
	return ret;
}
