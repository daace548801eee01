/*
 * Frames relogd sends on its own socket: responses and broadcasts, packed
 * with proto/ and queued on the connection. The caller packs the payload
 * between reply_begin (or reply_broadcast_begin) and reply_send.
 */
#include <time.h>

#include "relogd.h"

/* Start a frame with this header. */
static void
reply_frame_begin(struct reply *r, const struct proto_header *hd)
{
	msgpack_sbuffer_init(&r->sb);
	msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
	r->start = proto_frame_begin(&r->sb);
	proto_pack_header(&r->pk, hd);
}

/* Start a response to req (NULL: to a frame that could not be read). */
void
reply_begin(struct reply *r, const struct proto_envelope *req)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_RESPONSE,
		.request_id = req != NULL ? req->request_id : 0,
		.method = req != NULL ? req->method : proto_cstr(""),
		.plugin_id = req != NULL ? req->plugin_id : proto_cstr(""),
		.timestamp_ms = relogd_now_ms(CLOCK_REALTIME),
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};

	/* Echo no more of a peer's strings than an id's worth. */
	if (hd.method.len > RELOG_ID_MAX)
		hd.method.len = RELOG_ID_MAX;
	if (hd.plugin_id.ptr == NULL)
		hd.plugin_id = proto_cstr("");
	if (hd.plugin_id.len > RELOG_ID_MAX)
		hd.plugin_id.len = RELOG_ID_MAX;
	reply_frame_begin(r, &hd);
}

/* Start a broadcast (a record or a drop count for a tail). */
void
reply_broadcast_begin(struct reply *r, const char *method,
    int64_t timestamp_ms)
{
	struct proto_header hd = {
		.message_type = RELOG_TYPE_BROADCAST,
		.method = proto_cstr(method),
		.timestamp_ms = timestamp_ms,
		.timeout_ms = RELOG_TIMEOUT_MS_DEFAULT,
	};

	reply_frame_begin(r, &hd);
}

/* Close the frame with an error (code NULL: none) and queue it to c. */
void
reply_send(struct client *c, struct reply *r, const char *code,
    const char *message)
{
	if (code != NULL)
		proto_pack_error(&r->pk, code, message);
	else
		proto_pack_no_error(&r->pk);
	if (proto_frame_end(&r->sb, r->start, RELOG_FRAME_MAX_LIMIT) == 0)
		client_send(c, r->sb.data, r->sb.size);
	msgpack_sbuffer_destroy(&r->sb);
}

/* Respond with an error and an empty payload. */
void
reply_error(struct client *c, const struct proto_envelope *req,
    const char *code, const char *message)
{
	struct reply r;

	reply_begin(&r, req);
	msgpack_pack_map(&r.pk, 0);
	reply_send(c, &r, code, message);
}
