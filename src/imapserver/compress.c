/*
 * compress.c: COMPRESS DEFLATE (RFC 4978): after the tagged OK both
 * directions are raw DEFLATE streams (src/core/conn.c's compression layer,
 * above TLS when TLS is on).
 */
#include "imapserver/imapserver.h"
#include "imapserver/internal.h"

#include "core/conn.h"

#include <string.h>

int imapsrv_cmd_compress(struct imapsrv_session *s, const struct imap_command *cmd,
                         struct imapsrv_result *r)
{
	struct error e;
	if (strcmp(cmd->mech, "DEFLATE") != 0) {  /* RFC 4978 §3 */
		imapsrv_result_set(r, "BAD", NULL, "unknown compression mechanism %s", cmd->mech);
		return 0;
	}
	if (s->compressed) {  /* RFC 4978 §3: [COMPRESSIONACTIVE] */
		imapsrv_result_set(r, "NO", "COMPRESSIONACTIVE", "DEFLATE is already active");
		return 0;
	}
	buf_reset(&s->wbuf);
	imap_write_status(&s->wbuf, cmd->tag, "OK", NULL, "DEFLATE active");
	if (imapsrv_send(s, &s->wbuf) != 0 || conn_flush(s->c, &e) != 0)
		return -1;
	if (conn_compress_start(s->c, &e) != 0)
		return -1;
	s->compressed = true;
	r->status = NULL;  /* answered already */
	return 0;
}
